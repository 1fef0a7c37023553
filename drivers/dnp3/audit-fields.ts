/**
 * The `dnp3` field of audit records: what a request (or unsolicited response) asked, short
 * enough for every decision. Object headers read `g<group>v<variation> q<qualifier hex>` then
 * the index range (`3-9`) or `all`, then the count when it is not the range's size (`x2`).
 */
import type { AuditEvent } from '../types';
import type { AppFragment } from './app';
import { dnp3FunctionName } from './functions';

/** Points (and values) listed per record at most; the rest are counted in the header text. */
export const AUDIT_MAX_POINTS = 64;

// The pieces of a header's text, built once (a decision per request spells 1..n headers).
const G = Array.from({ length: 256 }, (_, i) => `g${i}`);
const V = Array.from({ length: 256 }, (_, i) => `v${i}`);
const Q = Array.from({ length: 256 }, (_, i) => ` q${i.toString(16).padStart(2, '0')}`);

/** The audit `dnp3` field of a parsed fragment (its headers and points; call before reusing it). */
export function auditFields(f: AppFragment, source: number, destination: number): NonNullable<AuditEvent['dnp3']> {
  const objects: string[] = [];
  for (let h = 0; h < f.headers; h++) {
    let s = G[f.group[h]] + V[f.variation[h]] + Q[f.qualifier[h]];
    const lo = f.lo[h], hi = f.hi[h], n = f.count[h];
    if (lo >= 0) s += lo === hi ? ` ${lo}` : ` ${lo}-${hi}`;
    else if (n === 0) s += ' all';
    if (n > 0 && (lo < 0 || n !== hi - lo + 1)) s += ` x${n}`;
    objects.push(s);
  }
  const out: NonNullable<AuditEvent['dnp3']> = { function: f.fn, name: dnp3FunctionName(f.fn), source, destination, seq: f.seq, objects };
  if (f.points > 0) {
    const n = Math.min(f.points, AUDIT_MAX_POINTS);
    const points: number[] = [], values: number[] = [];
    let anyValue = false;
    for (let i = 0; i < n; i++) {
      points.push(f.ptIndex[i]);
      const v = f.ptValue[i];
      values.push(v);
      if (v === v) anyValue = true;
    }
    out.points = points;
    if (anyValue) out.values = values;
  }
  if (f.iin >= 0) out.iin = f.iin;
  return out;
}
