/**
 * DNP3 application fragments (IEEE 1815-2012 section 4.2): parsing into a reused record.
 *
 *   request:  AC | FC | object headers...
 *   response: AC | FC | IIN1 | IIN2 | object headers...
 *   AC: FIR 0x80 | FIN 0x40 | CON 0x20 | UNS 0x10 | SEQ (4 bits)
 *   object header (4.2.2.7): group | variation | qualifier | range field | objects
 *   qualifier: bit 7 reserved (0) | object prefix code (bits 6..4) | range specifier code (bits 3..0)
 *     range 0/1/2: start, stop of 1/2/4 octets (no prefix); 6: all objects, no range field;
 *     7/8/9: a count of 1/2/4 octets; 0xB: a 1-octet count, every object prefixed by its size.
 *     prefix 0: none; 1/2/3: an index of 1/2/4 octets; 4/5/6: an object size of 1/2/4 octets.
 *   Virtual-address ranges (3/4/5) are refused.
 *
 * Every length is checked against what remains of the fragment before it is believed (a count
 * is multiplied out and compared first, never looped over blindly). Objects carry data in
 * responses and in requests whose function says so (functions.ts); a header whose objects carry
 * data needs the object's size (objects.ts) unless each object is size-prefixed, otherwise it is
 * malformed. Request points are recorded (indices, and the values of CROBs g12 and analog
 * outputs g41) for the policy; responses are only checked.
 */
import { dnp3Function, FC } from './functions';
import { objectSize, CROB_GROUP, ANALOG_OUTPUT_GROUP } from './objects';

export const AppControl = Object.freeze({ FIR: 0x80, FIN: 0x40, CON: 0x20, UNS: 0x10, SEQ: 0x0f });

/** IIN2 bits (section 5.2.2.2), the ones a gateway answers with. */
export const Iin2 = Object.freeze({
  NO_FUNC_CODE_SUPPORT: 0x01, OBJECT_UNKNOWN: 0x02, PARAMETER_ERROR: 0x04, EVENT_BUFFER_OVERFLOW: 0x08,
  ALREADY_EXECUTING: 0x10, CONFIG_CORRUPT: 0x20,
});
/** IIN1 bits. */
export const Iin1 = Object.freeze({
  BROADCAST: 0x01, CLASS_1_EVENTS: 0x02, CLASS_2_EVENTS: 0x04, CLASS_3_EVENTS: 0x08, NEED_TIME: 0x10,
  LOCAL_CONTROL: 0x20, DEVICE_TROUBLE: 0x40, DEVICE_RESTART: 0x80,
});

const SIZE_OF_CODE = [1, 2, 4];

/** One parsed fragment. Arrays are sized for the largest fragment; fields past `headers`/`points` are stale. */
export class AppFragment {
  control = 0;
  fn = 0;
  /** IIN1 << 8 | IIN2 for responses, -1 for requests. */
  iin = -1;
  /** Link addresses the decider reads (Dnp3Operation): the master's and the outstation's, set by the caller. */
  source = 0;
  destination = 0;
  /** Whether the function code is one IEEE 1815 defines (an unknown one is parsed no further). */
  known = true;
  headers = 0;
  readonly group: Uint8Array;
  readonly variation: Uint8Array;
  readonly qualifier: Uint8Array;
  /** The index range a header covers (for index lists: lowest and highest), -1 when it names none. */
  readonly lo: Float64Array;
  readonly hi: Float64Array;
  /** Objects the header counts (0 for qualifier 0x06, all objects). */
  readonly count: Float64Array;
  /** Offsets of the header's first byte and of the byte after its objects, from the fragment start. */
  readonly start: Int32Array;
  readonly end: Int32Array;
  /** Points of header h: ptIndex/ptValue/ptData[ptOff[h] .. ptOff[h + 1]). */
  readonly ptOff: Int32Array;
  points = 0;
  readonly ptIndex: Float64Array;
  /** CROB control code (g12), analog output value (g41), else NaN. */
  readonly ptValue: Float64Array;
  /** Offset of the point's object data from the fragment start (-1 for none). */
  readonly ptData: Int32Array;

