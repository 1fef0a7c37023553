/**
 * `zonegate user add|passwd|list|unlock --config FILE`: the local users of a gateway, kept in
 * `<stateDir>/users.json` (argon2id PHC strings, never passwords) with their failed-login
 * counters in `<stateDir>/auth-throttle.json`. Passwords are read from the terminal with echo
 * off, or as the first line of stdin when it is not a terminal. A running daemon is sent SIGHUP
 * so it re-reads the users.
 */
import type { Command, CommandContext } from './framework';
import { usageError } from './framework';
import { ZonegateError } from '../policy/errors';
import { loadConfig } from '../runtime/config';
import { FsBlobStore } from '../runtime/store/fs-blob-store';
import { signalDaemon } from '../runtime/store/daemon-signal';
import { UserStore, checkRole, checkUserName } from '../runtime/auth/user-store';
import { hashPassword, MAX_PASSWORD_BYTES } from '../protocol/web/password';
import { createSemaphore } from '../protocol/web/semaphore';
import { newTotpSecret, otpauthUri } from '../protocol/web/totp';

/** Shortest password accepted for a local user. */
export const MIN_PASSWORD_CHARS = 10;

/** Reads one line from stdin: with echo off on a terminal (prompt on stderr), else the first line. */
export async function readSecretLine(prompt: string): Promise<string> {
  const stdin = process.stdin;
  if (stdin.isTTY) {
    process.stderr.write(prompt);
    stdin.setRawMode(true);
    stdin.resume();
    return new Promise((resolve, reject) => {
      let buf = '';
      const onData = (d: Buffer) => {
        for (const ch of d.toString('utf8')) {
          if (ch === '\r' || ch === '\n') { done(); resolve(buf); return; }
          if (ch === '\u0003') { done(); reject(new ZonegateError('ERR_USAGE', 'interrupted')); return; }
          if (ch === '\u007f' || ch === '\b') buf = buf.slice(0, -1); else if (ch >= ' ') buf += ch;
        }
      };
      const done = () => { stdin.off('data', onData); stdin.setRawMode(false); stdin.pause(); process.stderr.write('\n'); };
      stdin.on('data', onData);
    });
  }
  const chunks: Buffer[] = [];
  for await (const c of stdin) { chunks.push(c as Buffer); if (Buffer.concat(chunks).includes(10) || Buffer.concat(chunks).length > 4096) break; }
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0];
}

export async function newPassword(): Promise<string> {
  const pw = await readSecretLine('New password: ');
  if ([...pw].length < MIN_PASSWORD_CHARS) throw new ZonegateError('ERR_AUTH', `the password must have at least ${MIN_PASSWORD_CHARS} characters`);
  if (Buffer.byteLength(pw) > MAX_PASSWORD_BYTES) throw new ZonegateError('ERR_AUTH', `the password must be at most ${MAX_PASSWORD_BYTES} bytes`);
  if (process.stdin.isTTY && (await readSecretLine('Again: ')) !== pw) throw new ZonegateError('ERR_AUTH', 'the passwords differ');
  return pw;
}

async function openUsers(ctx: CommandContext): Promise<{ store: UserStore; stateDir: string }> {
  if (typeof ctx.options.config !== 'string') throw usageError('--config GATEWAY.yaml is required');
  const config = await loadConfig(ctx.options.config);
  return { store: await UserStore.open({ blobs: await FsBlobStore.open({ dir: config.stateDir }) }), stateDir: config.stateDir };
}

const configOption = { config: { type: 'string' as const, value: 'FILE', description: 'the gateway config (its stateDir holds the users)' } };

async function tellDaemon(ctx: CommandContext, stateDir: string): Promise<void> {
  const pid = await signalDaemon(stateDir);
  if (pid !== null && !ctx.json) ctx.err(`told the running gateway (pid ${pid}) to re-read its users`);
}

