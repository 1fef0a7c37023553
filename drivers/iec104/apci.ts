/**
 * IEC 60870-5-104 APCI framing over TCP (IEC 60870-5-104:2006 section 5):
 *   0x68 | LEN | CF1 | CF2 | CF3 | CF4 | ASDU (I-format only)
 * LEN counts the four control octets and the ASDU: 4..253, so an APDU is at most 255 bytes.
 *   I-format (5.1): CF1 bit 0 = 0; N(S) = CF1 >> 1 | CF2 << 7, N(R) = CF3 >> 1 | CF4 << 7
 *                   (15 bits each); CF3 bit 0 = 0; carries an ASDU (LEN > 4).
 *   S-format (5.2): CF1 = 0x01, CF2 = 0, CF3 bit 0 = 0, N(R) as above; LEN = 4.
 *   U-format (5.3): CF1 bits 1..0 = 11, exactly one of STARTDT/STOPDT/TESTFR act or con set in
 *                   bits 7..2; CF2 = CF3 = CF4 = 0; LEN = 4.
 *
 * ApciSplitter cuts a byte stream into APDUs in one fixed buffer per stream (255 bytes, or a
 * lower cap) and hands out a reused ApciFrame. A bad start byte, a length out of range or a
 * control field no format allows makes the stream malformed: 104 has no resynchronisation (a
 * station closes the connection), so the splitter reads nothing after it.
 */

export const APCI_START = 0x68;
export const APCI_BYTES = 6;
/** LEN bounds (section 5): the four control octets alone, and at most 253 in all. */
export const APDU_MIN_LENGTH = 4;
export const APDU_MAX_LENGTH = 253;
/** The longest APDU on the wire, and the longest ASDU it carries. */
export const APDU_MAX_BYTES = APDU_MAX_LENGTH + 2;
export const ASDU_MAX_BYTES = APDU_MAX_LENGTH - 4;
/** Sequence numbers count modulo 2^15. */
export const SEQ_MODULO = 0x8000;

/** Frame formats. */
export const ApciFormat = Object.freeze({ I: 0, S: 1, U: 2 } as const);
export type ApciFormatCode = typeof ApciFormat[keyof typeof ApciFormat];

/** U-format functions: the CF1 bit of each (section 5.3). */
export const UFunction = Object.freeze({
  STARTDT_ACT: 0x04, STARTDT_CON: 0x08, STOPDT_ACT: 0x10, STOPDT_CON: 0x20, TESTFR_ACT: 0x40, TESTFR_CON: 0x80,
} as const);
export type UFunctionCode = typeof UFunction[keyof typeof UFunction];

const U_NAMES: Readonly<Record<number, string>> = Object.freeze(Object.assign(Object.create(null) as Record<number, string>, {
  0x04: 'STARTDT act', 0x08: 'STARTDT con', 0x10: 'STOPDT act', 0x20: 'STOPDT con', 0x40: 'TESTFR act', 0x80: 'TESTFR con',
}));

/** `STARTDT act`, or undefined for a CF1 that is no single U function. */
export function uFunctionName(fn: number): string | undefined {
  return U_NAMES[fn];
}

/** One APDU as the splitter hands it out (reused: copy what you keep). */
export class ApciFrame {
  format: ApciFormatCode = ApciFormat.I;
  /** N(S): I-format only (else 0). */
  sendSeq = 0;
  /** N(R): I- and S-format (else 0). */
  recvSeq = 0;
  /** The U function bit (UFunction): U-format only (else 0). */
  uFunction = 0;
  /** The APDU as received: raw[0 .. rawLength); the ASDU is raw[6 .. rawLength). */
  readonly raw = Buffer.alloc(APDU_MAX_BYTES);
  rawLength = 0;
  get asduLength(): number { return this.rawLength - APCI_BYTES; }
  /** The ASDU bytes (a view into raw, valid until the next frame). */
  asdu(): Buffer { return this.raw.subarray(APCI_BYTES, this.rawLength); }
}

