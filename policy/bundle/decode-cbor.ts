/**
 * The one decoder of zonegate's CBOR profile (RFC 8949 section 3), used for every signed thing a
 * gateway or the fleet reads (envelope, bodies, grants, commands, runtime chunks) and to check
 * what the encoder wrote. The profile:
 *
 * - definite lengths only (no indefinite-length items, RFC 8949 section 3.2.2: `5f 7f 9f bf`);
 * - every declared length/count fits in the remaining bytes (a count of n items needs ≥ n bytes);
 * - every declared count is at most maxCount, every text string at most maxTextBytes, and the
 *   whole item holds at most maxItems items (CBOR_LIMITS in limits.ts): a caller that knows its
 *   shape (the envelope: 3 fields, ≤ 32 signatures) refuses a 4 MB array of one-byte items at its
 *   header, before anything walks or decodes it;
 * - nesting depth ≤ maxDepth (default 16);
 * - no tags at all (major type 6), no simple values other than false/true/null and floats;
 * - integers within ±(2^53 − 1), so every number decodes to a safe JS number;
 * - map keys are text strings, never duplicated (RFC 8949 section 5.6);
 * - exactly one top-level item, no trailing bytes.
 *
 * One pass checks the profile while it decodes into plain data: null-prototype objects (a
 * `__proto__` key is data), arrays, strings, numbers, booleans, null, and byte strings as fresh
 * Uint8Arrays (or views, see viewBytes). decodeCborSteps is a generator that yields every
 * DECODE_SLICE items, so that the store can let decisions run while a 10,000-conduit body is read.
 * Nothing is allocated before the header that declares it was checked against the bytes left, and
 * the explicit stack is bounded by maxDepth, so hostile lengths and nesting cost nothing.
 */
import { ZonegateError } from '../errors';
import { BODY_LIMITS } from './limits';
import type { CborLimits } from './limits';

/** Plain decoded data: null-prototype objects, arrays, strings, numbers, booleans, null, bytes. */
export type CborValue = null | boolean | number | string | Uint8Array | CborValue[] | { [key: string]: CborValue };

/** Options of decodeCborSteps: the profile's caps (BODY_LIMITS by default) and a name for messages. */
export interface DecodeStepsOptions extends Partial<CborLimits> {
  what?: string;
  /**
   * Byte strings as views of `bytes` instead of copies (the envelope's body: no second copy of a
   * 4 MiB payload). The caller then must not change `bytes` while the result is in use.
   */
  viewBytes?: boolean;
}

/** Items decoded between two yields of decodeCborSteps (well under a millisecond). */
export const DECODE_SLICE = 1024;

const MAX_SAFE_HI = 0x1fffff; // high 32 bits of 2^53 - 1
const hasOwn = Object.prototype.hasOwnProperty;
const utf8 = new TextDecoder();

type Obj = { [key: string]: CborValue };

