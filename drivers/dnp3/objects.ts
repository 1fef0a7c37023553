/**
 * DNP3 object sizes (IEEE 1815-2012 annex A, the object library): how many bytes (or bits, for
 * packed objects) one object of a group/variation occupies. The parser needs this to walk a
 * fragment's object headers; a group/variation not listed here has an unknown size and makes a
 * header that carries data malformed, unless its qualifier prefixes every object with its size.
 *
 * The encoding of a size: > 0 bytes; < 0 bits of a packed object (-1: g1v1, g10v1, g12v3,
 * g80v1; -2: g3v1, double-bit); 0: the object has no data (class objects g60); undefined:
 * unknown. Octet strings (g110, g111, g112, g113) are as long as their variation.
 */

// [group, [size of variation 1, 2, 3, ...]]
const SIZES: ReadonlyArray<readonly [number, readonly number[]]> = [
  [1, [-1, 1]],                                   // binary input: packed, with flags
  [2, [1, 7, 3]],                                 // binary input event: no time, absolute time, relative time
  [3, [-2, 1]],                                   // double-bit binary input: packed, with flags
  [4, [1, 7, 3]],                                 // double-bit binary input event
  [10, [-1, 1]],                                  // binary output: packed, with flags
  [11, [1, 7]],                                   // binary output event
  [12, [11, 11, -1]],                             // CROB (control code, count, on, off, status), pattern control block, pattern mask
  [13, [1, 7]],                                   // binary output command event
  [20, [5, 3, 5, 3, 4, 2, 4, 2]],                 // counter: 32/16-bit with flag, delta, without flag
  [21, [5, 3, 5, 3, 11, 9, 11, 9, 4, 2, 4, 2]],   // frozen counter
  [22, [5, 3, 5, 3, 11, 9, 11, 9]],               // counter event
  [23, [5, 3, 5, 3, 11, 9, 11, 9]],               // frozen counter event
  [30, [5, 3, 4, 2, 5, 9]],                       // analog input: 32/16-bit with flag, without, float, double
  [31, [5, 3, 11, 9, 4, 2, 5, 9]],                // frozen analog input
  [32, [5, 3, 11, 9, 5, 9, 11, 15]],              // analog input event
  [33, [5, 3, 11, 9, 5, 9, 11, 15]],              // frozen analog input event
  [34, [2, 4, 4]],                                // analog input deadband
  [40, [5, 3, 5, 9]],                             // analog output status
  [41, [5, 3, 5, 9]],                             // analog output block: value + control status
  [42, [5, 3, 11, 9, 5, 9, 11, 15]],              // analog output event
  [43, [5, 3, 11, 9, 5, 9, 11, 15]],              // analog output command event
  [50, [6, 10, 6, 11]],                           // time and date, with interval, last recorded, indexed
  [51, [6, 6]],                                   // common time of occurrence
  [52, [2, 2]],                                   // time delay coarse, fine
  [60, [0, 0, 0, 0]],                             // class 0, 1, 2, 3 data
  [80, [-1]],                                     // internal indications (packed)
];

const table = new Int16Array(256 * 256).fill(-32768);
for (const [g, vs] of SIZES) vs.forEach((s, i) => { table[g * 256 + i + 1] = s; });
for (const g of [110, 111, 112, 113]) for (let v = 1; v < 256; v++) table[g * 256 + v] = v;

/** Bytes (> 0), bits of a packed object (< 0), no data (0), or undefined when unknown. */
export function objectSize(group: number, variation: number): number | undefined {
  const s = table[((group & 0xff) << 8) | (variation & 0xff)];
  return s === -32768 ? undefined : s;
}

/** Whether a group/variation is in the object library above (any variation 0 is "any"). */
export function objectKnown(group: number, variation: number): boolean {
  if (variation === 0) return table[(group & 0xff) << 8 | 1] !== -32768;
  return objectSize(group, variation) !== undefined;
}

/** Groups whose objects are controls the policy restricts by point and value. */
export const CROB_GROUP = 12;
export const ANALOG_OUTPUT_GROUP = 41;

/** `g12v1` */
export function objectName(group: number, variation: number): string {
  return `g${group}v${variation}`;
}
