/**
 * Conduit schedules: local wall-clock windows in an IANA time zone.
 *
 * A schedule `{ days, from, to, tz }` is open at an instant when the instant's local weekday and
 * minute (in `tz`) fall in a window that starts at `from` on one of `days`:
 *   - from < to:  open on a listed day D for from <= minute < to (`to` is exclusive).
 *   - from >= to: the window crosses midnight. It opens at `from` on a listed day D and closes at
 *                 `to` on the day after D; the days always name the day the window STARTS.
 *                 So `{ days: [fri], from: 22:00, to: 04:00 }` is open Fri 22:00 .. Sat 03:59 and
 *                 not Fri 00:00 .. 03:59. from == to is a 24-hour window starting at `from`.
 *   - days empty: every day.
 * Daylight-saving changes follow the wall clock: local times are computed with Intl for the zone,
 * so on a spring-forward day a 22:00-04:00 window is one hour shorter, on a fall-back day one
 * hour longer, and a wall-clock minute that happens twice is inside the window both times.
 */
import type { Weekday } from './types';

export const WEEKDAYS: readonly Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const MINUTES_PER_DAY = 1440;
const MS_PER_MINUTE = 60_000;
const SHORT_DAY: Record<string, number> = { Mon: 0, Tue: 1, Wed: 2, Thu: 3, Fri: 4, Sat: 5, Sun: 6 };

/** A 7-bit mask of weekdays, bit 0 = Monday. No days means every day. */
export function weekdayMask(days: readonly Weekday[]): number {
  if (days.length === 0) return 0x7f;
  let m = 0;
  for (const d of days) {
    const i = WEEKDAYS.indexOf(d);
    if (i < 0) throw new TypeError(`unknown weekday '${d}'`);
    m |= 1 << i;
  }
  return m;
}

/**
 * Whether a window (weekday mask, from, to in minutes after local midnight) is open at a local
 * time given as weekday * 1440 + minute of the day (weekday 0 = Monday).
 */
export function windowOpen(mask: number, from: number, to: number, weekMinute: number): boolean {
  const day = (weekMinute / MINUTES_PER_DAY) | 0;
  const minute = weekMinute - day * MINUTES_PER_DAY;
  if (from < to) return (mask & (1 << day)) !== 0 && minute >= from && minute < to;
  if (minute >= from && (mask & (1 << day)) !== 0) return true;
  const prev = day === 0 ? 6 : day - 1;
  return minute < to && (mask & (1 << prev)) !== 0;
}

/** A formatter that yields the local weekday and time of day in `tz` (throws RangeError on an unknown zone). */
function formatterFor(tz: string): Intl.DateTimeFormat {
  return new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', weekday: 'short', hour: 'numeric', minute: 'numeric' });
}

/** Local weekday * 1440 + minute of the day of an instant in `tz`, computed with Intl (no cache). */
export function localWeekMinute(tz: string, ms: number): number {
  return weekMinuteWith(tz === 'UTC' ? null : formatterFor(tz), ms);
}

function weekMinuteWith(fmt: Intl.DateTimeFormat | null, ms: number): number {
  if (fmt === null) {
    const minutes = Math.floor(ms / MS_PER_MINUTE);
    const days = Math.floor(minutes / MINUTES_PER_DAY);
    // 1970-01-01 was a Thursday (weekday 3 with Monday = 0).
    const weekday = (((days + 3) % 7) + 7) % 7;
    return weekday * MINUTES_PER_DAY + (minutes - days * MINUTES_PER_DAY);
  }
  let weekday = 0, hour = 0, minute = 0;
  for (const p of fmt.formatToParts(ms)) {
    if (p.type === 'weekday') weekday = SHORT_DAY[p.value] ?? 0;
    else if (p.type === 'hour') hour = Number(p.value) % 24;
    else if (p.type === 'minute') minute = Number(p.value);
  }
  return weekday * MINUTES_PER_DAY + hour * 60 + minute;
}

/**
 * The local clocks of a fixed list of time zones, each cached for the current UTC minute:
 * Intl is asked at most once per zone per minute, the hot path reads two typed arrays.
 * Mutable, owned by one compiled index.
 */
export class ZoneClock {
  private readonly formatters: (Intl.DateTimeFormat | null | undefined)[];
  private readonly cachedMinute: Float64Array;
  private readonly cachedLocal: Int32Array;

  constructor(readonly zones: readonly string[]) {
    this.formatters = new Array(zones.length).fill(undefined);
    this.cachedMinute = new Float64Array(zones.length).fill(NaN);
    this.cachedLocal = new Int32Array(zones.length);
  }

  /** Local weekday * 1440 + minute of the day at `nowMs` in zone number `zone`. */
  weekMinute(zone: number, nowMs: number): number {
    const minute = Math.floor(nowMs / MS_PER_MINUTE);
    if (this.cachedMinute[zone] === minute) return this.cachedLocal[zone];
    let fmt = this.formatters[zone];
    if (fmt === undefined) {
      const tz = this.zones[zone];
      fmt = tz === 'UTC' ? null : formatterFor(tz);
      this.formatters[zone] = fmt;
    }
    // Offsets are whole minutes in every zone in use today, so the minute's start stands for it.
    const local = weekMinuteWith(fmt, minute * MS_PER_MINUTE);
    this.cachedMinute[zone] = minute;
    this.cachedLocal[zone] = local;
    return local;
  }
}
