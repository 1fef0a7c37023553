/**
 * A plain reference reading of IEC 104 (whole buffers, Maps, arrays, readUIntLE; written from
 * IEC 60870-5-101/104 again, importing nothing from drivers/iec104): the fuzz test compares the
 * optimised splitter and parser against it, the codec bench measures beside it.
 */

// The reference: element sizes written out again from IEC 60870-5-101 7.3 (not imported).
const REF_SIZE = new Map<number, number>([
  [1, 1], [3, 1], [5, 2], [7, 5], [9, 3], [11, 3], [13, 5], [15, 5], [20, 5], [21, 2],
  [30, 8], [31, 8], [32, 9], [33, 12], [34, 10], [35, 10], [36, 12], [37, 12], [38, 10], [39, 11], [40, 11],
  [45, 1], [46, 1], [47, 1], [48, 3], [49, 3], [50, 5], [51, 4], [58, 8], [59, 8], [60, 8], [61, 10], [62, 10], [63, 12], [64, 11],
  [70, 1], [100, 1], [101, 1], [102, 0], [103, 7], [105, 1], [107, 9], [110, 3], [111, 3], [112, 5], [113, 1],
  [120, 6], [121, 7], [122, 4], [123, 5], [124, 4], [126, 13], [127, 16],
]);

export type RefAsdu = { ok: true; type: number; sq: boolean; ca: number; cause: number; ioa: number[] } | { ok: false; fault: string };

export function refAsdu(b: Buffer): RefAsdu {
  if (b.length < 6) return { ok: false, fault: 'malformed' };
  const type = b[0], sq = b[1] >= 128, n = b[1] % 128;
  if (type === 125) {
    if (sq || n === 0) return { ok: false, fault: 'malformed' };
    const ioa: number[] = [];
    let at = 6;
    for (let i = 0; i < n; i++) {
      if (at + 7 > b.length || at + 7 + b[at + 6] > b.length) return { ok: false, fault: 'malformed' };
      ioa.push(b.readUIntLE(at, 3));
      at += 7 + b[at + 6];
    }
    return at === b.length ? { ok: true, type, sq, ca: b.readUInt16LE(4), cause: b[2] % 64, ioa } : { ok: false, fault: 'malformed' };
  }
  const size = REF_SIZE.get(type);
  if (size === undefined) return { ok: false, fault: 'unknown-type' };
  if (n === 0) return { ok: false, fault: 'malformed' };
  const ioa: number[] = [];
  if (sq) {
    if (b.length !== 9 + n * size) return { ok: false, fault: 'malformed' };
    const first = b.readUIntLE(6, 3);
    if (first + n - 1 > 0xffffff) return { ok: false, fault: 'malformed' };
    for (let i = 0; i < n; i++) ioa.push(first + i);
  } else {
    if (b.length !== 6 + n * (3 + size)) return { ok: false, fault: 'malformed' };
    for (let i = 0; i < n; i++) ioa.push(b.readUIntLE(6 + i * (3 + size), 3));
  }
  return { ok: true, type, sq, ca: b.readUInt16LE(4), cause: b[2] % 64, ioa };
}

/** The reference splitter: whole buffer, frame by frame; stops at the first bad frame. */
export function refSplit(s: Buffer): { frames: string[]; malformed: boolean } {
  const frames: string[] = [];
  let at = 0;
  while (at < s.length) {
    if (s[at] !== 0x68) return { frames, malformed: true };
    if (at + 1 >= s.length) break;
    const len = s[at + 1];
    if (len < 4 || len > 253) return { frames, malformed: true };
    if (at + 2 + len > s.length) break;
    const f = s.subarray(at, at + 2 + len);
    const c1 = f[2], c2 = f[3], c3 = f[4], c4 = f[5];
    let good: boolean;
    if (c1 % 2 === 0) good = c3 % 2 === 0 && len > 4;
    else if (c1 % 4 === 1) good = c1 === 1 && c2 === 0 && c3 % 2 === 0 && len === 4;
    else good = [0x07, 0x0b, 0x13, 0x23, 0x43, 0x83].includes(c1) && c2 === 0 && c3 === 0 && c4 === 0 && len === 4;
    if (!good) return { frames, malformed: true };
    frames.push(f.toString('hex'));
    at += 2 + len;
  }
  return { frames, malformed: false };
}
