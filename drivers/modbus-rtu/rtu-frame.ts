/**
 * RTU frame boundaries (Modbus over Serial Line V1.02, section 2.5.1.1). On a real line a frame
 * ends with 3.5 character times of silence; the receiver here also knows, per function code, how
 * long a request or a response is (Modbus Application Protocol V1.1b3, section 6), so a frame is
 * complete as soon as its last byte arrives and a torn frame (silence before it is complete) is
 * dropped. Functions whose length the bytes do not say end on silence alone.
 *
 * Lengths count unit id, PDU and the 2 CRC bytes.
 */

/** Bytes needed to know a frame's length (-1: ends on silence only), given the ones present. */
export type LengthResult = number;
/** Not enough bytes yet to tell. */
export const NEED_MORE = 0;
/** The length is not given by the bytes: wait for silence. */
export const BY_SILENCE = -1;

/** The largest RTU ADU: unit + 253-byte PDU + CRC. */
export const RTU_MAX_ADU = 256;

/** Total length of the request frame starting at b[o], with `n` bytes present. */
export function rtuRequestLength(b: Uint8Array, o: number, n: number): LengthResult {
  if (n < 2) return NEED_MORE;
  switch (b[o + 1]) {
    case 1: case 2: case 3: case 4: case 5: case 6: case 8: return 8;
    case 7: case 11: case 12: case 17: return 4;
    case 15: case 16: return n < 7 ? NEED_MORE : 9 + b[o + 6];
    case 20: case 21: return n < 3 ? NEED_MORE : 5 + b[o + 2];
    case 22: return 10;
    case 23: return n < 11 ? NEED_MORE : 13 + b[o + 10];
    case 24: return 6;
    case 43: return n < 3 ? NEED_MORE : b[o + 2] === 14 ? 7 : BY_SILENCE;
    default: return BY_SILENCE;
  }
}

/** Total length of the response frame starting at b[o], with `n` bytes present. */
export function rtuResponseLength(b: Uint8Array, o: number, n: number): LengthResult {
  if (n < 2) return NEED_MORE;
  const fn = b[o + 1];
  if ((fn & 0x80) !== 0) return 5;
  switch (fn) {
    case 1: case 2: case 3: case 4: case 12: case 17: case 20: case 21: case 23: return n < 3 ? NEED_MORE : 5 + b[o + 2];
    case 5: case 6: case 8: case 11: case 15: case 16: return 8;
    case 7: return 5;
    case 22: return 10;
    case 24: return n < 4 ? NEED_MORE : 6 + ((b[o + 2] << 8) | b[o + 3]);
    default: return BY_SILENCE;
  }
}

/**
 * The silent interval that ends a frame, in milliseconds: 3.5 character times (11 bits a
 * character: start, 8 data, parity or a second stop bit, stop), fixed at 1.75 ms above 19200 baud
 * (section 2.5.1.1), and never under 2 ms here (Node's timers tick in milliseconds).
 */
export function interFrameMs(baud: number, bitsPerChar = 11): number {
  const t35 = baud > 19200 ? 1.75 : (3.5 * bitsPerChar * 1000) / baud;
  return Math.max(2, Math.ceil(t35));
}

/** Bits on the wire per character for a line setting (start + 8 data + parity + stop bits). */
export function bitsPerChar(parity: 'none' | 'even' | 'odd', stopBits: 1 | 2): number {
  return 1 + 8 + (parity === 'none' ? 0 : 1) + stopBits;
}