export interface ApciHandler {
  /** One checked APDU. Return false to stop splitting (the rest of the chunk is left unread). */
  onApdu(frame: ApciFrame): boolean;
  /** The stream can never become an APDU again (bad start byte, length or control field). */
  onApciMalformed(message: string): void;
}

export interface ApciSplitterOptions {
  /** Largest LEN accepted, 4..253 (default 253): a lower cap for peers known to send less. */
  maxLength?: number;
}

/** Splits a stream into APDUs. After onApciMalformed it reads nothing more. */
export class ApciSplitter {
  private readonly frame = new ApciFrame();
  private readonly maxLength: number;
  private have = 0;
  private need = 2;
  private dead = false;

  constructor(private readonly handler: ApciHandler, options: ApciSplitterOptions = {}) {
    const max = options.maxLength ?? APDU_MAX_LENGTH;
    if (!Number.isInteger(max) || max < APDU_MIN_LENGTH || max > APDU_MAX_LENGTH) throw new TypeError(`ApciSplitter: maxLength ${max} is not an integer in 4..253`);
    this.maxLength = max;
  }

  /** Bytes of an incomplete APDU held. */
  get partialBytes(): number { return this.have; }
  /** Whether the stream was found malformed or closed. */
  get closed(): boolean { return this.dead; }

  /** Feeds chunk[from .. end); returns where it stopped (end unless a handler returned false). */
  push(chunk: Uint8Array, from = 0, end = chunk.length): number {
    const raw = this.frame.raw;
    let i = from;
    while (i < end && !this.dead) {
      const take = Math.min(this.need - this.have, end - i);
      if (take < 64) for (let k = 0; k < take; k++) raw[this.have + k] = chunk[i + k]; // no view object for short copies
      else raw.set(chunk.subarray(i, i + take), this.have);
      this.have += take;
      i += take;
      if (this.need === 2 && raw[0] !== APCI_START) { this.fail(`APDU does not start with 68 (got ${hex(raw[0])})`); break; }
      if (this.have < this.need) continue;
      if (this.need === 2) {
        const len = raw[1];
        if (len < APDU_MIN_LENGTH || len > this.maxLength) { this.fail(`APDU length ${len} is outside 4..${this.maxLength}`); break; }
        this.need = len + 2;
        continue;
      }
      const problem = decodeControl(this.frame, this.need);
      this.have = 0;
      this.need = 2;
      if (problem !== null) { this.fail(problem); break; }
      if (!this.handler.onApdu(this.frame)) return i;
    }
    return end;
  }

  /** Stops reading (the connection closed). */
  close(): void {
    this.dead = true;
  }

  private fail(message: string): void {
    this.dead = true;
    this.handler.onApciMalformed(message);
  }
}

/** Reads the control field of raw[0 .. total) into f; a message when no format allows it. */
function decodeControl(f: ApciFrame, total: number): string | null {
  const raw = f.raw;
  const c1 = raw[2], c2 = raw[3], c3 = raw[4], c4 = raw[5];
  f.rawLength = total;
  f.sendSeq = 0;
  f.recvSeq = 0;
  f.uFunction = 0;
  if ((c1 & 1) === 0) {
    f.format = ApciFormat.I;
    if ((c3 & 1) !== 0) return 'I-format control octet 3 has bit 0 set';
    if (total === APCI_BYTES) return 'I-format APDU carries no ASDU';
    f.sendSeq = (c1 >> 1) | (c2 << 7);
    f.recvSeq = (c3 >> 1) | (c4 << 7);
    return null;
  }
  if ((c1 & 3) === 1) {
    f.format = ApciFormat.S;
    if (c1 !== 0x01 || c2 !== 0 || (c3 & 1) !== 0) return `S-format control field ${hex(c1)} ${hex(c2)} ${hex(c3)} ${hex(c4)} has reserved bits set`;
    if (total !== APCI_BYTES) return `S-format APDU has length ${total - 2} (must be 4)`;
    f.recvSeq = (c3 >> 1) | (c4 << 7);
    return null;
  }
  f.format = ApciFormat.U;
  const fn = c1 & 0xfc;
  if (U_NAMES[fn] === undefined) return `U-format control octet 1 ${hex(c1)} is not one STARTDT/STOPDT/TESTFR function`;
  if (c2 !== 0 || c3 !== 0 || c4 !== 0) return `U-format control octets 2..4 must be 0 (got ${hex(c2)} ${hex(c3)} ${hex(c4)})`;
  if (total !== APCI_BYTES) return `U-format APDU has length ${total - 2} (must be 4)`;
  f.uFunction = fn;
  return null;
}

