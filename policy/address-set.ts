/**
 * Sets of IP addresses as sorted, inclusive intervals, IPv4 and IPv6 alike: the one home of the
 * interval arithmetic that the compiler (zone networks → the most specific zone of each address),
 * the nftables renderer (set elements without a prefix inside another) and the nftables swap
 * (sets compared as the kernel's auto-merge holds them) share. Pure.
 *
 * An address is a bigint (IPv6 needs 128 bits): the address bytes read big-endian. An interval
 * never mixes families; lists are ordered by family (4 before 6), then by start.
 */
import { formatIp, parseCidr, type Cidr, type IpAddr } from './net';

/** The addresses lo..hi (both inclusive) of one family. */
export interface AddressInterval {
  readonly family: 4 | 6;
  readonly lo: bigint;
  readonly hi: bigint;
}

const BITS = { 4: 32, 6: 128 } as const;

/** The bytes of an address (4 or 16) as one unsigned integer. */
export function addressValue(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = 0; i < bytes.length; i++) n = (n << 8n) | BigInt(bytes[i]);
  return n;
}

/** The address of `value` in `family` (the inverse of addressValue). */
export function addressOf(value: bigint, family: 4 | 6): IpAddr {
  const bytes = new Uint8Array(family === 4 ? 4 : 16);
  for (let i = bytes.length - 1; i >= 0; i--) { bytes[i] = Number(value & 0xffn); value >>= 8n; }
  return { family, bytes };
}

/** The addresses of a prefix (host bits as written are ignored: `10.0.0.1/8` is 10.0.0.0-10.255.255.255). */
export function cidrInterval(c: Cidr): AddressInterval {
  const bits = BigInt(BITS[c.family] - c.prefix);
  const lo = (addressValue(c.bytes) >> bits) << bits;
  return { family: c.family, lo, hi: lo + (1n << bits) - 1n };
}

/** `addr`, `addr/prefix` or `lo-hi` (nft's spellings of an interval set element), else undefined. */
export function parseInterval(text: string): AddressInterval | undefined {
  const dash = text.indexOf('-');
  if (dash > 0) {
    const lo = parseCidr(text.slice(0, dash).trim());
    const hi = parseCidr(text.slice(dash + 1).trim());
    if (!lo || !hi || lo.family !== hi.family || lo.prefix !== BITS[lo.family] || hi.prefix !== lo.prefix) return undefined;
    const i = { family: lo.family, lo: addressValue(lo.bytes), hi: addressValue(hi.bytes) };
    return i.lo <= i.hi ? i : undefined;
  }
  const c = parseCidr(text.trim());
  return c ? cidrInterval(c) : undefined;
}

/** nft's spelling of an interval: one address, a prefix when it is exactly one, else lo-hi. */
export function formatInterval(i: AddressInterval): string {
  const text = (v: bigint): string => formatIp(addressOf(v, i.family));
  if (i.lo === i.hi) return text(i.lo);
  const size = i.hi - i.lo + 1n;
  const bits = size.toString(2).length - 1;
  if (size === 1n << BigInt(bits) && (i.lo & (size - 1n)) === 0n) return `${text(i.lo)}/${BITS[i.family] - bits}`;
  return `${text(i.lo)}-${text(i.hi)}`;
}

/** Order of intervals: family, then start, then the wider first. */
export function compareIntervals(a: AddressInterval, b: AddressInterval): number {
  if (a.family !== b.family) return a.family - b.family;
  if (a.lo !== b.lo) return a.lo < b.lo ? -1 : 1;
  return a.hi === b.hi ? 0 : a.hi > b.hi ? -1 : 1;
}

/** The same addresses as sorted intervals, overlapping and adjacent ones merged (what an nft auto-merge set holds). */
export function mergeIntervals(list: readonly AddressInterval[]): AddressInterval[] {
  const sorted = list.slice().sort(compareIntervals);
  const out: { family: 4 | 6; lo: bigint; hi: bigint }[] = [];
  for (const i of sorted) {
    const last = out[out.length - 1];
    if (last && last.family === i.family && i.lo <= last.hi + 1n) { if (i.hi > last.hi) last.hi = i.hi; } else out.push({ family: i.family, lo: i.lo, hi: i.hi });
  }
  return out;
}

