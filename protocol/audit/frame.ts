/**
 * The audit frame: [length u32 big-endian][crc32 u32 big-endian of the payload][payload].
 * Length counts the payload only. A frame longer than MAX_PAYLOAD is invalid, so a torn or
 * garbled length word cannot make a reader allocate or skip gigabytes.
 */
import { crc32 } from './crc32';

export const FRAME_HEADER = 8;
/** Largest payload a frame may carry (1 MiB); audit records are a few hundred bytes. */
export const MAX_PAYLOAD = 1 << 20;

/** Frames one payload. */
export function encodeFrame(payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER + payload.length);
  out.writeUInt32BE(payload.length, 0);
  out.writeUInt32BE(crc32(payload), 4);
  out.set(payload, FRAME_HEADER);
  return out;
}

/** Writes the frame of `payload` into `out` at `offset`; returns the offset after it. */
export function writeFrame(out: Buffer, offset: number, payload: Uint8Array): number {
  out.writeUInt32BE(payload.length, offset);
  out.writeUInt32BE(crc32(payload), offset + 4);
  out.set(payload, offset + FRAME_HEADER);
  return offset + FRAME_HEADER + payload.length;
}

/** Why a frame could not be read at an offset. 'short' means the bytes end inside it (a torn tail). */
export type FrameProblem = 'short-header' | 'short-payload' | 'length' | 'crc';

export type FrameRead =
  | { ok: true; payload: Buffer; next: number }
  | { ok: false; problem: FrameProblem; message: string };

/** Reads the frame starting at `offset` of `bytes` (offset < bytes.length). */
export function readFrame(bytes: Buffer, offset: number): FrameRead {
  if (bytes.length - offset < FRAME_HEADER) {
    return { ok: false, problem: 'short-header', message: `frame header cut short: ${bytes.length - offset} of ${FRAME_HEADER} bytes` };
  }
  const length = bytes.readUInt32BE(offset);
  if (length === 0 || length > MAX_PAYLOAD) {
    return { ok: false, problem: 'length', message: `frame length ${length} out of range 1..${MAX_PAYLOAD}` };
  }
  const start = offset + FRAME_HEADER;
  if (bytes.length - start < length) {
    return { ok: false, problem: 'short-payload', message: `frame payload cut short: ${bytes.length - start} of ${length} bytes` };
  }
  const want = bytes.readUInt32BE(offset + 4);
  const got = crc32(bytes, start, start + length);
  if (want !== got) {
    return { ok: false, problem: 'crc', message: `CRC mismatch: frame says ${hex8(want)}, payload has ${hex8(got)}` };
  }
  return { ok: true, payload: bytes.subarray(start, start + length), next: start + length };
}

const hex8 = (n: number): string => n.toString(16).padStart(8, '0');
