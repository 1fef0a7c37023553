/**
 * The console's local users: one JSON file (0600, written atomically) of
 * `{ schema: 1, users: [{ name, role, hash, totp }] }`, the hash argon2id (PHC), the TOTP seed
 * base32. Every console user has TOTP. Login checks the password (an unknown name is verified
 * against a decoy hash, so it costs the same), then the TOTP code (a code's step is accepted once
 * per user), with throttling per user and per source address: after 5 failures in 15 minutes,
 * each further attempt waits 2^(n-5) s (at most 15 min) before it is even checked.
 */
import * as fsp from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { ZonegateError } from '../../policy/errors';
import { isValidId } from '../../policy/check';
import { decoyHash, hashPassword, isAcceptableHash, MAX_PASSWORD_BYTES, verifyPassword } from '../../protocol/web/password';
import type { Semaphore } from '../../protocol/web/semaphore';
import { base32Decode, newTotpSecret, otpauthUri, verifyTotp } from '../../protocol/web/totp';
import { writeFileAtomic } from '../../protocol/write-atomic';

export const CONSOLE_ROLES = ['viewer', 'operator', 'admin'] as const;
export type ConsoleRole = (typeof CONSOLE_ROLES)[number];
const RANK: Record<ConsoleRole, number> = { viewer: 0, operator: 1, admin: 2 };

/** True when `role` may do what `need` may. */
export function roleAtLeast(role: ConsoleRole, need: ConsoleRole): boolean {
  return RANK[role] >= RANK[need];
}

export interface ConsoleUser { name: string; role: ConsoleRole; hash: string; totp: string }

const MAX_USER_FILE = 1024 * 1024;

