/**
 * One write's worth of frames, encoded straight into one reused buffer (FORMAT.md "Frame",
 * "Record"): the log's writer appends each record here instead of encoding it into a buffer of
 * its own and copying it into the batch afterwards. The bytes are exactly what encodeRecord()
 * (cbor-x, plain CBOR) produces for the same record: the writer below covers the JSON-like values
 * audit events hold (text and byte strings, numbers, booleans, null, undefined, plain objects and
 * arrays) and hands anything else (Map, Date, BigInt, class instances, ...) to encodeRecord(), so
 * a record never depends on which of the two encoded it. test/audit/frame-batch.test.ts holds the
 * two to byte equality.
 *
 * Hot path (design.md performance budget): no object or buffer per record beyond the payload view
 * the caller hashes; numbers, strings and map headers are written byte by byte as cbor-x writes
 * them (RFC 8949 §3.1, preferred serialisation of lengths; integers beyond 32 bits as float64).
 */
import { crc32 } from '../../protocol/audit/crc32';
import { FRAME_HEADER, MAX_PAYLOAD } from '../../protocol/audit/frame';
import { encodeRecord, RECORD_VERSION, type RecordBody } from '../../protocol/audit/record';

/** Thrown inside the writer for a value it leaves to cbor-x; never escapes append(). */
class Unsupported extends Error {}
const UNSUPPORTED = new Unsupported('unsupported value');

/** Nesting beyond this goes to cbor-x (which fails on cycles the way it always did). */
const MAX_DEPTH = 64;

/** True when something gave Object.prototype enumerable keys, which for-in would pick up and cbor-x would not. */
function protoPolluted(): boolean {
  for (const k in Object.prototype) if (k !== undefined) return true;
  return false;
}

/** A reusable buffer of frames: append() records, write bytes(), then reset() for the next batch. */
export class FrameBatch {
  private buf: Buffer;
  private view: DataView;
  private pos = 0;
  private readonly initialBytes: number;

  constructor(initialBytes = 256 * 1024) {
    this.initialBytes = initialBytes;
    this.buf = Buffer.allocUnsafe(initialBytes);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
  }

  /** Bytes appended so far. */
  get length(): number {
    return this.pos;
  }

