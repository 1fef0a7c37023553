/**
 * The DNP3 transport function (IEEE 1815-2012 section 8): every link frame's user data starts
 * with one transport header octet, FIN (0x80) | FIR (0x40) | SEQ (6 bits), and the segments of
 * one application fragment follow each other with consecutive sequence numbers (mod 64).
 *
 * A gateway is stricter than section 8.2's receiver, which silently discards what does not fit:
 * a segment out of sequence, a continuation without a first segment, an empty segment, or a
 * fragment growing past the size cap is reported as malformed, so it can be audited and the
 * connection closed. A new FIR segment while a fragment is in progress starts over (8.2.2).
 * Reassembly is per (source, destination) link address pair, a few pairs at most.
 */
import { LINK_MAX_DATA } from './link';

export const TRANSPORT_FIN = 0x80;
export const TRANSPORT_FIR = 0x40;
/** Default and largest application fragment accepted (IEEE 1815 recommends 2048). */
export const DEFAULT_MAX_FRAGMENT = 2048;
export const MAX_FRAGMENT_LIMIT = 65536;

interface Assembly {
  key: number;
  buf: Buffer;
  length: number;
  nextSeq: number;
  active: boolean;
  /** The raw link frames of the fragment in progress (kept for forwarding unchanged). */
  frames: Buffer[];
}

/**
 * A complete fragment: data[offset .. offset + length). A fragment that came in one segment is
 * that segment (offset 1, after the transport header: no copy), valid as long as the segment's
 * buffer is; one reassembled from several is in the pair's buffer (offset 0), valid until the
 * next segment of that pair. The record itself is reused by the next push.
 */
export class FragmentResult {
  readonly kind = 'fragment' as const;
  data: Buffer = NO_BYTES;
  offset = 0;
  length = 0;
  /** The fragment's link frames as received when they were given to push (else empty). */
  frames: readonly Buffer[] = NO_FRAMES;
  src = 0;
  dest = 0;
}

/** The outcome of one segment: a complete fragment, more to come, or a problem. */
export type SegmentResult = FragmentResult | { kind: 'partial' } | { kind: 'malformed'; message: string };

const PARTIAL: SegmentResult = Object.freeze({ kind: 'partial' });
/** The frames of a fragment pushed without its raw frames. */
const NO_FRAMES: readonly Buffer[] = Object.freeze([]);
const NO_BYTES = Buffer.alloc(0);

/** Reassembles fragments from transport segments; one per stream direction. */
export class Reassembler {
  private readonly pairs: Assembly[] = [];
  private readonly done = new FragmentResult();
  constructor(private readonly maxFragment = DEFAULT_MAX_FRAGMENT, private readonly maxPairs = 4) {
    if (!Number.isInteger(maxFragment) || maxFragment < 1 || maxFragment > MAX_FRAGMENT_LIMIT) throw new TypeError(`Reassembler: maxFragment must be 1..${MAX_FRAGMENT_LIMIT}`);
  }

  /** Bytes held in fragments in progress. */
  get held(): number {
    let n = 0;
    for (const p of this.pairs) if (p.active) n += p.length;
    return n;
  }

