/**
 * The one reader of time options on the command line (`audit show --since`, `report --from`,
 * `fleet grant --until`, `fleet sign --expires`, ...), so that every command accepts the same
 * spellings and says the same thing when it cannot read one.
 */
import { usageError } from './framework';

/** How to read a bare duration: counted from now into the future (expiries) or the past (filters). */
export type DurationDirection = 'future' | 'past';

export interface TimeOptionContext {
  /** The option as the user typed it (`--since`), for the message. */
  flag: string;
  /** Epoch ms of "now". */
  now: number;
  durations: DurationDirection;
}

const UNIT_MS: Record<string, number> = { s: 1e3, m: 60e3, h: 3600e3, d: 86_400e3, w: 7 * 86_400e3 };

/**
 * `now`; an ISO 8601 time (`2026-03-01T10:00:00Z`); a date (`2026-03-01`, UTC midnight); epoch
 * milliseconds (ten digits or more); or a duration (`30s`, `90m`, `12h`, `30d`, `2w`) from now,
 * forward or back as the context says → epoch ms. ERR_USAGE for anything else.
 */
export function parseTimeOption(text: string, ctx: TimeOptionContext): number {
  const s = text.trim();
  if (s === 'now') return ctx.now;
  const d = /^(\d+)\s*([smhdw])$/.exec(s);
  if (d) {
    const t = ctx.now + (ctx.durations === 'future' ? 1 : -1) * Number(d[1]) * UNIT_MS[d[2]];
    if (Number(d[1]) > 0 && Number.isSafeInteger(t)) return t;
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