/** Decodes `bytes` as one item of the profile; yields between slices; throws ERR_BUNDLE_DECODE. */
export function* decodeCborSteps(bytes: Uint8Array, opts: DecodeStepsOptions = {}): Generator<undefined, CborValue, unknown> {
  const maxDepth = opts.maxDepth ?? BODY_LIMITS.maxDepth;
  const maxCount = opts.maxCount ?? BODY_LIMITS.maxCount;
  const maxText = opts.maxTextBytes ?? BODY_LIMITS.maxTextBytes;
  const maxItems = opts.maxItems ?? BODY_LIMITS.maxItems;
  const viewBytes = opts.viewBytes === true;
  const what = opts.what ?? 'bundle';
  const n = bytes.length;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;
  const fail = (msg: string): never => {
    throw new ZonegateError('ERR_BUNDLE_DECODE', `${what} is not valid CBOR for zonegate: ${msg} at byte ${pos}`);
  };
  // Reads the argument of a header (RFC 8949 section 3, table 2); advances pos.
  const arg = (ai: number): number => {
    if (ai < 24) return ai;
    const len = ai === 24 ? 1 : ai === 25 ? 2 : ai === 26 ? 4 : ai === 27 ? 8 : 0;
    if (len === 0) return ai === 31 ? fail('indefinite length') : fail(`reserved additional info ${ai}`);
    if (pos + len > n) return fail('truncated header');
    let v: number;
    if (len === 1) v = bytes[pos];
    else if (len === 2) v = (bytes[pos] << 8) | bytes[pos + 1];
    else if (len === 4) v = view.getUint32(pos);
    else {
      const hi = view.getUint32(pos);
      if (hi > MAX_SAFE_HI) return fail('integer or length beyond 2^53');
      v = hi * 0x100000000 + view.getUint32(pos + 4);
    }
    pos += len;
    return v;
  };

  // Open containers, innermost last: the container, items still to come (for a map: keys and
  // values both count), the key waiting for its value, and the next index of an array.
  const cont: (CborValue[] | Obj)[] = [];
  const isMap: boolean[] = [];
  const left: number[] = [];
  const next: number[] = [];
  const keys: string[] = [];
  let work = 0;
  let items = 0;
  if (n === 0) fail('empty');
  // Map keys repeat (`id`, `from`, `protocol`, ... once per conduit): one string each.
  const keyCache: (string | undefined)[] = new Array(KEY_CACHE_SIZE);

  for (;;) {
    let top = cont.length - 1;
    if (pos >= n) fail('truncated');
    if (++items > maxItems) fail(`more than ${maxItems} items`);
    const expectKey = top >= 0 && isMap[top] && (left[top] & 1) === 0;
    if (expectKey && bytes[pos] >> 5 !== 3) fail('map key is not a text string');
    const ib = bytes[pos++];
    const mt = ib >> 5;
    const ai = ib & 31;
    let v: CborValue;
    switch (mt) {
      case 0: v = arg(ai); break;
      case 1: v = -1 - arg(ai); break;
      case 2: {
        const len = arg(ai);
        if (len > n - pos) fail(`declared length ${len} beyond the ${n - pos} remaining bytes`);
        v = viewBytes ? bytes.subarray(pos, pos + len) : bytes.slice(pos, pos + len);
        pos += len;
        break;
      }
      case 3: {
        const len = arg(ai);
        if (len > n - pos) fail(`declared length ${len} beyond the ${n - pos} remaining bytes`);
        if (len > maxText) fail(`text string of ${len} bytes above the limit of ${maxText}`);
        v = expectKey ? keyText(bytes, pos, pos + len, keyCache) : text(bytes, pos, pos + len);
        pos += len;
        break;
      }
      case 4: case 5: {
        const count = arg(ai);
        const minBytes = mt === 5 ? count * 2 : count;
        if (minBytes > n - pos) fail(`declared ${mt === 5 ? 'map' : 'array'} size ${count} beyond the ${n - pos} remaining bytes`);
        if (count > maxCount) fail(`declared ${mt === 5 ? 'map' : 'array'} size ${count} above the limit of ${maxCount}`);
        if (cont.length + 1 > maxDepth) fail(`nesting deeper than ${maxDepth}`);
        // Maps are built as ordinary objects (fast properties, shared shapes) and get their null
        // prototype once complete; `__proto__` and duplicate keys are handled as own properties.
        const c: CborValue[] | Obj = mt === 4 ? new Array<CborValue>(count) : {} as Obj;
        if (count > 0) {
          cont.push(c); isMap.push(mt === 5); left.push(mt === 5 ? count * 2 : count); next.push(0); keys.push('');
          if (++work >= DECODE_SLICE) { work = 0; yield; }
          continue;
        }
        if (mt === 5) Object.setPrototypeOf(c, null);
        v = c;
        break;
      }
      case 6: return fail(`tag ${ai < 24 ? ai : '(extended)'} not allowed`);
      default: // 7: simple values and floats (RFC 8949 section 3.3)
        if (ai === 20) v = false;
        else if (ai === 21) v = true;
        else if (ai === 22) v = null;
        else if (ai === 25) { if (pos + 2 > n) fail('truncated float'); v = half((bytes[pos] << 8) | bytes[pos + 1]); pos += 2; }
        else if (ai === 26) { if (pos + 4 > n) fail('truncated float'); v = view.getFloat32(pos); pos += 4; }
        else if (ai === 27) { if (pos + 8 > n) fail('truncated float'); v = view.getFloat64(pos); pos += 8; }
        else return fail(ai === 31 ? 'unexpected break' : `simple value ${ai} not allowed`);
    }
    // Hand the value to its container; a container that got its last item is a value in turn.
    for (;;) {
      if (top < 0) {
        if (pos !== n) fail(`${n - pos} trailing byte(s)`);
        return v;
      }
      const c = cont[top];
      if (isMap[top]) {
        if ((left[top] & 1) === 0) {
          const k = v as string;
          if (hasOwn.call(c, k)) fail('duplicate map key');
          keys[top] = k;
          left[top] -= 1;
          break;
        }
        const k = keys[top];
        if (k === '__proto__') Object.defineProperty(c, k, { value: v, enumerable: true, writable: true, configurable: true });
        else (c as Obj)[k] = v;
      } else {
        (c as CborValue[])[next[top]++] = v;
      }
      if (--left[top] > 0) break;
      if (isMap[top]) Object.setPrototypeOf(c, null);
      cont.pop(); isMap.pop(); left.pop(); next.pop(); keys.pop();
      v = c;
      top -= 1;
    }
    if (++work >= DECODE_SLICE) { work = 0; yield; }
  }
}

