/**
 * Scans one segment's bytes frame by frame, checking what a writer that crashed can leave
 * wrong: frame length and CRC, a decodable record, seqs running on by one from the name's seq,
 * and each record's prev equal to the hash of the one before. Stops at the first frame that
 * fails; everything before `goodEnd` is intact. Used by recovery (truncate at goodEnd) and by
 * the upload cursor. The full verifier (verify.ts) checks more (checkpoints, across segments).
 */
import { readFrame } from './frame';
import { decodeRecord, hashPayload, RecordDecodeError, type AuditRecord } from './record';

export interface ScannedRecord {
  seq: number;
  offset: number;
  payload: Buffer;
  hash: Buffer;
  record: AuditRecord;
}

export interface SegmentScan {
  records: ScannedRecord[];
  /** End of the last intact frame. */
  goodEnd: number;
  /** Why scanning stopped before the end of the bytes, or null when every frame was intact. */
  problem: { offset: number; message: string } | null;
}

/** Scans `bytes`, a segment whose name says its first record is `firstSeq`. */
export function scanSegment(bytes: Buffer, firstSeq: number): SegmentScan {
  const records: ScannedRecord[] = [];
  let offset = 0;
  let prevHash: Buffer | null = null;
  while (offset < bytes.length) {
    const fr = readFrame(bytes, offset);
    if (!fr.ok) return { records, goodEnd: offset, problem: { offset, message: fr.message } };
    let record: AuditRecord;
    try {
      record = decodeRecord(fr.payload);
    } catch (e) {
      if (!(e instanceof RecordDecodeError)) throw e;
      return { records, goodEnd: offset, problem: { offset, message: e.message } };
    }
    const want = firstSeq + records.length;
    if (record.seq !== want) return { records, goodEnd: offset, problem: { offset, message: `expected seq ${want}, found ${record.seq}` } };
    if (prevHash && !prevHash.equals(record.prev)) return { records, goodEnd: offset, problem: { offset, message: `prev of seq ${record.seq} does not match the hash of seq ${want - 1}` } };
    const hash = hashPayload(fr.payload);
    records.push({ seq: record.seq, offset, payload: fr.payload, hash, record });
    prevHash = hash;
    offset = fr.next;
  }
  return { records, goodEnd: offset, problem: null };
}

/** Cheap test that a record payload (CBOR map whose first key is `v`: 1) could start at `p`. */
function looksLikeRecord(bytes: Buffer, p: number): boolean {
  if (p + 5 > bytes.length) return false;
  const h = bytes[p];
  const k = h === 0xb8 ? p + 2 : h >= 0xa4 && h <= 0xb7 ? p + 1 : -1;
  return k > 0 && bytes[k] === 0x61 && bytes[k + 1] === 0x76 && bytes[k + 2] === 0x01;
}

/**
 * Finds the next intact record at or after `from` (a frame whose CRC holds and whose payload
 * decodes as a record), searching byte by byte: after damage the length word itself may be
 * wrong, so frames cannot be skipped by length. Used to tell a torn tail (nothing intact after
 * it) from damage in the middle, and to name the damaged range. Null when none is found.
 */
export function findNextRecord(bytes: Buffer, from: number): { offset: number; seq: number } | null {
  for (let o = Math.max(0, from); o + 8 < bytes.length; o++) {
    if (!looksLikeRecord(bytes, o + 8)) continue;
    const fr = readFrame(bytes, o);
    if (!fr.ok) continue;
    try {
      return { offset: o, seq: decodeRecord(fr.payload).seq };
    } catch (e) {
      if (!(e instanceof RecordDecodeError)) throw e;
    }
  }
  return null;
}

/**
 * Every intact record of a damaged segment from `from` on, resynchronising after each damaged
 * stretch (the records' own seqs say where they belong; no chaining is checked across damage).
 */
export function scanAfterDamage(bytes: Buffer, from: number): ScannedRecord[] {
  const out: ScannedRecord[] = [];
  let at = findNextRecord(bytes, from);
  while (at !== null) {
    const fr = readFrame(bytes, at.offset);
    if (!fr.ok) break;
    const record = decodeRecord(fr.payload);
    out.push({ seq: record.seq, offset: at.offset, payload: fr.payload, hash: hashPayload(fr.payload), record });
    at = findNextRecord(bytes, fr.next);
  }
  return out;
}
