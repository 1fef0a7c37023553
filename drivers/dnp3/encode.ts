/**
 * Encoding DNP3 for the lab peers and the gateway's own answers: application fragments from
 * object header specs, split into transport segments and link frames (IEEE 1815-2012 sections
 * 4.2, 8 and 9.2; the layouts are those app.ts, transport.ts and link.ts parse).
 */
import { AppControl } from './app';
import { encodeLinkFrame, LinkControl } from './link';
import { segmentFragment } from './transport';

/** One object header to encode. */
export interface HeaderSpec {
  group: number;
  variation: number;
  qualifier: number;
  /** Range qualifiers (0x00, 0x01, 0x02). */
  start?: number;
  stop?: number;
  /** Count qualifiers (0x07, 0x08, 0x09, 0x5B...); default: objects.length or indices.length. */
  count?: number;
  /** Index-prefixed qualifiers (0x17, 0x28, 0x39): one index per object. */
  indices?: number[];
  /** Per-object data (index- or size-prefixed qualifiers, or concatenated otherwise). */
  objects?: Uint8Array[];
  /** Object data written as is after the range field (packed bits, ranges of objects). */
  data?: Uint8Array;
}

export interface FragmentSpec {
  /** Application control; default FIR | FIN | seq. */
  control?: number;
  seq?: number;
  fn: number;
  /** IIN1 << 8 | IIN2: responses only. */
  iin?: number;
  headers?: HeaderSpec[];
}

const SIZE_OF_CODE = [1, 2, 4];

function putUint(out: number[], value: number, size: number): void {
  for (let i = 0; i < size; i++) out.push(Math.floor(value / 2 ** (8 * i)) & 0xff);
}

/** Encodes an application fragment. */
export function encodeFragment(spec: FragmentSpec): Buffer {
  const out: number[] = [];
  out.push(spec.control ?? (AppControl.FIR | AppControl.FIN | ((spec.seq ?? 0) & 0x0f)), spec.fn & 0xff);
  if (spec.fn >= 129) out.push((spec.iin ?? 0) >> 8, (spec.iin ?? 0) & 0xff);
  for (const h of spec.headers ?? []) {
    out.push(h.group, h.variation, h.qualifier);
    const prefix = (h.qualifier >> 4) & 7, range = h.qualifier & 0x0f;
    const n = h.count ?? h.indices?.length ?? h.objects?.length ?? 0;
    if (range <= 2) { putUint(out, h.start ?? 0, SIZE_OF_CODE[range]); putUint(out, h.stop ?? 0, SIZE_OF_CODE[range]); }
    else if (range >= 7 && range <= 9) putUint(out, n, SIZE_OF_CODE[range - 7]);
    else if (range === 0x0b) putUint(out, n, 1);
    if (prefix >= 1 && prefix <= 6) {
      for (let i = 0; i < n; i++) {
        const obj = h.objects?.[i] ?? new Uint8Array(0);
        if (prefix <= 3) putUint(out, h.indices?.[i] ?? 0, SIZE_OF_CODE[prefix - 1]);
        else putUint(out, obj.length, SIZE_OF_CODE[prefix - 4]);
        for (const b of obj) out.push(b);
      }
    } else if (h.objects) for (const o of h.objects) for (const b of o) out.push(b);
    if (h.data) for (const b of h.data) out.push(b);
  }
  return Buffer.from(out);
}

/** Link frames carrying `fragment` from src to dest (master: DIR set), transport segments from `transportSeq`. */
export function encodeFrames(options: { fragment: Uint8Array; src: number; dest: number; fromMaster: boolean; transportSeq?: number }): Buffer {
  const control = (options.fromMaster ? LinkControl.DIR : 0) | LinkControl.PRM | LinkControl.UNCONFIRMED_USER_DATA;
  const frames = segmentFragment(options.fragment, options.transportSeq ?? 0)
    .map((seg) => encodeLinkFrame({ control, dest: options.dest, src: options.src, data: seg }));
  return frames.length === 1 ? frames[0] : Buffer.concat(frames);
}

/** A CROB (g12v1, 11 bytes): control code, count, on-time, off-time (ms), status. */
export function crob(o: { code: number; count?: number; onMs?: number; offMs?: number; status?: number }): Buffer {
  const b = Buffer.alloc(11);
  b[0] = o.code & 0xff;
  b[1] = o.count ?? 1;
  b.writeUInt32LE(o.onMs ?? 100, 2);
  b.writeUInt32LE(o.offMs ?? 100, 6);
  b[10] = o.status ?? 0;
  return b;
}

/** An analog output block (g41 v1 int32, v2 int16, v3 float32, v4 float64) with its status byte. */
export function analogOutput(variation: number, value: number, status = 0): Buffer {
  const size = [5, 3, 5, 9][variation - 1];
  if (size === undefined) throw new TypeError(`analogOutput: g41v${variation} does not exist`);
  const b = Buffer.alloc(size);
  if (variation === 1) b.writeInt32LE(value, 0);
  else if (variation === 2) b.writeInt16LE(value, 0);
  else if (variation === 3) b.writeFloatLE(value, 0);
  else b.writeDoubleLE(value, 0);
  b[size - 1] = status;
  return b;
}

/** A DNP3 time (g50v1, g51): 48-bit milliseconds since 1970 UTC, little-endian. */
export function dnpTime(ms: number): Buffer {
  const b = Buffer.alloc(6);
  b.writeUIntLE(Math.max(0, Math.floor(ms)) % 2 ** 48, 0, 6);
  return b;
}

/** CROB control codes (IEEE 1815-2012 table 11-11): operation type | trip-close code. */
export const CrobCode = Object.freeze({
  NUL: 0x00, PULSE_ON: 0x01, PULSE_OFF: 0x02, LATCH_ON: 0x03, LATCH_OFF: 0x04,
  CLOSE_PULSE_ON: 0x41, TRIP_PULSE_ON: 0x81,
});

/** Control status codes (table 11-12) the lab outstation and the gateway use. */
export const ControlStatus = Object.freeze({ SUCCESS: 0, TIMEOUT: 1, NO_SELECT: 2, FORMAT_ERROR: 3, NOT_SUPPORTED: 4 });