/** decodeCborSteps run to the end; throws ZonegateError ERR_BUNDLE_DECODE on anything outside the profile. */
export function decodeCbor(bytes: Uint8Array, opts: DecodeStepsOptions = {}): CborValue {
  const steps = decodeCborSteps(bytes, opts);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

const KEY_CACHE_SIZE = 1024;
const SCRATCH: number[][] = Array.from({ length: 33 }, (_, n) => new Array<number>(n).fill(0));

// A short ASCII map key from the cache (slot by a hash of its bytes, checked byte for byte).
function keyText(b: Uint8Array, start: number, end: number, cache: (string | undefined)[]): string {
  const len = end - start;
  if (len > 16) return text(b, start, end);
  let h = len;
  for (let i = start; i < end; i++) h = (h * 31 + b[i]) | 0;
  const slot = h & (KEY_CACHE_SIZE - 1);
  const hit = cache[slot];
  if (hit !== undefined && hit.length === len) {
    let same = true;
    for (let i = 0; i < len; i++) if (hit.charCodeAt(i) !== b[start + i]) { same = false; break; }
    if (same) return hit;
  }
  const s = text(b, start, end);
  let ascii = true;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) { ascii = false; break; }
  if (ascii && s.length === len) cache[slot] = s;
  return s;
}

// UTF-8 text (RFC 8949 section 3.1, major type 3); short ASCII, the bulk of a policy, without
// TextDecoder's per-call cost. Invalid UTF-8 becomes U+FFFD, as TextDecoder does.
function text(b: Uint8Array, start: number, end: number): string {
  const len = end - start;
  if (len === 0) return '';
  if (len <= 32) {
    // One reused array per length, so the only allocation is the string itself.
    const codes = SCRATCH[len];
    for (let i = 0; i < len; i++) {
      const c = b[start + i];
      if (c >= 0x80) return utf8.decode(b.subarray(start, end));
      codes[i] = c;
    }
    return String.fromCharCode.apply(null, codes);
  }
  return utf8.decode(b.subarray(start, end));
}

// IEEE 754 half precision (RFC 8949 appendix D).
function half(h: number): number {
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  const sign = h & 0x8000 ? -1 : 1;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}
