/**
 * The one reader of time options (`audit show --since`, `report --from`, `fleet grant --until`,
 * `fleet sign --expires`, ..., and the fleet console's search fields), so that every command and
 * form accepts the same spellings and says the same thing when it cannot read one. In protocol/
 * rather than cli/ because the fleet console (fleet/console/routes.ts: the audit search's from
 * and to) reads it too, and fleet/ may not import cli/ (test/architecture.test.ts).
 */
import { ZonegateError } from '../policy/errors';

const usageError = (message: string): ZonegateError => new ZonegateError('ERR_USAGE', message);

/** How to read a bare duration: counted from now into the future (expiries) or the past (filters). */
export type DurationDirection = 'future' | 'past';

export interface TimeOptionContext {
  /** The option as the user typed it (`--since`), for the message. */
  flag: string;
  /** Epoch ms of "now". */
  now: number;
  durations: DurationDirection;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86_400e3, w: 7 * 86_400e3 };

/**
 * `30s`, `500ms`, `2w` (and `1.5h` with `fractions`) → ms, a bare number in `bareUnit` when given;
 * null when it is not one.
 */
function readDuration(s: string, o: { bareUnit?: string; fractions?: boolean } = {}): number | null {
  const m = /^(\d+(\.\d+)?)\s*(ms|s|m|h|d|w)?$/.exec(s);
  if (!m || (m[2] !== undefined && o.fractions !== true) || (m[3] === undefined && o.bareUnit === undefined)) return null;
  const n = Number(m[1]) * UNIT_MS[m[3] ?? o.bareUnit!];
  return Number.isFinite(n) ? Math.round(n) : null;
}

/**
 * A span (`--timeout 30s`, `--until-idle 500ms`; a bare number is seconds) → ms, more than 0 and at
 * most `maxMs` (default 24 h). ERR_USAGE naming the option otherwise.
 */
export function parseDurationOption(text: string, flag: string, maxMs = 86_400_000): number {
  const n = readDuration(text.trim(), { bareUnit: 's', fractions: true });
  if (n === null) throw usageError(`${flag}: not a duration: ${JSON.stringify(text)} (e.g. 30s, 500ms, 2m)`);
  if (!(n > 0) || n > maxMs) throw usageError(`${flag}: must be more than 0 and at most ${maxMs / 3_600_000}h`);
  return n;
}

/**
 * `now`; an ISO 8601 time (`2026-03-01T10:00:00Z`); a date (`2026-03-01`, UTC midnight); epoch
 * milliseconds (ten digits or more); or a duration (`30s`, `90m`, `12h`, `30d`, `2w`) from now,
 * forward or back as the context says → epoch ms. ERR_USAGE for anything else.
 */
export function parseTimeOption(text: string, ctx: TimeOptionContext): number {
  const s = text.trim();
  if (s === 'now') return ctx.now;
  const d = readDuration(s);
  if (d !== null) {
    const t = ctx.now + (ctx.durations === 'future' ? 1 : -1) * d;
    if (d > 0 && Number.isSafeInteger(t)) return t;
  }
  if (/^\d{10,}$/.test(s) && Number.isSafeInteger(Number(s))) return Number(s);
  if (/^\d{4}-\d{2}-\d{2}$/.test(s)) {
    const t = Date.parse(`${s}T00:00:00Z`);
    if (Number.isFinite(t)) return t;
  }
  if (/^\d{4}-\d{2}-\d{2}T/.test(s)) {
    const t = Date.parse(s);
    if (Number.isFinite(t)) return t;
  }
  const way = ctx.durations === 'future' ? 'from now' : 'back from now';
  throw usageError(`${ctx.flag}: cannot read the time '${text}': use now, an ISO 8601 time (2026-03-01T10:00:00Z), a date (2026-03-01, UTC), epoch milliseconds, or a duration ${way} like 2h or 30d`);
}

/**
 * An expiry given as a duration from `now` (`30d`, `12h`, `90m`, `45s`, `2w`), an ISO 8601 time,
 * a date or epoch ms; returns epoch ms. ERR_USAGE otherwise, and when
 * it is not in the future.
 */
export function parseExpiry(text: string, now: number, flag = '--expires'): number {
  const t = parseTimeOption(text, { flag, now, durations: 'future' });
  if (t <= now) throw new ZonegateError('ERR_USAGE', `${flag} ${text} is not in the future`);
  return t;
}
