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
