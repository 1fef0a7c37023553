/**
 * Local users of a gateway (design.md: people authenticate at the edge, on the serial console or
 * the login page). Roles order what a person may do on the console: viewer < operator < admin.
 */

export type Role = 'viewer' | 'operator' | 'admin';
export const ROLES: readonly Role[] = ['viewer', 'operator', 'admin'];

/** True when `have` is at least `need` (viewer < operator < admin). */
export function roleAtLeast(have: Role, need: Role): boolean {
  return ROLES.indexOf(have) >= ROLES.indexOf(need);
}

/** One stored user. The password is only ever kept as an argon2id PHC string. */
export interface UserRecord {
  name: string;
  role: Role;
  /** `$argon2id$v=19$m=...,t=...,p=...$salt$hash`. */
  passwordHash: string;
  /** RFC 6238 seed, base32 (RFC 4648 section 6), when the user has TOTP. */
  totpSecret?: string;
  /** Where the record came from: the local `zonegate user` command or a signed bundle. */
  origin: 'local' | 'bundle';
  /** Epoch ms. */
  createdAt: number;
  updatedAt: number;
}

/** Failed-login state of one user name, persisted so that restarts do not reset it. */
export interface ThrottleEntry {
  /** Consecutive failures since the last success (or unlock). */
  failures: number;
  /** Epoch ms before which no attempt is considered. */
  nextAttemptAt: number;
  /** Epoch ms of the lockout; null while not locked. */
  lockedAt: number | null;
  /** Epoch ms of the last failure. */
  lastFailureAt: number;
}

/** How failures slow down and lock an account. */
export interface ThrottlePolicy {
  /** Delay after the first failure; doubles with each further one. Default 1,000 ms. */
  baseDelayMs: number;
  /** The delay never grows beyond this. Default 60,000 ms. */
  maxDelayMs: number;
  /** Consecutive failures that lock the account (an admin unlocks it). Default 10. */
  lockAfter: number;
  /**
   * Login page, per source address (password spraying: one name after another from one host):
   * failures allowed before that address waits too (the same doubling delays, never a lockout,
   * since an address may be shared). Default 5.
   */
  addressFreeFailures: number;
  /** An address's failures are forgotten after this long without one. Default 15 minutes. */
  addressForgetMs: number;
}

export const DEFAULT_THROTTLE: Readonly<ThrottlePolicy> = Object.freeze({
  baseDelayMs: 1_000, maxDelayMs: 60_000, lockAfter: 10, addressFreeFailures: 5, addressForgetMs: 15 * 60_000,
});

/** Source addresses whose failures the login page remembers (oldest forgotten first). */
export const MAX_THROTTLED_ADDRESSES = 4096;

/** Where a login came from (audit, status). */
export interface LoginChannel {
  kind: 'console' | 'web';
  /** Source address (web) or the console's device/socket path. */
  from: string;
}
