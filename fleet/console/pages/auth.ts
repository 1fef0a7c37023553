/** The login form and the admin's user page. */
import { escapeHtml } from '../../../protocol/web/http';
import { CONSOLE_ROLES, type ConsoleUser } from '../users';
import { table } from './layout';

export function loginBody(o: { csrf: string; message?: string; user?: string }): string {
  return `${o.message ? `<p class="msg" id="message">${escapeHtml(o.message)}</p>` : ''}
<form method="post" action="/login" id="login" style="max-width:24rem">
<input type="hidden" name="csrf" value="${escapeHtml(o.csrf)}">
<p><label>User<br><input name="user" autocomplete="username" required maxlength="64" value="${escapeHtml(o.user ?? '')}"></label></p>
<p><label>Password<br><input name="password" type="password" autocomplete="current-password" required maxlength="256"></label></p>
<p><label>TOTP code<br><input name="totp" inputmode="numeric" autocomplete="one-time-code" required maxlength="6" pattern="[0-9]{6}"></label></p>
<button type="submit">Log in</button></form>`;
}

/** Users (no hashes or seeds shown), the add form; a just-made seed is shown once. */
export function usersBody(o: { users: readonly ConsoleUser[]; csrf: string; made?: { name: string; totp: string; uri: string }; message?: string }): string {
  const made = o.made ? `<div class="msg" id="made"><p>Added <strong>${escapeHtml(o.made.name)}</strong>. TOTP seed (shown once): <span class="secret">${escapeHtml(o.made.totp)}</span></p><p class="secret">${escapeHtml(o.made.uri)}</p></div>` : '';
  return `${made}${o.message ? `<p class="msg" id="message">${escapeHtml(o.message)}</p>` : ''}
${table(['User', 'Role', ''], o.users.map((u) => ({ cells: [u.name, u.role, { raw: `<form method="post" action="/users/remove"><input type="hidden" name="csrf" value="${escapeHtml(o.csrf)}"><input type="hidden" name="name" value="${escapeHtml(u.name)}"><button type="submit">Remove</button></form>` }] })), 'users')}
<h2>Add a user</h2><form method="post" action="/users" class="filters"><input type="hidden" name="csrf" value="${escapeHtml(o.csrf)}">
<label>Name<input name="name" required maxlength="64"></label><label>Role<select name="role">${CONSOLE_ROLES.map((r) => `<option>${r}</option>`).join('')}</select></label>
<label>Password (10+ characters)<input name="password" type="password" required minlength="10" maxlength="256" autocomplete="new-password"></label><button type="submit">Add</button></form>`;
}