/** Whether two merged lists (mergeIntervals) hold the same addresses. */
export function sameIntervals(a: readonly AddressInterval[], b: readonly AddressInterval[]): boolean {
  return a.length === b.length && a.every((x, n) => compareIntervals(x, b[n]) === 0);
}

/** A text key of one interval (for Sets of intervals). */
export function intervalKey(i: AddressInterval): string {
  return `${i.family}:${i.lo}-${i.hi}`;
}

/** Whether a merged list (mergeIntervals) holds the address `value` of `family` (binary search). */
export function intervalsHold(merged: readonly AddressInterval[], family: 4 | 6, value: bigint): boolean {
  let a = 0, b = merged.length - 1;
  while (a <= b) {
    const m = (a + b) >> 1;
    const x = merged[m];
    if (x.family < family || (x.family === family && x.hi < value)) a = m + 1;
    else if (x.family > family || x.lo > value) b = m - 1;
    else return true;
  }
  return false;
}

/**
 * The items sorted by their interval, leaving out every item whose interval lies inside an item
 * kept before it (nft interval sets refuse overlapping elements; prefixes never partly overlap,
 * so what is left is disjoint for prefixes).
 */
export function withoutNested<T>(items: readonly T[], intervalOf: (item: T) => AddressInterval): T[] {
  const sorted = items.map((item) => ({ item, i: intervalOf(item) })).sort((a, b) => compareIntervals(a.i, b.i));
  const out: T[] = [];
  let last: AddressInterval | undefined;
  for (const { item, i } of sorted) {
    if (last && last.family === i.family && i.hi <= last.hi) continue;
    out.push(item);
    last = i;
  }
  return out;
}

/** A labelled piece of address space (mostSpecific). */
export interface LabelledInterval<L> {
  readonly interval: AddressInterval;
  readonly label: L;
}

/**
 * Paints the address space: every address covered by some item gets the label of the most
 * specific item covering it (the smallest interval: for prefixes the longest; ties: first in the
 * list). Returns disjoint sorted pieces, neighbours with the same label merged.
 */
export function mostSpecific<L>(items: readonly LabelledInterval<L>[]): LabelledInterval<L>[] {
  const byStart = items.map((x, order) => ({ ...x, order, size: x.interval.hi - x.interval.lo }))
    .sort((a, b) => compareIntervals(a.interval, b.interval) || a.order - b.order);
  // Elementary pieces lie between consecutive boundaries (starts and ends + 1), per family.
  const cuts = new Map<string, { family: 4 | 6; at: bigint }>();
  for (const { interval: i } of byStart) {
    cuts.set(`${i.family}:${i.lo}`, { family: i.family, at: i.lo });
    cuts.set(`${i.family}:${i.hi + 1n}`, { family: i.family, at: i.hi + 1n });
  }
  const points = [...cuts.values()].sort((a, b) => a.family - b.family || (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  const out: { interval: { family: 4 | 6; lo: bigint; hi: bigint }; label: L }[] = [];
  let active: typeof byStart = [];
  let nextItem = 0;
  for (let p = 0; p + 1 < points.length; p++) {
    const { family, at: lo } = points[p];
    if (points[p + 1].family !== family) { active = []; continue; }
    const hi = points[p + 1].at - 1n;
    while (nextItem < byStart.length && compareStart(byStart[nextItem].interval, family, lo) <= 0) active.push(byStart[nextItem++]);
    active = active.filter((x) => x.interval.family === family && x.interval.hi >= lo);
    let best: (typeof byStart)[number] | undefined;
    for (const x of active) if (!best || x.size < best.size || (x.size === best.size && x.order < best.order)) best = x;
    if (!best) continue;
    const last = out[out.length - 1];
    if (last && last.label === best.label && last.interval.family === family && last.interval.hi + 1n === lo) last.interval.hi = hi;
    else out.push({ interval: { family, lo, hi }, label: best.label });
  }
  return out;
}

// An interval's start against (family, at): negative when it starts before.
function compareStart(i: AddressInterval, family: 4 | 6, at: bigint): number {
  if (i.family !== family) return i.family - family;
  return i.lo < at ? -1 : i.lo > at ? 1 : 0;
}
