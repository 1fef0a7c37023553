/**
 * The login page's HTML: plain, no script, no external resources (the CSP forbids them), every
 * value escaped. One page for the login form and one for the logged-in view (who, from where,
 * until when, logout).
 */

import { escapeHtml } from '../../protocol/web/http';

const shell = (title: string, body: string) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}label{display:block;margin:.6rem 0}input{width:100%;padding:.4rem}button{padding:.5rem 1rem;margin-top:.8rem}.err{color:#a00}.warn{background:#fee;padding:.5rem;border:1px solid #a00}dl{display:grid;grid-template-columns:auto 1fr;gap:.3rem 1rem}</style>
</head><body>${body}</body></html>
`;

/** The login form; `message` is shown above it (an error), `csrf` goes into the hidden field. */
export function loginPage(o: { device: string; csrf: string; message?: string; warning?: string; user?: string }): string {
  return shell(`${o.device}: log in`, `
<h1>${escapeHtml(o.device)}</h1>
<p>Log in to use the maintenance conduits of this gateway from this computer.</p>
${o.warning ? `<p class="warn">${escapeHtml(o.warning)}</p>` : ''}
${o.message ? `<p class="err" id="message">${escapeHtml(o.message)}</p>` : ''}
<form method="post" action="/login">
<input type="hidden" name="csrf" value="${escapeHtml(o.csrf)}">
<label>User <input name="user" autocomplete="username" required maxlength="32" value="${escapeHtml(o.user ?? '')}"></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required maxlength="256"></label>
<label>TOTP code (if you have one) <input name="totp" inputmode="numeric" autocomplete="one-time-code" maxlength="6" pattern="[0-9]{6}"></label>
<button type="submit">Log in</button>
</form>`);
}

/** The logged-in view. */
export function sessionPage(o: { device: string; user: string; role: string; sourceIp: string; expiresAt: number; grants: string[]; csrf: string; warning?: string }): string {
  return shell(`${o.device}: logged in`, `
<h1>${escapeHtml(o.device)}</h1>
${o.warning ? `<p class="warn">${escapeHtml(o.warning)}</p>` : ''}
<p id="who">Logged in as <strong>${escapeHtml(o.user)}</strong> (${escapeHtml(o.role)}).</p>
<dl>
<dt>From</dt><dd id="source">${escapeHtml(o.sourceIp)}</dd>
<dt>Session ends</dt><dd id="expires">${escapeHtml(new Date(o.expiresAt).toISOString())}</dd>
<dt>Grants</dt><dd id="grants">${o.grants.length ? escapeHtml(o.grants.join(', ')) : 'none active'}</dd>
</dl>
<form method="post" action="/logout">
<input type="hidden" name="csrf" value="${escapeHtml(o.csrf)}">
<button type="submit">Log out</button>
</form>`);
}
