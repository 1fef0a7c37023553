/**
 * One login attempt, the same for the console and the login page: input limits, the persisted
 * throttle (a name inside its delay or locked is refused before any hashing, so a flood costs
 * nothing), the same for the login page's source address (one attempt at a time per address,
 * and delays once it has failed too often, whatever names it tries: password spraying), argon2id
 * verification through the shared semaphore (a decoy hash for unknown names, so they take as long
 * as a wrong password), TOTP when the user has it (a used step is refused again: RFC 6238 section
 * 5.2), then the counters. Every attempt is audited (kind 'auth').
 */
import type { AuditSink } from '../../drivers/types';
import { verifyPassword, decoyHash, MAX_PASSWORD_BYTES } from '../../protocol/web/password';
import type { Semaphore } from '../../protocol/web/semaphore';
import { verifyTotp } from '../../protocol/web/totp';
import type { UserStore } from './user-store';
import { DEFAULT_THROTTLE, MAX_THROTTLED_ADDRESSES } from './types';
import type { LoginChannel, Role, ThrottlePolicy } from './types';

const NAME = /^[a-z][a-z0-9._-]{0,31}$/;

export type LoginFailure = 'invalid' | 'throttled' | 'locked' | 'totp-required' | 'busy';

export type LoginResult =
  | { ok: true; user: { name: string; role: Role } }
  | { ok: false; reason: LoginFailure; /** For 'throttled' and 'invalid': ms until the next attempt is considered. */ retryAfterMs?: number };

export interface LoginAttempt {
  name: string;
  password: string;
  /** The 6-digit code, when the user has TOTP. */
  totp?: string;
  channel: LoginChannel;
}

export interface Authenticator {
  login(attempt: LoginAttempt): Promise<LoginResult>;
  /** The user's current role, or undefined when the user no longer exists (sessions re-check it). */
  roleOf(name: string): Role | undefined;
  readonly throttlePolicy: ThrottlePolicy;
}

export interface AuthenticatorOptions {
  users: UserStore;
  limiter: Semaphore;
  audit: AuditSink;
  now: () => number;
  throttle?: Partial<ThrottlePolicy>;
}

/** Builds the authenticator. login() never throws for bad input; it resolves a LoginResult. */
export function createAuthenticator(options: AuthenticatorOptions): Authenticator {
  return new LoginAuthenticator(options);
}

type AddressEntry = { failures: number; nextAttemptAt: number; lastFailureAt: number; busy: boolean };

class LoginAuthenticator implements Authenticator {
  readonly throttlePolicy: ThrottlePolicy;
  private readonly usedSteps = new Map<string, number>();
  // One attempt per name at a time: parallel guesses at one name are refused, not hashed.
  private readonly inflight = new Set<string>();
  // Login page source addresses: failures (in memory: a restart forgets them, the per-name
  // counters are the persisted ones) and whether an attempt from there is being hashed.
  private readonly addresses = new Map<string, AddressEntry>();
  private decoy: Promise<string> | undefined;

  constructor(private readonly o: AuthenticatorOptions) {
    this.throttlePolicy = { ...DEFAULT_THROTTLE, ...(o.throttle ?? {}) };
  }

  readonly roleOf = (name: string): Role | undefined => this.o.users.get(name)?.role;

  private record(attempt: LoginAttempt, message: string, detail: Record<string, unknown>): void {
    try {
      this.o.audit.record({
        kind: 'auth', at: this.o.now(), source: attempt.channel.kind, message,
        ...(attempt.channel.kind === 'web' ? { src: attempt.channel.from } : {}),
        detail: { user: attempt.name.slice(0, 64), via: attempt.channel.kind, from: attempt.channel.from, ...detail },
      });
    } catch { /* AuditSink promises not to throw */ }
  }

  readonly login = async (attempt: LoginAttempt): Promise<LoginResult> => {
    const name = typeof attempt.name === 'string' ? attempt.name : '';
    const password = typeof attempt.password === 'string' ? attempt.password : '';
    if (!NAME.test(name) || Buffer.byteLength(password) > MAX_PASSWORD_BYTES || password === '') {
      this.record({ ...attempt, name }, 'login failed', { reason: 'invalid', why: 'malformed name or password' });
      return { ok: false, reason: 'invalid' };
    }
    const pre = this.checkBeforeHashing(attempt, name, this.o.now());
    if ('refused' in pre) return pre.refused;
    const { address } = pre;
    this.inflight.add(name);
    if (address) address.busy = true;
    try {
      const result = await this.attemptOnce(attempt, name, password);
      if (address && !result.ok && (result.reason === 'invalid' || result.reason === 'locked')) this.addressFailed(address, this.o.now());
      return result;
    } finally {
      this.inflight.delete(name);
      if (address) address.busy = false;
    }
  };