  constructor(readonly maxBytes = 2048) {
    const h = Math.ceil(maxBytes / 3) + 1;
    this.group = new Uint8Array(h);
    this.variation = new Uint8Array(h);
    this.qualifier = new Uint8Array(h);
    this.lo = new Float64Array(h);
    this.hi = new Float64Array(h);
    this.count = new Float64Array(h);
    this.start = new Int32Array(h);
    this.end = new Int32Array(h);
    this.ptOff = new Int32Array(h + 1);
    this.ptIndex = new Float64Array(maxBytes);
    this.ptValue = new Float64Array(maxBytes);
    this.ptData = new Int32Array(maxBytes);
  }

  get seq(): number { return this.control & AppControl.SEQ; }
  get isResponse(): boolean { return this.fn >= 129; }
}

function uint(buf: Uint8Array, at: number, size: number): number {
  if (size === 1) return buf[at];
  if (size === 2) return buf[at] | (buf[at + 1] << 8);
  return (buf[at] | (buf[at + 1] << 8) | (buf[at + 2] << 16)) + buf[at + 3] * 0x1000000;
}

function controlValue(buf: Buffer, at: number, group: number, variation: number): number {
  if (group === CROB_GROUP) return variation <= 2 ? buf[at] : NaN;
  if (group === ANALOG_OUTPUT_GROUP) {
    switch (variation) {
      case 1: return buf.readInt32LE(at);
      case 2: return buf.readInt16LE(at);
      case 3: return buf.readFloatLE(at);
      case 4: return buf.readDoubleLE(at);
    }
  }
  return NaN;
}

/**
 * Parses buf[off .. off + len) into `out`. Returns null when well-formed, else why not. An
 * unknown function code is not malformed: `out.known` is false and no header is read.
 */
