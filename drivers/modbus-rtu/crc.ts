/**
 * CRC-16/MODBUS (Modbus over Serial Line V1.02, section 6.2.2): polynomial 0xA001 (reflected
 * 0x8005), initial value 0xFFFF, appended low byte first. Table-driven, one table per process.
 */
const TABLE = new Uint16Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xa001 : c >>> 1;
  TABLE[n] = c;
}

/** The CRC of buf[start .. end). */
export function crc16(buf: Uint8Array, start: number, end: number): number {
  let crc = 0xffff;
  for (let i = start; i < end; i++) crc = (crc >>> 8) ^ TABLE[(crc ^ buf[i]) & 0xff];
  return crc;
}

/** Whether frame[start .. end) ends in its correct CRC (low byte first). */
export function crcValid(buf: Uint8Array, start: number, end: number): boolean {
  if (end - start < 4) return false;
  const c = crc16(buf, start, end - 2);
  return buf[end - 2] === (c & 0xff) && buf[end - 1] === c >>> 8;
}

/** An RTU ADU: unit, the PDU bytes, CRC. */
export function rtuFrame(unit: number, pdu: Uint8Array, start = 0, end = pdu.length): Buffer {
  const n = end - start;
  const b = Buffer.allocUnsafe(n + 3);
  b[0] = unit & 0xff;
  b.set(pdu.subarray(start, end), 1);
  const c = crc16(b, 0, n + 1);
  b[n + 1] = c & 0xff;
  b[n + 2] = c >>> 8;
  return b;
}
