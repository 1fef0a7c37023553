/**
 * A counting semaphore with a bounded wait queue and a CPU duty cycle: at most `limit` holders,
 * at most `maxQueued` waiters (beyond that acquire() rejects at once and counts it), and after a
 * holder held a slot for d ms that slot rests d × `cooldownFactor` ms before the next waiter gets
 * it. Password hashing goes through it, so that a login flood queues a bounded amount of argon2
 * work and uses at most limit / (1 + cooldownFactor) of the CPU cores, leaving the rest to the
 * proxies' event loop (the figures are in test/bench/login.bench.ts).
 */
import { ZonegateError } from '../../policy/errors';

export interface Semaphore {
  /** Waits for a slot; rejects with ERR_AUTH ("busy") when the queue is full. Call the returned release once. */
  acquire(): Promise<() => void>;
  stats(): { active: number; queued: number; rejected: number };
}

export interface SemaphoreOptions {
  limit: number;
  /** Waiters at most. Default 64. */
  maxQueued?: number;
  /** Rest after each hold, as a multiple of the hold's duration. Default 0 (none). */
  cooldownFactor?: number;
  /** Longest rest, ms. Default 1,000. */
  maxCooldownMs?: number;
  now?: () => number;
  setTimeout?: (fn: () => void, ms: number) => unknown;
}

/** Builds a semaphore. */
export function createSemaphore(opts: SemaphoreOptions): Semaphore {
  if (!Number.isInteger(opts.limit) || opts.limit < 1) throw new TypeError('semaphore limit must be a positive integer');
  const maxQueued = opts.maxQueued ?? 64;
  const factor = opts.cooldownFactor ?? 0;
  const maxCooldown = opts.maxCooldownMs ?? 1_000;
  const now = opts.now ?? (() => performance.now());
  const later = opts.setTimeout ?? ((fn: () => void, ms: number) => setTimeout(fn, ms));
  let active = 0;   // slots held or resting
  let held = 0;
  let rejected = 0;
  const queue: ((release: () => void) => void)[] = [];

  const grant = (give: (release: () => void) => void) => {
    held += 1;
    const started = now();
    let done = false;
    give(() => {
      if (done) return;
      done = true;
      held -= 1;
      const rest = factor > 0 ? Math.min(maxCooldown, (now() - started) * factor) : 0;
      if (rest > 0) later(free, rest); else free();
    });
  };
  const free = () => {
    const next = queue.shift();
    if (next) grant(next); else active -= 1;
  };

  return {
    acquire() {
      if (active < opts.limit) {
        active += 1;
        return new Promise((resolve) => grant(resolve));
      }
      if (queue.length >= maxQueued) {
        rejected += 1;
        return Promise.reject(new ZonegateError('ERR_AUTH', 'too many logins in progress; try again'));
      }
      return new Promise((resolve) => { queue.push(resolve); });
    },
    stats: () => ({ active: held, queued: queue.length, rejected }),
  };
}
