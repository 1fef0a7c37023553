/**
 * A bounded structural pre-scan of CBOR bytes (RFC 8949 section 3) run BEFORE cbor-x sees them.
 * cbor-x trusts declared lengths and nests without limit, so a few hostile bytes can make it
 * allocate gigabytes or blow the stack. This scan walks the item headers only, allocating
 * nothing but one Set per map, and admits a strict profile:
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
 */
import { ZonegateError } from '../errors';
import { BODY_LIMITS } from './limits';
import type { CborLimits } from './limits';

export interface ScanCborOptions extends Partial<CborLimits> {
  /** Prefix of the error message, e.g. "bundle" or "bundle body". */
  what?: string;
}

const MAX_SAFE_HI = 0x1fffff; // high 32 bits of 2^53 - 1

/** What the scan learned on the way: whether some map has a `__proto__` key (decode-cbor.ts takes the slow, safe path then). */
export interface ScanResult {
  protoKey: boolean;
}

// "__proto__" as UTF-8 text, for the key check.
const PROTO = [0x5f, 0x5f, 0x70, 0x72, 0x6f, 0x74, 0x6f, 0x5f, 0x5f];

/** Throws ZonegateError ERR_BUNDLE_DECODE unless `bytes` is one item of the profile above. */
export function scanCbor(bytes: Uint8Array, opts: ScanCborOptions = {}): ScanResult {
  let protoKey = false;
  const maxDepth = opts.maxDepth ?? BODY_LIMITS.maxDepth;
  const maxCount = opts.maxCount ?? BODY_LIMITS.maxCount;
  const maxText = opts.maxTextBytes ?? BODY_LIMITS.maxTextBytes;
  const maxItems = opts.maxItems ?? BODY_LIMITS.maxItems;
  const what = opts.what ?? 'bundle';
  const n = bytes.length;
  let pos = 0;
  let items = 0;
  const fail = (msg: string): never => {
    throw new ZonegateError('ERR_BUNDLE_DECODE', `${what} is not valid CBOR for zonegate: ${msg} at byte ${pos}`);
  };
  // Reads the argument of the header at `pos` (RFC 8949 section 3, table 2); advances pos.
  const arg = (ai: number): number => {
    if (ai < 24) return ai;
    const len = ai === 24 ? 1 : ai === 25 ? 2 : ai === 26 ? 4 : ai === 27 ? 8 : 0;
    if (len === 0) return ai === 31 ? fail('indefinite length') : fail(`reserved additional info ${ai}`);
    if (pos + len > n) return fail('truncated header');
    let v = 0;
    if (len === 8) {
      const hi = ((bytes[pos] << 24) >>> 0) + (bytes[pos + 1] << 16) + (bytes[pos + 2] << 8) + bytes[pos + 3];
      if (hi > MAX_SAFE_HI) return fail('integer or length beyond 2^53');
      const lo = ((bytes[pos + 4] << 24) >>> 0) + (bytes[pos + 5] << 16) + (bytes[pos + 6] << 8) + bytes[pos + 7];
      v = hi * 0x100000000 + lo;
    } else {
      for (let i = 0; i < len; i++) v = v * 256 + bytes[pos + i];
    }
    pos += len;
    return v;
  };
  const item = (depth: number): void => {
    if (pos >= n) fail('truncated');
    if (++items > maxItems) fail(`more than ${maxItems} items`);
    const ib = bytes[pos++];
    const mt = ib >> 5;
    const ai = ib & 31;
    switch (mt) {
      case 0: case 1: arg(ai); return;
      case 2: case 3: {
        const len = arg(ai);
        if (len > n - pos) fail(`declared length ${len} beyond the ${n - pos} remaining bytes`);
        if (mt === 3 && len > maxText) fail(`text string of ${len} bytes above the limit of ${maxText}`);
        pos += len;
        return;
      }
      case 4: case 5: {
        const count = arg(ai);
        const minBytes = mt === 5 ? count * 2 : count;
        if (minBytes > n - pos) fail(`declared ${mt === 5 ? 'map' : 'array'} size ${count} beyond the ${n - pos} remaining bytes`);
        if (count > maxCount) fail(`declared ${mt === 5 ? 'map' : 'array'} size ${count} above the limit of ${maxCount}`);
        if (depth + 1 > maxDepth) fail(`nesting deeper than ${maxDepth}`);
        if (mt === 4) { for (let i = 0; i < count; i++) item(depth + 1); return; }
        // Key spans (start, end) of this map; duplicates by comparing raw bytes: pairwise for
        // small maps (no allocation), through a Set of latin1 strings for big ones.
        const spans: number[] = [];
        let seen: Set<string> | null = null;
        for (let i = 0; i < count; i++) {
          if (pos >= n) fail('truncated');
          if (bytes[pos] >> 5 !== 3) fail('map key is not a text string');
          const start = pos;
          item(depth + 1);
          const end = pos;
          if (end - start === 10 && bytes[start] === 0x69 && PROTO.every((c, j) => bytes[start + 1 + j] === c)) protoKey = true;
          if (count <= 16) {
            for (let k = 0; k < spans.length; k += 2) if (sameBytes(bytes, spans[k], spans[k + 1], start, end)) fail('duplicate map key');
            spans.push(start, end);
          } else {
            if (!seen) seen = new Set<string>();
            const key = latin1(bytes, start, end);
            if (seen.has(key)) fail('duplicate map key');
            seen.add(key);
          }
          item(depth + 1);
        }
        return;
      }
      case 6: fail(`tag ${ai < 24 ? ai : '(extended)'} not allowed`); return;
      default: // 7: simple values and floats
        if (ai === 20 || ai === 21 || ai === 22) return;
        if (ai === 25 || ai === 26 || ai === 27) {
          const len = ai === 25 ? 2 : ai === 26 ? 4 : 8;
          if (pos + len > n) fail('truncated float');
          pos += len;
          return;
        }
        fail(ai === 31 ? 'unexpected break' : `simple value ${ai} not allowed`);
    }
  };
  if (n === 0) fail('empty');
  item(0);
  if (pos !== n) fail(`${n - pos} trailing byte(s)`);
  return { protoKey };
}

function sameBytes(b: Uint8Array, s1: number, e1: number, s2: number, e2: number): boolean {
  if (e1 - s1 !== e2 - s2) return false;
  for (let i = 0; i < e1 - s1; i++) if (b[s1 + i] !== b[s2 + i]) return false;
  return true;
}

function latin1(b: Uint8Array, start: number, end: number): string {
  let s = '';
  for (let i = start; i < end; i += 4096) s += String.fromCharCode.apply(null, Array.from(b.subarray(i, Math.min(end, i + 4096))));
  return s;
}