/** Reads the user file; an absent file is no users. ERR_AUTH naming the file and entry when malformed. */
export async function readUsers(file: string): Promise<ConsoleUser[]> {
  let text: string;
  try {
    const st = await fsp.stat(file);
    if (st.size > MAX_USER_FILE) throw new ZonegateError('ERR_AUTH', `${file}: larger than 1 MiB`);
    text = await fsp.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  let doc: unknown;
  try { doc = JSON.parse(text); } catch (e) { throw new ZonegateError('ERR_AUTH', `${file}: not JSON: ${(e as Error).message}`); }
  const list = (doc as { users?: unknown })?.users;
  if (!Array.isArray(list)) throw new ZonegateError('ERR_AUTH', `${file}: expected { "users": [...] }`);
  return list.map((u, i) => {
    const x = u as Record<string, unknown>;
    const ok = typeof x.name === 'string' && isValidId(x.name) && (CONSOLE_ROLES as readonly unknown[]).includes(x.role)
      && typeof x.hash === 'string' && isAcceptableHash(x.hash) && typeof x.totp === 'string' && base32Decode(x.totp) !== null;
    if (!ok) throw new ZonegateError('ERR_AUTH', `${file}: users[${i}] needs name (an id), role (${CONSOLE_ROLES.join('/')}), hash (argon2id) and totp (base32)`);
    return { name: x.name as string, role: x.role as ConsoleRole, hash: x.hash as string, totp: x.totp as string };
  });
}

/** Adds a user (a fresh TOTP seed); ERR_AUTH when the name exists. Returns the seed and its otpauth URI. */
export async function addUser(o: { file: string; name: string; role: ConsoleRole; password: string; limiter: Semaphore }): Promise<{ totp: string; uri: string }> {
  if (!isValidId(o.name)) throw new ZonegateError('ERR_USAGE', `not a valid user name: '${o.name}' (letters, digits, . _ -)`);
  if (Buffer.byteLength(o.password) > MAX_PASSWORD_BYTES) throw new ZonegateError('ERR_AUTH', `the password must be at most ${MAX_PASSWORD_BYTES} bytes`);
  const users = await readUsers(o.file);
  if (users.some((u) => u.name === o.name)) throw new ZonegateError('ERR_AUTH', `user ${o.name} exists in ${o.file}`);
  const totp = newTotpSecret();
  users.push({ name: o.name, role: o.role, hash: await hashPassword(o.password, { limiter: o.limiter }), totp });
  await fsp.mkdir(dirname(o.file), { recursive: true, mode: 0o700 });
  await writeFileAtomic(dirname(o.file), basename(o.file), `${JSON.stringify({ schema: 1, users }, null, 2)}\n`, 0o600);
  return { totp, uri: otpauthUri({ issuer: 'zonegate-fleet', account: o.name, secret: totp }) };
}

export type LoginResult =
  | { ok: true; user: ConsoleUser }
  | { ok: false; reason: 'bad' | 'throttled'; retryAfterMs?: number };

interface Failures { count: number; first: number; next: number }
const WINDOW_MS = 15 * 60_000;
const FREE_FAILURES = 5;
const MAX_TRACKED = 10_000;

/** Checks logins against the user file (re-read when it changes on disk), with throttling. */
export class ConsoleAuth {
  private users: ConsoleUser[] = [];
  private mtime = -1;
  private decoy: string | undefined;
  private readonly failures = new Map<string, Failures>();
  private readonly usedSteps = new Map<string, number>();

  constructor(private readonly o: { file: string; limiter: Semaphore; now?: () => number }) {}

  private now(): number { return (this.o.now ?? Date.now)(); }

  /** Loads the file (and again whenever its mtime changes). */
  async reload(): Promise<void> {
    let m = -1;
    try { m = (await fsp.stat(this.o.file)).mtimeMs; } catch { /* no file: no users */ }
    if (m === this.mtime) return;
    this.users = await readUsers(this.o.file);
    this.mtime = m;
  }

  user(name: string): ConsoleUser | undefined {
    return this.users.find((u) => u.name === name);
  }

  async login(o: { name: string; password: string; totp: string; from: string }): Promise<LoginResult> {
    const t = this.now();
    const keys = [`u:${o.name.slice(0, 64)}`, `a:${o.from}`];
    const wait = Math.max(...keys.map((k) => (this.failures.get(k)?.next ?? 0) - t));
    if (wait > 0) return { ok: false, reason: 'throttled', retryAfterMs: wait };
    await this.reload();
    const u = this.user(o.name);
    this.decoy ??= await decoyHash(this.o.limiter);
    const pwOk = Buffer.byteLength(o.password) <= MAX_PASSWORD_BYTES && (await verifyPassword(u ? u.hash : this.decoy, o.password, { limiter: this.o.limiter }));
    const step = u && pwOk ? verifyTotp(u.totp, o.totp, t) : null;
    if (!u || !pwOk || step === null || (this.usedSteps.get(u.name) ?? -1) >= step) {
      for (const k of keys) this.fail(k, t);
      return { ok: false, reason: 'bad' };
    }
    this.usedSteps.set(u.name, step);
    for (const k of keys) this.failures.delete(k);
    return { ok: true, user: u };
  }

  private fail(key: string, t: number): void {
    let f = this.failures.get(key);
    if (!f || t - f.first > WINDOW_MS) f = { count: 0, first: t, next: 0 };
    f.count += 1;
    if (f.count >= FREE_FAILURES) f.next = t + Math.min(WINDOW_MS, 1000 * 2 ** (f.count - FREE_FAILURES));
    this.failures.delete(key);
    this.failures.set(key, f);
    if (this.failures.size > MAX_TRACKED) this.failures.delete(this.failures.keys().next().value as string);
  }
}

/** Removes a user from the file; ERR_AUTH when there is none of that name. */
export async function removeUser(o: { file: string; name: string }): Promise<void> {
  const users = await readUsers(o.file);
  const left = users.filter((u) => u.name !== o.name);
  if (left.length === users.length) throw new ZonegateError('ERR_AUTH', `no user ${o.name} in ${o.file}`);
  await writeFileAtomic(dirname(o.file), basename(o.file), `${JSON.stringify({ schema: 1, users: left }, null, 2)}\n`, 0o600);
}