  /** The frames appended since reset(); a view valid until the next reset() or append(). */
  bytes(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  /** Starts a new batch; a buffer grown past 4 × its initial size by a large batch is let go. */
  reset(): void {
    this.pos = 0;
    if (this.buf.length > 4 * this.initialBytes) this.replace(Buffer.allocUnsafe(this.initialBytes));
  }

  /** Drops the frames appended after `length` (a record the caller decided not to keep). */
  truncate(length: number): void {
    if (length < this.pos) this.pos = length;
  }

  /**
   * Appends the frame of record (body, seq, prev) and returns its payload: a view into the batch
   * that the caller hashes at once (the next append may move the buffer). Throws what cbor-x throws
   * for a value it cannot encode, and RangeError for a payload over MAX_PAYLOAD; the batch is then
   * as before the call.
   */
  append(body: RecordBody, seq: number, prev: Uint8Array): Buffer {
    const start = this.pos;
    const payloadStart = start + FRAME_HEADER;
    this.pos = payloadStart;
    try {
      this.record(body, seq, prev);
    } catch (e) {
      if (!(e instanceof Unsupported)) { this.pos = start; throw e; }
      this.pos = payloadStart;
      let payload: Buffer;
      try { payload = encodeRecord(body, seq, prev); } catch (err) { this.pos = start; throw err; }
      this.ensure(payload.length);
      this.buf.set(payload, this.pos);
      this.pos += payload.length;
    }
    const length = this.pos - payloadStart;
    if (length > MAX_PAYLOAD) {
      this.pos = start;
      throw new RangeError(`record of ${length} bytes exceeds the frame limit of ${MAX_PAYLOAD}`);
    }
    const b = this.buf;
    b[start] = length >>> 24; b[start + 1] = (length >>> 16) & 0xff; b[start + 2] = (length >>> 8) & 0xff; b[start + 3] = length & 0xff;
    const c = crc32(b, payloadStart, this.pos);
    b[start + 4] = c >>> 24; b[start + 5] = (c >>> 16) & 0xff; b[start + 6] = (c >>> 8) & 0xff; b[start + 7] = c & 0xff;
    return b.subarray(payloadStart, this.pos);
  }

  // ---- the record map (record.ts encodeRecord: v, seq, prev, then the body's defined fields) ----

  private record(body: RecordBody, seq: number, prev: Uint8Array): void {
    // for-in below must see exactly Object.keys(): own fields of a plain object, nothing inherited.
    if (body === null || typeof body !== 'object' || Object.getPrototypeOf(body) !== Object.prototype || protoPolluted()) throw UNSUPPORTED;
    const headerAt = this.pos;
    this.ensure(1);
    this.pos++; // map header, patched below
    this.text('v'); this.number(RECORD_VERSION);
    this.text('seq'); this.number(seq);
    this.text('prev'); this.value(prev, 1);
    let count = 3;
    // for-in rather than Object.keys(): V8 reads the fields through the enum cache (≈ 10% of the
    // encoding time here); same fields, same order for a plain object (checked above).
    const o = body as unknown as Record<string, unknown>;
    for (const k in o) {
      if (k === 'v' || k === 'seq' || k === 'prev') continue;
      const val = o[k];
      if (val === undefined) continue;
      this.text(k);
      this.value(val, 1);
      count++;
    }
    this.mapHeader(headerAt, count);
  }

  /** Fills in the map header reserved (one byte) at `at` for `count` pairs, moving the pairs when it needs two. */
  private mapHeader(at: number, count: number): void {
    if (count < 24) { this.buf[at] = 0xa0 | count; return; }
    // More than 23 pairs (rare in audit events): a two-byte header, the pairs move by one.
    if (count >= 0x100) throw UNSUPPORTED;
    this.ensure(1);
    this.buf.copyWithin(at + 2, at + 1, this.pos);
    this.buf[at] = 0xb8;
    this.buf[at + 1] = count;
    this.pos++;
  }

  private value(v: unknown, depth: number): void {
    switch (typeof v) {
      case 'string': this.text(v); return;
      case 'number': this.number(v); return;
      case 'boolean': this.ensure(1); this.buf[this.pos++] = v ? 0xf5 : 0xf4; return;
      case 'undefined': this.ensure(1); this.buf[this.pos++] = 0xf7; return;
      case 'object': break;
      default: throw UNSUPPORTED;
    }
    if (v === null) { this.ensure(1); this.buf[this.pos++] = 0xf6; return; }
    if (depth > MAX_DEPTH) throw UNSUPPORTED;
    const ctor = (v as object).constructor;
    if (ctor === Object && Object.getPrototypeOf(v) === Object.prototype) {
      // cbor-x: Object.keys() and every value, undefined included (as 0xf7); for-in as above.
      const o = v as Record<string, unknown>;
      const headerAt = this.pos;
      this.ensure(1);
      this.pos++;
      let n = 0;
      for (const k in o) {
        this.text(k);
        this.value(o[k], depth + 1);
        n++;
      }
      this.mapHeader(headerAt, n);
    } else if (ctor === Array) {
      const a = v as unknown[];
      const n = a.length;
      this.head(0x80, n);
      for (let i = 0; i < n; i++) this.value(a[i], depth + 1);
    } else if (ctor === Buffer || ctor === Uint8Array) {
      // cbor-x with tagUint8Array: false writes both as a plain byte string (major type 2).
      const u = v as Uint8Array;
      this.head(0x40, u.length);
      this.ensure(u.length);
      this.buf.set(u, this.pos);
      this.pos += u.length;
    } else {
      throw UNSUPPORTED;
    }
  }

  /** A major-type header with a length, preferred (shortest) form. */
  private head(major: number, n: number): void {
    this.ensure(5);
    const b = this.buf;
    if (n < 0x18) b[this.pos++] = major | n;
    else if (n < 0x100) { b[this.pos++] = major | 0x18; b[this.pos++] = n; }
    else if (n < 0x10000) { b[this.pos++] = major | 0x19; b[this.pos++] = n >> 8; b[this.pos++] = n & 0xff; }
    else { b[this.pos++] = major | 0x1a; this.view.setUint32(this.pos, n); this.pos += 4; }
  }

  /** A number as cbor-x writes it: 32-bit integers as integers, everything else as float64. */
  private number(v: number): void {
    this.ensure(9);
    const b = this.buf;
    if (v >>> 0 === v) {
      if (v < 0x18) b[this.pos++] = v;
      else if (v < 0x100) { b[this.pos++] = 0x18; b[this.pos++] = v; }
      else if (v < 0x10000) { b[this.pos++] = 0x19; b[this.pos++] = v >> 8; b[this.pos++] = v & 0xff; }
      else { b[this.pos++] = 0x1a; this.view.setUint32(this.pos, v); this.pos += 4; }
    } else if (v >> 0 === v) {
      if (v >= -0x18) b[this.pos++] = 0x1f - v;
      else if (v >= -0x100) { b[this.pos++] = 0x38; b[this.pos++] = ~v; }
      else if (v >= -0x10000) { b[this.pos++] = 0x39; this.view.setUint16(this.pos, ~v); this.pos += 2; }
      else { b[this.pos++] = 0x3a; this.view.setUint32(this.pos, ~v); this.pos += 4; }
    } else if (v < 0 && v >= -0x100000000 && Math.floor(v) === v) {
      b[this.pos++] = 0x3a; this.view.setUint32(this.pos, -1 - v); this.pos += 4;
    } else {
      b[this.pos++] = 0xfb; this.view.setFloat64(this.pos, v); this.pos += 8;
    }
  }

  /**
   * A text string (major type 3). Short strings are written char by char exactly as cbor-x does
   * (a lone surrogate becomes its three-byte form); from 64 chars on, Buffer's UTF-8 writer, as
   * cbor-x uses it.
   */
  private text(s: string): void {
    const n = s.length;
    this.ensure(n * 3 + 5);
    const b = this.buf;
    if (n < 0x18) {
      // Hot path: short ASCII (keys, addresses, ids), one header byte.
      let p = this.pos + 1;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        b[p++] = c;
      }
      if (i === n) {
        b[this.pos] = 0x60 | n;
        this.pos = p;
        return;
      }
    }
    const headerSize = n < 0x18 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
    const at = this.pos + headerSize;
    let len: number;
    if (n < 0x40) {
      let p = at;
      for (let i = 0; i < n; i++) {
        let c1 = s.charCodeAt(i);
        if (c1 < 0x80) {
          b[p++] = c1;
        } else if (c1 < 0x800) {
          b[p++] = (c1 >> 6) | 0xc0;
          b[p++] = (c1 & 0x3f) | 0x80;
        } else {
          let c2: number;
          if ((c1 & 0xfc00) === 0xd800 && ((c2 = s.charCodeAt(i + 1)) & 0xfc00) === 0xdc00) {
            c1 = 0x10000 + ((c1 & 0x03ff) << 10) + (c2 & 0x03ff);
            i++;
            b[p++] = (c1 >> 18) | 0xf0;
            b[p++] = ((c1 >> 12) & 0x3f) | 0x80;
            b[p++] = ((c1 >> 6) & 0x3f) | 0x80;
            b[p++] = (c1 & 0x3f) | 0x80;
          } else {
            b[p++] = (c1 >> 12) | 0xe0;
            b[p++] = ((c1 >> 6) & 0x3f) | 0x80;
            b[p++] = (c1 & 0x3f) | 0x80;
          }
        }
      }
      len = p - at;
    } else {
      len = b.write(s, at, 'utf8');
    }
    // The header went by the char count; move the bytes when the byte count needs a longer one.
    const need = len < 0x18 ? 1 : len < 0x100 ? 2 : len < 0x10000 ? 3 : 5;
    if (need !== headerSize) b.copyWithin(this.pos + need, at, at + len);
    if (len < 0x18) b[this.pos++] = 0x60 | len;
    else if (len < 0x100) { b[this.pos++] = 0x78; b[this.pos++] = len; }
    else if (len < 0x10000) { b[this.pos++] = 0x79; b[this.pos++] = len >> 8; b[this.pos++] = len & 0xff; }
    else { b[this.pos++] = 0x7a; this.view.setUint32(this.pos, len); this.pos += 4; }
    this.pos += len;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.replace(next);
  }

  private replace(next: Buffer): void {
    this.buf = next;
    this.view = new DataView(next.buffer, next.byteOffset, next.length);
  }
}