export function parseFragment(buf: Buffer, off: number, len: number, out: AppFragment): string | null {
  out.headers = 0;
  out.points = 0;
  out.ptOff[0] = 0;
  out.iin = -1;
  if (len < 2) return `application fragment of ${len} byte${len === 1 ? '' : 's'}`;
  if (len > out.maxBytes) return `application fragment of ${len} bytes exceeds ${out.maxBytes}`;
  out.control = buf[off];
  const fn = buf[off + 1];
  out.fn = fn;
  const f = dnp3Function(fn);
  out.known = f !== undefined;
  if (f === undefined) return null;
  const response = f.response === true;
  let at = 2;
  if (response) {
    if (len < 4) return 'response without IIN';
    out.iin = (buf[off + 2] << 8) | buf[off + 3];
    at = 4;
  }
  if ((out.control & (AppControl.FIR | AppControl.FIN)) !== (AppControl.FIR | AppControl.FIN) && !response) {
    return 'request fragment without FIR and FIN (requests are one fragment)';
  }
  const record = !response;
  const timeData = fn === FC.FREEZE_AT_TIME || fn === FC.FREEZE_AT_TIME_NO_ACK;
  while (at < len) {
    const h = out.headers;
    if (h >= out.group.length) return 'too many object headers';
    if (len - at < 3) return `object header truncated at byte ${at}`;
    const p = off + at;
    const g = buf[p], v = buf[p + 1], q = buf[p + 2];
    out.group[h] = g; out.variation[h] = v; out.qualifier[h] = q;
    out.start[h] = at;
    at += 3;
    if ((q & 0x80) !== 0) return `g${g}v${v}: qualifier 0x${q.toString(16)} sets the reserved bit`;
    const prefix = (q >> 4) & 7, range = q & 0x0f;
    if (prefix === 7) return `g${g}v${v}: reserved object prefix code 7`;
    const indexSize = prefix >= 1 && prefix <= 3 ? SIZE_OF_CODE[prefix - 1] : 0;
    const sizePrefix = prefix >= 4 ? SIZE_OF_CODE[prefix - 4] : 0;
    const withData = response || f.data || (timeData && g === 50);
    let count: number, lo = -1, hi = -1;
    if (range <= 2) {
      const s = SIZE_OF_CODE[range];
      if (len - at < 2 * s) return `g${g}v${v}: range field truncated`;
      lo = uint(buf, off + at, s);
      hi = uint(buf, off + at + s, s);
      at += 2 * s;
      if (hi < lo) return `g${g}v${v}: range stop ${hi} below start ${lo}`;
      if (prefix !== 0) return `g${g}v${v}: qualifier 0x${q.toString(16)} prefixes objects of a range`;
      count = hi - lo + 1;
    } else if (range === 6) {
      if (prefix !== 0) return `g${g}v${v}: qualifier 0x${q.toString(16)} prefixes "all objects"`;
      if (withData && !(response && objectSize(g, v) === 0)) return `g${g}v${v}: qualifier 0x06 (all objects) where objects carry data`;
      count = 0;
    } else if (range >= 7 && range <= 9) {
      const s = SIZE_OF_CODE[range - 7];
      if (len - at < s) return `g${g}v${v}: count field truncated`;
      count = uint(buf, off + at, s);
      at += s;
      if (count === 0) return `g${g}v${v}: object count 0`;
    } else if (range === 0x0b) {
      if (sizePrefix === 0) return `g${g}v${v}: qualifier 0x${q.toString(16)}: free format without a size prefix`;
      if (len - at < 1) return `g${g}v${v}: count field truncated`;
      count = buf[off + at];
      at += 1;
      if (count === 0) return `g${g}v${v}: object count 0`;
    } else {
      return `g${g}v${v}: unsupported range specifier ${range} (qualifier 0x${q.toString(16)})`;
    }
    out.count[h] = count;
    const remaining = len - at;
    if (count > 0) {
      let minIdx = Infinity, maxIdx = -1;
      if (sizePrefix !== 0) {
        if (count * sizePrefix > remaining) return `g${g}v${v}: ${count} objects overrun the fragment`;
        for (let i = 0; i < count; i++) {
          if (len - at < sizePrefix) return `g${g}v${v}: object size truncated`;
          const size = uint(buf, off + at, sizePrefix);
          at += sizePrefix;
          if (len - at < size) return `g${g}v${v}: object of ${size} bytes overruns the fragment`;
          at += size;
        }
      } else {
        const size = withData ? objectSize(g, v) : 0;
        if (size === undefined) return `g${g}v${v}: unknown object (size unknown) in a header that carries data`;
        if (size < 0) {
          if (indexSize !== 0) return `g${g}v${v}: packed objects cannot be index-prefixed`;
          const bytes = Math.ceil((count * -size) / 8);
          if (bytes > remaining) return `g${g}v${v}: ${count} packed objects overrun the fragment`;
          at += bytes;
        } else {
          const per = indexSize + size;
          if (per === 0) {
            // Objects without data or prefix (a READ by count, class objects): nothing to skip.
          } else {
            if (count * per > remaining) return `g${g}v${v}: ${count} objects overrun the fragment`;
            const pointsHere = record && (indexSize !== 0 || (withData && (g === CROB_GROUP || g === ANALOG_OUTPUT_GROUP) && lo >= 0));
            if (pointsHere) {
              // Hot: a control request's points (up to a fragment of CROBs); locals, no calls for the common shapes.
              if (out.points + count > out.ptIndex.length) return 'too many points';
              const ptIndex = out.ptIndex, ptData = out.ptData, ptValue = out.ptValue;
              const crobCode = g === CROB_GROUP && size > 0 && v <= 2;
              const valued = size > 0 && (g === CROB_GROUP || g === ANALOG_OUTPUT_GROUP);
              let k = out.points;
              for (let i = 0; i < count; i++, k++) {
                const p0 = off + at;
                const idx = indexSize === 0 ? lo + i : indexSize === 1 ? buf[p0] : indexSize === 2 ? buf[p0] | (buf[p0 + 1] << 8) : uint(buf, p0, indexSize);
                const dataAt = at + indexSize;
                ptIndex[k] = idx;
                ptData[k] = size > 0 ? dataAt : -1;
                ptValue[k] = crobCode ? buf[off + dataAt] : valued ? controlValue(buf, off + dataAt, g, v) : NaN;
                if (idx < minIdx) minIdx = idx;
                if (idx > maxIdx) maxIdx = idx;
                at += per;
              }
              out.points = k;
            } else if (indexSize !== 0) {
              // A response's index-prefixed objects: only the index range is kept.
              for (let i = 0; i < count; i++) {
                const p0 = off + at;
                const idx = indexSize === 1 ? buf[p0] : indexSize === 2 ? buf[p0] | (buf[p0 + 1] << 8) : uint(buf, p0, indexSize);
                if (idx < minIdx) minIdx = idx;
                if (idx > maxIdx) maxIdx = idx;
                at += per;
              }
            } else {
              at += count * per;
            }
          }
        }
      }
      if (indexSize !== 0) { lo = minIdx; hi = maxIdx; }
    }
    out.lo[h] = lo;
    out.hi[h] = hi;
    out.end[h] = at;
    out.headers = h + 1;
    out.ptOff[h + 1] = out.points;
  }
  return null;
}
