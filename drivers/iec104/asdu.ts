/**
 * IEC 60870-5-104 ASDUs (IEC 60870-5-101:2003 section 7.2, with the field sizes 104 fixes in
 * IEC 60870-5-104:2006 section 9): parsing into a reused record.
 *
 *   TYPE (1) | VSQ (1): SQ bit 7, number of objects bits 6..0 |
 *   COT (2): cause bits 5..0, P/N bit 6, T bit 7; originator address | CA (2, LE) | objects
 *   SQ = 0: N times (IOA (3, LE) | element)        SQ = 1: IOA (3, LE) | N elements (IOA, IOA+1, ...)
 *
 * Every length is checked before it is believed: the header is 6 bytes, N is multiplied out by
 * the type's element size (type-ids.ts) and must equal what remains of the ASDU exactly; an
 * unknown type is reported as such (kind 'unknown-type') and parsed no further. Command
 * elements (7.2.6.15..7.2.6.17 SCO/DCO/RCO, 7.2.6.39 QOS with NVA/SVA/R32 set-points, BSI) are
 * decoded per object for the policy and the audit log; other elements are only located.
 * Values outside a command's permitted range (DCS 0 or 3, NaN set-points) are recorded as read:
 * it is the policy's bounds that refuse them.
 */
import { elementSize, SEGMENT } from './type-ids';

/** The most information objects one ASDU numbers (7 bits). */
export const ASDU_MAX_OBJECTS = 127;
export const ASDU_HEADER_BYTES = 6;
export const IOA_BYTES = 3;
export const IOA_MAX = 0xffffff;

/** Command kinds a type's elements decode to. */
export const CommandKind = Object.freeze({
  NONE: 0, SINGLE: 1, DOUBLE: 2, REGULATING: 3, NORMALIZED: 4, SCALED: 5, FLOAT: 6, BITSTRING: 7,
} as const);
export type CommandKindCode = typeof CommandKind[keyof typeof CommandKind];

// type id -> command kind (45..51 and their CP56 variants 58..64).
const COMMAND_OF = new Uint8Array(256);
for (const [a, b] of [[45, 58], [46, 59], [47, 60], [48, 61], [49, 62], [50, 63], [51, 64]]) {
  COMMAND_OF[a] = COMMAND_OF[b] = a - 44;
}

/** The command kind of a type id (CommandKind.NONE for non-commands). */
export function commandKind(typeId: number): CommandKindCode {
  return (COMMAND_OF[typeId & 0xff] ?? 0) as CommandKindCode;
}

/** Why an ASDU was refused: the type is unknown (answer cause 44) or the bytes are malformed. */
export type AsduFault = 'unknown-type' | 'malformed';

/** One parsed ASDU. Per-object arrays hold `count` entries; the rest are stale. */
export class Asdu {
  typeId = 0;
  /** Variable structure qualifier: SQ bit and number of objects. */
  sq = false;
  count = 0;
  /** Cause of transmission (6 bits), the P/N (negative) and T (test) bits, originator address. */
  cause = 0;
  negative = false;
  test = false;
  originator = 0;
  /** Common address of the ASDU (the station). */
  ca = 0;
  /** The element size of the type (bytes; for F_SG_NA_1 the size of the first element). */
  elementSize = 0;
  /** Information object address of each object (SQ = 1: consecutive from the first). */
  readonly ioa = new Uint32Array(ASDU_MAX_OBJECTS);
  /** Offset of each object's element from the ASDU start. */
  readonly element = new Uint16Array(ASDU_MAX_OBJECTS);
  /** Commands (commandKind(typeId) !== NONE): the decoded element of each object. */
  command: CommandKindCode = CommandKind.NONE;
  /**
   * The commanded value: SCS 0/1, DCS and RCS 0..3, set-points as the value (NVA as a fraction
   * of 1, SVA as an integer, R32 as a float), BSI as an unsigned 32-bit integer.
   */
  readonly value = new Float64Array(ASDU_MAX_OBJECTS);
  /** Qualifier: QU (bits 6..2 of SCO/DCO/RCO) or QL (bits 6..0 of QOS); 0 for bitstrings. */
  readonly qualifier = new Uint8Array(ASDU_MAX_OBJECTS);
  /** S/E bit: 1 select, 0 execute (0 for bitstrings, which have none). */
  readonly select = new Uint8Array(ASDU_MAX_OBJECTS);
  /**
   * Set by the proxy, not the parser: whether this execute matches live selects of the same
   * identity for every object (select-store.ts), for the policy's selectBeforeExecute.
   */
  selected = false;
  /** When parseAsdu returned false: why, and a message naming the offending field. */
  fault: AsduFault = 'malformed';
  message = '';
}

/**
 * Parses bytes[from .. end) (one ASDU, as an I-format APDU carries it) into `out`. Returns true
 * when it is well formed; otherwise false with out.fault and out.message set. Never throws on
 * input bytes (a range outside `bytes` is a programmer error: TypeError); out's header fields are set as far as they were read (for a negative answer).
 */