export const userAddCommand: Command = {
  path: ['user', 'add'],
  summary: 'add a local user (console and login page)',
  usage: 'user add NAME --role viewer|operator|admin [--totp] --config FILE [--json]',
  description: `
Reads the password (at least ${MIN_PASSWORD_CHARS} characters) with echo off, or as the first line of stdin.
With --totp a TOTP seed is made and printed once (base32 and an otpauth:// URI for an
authenticator app); the user must then give the 6-digit code at every login.`,
  options: { ...configOption, role: { type: 'string', value: 'ROLE', description: 'viewer, operator or admin' }, totp: { type: 'boolean', description: 'require a TOTP code at login' } },
  positionals: { min: 1, max: 1 },
  json: true,
  async run(ctx) {
    const name = ctx.positionals[0];
    checkUserName(name);
    const role = String(ctx.options.role ?? '');
    if (!role) throw usageError('--role is required');
    checkRole(role);
    const { store, stateDir } = await openUsers(ctx);
    if (store.get(name)) throw new ZonegateError('ERR_AUTH', `user ${name} exists; use user passwd`);
    const passwordHash = await hashPassword(await newPassword(), { limiter: createSemaphore({ limit: 1 }) });
    const totpSecret = ctx.options.totp === true ? newTotpSecret() : undefined;
    const t = Date.now();
    await store.put({ name, role, passwordHash, origin: 'local', createdAt: t, updatedAt: t, ...(totpSecret ? { totpSecret } : {}) });
    const uri = totpSecret ? otpauthUri({ issuer: 'zonegate', account: name, secret: totpSecret }) : undefined;
    if (ctx.json) ctx.printJson({ ok: true, user: name, role, ...(totpSecret ? { totpSecret, totpUri: uri } : {}) });
    else {
      ctx.out(`added ${name} (${role})`);
      if (totpSecret) ctx.out(`TOTP seed (shown once): ${totpSecret}\n${uri}`);
    }
    await tellDaemon(ctx, stateDir);
    return 0;
  },
};

export const userPasswdCommand: Command = {
  path: ['user', 'passwd'],
  summary: "set a local user's password",
  usage: 'user passwd NAME --config FILE [--json]',
  options: configOption,
  positionals: { min: 1, max: 1 },
  json: true,
  async run(ctx) {
    const name = ctx.positionals[0];
    const { store, stateDir } = await openUsers(ctx);
    const u = store.get(name);
    if (!u) throw new ZonegateError('ERR_AUTH', `no user ${name}`);
    const passwordHash = await hashPassword(await newPassword(), { limiter: createSemaphore({ limit: 1 }) });
    await store.put({ ...u, passwordHash, origin: 'local', updatedAt: Date.now() });
    if (ctx.json) ctx.printJson({ ok: true, user: name }); else ctx.out(`password of ${name} changed`);
    await tellDaemon(ctx, stateDir);
    return 0;
  },
};

export const userListCommand: Command = {
  path: ['user', 'list'],
  summary: 'list the local users, their roles and lockouts',
  usage: 'user list --config FILE [--json]',
  options: configOption,
  json: true,
  async run(ctx) {
    const { store } = await openUsers(ctx);
    const rows = store.list().map((u) => {
      const t = store.throttleOf(u.name);
      return { name: u.name, role: u.role, totp: Boolean(u.totpSecret), origin: u.origin, failures: t.failures, locked: t.lockedAt !== null };
    });
    if (ctx.json) ctx.printJson({ ok: true, users: rows });
    else if (rows.length === 0) ctx.out('no users');
    else for (const r of rows) ctx.out(`${r.name.padEnd(16)} ${r.role.padEnd(8)} ${r.totp ? 'totp' : '    '} ${r.origin.padEnd(6)}${r.locked ? ' LOCKED' : ''}${r.failures ? ` (${r.failures} failed)` : ''}`);
    return 0;
  },
};

export const userUnlockCommand: Command = {
  path: ['user', 'unlock'],
  summary: "clear a user's failed logins and lockout",
  usage: 'user unlock NAME --config FILE [--json]',
  options: configOption,
  positionals: { min: 1, max: 1 },
  json: true,
  async run(ctx) {
    const name = ctx.positionals[0];
    const { store, stateDir } = await openUsers(ctx);
    const was = store.throttleOf(name);
    const ok = await store.unlock(name);
    if (ctx.json) ctx.printJson({ ok: true, user: name, cleared: ok, wasLocked: was.lockedAt !== null });
    else ctx.out(ok ? `${name} unlocked (${was.failures} failure(s) cleared)` : `${name} had no failed logins`);
    await tellDaemon(ctx, stateDir);
    return 0;
  },
};
