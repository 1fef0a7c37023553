/**
 * Small helpers over sorted, disjoint, inclusive address intervals (policy AddressRange lists as
 * validate.ts normalises them): difference, merging within a slack, and text as a policy writes it.
 */
import type { AddressRange } from './types';
import { mergeRanges } from './validate';

export { mergeRanges };

/** `a` minus `b`: the parts of `a` that `b` does not cover (both sorted and disjoint). */
export function subtractRanges(a: readonly AddressRange[], b: readonly AddressRange[]): AddressRange[] {
  const out: AddressRange[] = [];
  let j = 0;
  for (const r of a) {
    let start = r.start;
    while (j < b.length && b[j].end < start) j++;
    let k = j;
    while (start <= r.end) {
      if (k >= b.length || b[k].start > r.end) { out.push({ start, end: r.end }); break; }
      if (b[k].start > start) out.push({ start, end: b[k].start - 1 });
      start = b[k].end + 1;
      k++;
    }
  }
  return out;
}

/** Merges ranges whose gap is at most `slack` addresses (slack 0: overlapping or adjacent only). */
export function mergeWithin(ranges: readonly AddressRange[], slack: number): AddressRange[] {
  const merged = mergeRanges(ranges);
  const out: AddressRange[] = [];
  for (const r of merged) {
    const last = out[out.length - 1];
    if (last && r.start - last.end - 1 <= slack) last.end = Math.max(last.end, r.end);
    else out.push({ start: r.start, end: r.end });
  }
  return out;
}

/** `"0-99"` or `"5"`. */
export function formatRange(r: AddressRange): string {
  return r.start === r.end ? String(r.start) : `${r.start}-${r.end}`;
}

/** `0-99, 200` (empty: `none`). */
export function formatRanges(rs: readonly AddressRange[]): string {
  return rs.length === 0 ? 'none' : rs.map(formatRange).join(', ');
}