export function parseAsdu(bytes: Uint8Array, out: Asdu, from = 0, end = bytes.length): boolean {
  if (!(from >= 0 && from <= end && end <= bytes.length)) throw new TypeError(`parseAsdu: range ${from}..${end} is outside the ${bytes.length} bytes given`);
  const len = end - from;
  out.count = 0;
  out.command = CommandKind.NONE;
  if (len < ASDU_HEADER_BYTES) return fail(out, 'malformed', `ASDU of ${len} bytes is shorter than its 6-byte header`);
  const t = bytes[from];
  out.typeId = t;
  out.sq = (bytes[from + 1] & 0x80) !== 0;
  const n = bytes[from + 1] & 0x7f;
  const c = bytes[from + 2];
  out.cause = c & 0x3f;
  out.negative = (c & 0x40) !== 0;
  out.test = (c & 0x80) !== 0;
  out.originator = bytes[from + 3];
  out.ca = bytes[from + 4] | (bytes[from + 5] << 8);
  const size = elementSize(t);
  if (size === undefined) return fail(out, 'unknown-type', `ASDU type ${t} is not one IEC 60870-5-104 defines`);
  if (n === 0) return fail(out, 'malformed', `ASDU type ${t} has 0 information objects`);
  const body = len - ASDU_HEADER_BYTES;
  let at = from + ASDU_HEADER_BYTES;
  if (size === SEGMENT) return segments(bytes, out, n, from, end);
  out.elementSize = size;
  const need = out.sq ? IOA_BYTES + n * size : n * (IOA_BYTES + size);
  if (need !== body) {
    return fail(out, 'malformed', `ASDU type ${t} with ${n} object${n === 1 ? '' : 's'} (SQ=${out.sq ? 1 : 0}) needs ${need} bytes after the header, has ${body}`);
  }
  if (out.sq) {
    const first = readIoa(bytes, at);
    if (first + n - 1 > IOA_MAX) return fail(out, 'malformed', `ASDU sequence of ${n} objects from IOA ${first} runs past IOA ${IOA_MAX}`);
    at += IOA_BYTES;
    for (let i = 0; i < n; i++) { out.ioa[i] = first + i; out.element[i] = at - from; at += size; }
  } else {
    for (let i = 0; i < n; i++) { out.ioa[i] = readIoa(bytes, at); out.element[i] = at + IOA_BYTES - from; at += IOA_BYTES + size; }
  }
  out.count = n;
  const kind = commandKind(t);
  if (kind !== CommandKind.NONE) decodeCommands(bytes, out, kind, from);
  return true;
}

/** F_SG_NA_1: each element is NOF (2) | NOS (1) | LOS (1) | LOS bytes; SQ = 1 is not meaningful. */
function segments(bytes: Uint8Array, out: Asdu, n: number, from: number, end: number): boolean {
  if (out.sq) return fail(out, 'malformed', 'ASDU type 125 (F_SG_NA_1) with SQ=1');
  let at = from + ASDU_HEADER_BYTES;
  for (let i = 0; i < n; i++) {
    if (end - at < IOA_BYTES + 4) return fail(out, 'malformed', `ASDU type 125 object ${i + 1} of ${n}: ${end - at} bytes left, a segment header needs ${IOA_BYTES + 4}`);
    const los = bytes[at + IOA_BYTES + 3];
    if (end - at < IOA_BYTES + 4 + los) return fail(out, 'malformed', `ASDU type 125 object ${i + 1} of ${n}: segment of ${los} bytes, ${end - at - IOA_BYTES - 4} left`);
    out.ioa[i] = readIoa(bytes, at);
    out.element[i] = at + IOA_BYTES - from;
    if (i === 0) out.elementSize = 4 + los;
    at += IOA_BYTES + 4 + los;
  }
  if (at !== end) return fail(out, 'malformed', `ASDU type 125: ${end - at} bytes after the last of ${n} objects`);
  out.count = n;
  return true;
}

function decodeCommands(bytes: Uint8Array, out: Asdu, kind: CommandKindCode, from: number): void {
  out.command = kind;
  for (let i = 0; i < out.count; i++) {
    const e = from + out.element[i];
    let v: number, q: number;
    switch (kind) {
      case CommandKind.SINGLE: v = bytes[e] & 0x01; q = bytes[e]; break;
      case CommandKind.DOUBLE: case CommandKind.REGULATING: v = bytes[e] & 0x03; q = bytes[e]; break;
      case CommandKind.NORMALIZED: v = int16(bytes, e) / 32768; q = bytes[e + 2]; break;
      case CommandKind.SCALED: v = int16(bytes, e); q = bytes[e + 2]; break;
      case CommandKind.FLOAT: v = float32(bytes, e); q = bytes[e + 4]; break;
      default: v = (bytes[e] | (bytes[e + 1] << 8) | (bytes[e + 2] << 16) | (bytes[e + 3] << 24)) >>> 0; q = 0; break;
    }
    out.value[i] = v;
    out.select[i] = q >> 7;
    // SCO/DCO/RCO: QU in bits 6..2; QOS: QL in bits 6..0.
    out.qualifier[i] = kind <= CommandKind.REGULATING ? (q >> 2) & 0x1f : q & 0x7f;
  }
}

function readIoa(b: Uint8Array, at: number): number {
  return b[at] | (b[at + 1] << 8) | (b[at + 2] << 16);
}

function int16(b: Uint8Array, at: number): number {
  return ((b[at] | (b[at + 1] << 8)) << 16) >> 16;
}

const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const f32 = new Float32Array(1);
const f32b = new Uint8Array(f32.buffer);
function float32(b: Uint8Array, at: number): number {
  // IEEE STD 754 short real, little endian on the wire (7.2.6.8), copied in host order.
  for (let i = 0; i < 4; i++) f32b[HOST_LE ? i : 3 - i] = b[at + i];
  return f32[0];
}

function fail(out: Asdu, fault: AsduFault, message: string): false {
  out.fault = fault;
  out.message = message;
  return false;
}
