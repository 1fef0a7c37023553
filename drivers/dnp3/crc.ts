/**
 * CRC-16/DNP (IEEE 1815-2012 section 9.2.4.2.3 and annex E): polynomial 0x3D65, reflected
 * (0xA6BC), initial value 0, final complement. Transmitted low byte first. The check value of
 * ASCII "123456789" is 0xEA82.
 */
const TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = (c & 1) !== 0 ? (c >>> 1) ^ 0xa6bc : c >>> 1;
    t[i] = c;
  }
  return t;
})();

/**
 * Two bytes a step (slicing by 2): the table is linear (T[a ^ b] = T[a] ^ T[b]), so the two
 * bytewise steps for b0, b1 fold into T2[x & 0xff] ^ T[x >>> 8] with x = crc ^ (b0 | b1 << 8) and
 * T2[i] = (T[i] >>> 8) ^ T[T[i] & 0xff]: two independent lookups instead of two dependent ones.
 */
const TABLE2 = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) t[i] = (TABLE[i] >>> 8) ^ TABLE[TABLE[i] & 0xff];
  return t;
})();

/** The CRC of buf[start .. end). */
export function crc16dnp(buf: Uint8Array, start = 0, end = buf.length): number {
  let crc = 0, i = start;
  for (; i + 1 < end; i += 2) {
    const x = crc ^ buf[i] ^ (buf[i + 1] << 8);
    crc = TABLE2[x & 0xff] ^ TABLE[x >>> 8];
  }
  if (i < end) crc = (crc >>> 8) ^ TABLE[(crc ^ buf[i]) & 0xff];
  return ~crc & 0xffff;
}

/** Whether the two bytes at `at` (low byte first) are the CRC of buf[start .. at). */
export function crcOk(buf: Uint8Array, start: number, at: number): boolean {
  const c = crc16dnp(buf, start, at);
  return buf[at] === (c & 0xff) && buf[at + 1] === (c >>> 8);
}

/** Writes the CRC of buf[start .. at) at `at`, low byte first. */
export function putCrc(buf: Uint8Array, start: number, at: number): void {
  const c = crc16dnp(buf, start, at);
  buf[at] = c & 0xff;
  buf[at + 1] = c >>> 8;
}

/**
 * Copies src[start .. end) to dst[dstAt ..) while computing its CRC, and says whether the two
 * bytes at `end` are that CRC: one pass over a link frame's data block (the hot path: a byte
 * loop beats Buffer#copy's native call for 16-byte blocks).
 */
export function copyCrcOk(src: Uint8Array, start: number, end: number, dst: Uint8Array, dstAt: number): boolean {
  let crc = 0, i = start, j = dstAt;
  for (; i + 1 < end; i += 2, j += 2) { // two bytes a step, as crc16dnp
    const b0 = src[i], b1 = src[i + 1];
    dst[j] = b0;
    dst[j + 1] = b1;
    const x = crc ^ b0 ^ (b1 << 8);
    crc = TABLE2[x & 0xff] ^ TABLE[x >>> 8];
  }
  if (i < end) {
    const b = src[i];
    dst[j] = b;
    crc = (crc >>> 8) ^ TABLE[(crc ^ b) & 0xff];
  }
  crc = ~crc & 0xffff;
  return src[end] === (crc & 0xff) && src[end + 1] === (crc >>> 8);
}
