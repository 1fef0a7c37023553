/**
 * The users of a gateway and their failed-login counters, in the state folder: `users.json`
 * (the records) and `auth-throttle.json` (failures, delays, lockouts), each replaced with an
 * atomic durable BlobStore write, so a restart neither loses a user nor forgets a lockout.
 * Writes are serialised; readers see the in-memory copy, which changes only after the write
 * succeeded.
 */
import { ZonegateError } from '../../policy/errors';
import type { BlobStore } from '../store/blob-store';
import { ROLES } from './types';
import type { Role, ThrottleEntry, ThrottlePolicy, UserRecord } from './types';

export const USERS_BLOB = 'users.json';
export const THROTTLE_BLOB = 'auth-throttle.json';
/** Throttle entries kept at most (unknown names included); the oldest are forgotten first. */
export const MAX_THROTTLE_ENTRIES = 4_096;

const NAME = /^[a-z][a-z0-9._-]{0,31}$/;

/** Throws ERR_AUTH unless `name` is a valid user name (lower-case, 1-32 chars). */
export function checkUserName(name: string): void {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new ZonegateError('ERR_AUTH', `invalid user name ${JSON.stringify(String(name).slice(0, 40))}: use 1-32 of a-z 0-9 . _ -, starting with a letter`);
  }
}

/** Throws ERR_AUTH unless `role` is viewer, operator or admin. */
export function checkRole(role: string): asserts role is Role {
  if (!(ROLES as readonly string[]).includes(role)) throw new ZonegateError('ERR_AUTH', `invalid role ${JSON.stringify(role)}: one of ${ROLES.join(', ')}`);
}

/** Users and throttle state over a BlobStore; open with UserStore.open(). */
export class UserStore {
  private users = new Map<string, UserRecord>();
  private throttle = new Map<string, ThrottleEntry>();
  private chain: Promise<unknown> = Promise.resolve();

  private constructor(private readonly blobs: BlobStore) {}

  /** Loads both files; a corrupt file is an ERR_STORAGE error (never silently emptied). */
  static async open(opts: { blobs: BlobStore }): Promise<UserStore> {
    const store = new UserStore(opts.blobs);
    const users = await readJson(opts.blobs, USERS_BLOB);
    if (users !== null) {
      if (!Array.isArray((users as { users?: unknown }).users)) throw new ZonegateError('ERR_STORAGE', `${USERS_BLOB}: no users list`);
      for (const u of (users as { users: UserRecord[] }).users) store.users.set(u.name, u);
    }
    const thr = await readJson(opts.blobs, THROTTLE_BLOB);
    if (thr !== null && typeof thr === 'object') {
      for (const [name, e] of Object.entries((thr as { entries?: Record<string, ThrottleEntry> }).entries ?? {})) store.throttle.set(name, e);
    }
    return store;
  }

  /** Re-reads both files (another process, e.g. `zonegate user add`, changed them); keeps the old state on error. */
  async reload(): Promise<void> {
    const fresh = await UserStore.open({ blobs: this.blobs });
    await this.serial(async () => { this.users = fresh.users; this.throttle = fresh.throttle; });
  }

  get(name: string): UserRecord | undefined {
    return this.users.get(name);
  }

  /** Every user, sorted by name. */
  list(): UserRecord[] {
    return [...this.users.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /** Adds or replaces a user (persisted before it resolves). */
  put(user: UserRecord): Promise<void> {
    checkUserName(user.name);
    checkRole(user.role);
    return this.mutateUsers((m) => { m.set(user.name, { ...user }); });
  }

  /** Removes a user; false when absent. */
  async remove(name: string): Promise<boolean> {
    if (!this.users.has(name)) return false;
    await this.mutateUsers((m) => { m.delete(name); });
    return true;
  }

  /** Replaces every `bundle` user with `records` (a newer signed list wins over local users of the same name). */
  replaceBundleUsers(records: readonly UserRecord[]): Promise<void> {
    return this.mutateUsers((m) => {
      for (const [k, u] of [...m]) if (u.origin === 'bundle') m.delete(k);
      for (const r of records) m.set(r.name, { ...r, origin: 'bundle' });
    });
  }

  /** The throttle state of a name (a zero entry when none). */
  throttleOf(name: string): ThrottleEntry {
    return this.throttle.get(name) ?? { failures: 0, nextAttemptAt: 0, lockedAt: null, lastFailureAt: 0 };
  }

  /** Counts one failure: doubles the delay (capped) and locks at `lockAfter`. Returns the new entry. */
  async recordFailure(name: string, policy: ThrottlePolicy, now: number): Promise<ThrottleEntry> {
    const prev = this.throttleOf(name);
    const failures = prev.failures + 1;
    const delay = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(30, failures - 1));
    const entry: ThrottleEntry = {
      failures, nextAttemptAt: now + delay, lastFailureAt: now,
      lockedAt: prev.lockedAt ?? (failures >= policy.lockAfter ? now : null),
    };
    await this.mutateThrottle((m) => {
      m.delete(name);
      m.set(name, entry);
      while (m.size > MAX_THROTTLE_ENTRIES) m.delete(m.keys().next().value as string);
    });
    return entry;
  }

  /** Clears a name's failures (a successful login). */
  async recordSuccess(name: string): Promise<void> {
    if (!this.throttle.has(name)) return;
    await this.mutateThrottle((m) => { m.delete(name); });
  }

  /** Clears failures and the lockout of a name; false when it was neither failing nor locked. */
  async unlock(name: string): Promise<boolean> {
    if (!this.throttle.has(name)) return false;
    await this.mutateThrottle((m) => { m.delete(name); });
    return true;
  }

  private mutateUsers(fn: (m: Map<string, UserRecord>) => void): Promise<void> {
    return this.serial(async () => {
      const next = new Map(this.users);
      fn(next);
      const doc = { users: [...next.values()].sort((a, b) => (a.name < b.name ? -1 : 1)) };
      await this.blobs.write(USERS_BLOB, Buffer.from(`${JSON.stringify(doc, null, 2)}\n`));
      this.users = next;
    });
  }

  private mutateThrottle(fn: (m: Map<string, ThrottleEntry>) => void): Promise<void> {
    return this.serial(async () => {
      const next = new Map(this.throttle);
      fn(next);
      const entries: Record<string, ThrottleEntry> = Object.create(null);
      for (const [k, v] of next) entries[k] = v;
      await this.blobs.write(THROTTLE_BLOB, Buffer.from(JSON.stringify({ entries })));
      this.throttle = next;
    });
  }

  private serial(fn: () => Promise<void>): Promise<void> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }
}

async function readJson(blobs: BlobStore, name: string): Promise<unknown> {
  const bytes = await blobs.read(name);
  if (bytes === null) return null;
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8'), (k, v) => (k === '__proto__' ? undefined : v));
  } catch (e) {
    throw new ZonegateError('ERR_STORAGE', `${name} in the state folder is corrupt: ${(e as Error).message}`, { cause: e });
  }
}
