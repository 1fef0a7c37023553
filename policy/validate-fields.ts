/**
 * The policy format's field tables and small value readers that validation shares: the fields
 * each entry may have, the numeric bounds, and address ranges, clock times and port lists.
 */
import type { AddressRange, IdentityKind, Protocol, Settings, Weekday } from './types';
import { IssueList, checkInt, describe } from './check';
import type { Path, PathLike } from './check';

export const TOP_FIELDS = ['site', 'zones', 'assets', 'identities', 'conduits', 'quarantine', 'settings', 'tests'];
export const ZONE_FIELDS = ['id', 'networks', 'interfaces', 'securityLevel', 'description'];
export const ASSET_FIELDS = ['id', 'zone', 'address', 'addresses', 'kind', 'services', 'description'];
export const SERVICE_FIELDS = ['protocol', 'port', 'name'];
export const IDENTITY_FIELDS = ['id', 'kind', 'zone', 'address', 'addresses', 'roles', 'description'];
export const CONDUIT_FIELDS = ['id', 'description', 'from', 'to', 'protocol', 'ports', 'allow', 'requires', 'schedule', 'mode', 'rateLimit', 'writeRateLimit'];
export const FROM_FIELDS = ['identities', 'roles', 'zones'];
export const TO_FIELDS = ['assets', 'zones'];
export const ALLOW_FIELDS = ['functions', 'units', 'addresses', 'values', 'coils'];
export const REQUIRES_FIELDS = ['edgeAuth', 'grant'];
export const SCHEDULE_FIELDS = ['days', 'from', 'to', 'tz'];
export const RATE_FIELDS = ['perSecond', 'burst'];
export const SETTINGS_FIELDS = ['onExpiry'];
export const TEST_FIELDS = ['name', 'request', 'expect', 'conduit', 'reason'];

export const PROTOCOLS: readonly Protocol[] = ['modbus', 'tcp', 'dnp3', 'iec104'];
export const KINDS: readonly IdentityKind[] = ['device', 'user', 'service', 'vendor'];
export const WEEK: readonly Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
export const DAY_WORDS: Readonly<Record<string, readonly Weekday[]>> = Object.assign(Object.create(null) as Record<string, readonly Weekday[]>, {
  mon: ['mon'], tue: ['tue'], wed: ['wed'], thu: ['thu'], fri: ['fri'], sat: ['sat'], sun: ['sun'],
  monday: ['mon'], tuesday: ['tue'], wednesday: ['wed'], thursday: ['thu'], friday: ['fri'], saturday: ['sat'], sunday: ['sun'],
  weekdays: ['mon', 'tue', 'wed', 'thu', 'fri'], weekend: ['sat', 'sun'], all: WEEK, daily: WEEK });
export const ON_EXPIRY: readonly Settings['onExpiry'][] = ['keep-enforcing', 'deny-all'];

export interface Located<T> { value: T; path: Path }

export const ADDRESS_RANGE = { min: 0, max: 65535, name: 'an address' };
export const PORT_RANGE = { min: 1, max: 65535, name: 'a port' };
export const UNIT_RANGE = { min: 0, max: 255, name: 'a unit id' };

/** Splits an address range text ("0-99", "5") or number into an interval; undefined with an issue otherwise. */
export function parseAddressRange(v: unknown, path: PathLike, out: IssueList, bound: { min: number; max: number; name: string } = ADDRESS_RANGE): AddressRange | undefined {
  const expected = `must be ${bound.name} ${bound.min}..${bound.max} or a range like "0-99"`;
  if (typeof v === 'number') {
    const n = checkInt(v, path, out, bound);
    return n === undefined ? undefined : { start: n, end: n };
  }
  if (typeof v === 'string') {
    const m = /^\s*(\d{1,8})\s*(?:-\s*(\d{1,8})\s*)?$/.exec(v);
    if (!m) {
      out.add(path, `${expected}, got ${describe(v)}`);
      return undefined;
    }
    const start = Number(m[1]);
    const end = m[2] === undefined ? start : Number(m[2]);
    if (start > bound.max || end > bound.max) { out.add(path, `address range "${v}" goes past ${bound.max}`); return undefined; }
    if (start > end) { out.add(path, `address range "${v}" is empty: ${start} is after ${end} (did you mean "${end}-${start}"?)`); return undefined; }
    return { start, end };
  }
  out.add(path, `${expected}, got ${describe(v)}`);
  return undefined;
}

/** Sorts intervals and merges the overlapping and adjacent ones. */
export function mergeRanges(ranges: readonly AddressRange[]): AddressRange[] {
  if (ranges.length === 1) return [{ start: ranges[0].start, end: ranges[0].end }];
  const sorted = ranges.map((r) => ({ start: r.start, end: r.end })).sort((a, b) => a.start - b.start || a.end - b.end);
  const res: AddressRange[] = [];
  for (const r of sorted) {
    const last = res[res.length - 1];
    if (last && r.start <= last.end + 1) { if (r.end > last.end) last.end = r.end; } else res.push(r);
  }
  return res.slice(); // its exact length (see sortedUnique)
}

/** "HH:MM" (00:00..24:00) to minutes after midnight. */
export function parseClock(v: unknown): number | undefined {
  if (typeof v !== 'string') return undefined;
  const t = v.trim();
  const colon = t.indexOf(':');
  if (colon < 1 || colon > 2 || t.length !== colon + 3) return undefined;
  const digit = (i: number): number => { const c = t.charCodeAt(i) - 48; return c >= 0 && c <= 9 ? c : NaN; };
  const h = colon === 1 ? digit(0) : digit(0) * 10 + digit(1);
  const min = digit(colon + 1) * 10 + digit(colon + 2);
  if (Number.isNaN(h) || Number.isNaN(min)) return undefined;
  if (min > 59 || h > 24 || (h === 24 && min !== 0)) return undefined;
  return h * 60 + min;
}

/** The path of item i of list field `key` (a single scalar's is the field's own). */
export function itemPath(rec: Record<string, unknown>, key: string, path: Path, i: number): Path {
  return Array.isArray(rec[key]) ? [...path, key, i] : [...path, key];
}

/**
 * Sorts and drops repeats; the result is a new array of its exact length. A list built by push
 * keeps room for 17 entries (192 bytes for a list of one): the validated lists of a 10,000-conduit
 * policy, and of the 26,778 conduits policy learn checks, are held as long as the policy.
 */
export function sortedUnique(xs: number[]): number[] {
  if (xs.length < 2) return xs.slice();
  // Insertion sort: the lists are short, and Array.prototype.sort allocates.
  for (let i = 1; i < xs.length; i++) {
    const x = xs[i];
    let j = i - 1;
    while (j >= 0 && xs[j] > x) { xs[j + 1] = xs[j]; j--; }
    xs[j + 1] = x;
  }
  let n = 1;
  for (let i = 1; i < xs.length; i++) if (xs[i] !== xs[n - 1]) xs[n++] = xs[i];
  return xs.slice(0, n);
}

/** The IANA time zones Intl knows (for "did you mean"). */
export function supportedTimeZones(): string[] {
  const intl = Intl as unknown as { supportedValuesOf?: (k: string) => string[] };
  try {
    return typeof intl.supportedValuesOf === 'function' ? intl.supportedValuesOf('timeZone') : [];
  } catch {
    return [];
  }
}
