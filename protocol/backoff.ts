/**
 * Capped exponential backoff with jitter, the reconnect schedule of the MQTT sync (style.md
 * "Sync is a reconcile loop ... capped exponential backoff with jitter"). Pure: the random source
 * is passed in, so tests can assert the exact schedule.
 */

export interface BackoffOptions {
  /** Delay before the first retry, ms. Default 500. */
  initialMs?: number;
  /** Upper bound of any delay, ms. Default 60,000. */
  maxMs?: number;
  /** Growth per attempt. Default 2. */
  factor?: number;
  /** Fraction of the delay that is randomised, 0..1 ("equal jitter" at 0.5). Default 0.5. */
  jitter?: number;
}

export interface Backoff {
  /** The delay before retry number `attempt` (1 = the first retry), in ms, for random r in [0,1). */
  delay(attempt: number, random: () => number): number;
  readonly initialMs: number;
  readonly maxMs: number;
}

/**
 * Builds a schedule where attempt n waits base(n) * (1 - jitter + jitter * r), base(n) =
 * min(maxMs, initialMs * factor^(n-1)): never more than maxMs, never less than
 * base(n) * (1 - jitter), so delays grow until the cap even with unlucky draws.
 */
export function createBackoff(options: BackoffOptions = {}): Backoff {
  const initialMs = options.initialMs ?? 500;
  const maxMs = options.maxMs ?? 60_000;
  const factor = options.factor ?? 2;
  const jitter = options.jitter ?? 0.5;
  if (!(initialMs > 0) || !(maxMs >= initialMs)) throw new TypeError('backoff: need 0 < initialMs <= maxMs');
  if (!(factor >= 1)) throw new TypeError('backoff: factor must be >= 1');
  if (!(jitter >= 0 && jitter <= 1)) throw new TypeError('backoff: jitter must be within 0..1');
  return {
    initialMs,
    maxMs,
    delay(attempt, random) {
      if (!Number.isInteger(attempt) || attempt < 1) throw new TypeError('backoff: attempt must be an integer >= 1');
      const base = Math.min(maxMs, initialMs * Math.pow(factor, Math.min(attempt - 1, 64)));
      const r = Math.min(Math.max(random(), 0), 1);
      return Math.round(base * (1 - jitter + jitter * r));
    },
  };
}
