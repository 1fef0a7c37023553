/**
 * Encoding IEC 60870-5-104 ASDUs for tests, the lab peers and the gateway's own answers (a
 * negative activation confirmation: the received ASDU mirrored with cause 7 and the P/N bit, or
 * causes 44..47 for an unknown type, cause, common address or IOA). The layouts are those
 * asdu.ts parses; information elements are built by the helpers below (IEC 60870-5-101:2003
 * section 7.2.6).
 */
import { ASDU_HEADER_BYTES, ASDU_MAX_OBJECTS, IOA_BYTES, IOA_MAX } from './asdu';
import { ASDU_MAX_BYTES } from './apci';
import { elementSize, SEGMENT, typeName } from './type-ids';

/** One ASDU to encode. */
export interface AsduSpec {
  typeId: number;
  /** SQ = 1: one IOA (the first object's), then every element. Default false. */
  sq?: boolean;
  cause: number;
  negative?: boolean;
  test?: boolean;
  /** Originator address (default 0). */
  originator?: number;
  /** Common address. */
  ca: number;
  /** Information objects: address and element bytes (of the type's size). */
  objects: ReadonlyArray<{ ioa: number; element: Uint8Array }>;
}

function checkInt(what: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new TypeError(`encodeAsdu: ${what} ${v} is not an integer in 0..${max}`);
}

/** Encodes an ASDU; throws TypeError for a spec the standard cannot carry (programmer error). */
export function encodeAsdu(spec: AsduSpec): Buffer {
  const size = elementSize(spec.typeId);
  const n = spec.objects.length;
  checkInt('type id', spec.typeId, 255);
  checkInt('cause', spec.cause, 63);
  checkInt('originator', spec.originator ?? 0, 255);
  checkInt('common address', spec.ca, 0xffff);
  if (n > ASDU_MAX_OBJECTS) throw new TypeError(`encodeAsdu: ${n} objects (at most ${ASDU_MAX_OBJECTS})`);
  for (const o of spec.objects) {
    checkInt('IOA', o.ioa, IOA_MAX);
    if (size !== undefined && size !== SEGMENT && o.element.length !== size) {
      throw new TypeError(`encodeAsdu: ${typeName(spec.typeId)} elements are ${size} bytes, got ${o.element.length}`);
    }
  }
  const sq = spec.sq === true;
  if (sq) spec.objects.forEach((o, i) => { if (o.ioa !== spec.objects[0].ioa + i) throw new TypeError(`encodeAsdu: SQ=1 objects must have consecutive IOAs (object ${i} has ${o.ioa})`); });
  const bodyBytes = spec.objects.reduce((s, o) => s + o.element.length + (sq ? 0 : IOA_BYTES), sq && n > 0 ? IOA_BYTES : 0);
  if (ASDU_HEADER_BYTES + bodyBytes > ASDU_MAX_BYTES) throw new TypeError(`encodeAsdu: ${ASDU_HEADER_BYTES + bodyBytes} bytes (an APDU carries at most ${ASDU_MAX_BYTES})`);
  const out = Buffer.alloc(ASDU_HEADER_BYTES + bodyBytes);
  out[0] = spec.typeId;
  out[1] = (sq ? 0x80 : 0) | n;
  out[2] = spec.cause | (spec.negative === true ? 0x40 : 0) | (spec.test === true ? 0x80 : 0);
  out[3] = spec.originator ?? 0;
  out.writeUInt16LE(spec.ca, 4);
  let at = ASDU_HEADER_BYTES;
  spec.objects.forEach((o, i) => {
    if (!sq || i === 0) { out.writeUIntLE(o.ioa, at, IOA_BYTES); at += IOA_BYTES; }
    out.set(o.element, at);
    at += o.element.length;
  });
  return out;
}

/**
 * The answer to a received ASDU, sent back in its place: the same type, VSQ, originator, CA and
 * objects, with `cause` (7 activation confirmation, 44..47 unknown type/cause/CA/IOA) and the
 * P/N bit when negative. The test bit is kept (IEC 60870-5-101 7.2.3: a test ASDU is answered
 * as a test).
 */
export function answerAsdu(received: Uint8Array, options: { cause: number; negative: boolean }): Buffer {
  if (received.length < ASDU_HEADER_BYTES) throw new TypeError(`answerAsdu: ${received.length} bytes is no ASDU`);
  checkInt('cause', options.cause, 63);
  const out = Buffer.from(received);
  out[2] = (received[2] & 0x80) | (options.negative ? 0x40 : 0) | options.cause;
  return out;
}

