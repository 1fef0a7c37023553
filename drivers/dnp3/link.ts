/**
 * The DNP3 data link layer over TCP (IEEE 1815-2012 section 9.2): frames of
 *   0x05 0x64 | LEN | CTRL | DEST (2, LE) | SRC (2, LE) | CRC (2)   header block, 10 bytes
 *   then the user data in blocks of 16 bytes (the last one shorter), each followed by its CRC.
 * LEN counts CTRL, DEST, SRC and the user data (5..255), not the CRCs. Every CRC is checked.
 *
 * LinkSplitter cuts a byte stream into frames: a frame that lies whole in the pushed chunk is
 * checked where it lies (every read of a poll or its answer: no copy); the bytes of a frame cut
 * across pushes are gathered in one fixed buffer per stream (at most 292 bytes, a maximal frame)
 * and checked there. Either way every CRC is checked, the user data is copied out without the
 * CRCs into another fixed buffer, and the handler gets a reused LinkFrame.
 */
import { copyCrcOk, crcOk, putCrc } from './crc';

export const LINK_START_0 = 0x05;
export const LINK_START_1 = 0x64;
export const LINK_HEADER_BYTES = 10;
/** User data bytes in one frame at most (LEN 255 - 5). */
export const LINK_MAX_DATA = 250;
/** A maximal frame: 10 + 250 + 16 CRCs of 2 bytes. */
export const LINK_MAX_FRAME = 292;

/** Control octet bits (section 9.2.4.1.3). */
export const LinkControl = Object.freeze({
  DIR: 0x80, PRM: 0x40, FCB: 0x20, FCV: 0x10,
  /** Primary functions (PRM = 1). */
  RESET_LINK_STATES: 0, TEST_LINK_STATES: 2, CONFIRMED_USER_DATA: 3, UNCONFIRMED_USER_DATA: 4, REQUEST_LINK_STATUS: 9,
  /** Secondary functions (PRM = 0). */
  ACK: 0, NACK: 1, LINK_STATUS: 11, NOT_SUPPORTED: 15,
});

/** The bytes on the wire of a frame carrying `dataLength` bytes of user data. */
export function frameBytes(dataLength: number): number {
  return LINK_HEADER_BYTES + dataLength + 2 * Math.ceil(dataLength / 16);
}

/** One link frame as the splitter hands it out (reused: copy what you keep). */
export class LinkFrame {
  control = 0;
  dest = 0;
  src = 0;
  /** User data without CRCs: data[0 .. dataLength). */
  readonly data = Buffer.alloc(LINK_MAX_DATA);
  dataLength = 0;
  /** The splitter's buffer for a frame cut across pushes. */
  readonly raw = Buffer.alloc(LINK_MAX_FRAME);
  /**
   * The frame as received: buf[at .. at + rawLength). `buf` is `raw`, or the chunk the splitter
   * was pushed when the frame lay whole in it (then `at` is where in the chunk it starts).
   * Valid during onLinkFrame only: both are reused.
   */
  buf: Uint8Array = this.raw;
  at = 0;
  rawLength = 0;
  /** A view of the frame as received (no copy: valid while `buf` is). */
  rawView(): Uint8Array { return this.buf.subarray(this.at, this.at + this.rawLength); }
  /** A copy of the frame as received. */
  rawCopy(): Buffer {
    const n = this.rawLength, src = this.buf, at = this.at;
    const out = Buffer.allocUnsafe(n);
    if (n <= 48) for (let i = 0; i < n; i++) out[i] = src[at + i]; // a short frame (a poll): no subarray object
    else out.set(src.subarray(at, at + n)); // TypedArray#set: a third of a byte loop's cost for a 160-byte frame, half of Buffer#copy's
    return out;
  }
  /** Whether the user data is a whole application fragment: one transport segment, FIR and FIN. */
  get wholeFragment(): boolean { return this.dataLength > 0 && (this.data[0] & 0xc0) === 0xc0; }
  /** The link function code (low 4 bits of control). */
  get func(): number { return this.control & 0x0f; }
  get primary(): boolean { return (this.control & LinkControl.PRM) !== 0; }
  get fromMaster(): boolean { return (this.control & LinkControl.DIR) !== 0; }
}

export interface LinkFrameHandler {
  /** One checked frame. Return false to stop splitting (the rest of the chunk is left unread). */
  onLinkFrame(frame: LinkFrame): boolean;
  /** The stream can never become a frame again (bad start, length or CRC): as soon as the bytes received show it. */
  onLinkMalformed(message: string): void;
}

/**
 * Splits a stream into link frames. After onLinkMalformed it reads nothing more (the stream is
 * out of step: IEEE 1815 would hunt for the next 0x05 0x64, a gateway closes the connection).
 */
export class LinkSplitter {
  private readonly frame = new LinkFrame();
  private have = 0;
  private need = LINK_HEADER_BYTES;
  private dead = false;
  constructor(private readonly handler: LinkFrameHandler) {}

  /** Bytes of an incomplete frame held. */
  get partialBytes(): number { return this.have; }