  /**
   * The refusals that cost no hashing, in this order: the name locked or inside its delay, or
   * being tried; then (the login page) the source address busy or inside its delay. Else the
   * address's entry, looked up only once the name passed.
   */
  private checkBeforeHashing(attempt: LoginAttempt, name: string, t: number): { refused: LoginResult } | { address: AddressEntry | undefined } {
    const refuse = (message: string, detail: Record<string, unknown>, refused: LoginResult) => { this.record(attempt, message, detail); return { refused }; };
    const policy = this.throttlePolicy;
    const thr = this.o.users.throttleOf(name);
    if (thr.lockedAt !== null) return refuse('login refused', { reason: 'locked', failures: thr.failures }, { ok: false, reason: 'locked' });
    if (t < thr.nextAttemptAt) {
      return refuse('login refused', { reason: 'throttled', retryAfterMs: thr.nextAttemptAt - t }, { ok: false, reason: 'throttled', retryAfterMs: thr.nextAttemptAt - t });
    }
    if (this.inflight.has(name)) {
      return refuse('login refused', { reason: 'throttled', why: 'another attempt for this name is in progress' }, { ok: false, reason: 'throttled', retryAfterMs: policy.baseDelayMs });
    }
    const address = attempt.channel.kind === 'web' ? this.addressEntry(attempt.channel.from, t) : undefined;
    if (address?.busy) {
      return refuse('login refused', { reason: 'throttled', why: 'another attempt from this address is in progress' }, { ok: false, reason: 'throttled', retryAfterMs: policy.baseDelayMs });
    }
    if (address && t < address.nextAttemptAt) {
      const retryAfterMs = address.nextAttemptAt - t;
      return refuse('login refused', { reason: 'throttled', why: 'too many failed logins from this address', retryAfterMs }, { ok: false, reason: 'throttled', retryAfterMs });
    }
    return { address };
  }

  /** The address's entry (forgotten after addressForgetMs without a failure), newest last. */
  private addressEntry(from: string, t: number): AddressEntry {
    const addresses = this.addresses;
    let e = addresses.get(from);
    if (e && !e.busy && t - e.lastFailureAt > this.throttlePolicy.addressForgetMs) e = undefined;
    addresses.delete(from);
    e ??= { failures: 0, nextAttemptAt: 0, lastFailureAt: t, busy: false };
    addresses.set(from, e);
    while (addresses.size > MAX_THROTTLED_ADDRESSES) addresses.delete(addresses.keys().next().value as string);
    return e;
  }

  private addressFailed(e: AddressEntry, t: number): void {
    const policy = this.throttlePolicy;
    e.failures += 1;
    e.lastFailureAt = t;
    const over = e.failures - policy.addressFreeFailures;
    if (over > 0) e.nextAttemptAt = t + Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(30, over - 1));
  }

  /** argon2id through the semaphore; a decoy hash for an unknown name, so it takes as long as a wrong password. Throws when the semaphore refuses. */
  private async passwordGood(hash: string | undefined, password: string): Promise<boolean> {
    const limiter = this.o.limiter;
    if (hash !== undefined) return verifyPassword(hash, password, { limiter });
    this.decoy ??= decoyHash(limiter);
    await verifyPassword(await this.decoy, password, { limiter });
    return false;
  }

  private async attemptOnce(attempt: LoginAttempt, name: string, password: string): Promise<LoginResult> {
    const { users, now } = this.o;
    const user = users.get(name);
    let good: boolean;
    try {
      good = await this.passwordGood(user?.passwordHash, password);
    } catch {
      this.record(attempt, 'login refused', { reason: 'busy' });
      return { ok: false, reason: 'busy' };
    }
    if (good && user?.totpSecret) {
      if (attempt.totp === undefined || attempt.totp === '') {
        this.record(attempt, 'login needs totp', { reason: 'totp-required' });
        return { ok: false, reason: 'totp-required' };
      }
      const step = verifyTotp(user.totpSecret, attempt.totp, now());
      if (step === null || (this.usedSteps.get(name) ?? -1) >= step) good = false;
      else this.usedSteps.set(name, step);
    }
    if (!good || !user) {
      const e = await users.recordFailure(name, this.throttlePolicy, now());
      const locked = e.lockedAt !== null;
      this.record(attempt, locked ? 'account locked' : 'login failed', { reason: 'invalid', failures: e.failures, ...(locked ? { locked: true } : {}) });
      return locked ? { ok: false, reason: 'locked' } : { ok: false, reason: 'invalid', retryAfterMs: Math.max(0, e.nextAttemptAt - now()) };
    }
    await users.recordSuccess(name);
    this.record(attempt, 'login', { role: user.role });
    return { ok: true, user: { name: user.name, role: user.role } };
  }
}