  /**
   * One segment (a link frame's user data, seg[0 .. n)) from src to dest; `raw` is the whole
   * link frame, kept (copied) while the fragment is in progress (without it the fragment's
   * `frames` is empty). A complete fragment is a FragmentResult (see there how long it is valid).
   */
  push(src: number, dest: number, seg: Buffer, n: number, raw?: Uint8Array): SegmentResult {
    if (n < 1) return { kind: 'malformed', message: 'empty transport segment' };
    if (n > LINK_MAX_DATA) return { kind: 'malformed', message: `transport segment of ${n} bytes` };
    const th = seg[0];
    const fir = (th & TRANSPORT_FIR) !== 0;
    const fin = (th & TRANSPORT_FIN) !== 0;
    const seq = th & 0x3f;
    const key = (src << 16) | dest;
    let a: Assembly | undefined;
    for (const p of this.pairs) if (p.key === key) { a = p; break; }
    if (a === undefined) {
      if (!fir) return { kind: 'malformed', message: `transport segment ${seq} without a first segment (FIR)` };
      if (this.pairs.length >= this.maxPairs) {
        const idle = this.pairs.findIndex((p) => !p.active);
        if (idle < 0) return { kind: 'malformed', message: `more than ${this.maxPairs} link address pairs reassembling at once` };
        this.pairs.splice(idle, 1);
      }
      a = { key, buf: Buffer.alloc(Math.min(this.maxFragment, 4096)), length: 0, nextSeq: 0, active: false, frames: [] };
      this.pairs.push(a);
    }
    if (fir) {
      a.active = true;
      a.length = 0;
      if (a.frames.length > 0) a.frames = [];
    } else if (!a.active) {
      return { kind: 'malformed', message: `transport segment ${seq} without a first segment (FIR)` };
    } else if (seq !== a.nextSeq) {
      a.active = false;
      return { kind: 'malformed', message: `transport segment ${seq} out of sequence (expected ${a.nextSeq})` };
    }
    const add = n - 1;
    if (a.length + add > this.maxFragment) {
      a.active = false;
      a.frames = [];
      return { kind: 'malformed', message: `application fragment exceeds ${this.maxFragment} bytes` };
    }
    if (a.length + add > a.buf.length) {
      const bigger = Buffer.alloc(Math.min(this.maxFragment, a.buf.length * 2 + add));
      a.buf.copy(bigger, 0, 0, a.length);
      a.buf = bigger;
    }
    if (fir && fin) {
      // The whole fragment in this one segment (every poll and its answer): checked as any other
      // (pair, cap, empty), handed out where it lies, not copied into the pair's buffer.
      a.active = false;
      if (add === 0) return { kind: 'malformed', message: 'empty application fragment' };
      return this.result(seg, 1, add, raw !== undefined ? [Buffer.from(raw)] : NO_FRAMES, src, dest);
    }
    const buf = a.buf, at = a.length;
    for (let i = 1; i < n; i++) buf[at + i - 1] = seg[i]; // at most 249 bytes: a loop, no subarray object
    a.length += add;
    a.nextSeq = (seq + 1) & 0x3f;
    if (raw !== undefined) a.frames.push(Buffer.from(raw));
    if (!fin) return PARTIAL;
    a.active = false;
    let frames: readonly Buffer[] = NO_FRAMES;
    if (a.frames.length > 0) { frames = a.frames; a.frames = []; }
    if (a.length === 0) return { kind: 'malformed', message: 'empty application fragment' };
    return this.result(a.buf, 0, a.length, frames, src, dest);
  }

  private result(data: Buffer, offset: number, length: number, frames: readonly Buffer[], src: number, dest: number): FragmentResult {
    const r = this.done;
    r.data = data; r.offset = offset; r.length = length; r.frames = frames; r.src = src; r.dest = dest;
    return r;
  }

  /** Forgets every fragment in progress. */
  reset(): void {
    this.pairs.length = 0;
  }
}

/** Splits an application fragment into transport segments (each at most 249 bytes of it). */
export function segmentFragment(fragment: Uint8Array, firstSeq = 0): Buffer[] {
  const out: Buffer[] = [];
  let seq = firstSeq & 0x3f;
  for (let off = 0; off < fragment.length || off === 0; off += LINK_MAX_DATA - 1) {
    const part = fragment.subarray(off, Math.min(fragment.length, off + LINK_MAX_DATA - 1));
    const seg = Buffer.alloc(part.length + 1);
    seg[0] = (off === 0 ? TRANSPORT_FIR : 0) | (off + part.length >= fragment.length ? TRANSPORT_FIN : 0) | seq;
    seg.set(part, 1);
    out.push(seg);
    seq = (seq + 1) & 0x3f;
    if (fragment.length === 0) break;
  }
  return out;
}
