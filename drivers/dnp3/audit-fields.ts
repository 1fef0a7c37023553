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

/** The text of a parsed fragment's object headers, one string a header. */
export function objectsText(f: AppFragment): string[] {
  const objects: string[] = [];
  for (let h = 0; h < f.headers; h++) {
    let s = G[f.group[h]] + V[f.variation[h]] + Q[f.qualifier[h]];
    const lo = f.lo[h], hi = f.hi[h], n = f.count[h];
    if (lo >= 0) s += lo === hi ? ` ${lo}` : ` ${lo}-${hi}`;
    else if (n === 0) s += ' all';
    if (n > 0 && (lo < 0 || n !== hi - lo + 1)) s += ` x${n}`;
    objects.push(s);
  }
  return objects;
}

/** Bytes of function code and object headers a cached text is kept for at most (a poll: 13). */
const TEXT_KEY_BYTES = 48;

/**
 * The objects text of the last well-formed request, kept with the bytes it was read from: its
 * function code and object headers (everything after the application control octet, whose
 * sequence number changes every request and whose FIR/FIN a well-formed request always sets).
 * A well-formed fragment's headers are a function of those bytes alone, so a request repeating
 * them byte for byte (every poll) gets the same text without building it again. The array is
 * frozen: the records built from it share it.
 */
export class ObjectsTextCache {
  private readonly key = new Uint8Array(TEXT_KEY_BYTES);
  private keyLength = -1;
  private text: string[] = [];

  /** The text of `f`, parsed without a problem from the request data[off .. off + len). */
  of(f: AppFragment, data: Uint8Array, off: number, len: number): string[] {
    const from = off + 1, n = len - 1;
    if (n > TEXT_KEY_BYTES) return objectsText(f);
    const key = this.key;
    if (n === this.keyLength) {
      let i = 0;
      while (i < n && key[i] === data[from + i]) i++;
      if (i === n) return this.text;
    }
    for (let i = 0; i < n; i++) key[i] = data[from + i];
    this.keyLength = n;
    this.text = Object.freeze(objectsText(f)) as string[];
    return this.text;
  }
}

/**
 * The audit `dnp3` field of a parsed fragment (its headers and points; call before reusing it).
 * `objects`: its headers' text when the caller has it (ObjectsTextCache).
 */
export function auditFields(f: AppFragment, source: number, destination: number, objects: string[] = objectsText(f)): NonNullable<AuditEvent['dnp3']> {
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
