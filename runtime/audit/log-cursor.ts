/**
 * The upload cursor of the audit log: the high-water mark of what the fleet acknowledged
 * (`uploaded`, decimal, rewritten by the writer after a batch) and reads of committed records
 * from a seq on, as their exact payloads (the fleet hashes them to check the chain).
 */
import type { AuditFs } from './fs';
import { scanSegment, type ScannedRecord } from '../../protocol/audit/scan';
import type { Segment } from './log-segments';
import type { CursorRecord } from './log-types';

export class UploadCursor {
  /** Every record up to and including this seq was acknowledged (-1: none). */
  uploaded = -1;
  /** The mark changed since `uploaded` was last written. */
  dirty = false;
  /** The last scanned segment (a full segment is read once, not per batch). */
  private cache: { path: string; size: number; records: ScannedRecord[] } | null = null;

  constructor(private readonly fs: AuditFs) {}

  /** Moves the mark to `seq` (never past the last committed record); true when it moved. */
  mark(seq: number, nextSeq: number): boolean {
    if (seq <= this.uploaded) return false;
    this.uploaded = Math.min(seq, nextSeq - 1);
    this.dirty = true;
    return true;
  }

  /** The side file's contents, clearing `dirty`. */
  take(): Buffer {
    this.dirty = false;
    return Buffer.from(`${this.uploaded}\n`);
  }

  /**
   * Up to maxRecords committed records from `seq` on, oldest first. If `seq` was evicted, starts
   * at the oldest record still on disk (the records say where). `next` is the seq to ask for next.
   */
  async readFrom(segments: readonly Segment[], nextSeq: number, seq: number, maxRecords: number): Promise<{ records: CursorRecord[]; next: number }> {
    const out: CursorRecord[] = [];
    const segs = segments.map((s) => ({ ...s }));
    let next = seq;
    for (let i = 0; i < segs.length && out.length < maxRecords; i++) {
      const s = segs[i];
      const end = i + 1 < segs.length ? segs[i + 1].firstSeq : nextSeq;
      if (end <= next) continue;
      let scanned = this.cache !== null && this.cache.path === s.path && this.cache.size === s.size ? this.cache.records : null;
      if (scanned === null) {
        let bytes: Buffer;
        try { bytes = await this.fs.readFile(s.path); } catch { continue; }
        scanned = scanSegment(bytes.subarray(0, s.size), s.firstSeq).records;
        this.cache = { path: s.path, size: s.size, records: scanned };
      }
      for (const r of scanned) {
        if (r.seq < next) continue;
        out.push({ seq: r.seq, payload: Buffer.from(r.payload) });
        next = r.seq + 1;
        if (out.length >= maxRecords) break;
      }
    }
    return { records: out, next };
  }
}