  /** Feeds chunk[from .. end); returns where it stopped (end unless a handler returned false). */
  push(chunk: Uint8Array, from = 0, end = chunk.length): number {
    const raw = this.frame.raw;
    let i = from;
    while (i < end && !this.dead) {
      if (this.have === 0 && end - i >= LINK_HEADER_BYTES) {
        // A frame starting here: checked in the chunk itself when it lies whole in it.
        const problem = this.header(chunk, i);
        if (problem !== null) { this.fail(problem); break; }
        const need = this.need;
        if (end - i >= need) {
          this.need = LINK_HEADER_BYTES;
          const bad = this.body(chunk, i, need);
          if (bad !== null) { this.fail(bad); break; }
          i += need;
          if (!this.handler.onLinkFrame(this.frame)) { this.frame.buf = raw; return i; }
          continue;
        }
        // Cut: its header (checked) and what there is of the rest wait in raw for the next push.
        for (let k = 0; k < end - i; k++) raw[k] = chunk[i + k];
        this.have = end - i;
        break;
      }
      const take = Math.min(this.need - this.have, end - i);
      if (take <= 32) for (let k = 0; k < take; k++) raw[this.have + k] = chunk[i + k]; // short: no subarray
      else raw.set(chunk.subarray(i, i + take), this.have);
      this.have += take;
      i += take;
      if (this.have < this.need) {
        // A header still short: refused now if what there is of it can start no frame (else
        // garbage shorter than a header would wait for the frame timeout).
        if (this.need === LINK_HEADER_BYTES) {
          const problem = startProblem(raw, 0, this.have);
          if (problem !== null) this.fail(problem);
        }
        break;
      }
      if (this.need === LINK_HEADER_BYTES) {
        const problem = this.header(raw, 0);
        if (problem !== null) { this.fail(problem); break; }
        if (this.have < this.need) continue;
      }
      const need = this.need;
      this.have = 0;
      this.need = LINK_HEADER_BYTES;
      const problem = this.body(raw, 0, need);
      if (problem !== null) { this.fail(problem); break; }
      if (!this.handler.onLinkFrame(this.frame)) return i;
    }
    this.frame.buf = raw; // keeps no chunk alive
    return end;
  }

  /** Stops reading (the connection closed). */
  close(): void {
    this.dead = true;
  }

  private fail(message: string): void {
    this.dead = true;
    this.handler.onLinkMalformed(message);
  }

  /** Checks the header at src[at .. at + 10) and sets `need` to the whole frame's size. */
  private header(src: Uint8Array, at: number): string | null {
    const problem = startProblem(src, at, 3);
    if (problem !== null) return problem;
    if (!crcOk(src, at, at + 8)) return 'link header CRC mismatch';
    this.need = frameBytes(src[at + 2] - 5);
    return null;
  }

  /** Checks every data block's CRC of the frame at src[base .. base + size) (header checked) and fills the frame. */
  private body(src: Uint8Array, base: number, size: number): string | null {
    const f = this.frame;
    const n = src[base + 2] - 5;
    f.control = src[base + 3];
    f.dest = src[base + 4] | (src[base + 5] << 8);
    f.src = src[base + 6] | (src[base + 7] << 8);
    f.buf = src;
    f.at = base;
    f.rawLength = size;
    let at = base + LINK_HEADER_BYTES;
    let out = 0;
    while (out < n) {
      const block = Math.min(16, n - out);
      if (!copyCrcOk(src, at, at + block, f.data, out)) return `link data CRC mismatch in block ${out >> 4}`;
      out += block;
      at += block + 2;
    }
    f.dataLength = n;
    return null;
  }
}

/**
 * Why the first `n` bytes of a header at src[at ..) can start no frame (null while they can):
 * the start octets 05 64, then a length of at least 5 (the header's own CTRL, DEST and SRC).
 */
function startProblem(src: Uint8Array, at: number, n: number): string | null {
  if (src[at] !== LINK_START_0 || (n >= 2 && src[at + 1] !== LINK_START_1)) {
    return `link frame does not start with 05 64 (got ${n >= 2 ? `${hex(src[at])} ${hex(src[at + 1])}` : hex(src[at])})`;
  }
  if (n >= 3 && src[at + 2] < 5) return `link length ${src[at + 2]} is below 5`;
  return null;
}

function hex(b: number): string {
  return b.toString(16).padStart(2, '0');
}

/** Options of a frame to encode. */
export interface LinkFrameSpec {
  control: number;
  dest: number;
  src: number;
  data?: Uint8Array;
}

/** Encodes one link frame with every CRC (user data at most 250 bytes). */
export function encodeLinkFrame(spec: LinkFrameSpec): Buffer {
  const data = spec.data ?? new Uint8Array(0);
  if (data.length > LINK_MAX_DATA) throw new TypeError(`encodeLinkFrame: ${data.length} bytes of user data (at most ${LINK_MAX_DATA})`);
  const out = Buffer.alloc(frameBytes(data.length));
  out[0] = LINK_START_0;
  out[1] = LINK_START_1;
  out[2] = 5 + data.length;
  out[3] = spec.control & 0xff;
  out.writeUInt16LE(spec.dest & 0xffff, 4);
  out.writeUInt16LE(spec.src & 0xffff, 6);
  putCrc(out, 0, 8);
  let at = LINK_HEADER_BYTES;
  for (let off = 0; off < data.length; off += 16) {
    const block = Math.min(16, data.length - off);
    out.set(data.subarray(off, off + block), at);
    putCrc(out, at, at + block);
    at += block + 2;
  }
  return out;
}