function u8(...b: number[]): Uint8Array {
  return Uint8Array.from(b);
}

/** Qualifier of a command: select (S/E = 1) or execute, and QU (0..31, 0 = no additional definition). */
export interface CommandOptions { select?: boolean; qu?: number }
/** Qualifier of a set-point: select (S/E = 1) or execute, and QL (0..127). */
export interface SetpointOptions { select?: boolean; ql?: number }

function qu(o: CommandOptions): number {
  const q = o.qu ?? 0;
  checkInt('QU', q, 31);
  return (o.select === true ? 0x80 : 0) | (q << 2);
}

function qos(o: SetpointOptions): number {
  const q = o.ql ?? 0;
  checkInt('QL', q, 127);
  return (o.select === true ? 0x80 : 0) | q;
}

/** SCO (7.2.6.15): single command state 0/1. */
export function sco(state: 0 | 1, o: CommandOptions = {}): Uint8Array {
  return u8(qu(o) | (state & 1));
}

/** DCO (7.2.6.16): double command state 1 off, 2 on (0 and 3 not permitted). */
export function dco(state: number, o: CommandOptions = {}): Uint8Array {
  return u8(qu(o) | (state & 3));
}

/** RCO (7.2.6.17): regulating step 1 lower, 2 higher (0 and 3 not permitted). */
export function rco(state: number, o: CommandOptions = {}): Uint8Array {
  return u8(qu(o) | (state & 3));
}

/** NVA + QOS (C_SE_NA_1): a normalized value in [-1, 1), rounded to 1/32768. */
export function setpointNormalized(value: number, o: SetpointOptions = {}): Uint8Array {
  const raw = Math.max(-32768, Math.min(32767, Math.round(value * 32768)));
  const b = Buffer.alloc(3);
  b.writeInt16LE(raw, 0);
  b[2] = qos(o);
  return b;
}

/** SVA + QOS (C_SE_NB_1): a scaled value, an integer in -32768..32767. */
export function setpointScaled(value: number, o: SetpointOptions = {}): Uint8Array {
  if (!Number.isInteger(value) || value < -32768 || value > 32767) throw new TypeError(`setpointScaled: ${value} is not an int16`);
  const b = Buffer.alloc(3);
  b.writeInt16LE(value, 0);
  b[2] = qos(o);
  return b;
}

/** R32 + QOS (C_SE_NC_1): a short float. */
export function setpointFloat(value: number, o: SetpointOptions = {}): Uint8Array {
  const b = Buffer.alloc(5);
  b.writeFloatLE(value, 0);
  b[4] = qos(o);
  return b;
}

/** BSI (7.2.6.13): a 32-bit bitstring. */
export function bitstring(value: number): Uint8Array {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(value >>> 0, 0);
  return b;
}

/** R32 + QDS (M_ME_NC_1): a measured short float with its quality descriptor (default 0, good). */
export function measuredFloat(value: number, qds = 0): Uint8Array {
  const b = Buffer.alloc(5);
  b.writeFloatLE(value, 0);
  b[4] = qds & 0xf1;
  return b;
}

/** SIQ (M_SP_NA_1): single point 0/1 with quality bits (IV 0x80, NT 0x40, SB 0x20, BL 0x10). */
export function siq(state: 0 | 1, quality = 0): Uint8Array {
  return u8((quality & 0xf0) | (state & 1));
}

/** QOI (C_IC_NA_1): 20 station interrogation, 21..36 group 1..16. */
export function qoi(q = 20): Uint8Array {
  return u8(q & 0xff);
}

/** CP56Time2a (7.2.6.18) of a UTC instant, as a station without summer time sends it. */
export function cp56(ms: number, o: { invalid?: boolean } = {}): Uint8Array {
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) throw new TypeError(`cp56: ${ms} is no time`);
  const b = Buffer.alloc(7);
  b.writeUInt16LE(d.getUTCSeconds() * 1000 + d.getUTCMilliseconds(), 0);
  b[2] = d.getUTCMinutes() | (o.invalid === true ? 0x80 : 0);
  b[3] = d.getUTCHours();
  b[4] = d.getUTCDate() | ((((d.getUTCDay() + 6) % 7) + 1) << 5);
  b[5] = d.getUTCMonth() + 1;
  b[6] = d.getUTCFullYear() % 100;
  return b;
}

/** Concatenates element parts (a value and its CP56 time tag). */
export function element(...parts: Uint8Array[]): Uint8Array {
  return Buffer.concat(parts);
}
