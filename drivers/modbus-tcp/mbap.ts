/**
 * MBAP framing (Modbus Messaging on TCP/IP Implementation Guide V1.0b, section 3.1.3):
 *
 *   transaction id (2) | protocol id (2, always 0) | length (2) | unit id (1) | PDU
 *
 * `length` counts the unit id and the PDU, so it lies in 2..254 and a whole ADU is at most 260
 * bytes (section 4.2: the PDU is at most 253 bytes). The splitter cuts a TCP byte stream into
 * ADUs: complete frames inside a chunk are handed out in place (no copy); only a frame that
 * straddles chunks is assembled in one fixed 260-byte scratch buffer per connection.
 */

/** Bytes before the PDU: transaction id, protocol id, length, unit id. */
export const MBAP_HEADER_BYTES = 7;
/** The largest ADU: 7-byte header + 253-byte PDU. */
export const MBAP_MAX_ADU = 260;
/** Smallest and largest legal value of the length field (unit id + 1..253 PDU bytes). */
export const MBAP_MIN_LENGTH = 2;
export const MBAP_MAX_LENGTH = 254;

/** Receives what the splitter finds. Implemented once per connection (no per-frame closures). */
export interface MbapFrameHandler {
  /**
   * One complete ADU at buf[offset .. offset+length). `scratch` is true when buf is the
   * splitter's reused assembly buffer: copy the bytes before keeping them past this call.
   * Return false to stop splitting (the connection paused or closed); the splitter then returns
   * the offset just after this frame.
   */
  onFrame(buf: Buffer, offset: number, length: number, scratch: boolean): boolean;
  /** A header that can never become a valid frame; the splitter stops and discards its state. */
  onMalformed(message: string): void;
}

/** Why a header is invalid, or null. Checks only the bytes present (at least 4 for protocol id). */
function headerProblem(buf: Buffer, offset: number, available: number): string | null {
  if (available >= 4 && (buf[offset + 2] !== 0 || buf[offset + 3] !== 0)) {
    return `MBAP protocol id ${(buf[offset + 2] << 8) | buf[offset + 3]} is not 0 (Modbus)`;
  }
  if (available >= 6) {
    const length = (buf[offset + 4] << 8) | buf[offset + 5];
    if (length < MBAP_MIN_LENGTH || length > MBAP_MAX_LENGTH) {
      return `MBAP length ${length} outside ${MBAP_MIN_LENGTH}..${MBAP_MAX_LENGTH}`;
    }
  }
  return null;
}

/**
 * Splits a byte stream into MBAP frames. Promises: every frame handed out has protocol id 0 and
 * a length field in 2..254 that matches the bytes handed out; a bad header is reported as soon as
 * its bytes arrive (not when the announced length would be complete); memory is one 260-byte
 * buffer whatever the input.
 */
export class MbapSplitter {
  private readonly scratch = Buffer.allocUnsafe(MBAP_MAX_ADU);
  private have = 0;
  private failed = false;

  constructor(private readonly handler: MbapFrameHandler) {}

  /** Bytes of an incomplete frame currently held (0 between frames). */
  get partialBytes(): number {
    return this.have;
  }

  /**
   * Consumes chunk[offset..end) (end defaults to chunk.length) and returns the offset where it
   * stopped: `end` when all was consumed, less when the handler returned false (the caller keeps
   * the rest for later), or -1 after a malformed header (the stream is dead).
   */
  push(chunk: Buffer, offset: number, end: number = chunk.length): number {
    if (this.failed) return -1;
    let at = offset;
    while (at < end) {
      if (this.have > 0) {
        // Finish the frame in the scratch buffer: first the 6 bytes up to the length field,
        // then the rest it announces.
        const s = this.scratch;
        if (this.have < 6) {
          const take = Math.min(6 - this.have, end - at);
          chunk.copy(s, this.have, at, at + take);
          this.have += take;
          at += take;
          const bad = headerProblem(s, 0, this.have);
          if (bad !== null) return this.fail(bad);
          if (this.have < 6) return at;
        }
        const total = 6 + ((s[4] << 8) | s[5]);
        const take = Math.min(total - this.have, end - at);
        chunk.copy(s, this.have, at, at + take);
        this.have += take;
        at += take;
        if (this.have < total) return at;
        this.have = 0;
        if (!this.handler.onFrame(s, 0, total, true)) return this.failed ? -1 : at;
        continue;
      }
      const available = end - at;
      const bad = headerProblem(chunk, at, available);
      if (bad !== null) return this.fail(bad);
      if (available >= 6) {
        const total = 6 + ((chunk[at + 4] << 8) | chunk[at + 5]);
        if (available >= total) {
          const frameAt = at;
          at += total;
          if (!this.handler.onFrame(chunk, frameAt, total, false)) return this.failed ? -1 : at;
          continue;
        }
      }
      chunk.copy(this.scratch, 0, at, end);
      this.have = available;
      return end;
    }
    return at;
  }

  /** Marks the stream dead (the connection is being closed); later pushes return -1. */
  close(): void {
    this.failed = true;
    this.have = 0;
  }

  private fail(message: string): number {
    this.failed = true;
    this.have = 0;
    this.handler.onMalformed(message);
    return -1;
  }
}
