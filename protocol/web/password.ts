/**
 * Password hashing: argon2id (RFC 9106) through @node-rs/argon2, stored as PHC strings. The
 * parameters are at least OWASP's minimum for argon2id (m = 19 MiB, t = 2, p = 1). Every hash and
 * verify goes through a semaphore so that at most `limit` run at once (they run on libuv's
 * thread pool; unbounded they would starve the proxies' DNS/fs work and the CPU).
 */
import { randomBytes } from 'node:crypto';
import type { Semaphore } from './semaphore';

type Argon2 = typeof import('@node-rs/argon2');
/** `Algorithm.Argon2id`: a const enum in the library's typings, absent from its JavaScript. */
const ARGON2ID = 2 as import('@node-rs/argon2').Algorithm;
let argon2: Argon2 | undefined;
/** The native module, loaded on the first hash or verify: a gateway nobody logs in to never maps it. */
function lib(): Argon2 {
  argon2 ??= require('@node-rs/argon2') as Argon2;
  return argon2;
}

export interface Argon2Params {
  /** KiB. */
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

/** The parameters new passwords are hashed with. */
export const ARGON2_PARAMS: Readonly<Argon2Params> = Object.freeze({ memoryCost: 19_456, timeCost: 2, parallelism: 1 });

/** Longest password accepted (bytes of UTF-8); longer ones are refused before hashing. */
export const MAX_PASSWORD_BYTES = 256;

const PHC = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$[A-Za-z0-9+/]{11,}\$[A-Za-z0-9+/]{16,}$/;

/** True when `phc` is an argon2id PHC string with at least the minimum parameters. */
export function isAcceptableHash(phc: string): boolean {
  const m = PHC.exec(phc);
  if (!m) return false;
  return Number(m[1]) >= ARGON2_PARAMS.memoryCost && Number(m[2]) >= ARGON2_PARAMS.timeCost && Number(m[3]) >= 1;
}

/** Hashes a password into a PHC string (a fresh random salt each time). */
export async function hashPassword(password: string, opts: { limiter: Semaphore; params?: Argon2Params }): Promise<string> {
  if (typeof password !== 'string') throw new TypeError('password must be a string');
  const release = await opts.limiter.acquire();
  try {
    return await lib().hash(password, { algorithm: ARGON2ID, ...(opts.params ?? ARGON2_PARAMS) });
  } finally {
    release();
  }
}

/** Whether `password` matches `phc`; false (never a throw) for a malformed hash. */
export async function verifyPassword(phc: string, password: string, opts: { limiter: Semaphore }): Promise<boolean> {
  const release = await opts.limiter.acquire();
  try {
    return await lib().verify(phc, password);
  } catch {
    return false;
  } finally {
    release();
  }
}

/**
 * A hash of a random password with the same parameters: verified against when the user does not
 * exist, so an unknown name costs the same time as a wrong password (no user enumeration).
 */
export async function decoyHash(limiter: Semaphore): Promise<string> {
  return hashPassword(randomBytes(18).toString('base64'), { limiter });
}