function hex(b: number): string {
  return b.toString(16).padStart(2, '0');
}

function checkSeq(what: string, n: number): void {
  if (!Number.isInteger(n) || n < 0 || n >= SEQ_MODULO) throw new TypeError(`${what}: sequence number ${n} is not an integer in 0..32767`);
}

/**
 * Writes the APCI of an I-format APDU carrying `asduLength` bytes of ASDU at out[at .. at + 6)
 * (the hot path: sequence numbers and length are the caller's, checked by the window).
 */
export function putIHeader(out: Uint8Array, at: number, sendSeq: number, recvSeq: number, asduLength: number): void {
  out[at] = APCI_START;
  out[at + 1] = 4 + asduLength;
  out[at + 2] = (sendSeq << 1) & 0xfe;
  out[at + 3] = sendSeq >> 7;
  out[at + 4] = (recvSeq << 1) & 0xfe;
  out[at + 5] = recvSeq >> 7;
}

/** Writes an S-format APDU acknowledging everything before `recvSeq` at out[at .. at + 6). */
export function putSFrame(out: Uint8Array, at: number, recvSeq: number): void {
  out[at] = APCI_START;
  out[at + 1] = 4;
  out[at + 2] = 0x01;
  out[at + 3] = 0;
  out[at + 4] = (recvSeq << 1) & 0xfe;
  out[at + 5] = recvSeq >> 7;
}

/** Writes a U-format APDU (one UFunction) at out[at .. at + 6). */
export function putUFrame(out: Uint8Array, at: number, fn: UFunctionCode): void {
  out[at] = APCI_START;
  out[at + 1] = 4;
  out[at + 2] = fn | 0x03;
  out[at + 3] = 0;
  out[at + 4] = 0;
  out[at + 5] = 0;
}

/** Encodes an I-format APDU carrying `asdu` (1..249 bytes). */
export function encodeIFrame(spec: { sendSeq: number; recvSeq: number; asdu: Uint8Array }): Buffer {
  checkSeq('encodeIFrame', spec.sendSeq);
  checkSeq('encodeIFrame', spec.recvSeq);
  const n = spec.asdu.length;
  if (n < 1 || n > ASDU_MAX_BYTES) throw new TypeError(`encodeIFrame: ${n} bytes of ASDU (1..${ASDU_MAX_BYTES})`);
  const out = Buffer.allocUnsafe(APCI_BYTES + n);
  putIHeader(out, 0, spec.sendSeq, spec.recvSeq, n);
  out.set(spec.asdu, APCI_BYTES);
  return out;
}

/** Encodes an S-format APDU acknowledging everything before `recvSeq`. */
export function encodeSFrame(spec: { recvSeq: number }): Buffer {
  checkSeq('encodeSFrame', spec.recvSeq);
  const out = Buffer.allocUnsafe(APCI_BYTES);
  putSFrame(out, 0, spec.recvSeq);
  return out;
}

/** Encodes a U-format APDU (one UFunction). */
export function encodeUFrame(fn: UFunctionCode): Buffer {
  if (U_NAMES[fn] === undefined) throw new TypeError(`encodeUFrame: ${fn} is not one U function`);
  const out = Buffer.allocUnsafe(APCI_BYTES);
  putUFrame(out, 0, fn);
  return out;
}
