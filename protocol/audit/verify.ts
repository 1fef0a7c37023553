/**
 * Verifies an audit log (protocol code: the fleet runs the same checks on collected logs).
 *
 * ChainVerifier consumes records in order and checks, per record: the frame (length, CRC-32),
 * that the payload decodes as a record, that its seq follows the previous one (a jump is legal
 * only when the record at the jump is a `gap` record naming exactly the missing range), that
 * `prev` equals the SHA-256 of the previous payload, and for checkpoints: that the signed head
 * is the previous record, and that the ed25519 signature verifies under the pinned device key
 * (or, with none pinned, under the key the first checkpoint names, reported as unpinned).
 * It stops at the FIRST record that fails and names it (segment, offset, seq, what is wrong).
 *
 * What truncation can be detected: a cut inside the log (a missing segment or records between
 * two kept ones) breaks seqs or prev. A cut of the tail is invisible in the chain itself, since
 * what remains is a valid shorter log. It is detected when an anchor says how far the log went:
 * `checkpoint.latest` in the folder (written by the device after each checkpoint), or an
 * `expect` checkpoint the fleet already holds. Someone who can also rewrite or remove
 * checkpoint.latest can cut back to any record undetected, except against the fleet's copy
 * (uploaded records and checkpoints); records after the last uploaded checkpoint are not
 * protected against truncation by anything that stays on the device.
 */
import { join } from 'node:path';
import * as fsp from 'node:fs/promises';
import { readFrame } from './frame';
import { decodeRecord, hashPayload, RecordDecodeError, GENESIS_PREV, toHex, type AuditRecord, type GapBody } from './record';
import { verifyCheckpoint } from './checkpoint';
import { sortSegments } from './segment';
import { findNextRecord } from './scan';

export type VerifyErrorCode =
  | 'frame-length'      // a frame's length word is out of range
  | 'frame-truncated'   // a frame ends early outside the tail of the last segment
  | 'crc'               // the payload does not match its CRC-32
  | 'decode'            // the payload is not a record
  | 'segment-name'      // a segment's first record does not have the seq its name says
  | 'segment-empty'     // an empty segment that is not the last one
  | 'seq'               // seq does not follow (deleted, reordered or duplicated records)
  | 'chain'             // prev is not the hash of the previous record (edited or replaced)
  | 'checkpoint-head'   // a checkpoint signs something other than the record before it
  | 'checkpoint-key'    // a checkpoint names a key other than the pinned device key
  | 'checkpoint-signature' // the signature does not verify
  | 'truncated'         // the log ends before an anchor (checkpoint.latest / expect) it should reach
  | 'unsigned';         // pinned key: records no checkpoint signs beyond what the device ever leaves unsigned

export interface VerifyError {
  code: VerifyErrorCode;
  message: string;
  segment: string | null;
  offset: number | null;
  seq: number | null;
  /**
   * For damaged frames: the bytes that do not read (offset..endOffset of `segment`) and the seqs
   * they held (toSeq from the next intact record; null when nothing intact follows in the segment).
   */
  range?: { fromSeq: number | null; toSeq: number | null; offset: number; endOffset: number };
}

/** What the device's writer never exceeds (log.ts): beyond it, records were stripped of their checkpoints. */
export interface UnsignedLimit {
  /** Records between two checkpoints at most (the device's checkpointEvery plus one batch). */
  records: number;
  /** How much later than the last checkpoint a record after it may be dated (checkpointIntervalMs plus slack). */
  ms: number;
}

/** The device defaults (checkpointEvery 10,000 plus a batch; checkpointIntervalMs 60 s plus 15 s). */
export const DEFAULT_UNSIGNED_LIMIT: UnsignedLimit = { records: 10_000 + 1_024, ms: 60_000 + 15_000 };

export interface CheckpointInfo {
  /** Seq of the checkpoint record itself. */
  recordSeq: number;
  /** Seq of the record whose hash it signs. */
  seq: number;
  head: string;
  at: number;
  device: string;
  key: string;
}

export interface VerifyReport {
  ok: boolean;
  dir: string | null;
  segments: number;
  records: number;
  firstSeq: number | null;
  lastSeq: number | null;
  firstAt: number | null;
  lastAt: number | null;
  /** Hash of the last record (hex). */
  head: string | null;
  /** The first record is not seq 0: older records were evicted (after upload, or explained by an eviction gap). */
  startsMidChain: boolean;
  /** When startsMidChain: an eviction gap record covers the records before the first one. */
  startExplained: boolean;
  checkpoints: number;
  lastCheckpoint: CheckpointInfo | null;
  /** The key checkpoints were checked against: pinned (given), or taken from the first checkpoint. */
  key: { hex: string; source: 'pinned' | 'checkpoint' } | null;
  /** Records after the last checkpoint: their order and content are chained but not signed. */
  recordsAfterLastCheckpoint: number;
  gaps: (GapBody & { recordSeq: number })[];
  summaries: number;
  /** A frame cut short at the very end of the last segment (a write cut by power loss; recovery removes it). */
  tornTail: { segment: string; offset: number; bytes: number } | null;
  /** The anchors the end of the log was checked against. */
  anchors: { source: string; recordSeq: number; status: 'reached' | 'before-start' }[];
  error: VerifyError | null;
}

export interface VerifyOptions {
  /** The device's raw 32-byte public key to pin; without it the first checkpoint's key is used. */
  devicePublicKey?: Uint8Array;
  /** A checkpoint record the fleet holds: the log must reach it with the same hash. */
  expect?: { recordSeq: number; hash: Uint8Array };
  /**
   * With a pinned key, verifyAuditDir fails a log with no checkpoint at all, a stretch of more than
   * `records` records no checkpoint signs, or a record after the last checkpoint dated more than
   * `ms` after it (DEFAULT_UNSIGNED_LIMIT; false turns the check off).
   */
  unsignedLimit?: UnsignedLimit | false;
}

/** Record-by-record verifier; feed records in order, read the report at the end. */
export class ChainVerifier {
  readonly report: VerifyReport;
  private pinned: Buffer | null;
  private expectSeq: number | null = null;
  private lastHash: Buffer | null = null;
  private sinceCheckpoint = 0;
  private hashes = new Map<number, Buffer>();
  private wantHashes: Set<number>;
  private readonly limit: UnsignedLimit | null;
  /** The first record after the last checkpoint dated past the limit (a stripped tail unless a checkpoint follows). */
  private lateUnsigned: { seq: number; at: number } | null = null;

  /**
   * `after` resumes a chain already verified up to a record (the fleet verifying upload batches
   * one after another): the next record must have seq after.seq + 1 and prev after.hash.
   */
  constructor(options: VerifyOptions & { dir?: string; anchorSeqs?: number[]; after?: { seq: number; hash: Uint8Array } } = {}) {
    this.pinned = options.devicePublicKey ? Buffer.from(options.devicePublicKey) : null;
    // The fleet verifying upload batches passes no limit: it holds the checkpoints it has seen itself.
    this.limit = this.pinned !== null && options.unsignedLimit ? options.unsignedLimit : null;
    if (options.after) {
      this.expectSeq = options.after.seq + 1;
      this.lastHash = Buffer.from(options.after.hash);
    }
    this.wantHashes = new Set(options.anchorSeqs ?? []);
    this.report = {
      ok: true, dir: options.dir ?? null, segments: 0, records: 0, firstSeq: null, lastSeq: null, firstAt: null, lastAt: null,
      head: null, startsMidChain: false, startExplained: false, checkpoints: 0, lastCheckpoint: null,
      key: this.pinned ? { hex: this.pinned.toString('hex'), source: 'pinned' } : null,
      recordsAfterLastCheckpoint: 0, gaps: [], summaries: 0, tornTail: null, anchors: [], error: null,
    };
  }

  /** Records the first failure; returns false so callers can stop. */
  fail(code: VerifyErrorCode, message: string, where: { segment?: string | null; offset?: number | null; seq?: number | null } = {}): false {
    if (this.report.error === null) {
      this.report.ok = false;
      this.report.error = { code, message, segment: where.segment ?? null, offset: where.offset ?? null, seq: where.seq ?? null };
    }
    return false;
  }

  /** Checks one record's payload (already out of its frame). */
  addPayload(payload: Uint8Array, where: { segment?: string; offset?: number; segmentFirstSeq?: number } = {}): boolean {
    const at = { segment: where.segment ?? null, offset: where.offset ?? null };
    let rec: AuditRecord;
    try {
      rec = decodeRecord(payload);
    } catch (e) {
      if (!(e instanceof RecordDecodeError)) throw e;
      return this.fail('decode', `record does not decode: ${e.message}`, { ...at, seq: this.expectSeq });
    }
    const w = { ...at, seq: rec.seq };
    if (where.segmentFirstSeq !== undefined && rec.seq !== where.segmentFirstSeq) {
      return this.fail('segment-name', `segment ${where.segment} is named for seq ${where.segmentFirstSeq} but its first record has seq ${rec.seq} (segments renamed or swapped)`, w);
    }
    const r = this.report;
    if (this.expectSeq === null) {
      r.firstSeq = rec.seq;
      r.firstAt = rec.at;
      if (rec.seq === 0) {
        if (!GENESIS_PREV.equals(rec.prev)) return this.fail('chain', 'seq 0 does not start from the genesis hash', w);
      } else {
        r.startsMidChain = true;
      }
    } else {
      if (rec.seq !== this.expectSeq) {
        const gap = rec.kind === 'gap' ? rec.gap : undefined;
        const explained = gap !== undefined && rec.seq > this.expectSeq && gap.fromSeq === this.expectSeq && gap.toSeq === rec.seq - 1;
        if (!explained) {
          const what = rec.seq < this.expectSeq
            ? `seq ${rec.seq} comes after seq ${this.expectSeq - 1} (records reordered or duplicated)`
            : `expected seq ${this.expectSeq}, found ${rec.seq}: records ${this.expectSeq}..${rec.seq - 1} are missing and no gap record explains them`;
          return this.fail('seq', what, w);
        }
      }
      if (!(this.lastHash as Buffer).equals(rec.prev)) {
        return this.fail('chain', `prev of seq ${rec.seq} is not the hash of seq ${this.expectSeq - 1} (a record was edited, replaced or removed)`, w);
      }
    }
    if (r.firstSeq === null) { r.firstSeq = rec.seq; r.firstAt = rec.at; }
    const hash = hashPayload(payload);
    if (rec.kind === 'checkpoint' && !this.checkpoint(rec, w)) return false;
    if (rec.kind === 'gap' && rec.gap) {
      r.gaps.push({ ...rec.gap, recordSeq: rec.seq });
      if (r.startsMidChain && rec.gap.reason === 'evicted' && typeof rec.gap.toSeq === 'number' && typeof rec.gap.fromSeq === 'number' && rec.gap.fromSeq < (r.firstSeq as number) && rec.gap.toSeq >= (r.firstSeq as number) - 1) r.startExplained = true;
    }
    if (rec.kind === 'summary') r.summaries++;
    if (rec.kind !== 'checkpoint') {
      this.sinceCheckpoint++;
      if (this.limit !== null && !this.unsignedOk(rec, w)) return false;
    }
    r.records++;
    r.lastSeq = rec.seq;
    r.lastAt = rec.at;
    r.head = hash.toString('hex');
    r.recordsAfterLastCheckpoint = this.sinceCheckpoint;
    if (this.wantHashes.has(rec.seq)) this.hashes.set(rec.seq, hash);
    this.lastHash = hash;
    this.expectSeq = rec.seq + 1;
    return true;
  }

  /** The pinned-key bound on unsigned records (UnsignedLimit). */
  private unsignedOk(rec: AuditRecord, w: { segment: string | null; offset: number | null; seq: number }): boolean {
    const limit = this.limit as UnsignedLimit;
    if (this.sinceCheckpoint > limit.records) {
      return this.fail('unsigned', `seq ${rec.seq - this.sinceCheckpoint + 1}..${rec.seq}: ${this.sinceCheckpoint} records in a row that no checkpoint signs (the device signs at least every ${limit.records}): checkpoints were removed`, w);
    }
    const last = this.report.lastCheckpoint;
    if (last !== null && this.lateUnsigned === null && rec.at > last.at + limit.ms) this.lateUnsigned = { seq: rec.seq, at: rec.at };
    return true;
  }

  /** At the end of the log, with a pinned key: fails a log no checkpoint signs, or a tail dated past the last checkpoint. */
  finishUnsigned(): boolean {
    const r = this.report;
    if (this.limit === null || r.error !== null || r.records === 0) return true;
    if (r.checkpoints === 0) {
      return this.fail('unsigned', `no checkpoint signs any of the ${r.records} record(s) (seq ${r.firstSeq}..${r.lastSeq}): nothing proves they come from the device`, { seq: r.firstSeq });
    }
    const late = this.lateUnsigned;
    if (late !== null) {
      const cp = r.lastCheckpoint as CheckpointInfo;
      return this.fail('unsigned', `seq ${late.seq} (${new Date(late.at).toISOString()}) comes ${Math.round((late.at - cp.at) / 1000)} s after the last checkpoint (seq ${cp.recordSeq}) with none after it, though the device signs at least every ${Math.round(this.limit.ms / 1000)} s: checkpoints were removed`, { seq: late.seq });
    }
    return true;
  }

  private checkpoint(rec: AuditRecord, w: { segment: string | null; offset: number | null; seq: number }): boolean {
    const c = rec.checkpoint;
    if (!c || typeof c.device !== 'string' || !(c.key instanceof Uint8Array) || !(c.head instanceof Uint8Array) || typeof c.seq !== 'number' || typeof c.at !== 'number') {
      return this.fail('decode', `checkpoint at seq ${rec.seq} lacks device, key, seq, head or at`, w);
    }
    if (c.seq !== rec.seq - 1 || !Buffer.from(c.head).equals(rec.prev)) {
      return this.fail('checkpoint-head', `checkpoint at seq ${rec.seq} signs seq ${c.seq} head ${toHex(c.head).slice(0, 16)}…, not the record before it`, w);
    }
    const key = Buffer.from(c.key);
    if (this.pinned === null) {
      this.pinned = key;
      this.report.key = { hex: key.toString('hex'), source: 'checkpoint' };
    } else if (!this.pinned.equals(key)) {
      return this.fail('checkpoint-key', `checkpoint at seq ${rec.seq} names key ${key.toString('hex').slice(0, 16)}…, not the device key ${this.pinned.toString('hex').slice(0, 16)}…`, w);
    }
    if (!verifyCheckpoint(c, this.pinned)) {
      return this.fail('checkpoint-signature', `checkpoint at seq ${rec.seq}: signature does not verify under the device key`, w);
    }
    this.report.checkpoints++;
    this.report.lastCheckpoint = { recordSeq: rec.seq, seq: c.seq, head: toHex(c.head), at: c.at, device: c.device, key: key.toString('hex') };
    this.sinceCheckpoint = 0;
    this.lateUnsigned = null;
    return true;
  }

  /** Checks that the log reached an anchor (a checkpoint record known to exist) with the same hash. */
  checkAnchor(source: string, recordSeq: number, hash: Uint8Array): boolean {
    const r = this.report;
    if (r.error) return false;
    if (r.firstSeq !== null && recordSeq < r.firstSeq) {
      r.anchors.push({ source, recordSeq, status: 'before-start' });
      return true;
    }
    if (r.lastSeq === null || recordSeq > r.lastSeq) {
      return this.fail('truncated', `${source} names record seq ${recordSeq}, but the log ends at ${r.lastSeq === null ? 'no record' : `seq ${r.lastSeq}`}: records were cut from the end`, { seq: recordSeq });
    }
    const got = this.hashes.get(recordSeq);
    if (!got || !got.equals(hash)) return this.fail('chain', `${source} names record seq ${recordSeq} with another hash than the log's record`, { seq: recordSeq });
    r.anchors.push({ source, recordSeq, status: 'reached' });
    return true;
  }
}

/**
 * Verifies every segment in `dir` (an audit folder) and resolves to a report; never rejects for
 * a bad log (the report says what is wrong), only when the folder cannot be read.
 */
export async function verifyAuditDir(dir: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  const names = await fsp.readdir(dir);
  const segs = sortSegments(dir, names);
  let latest: { recordSeq: number; hash: Buffer } | null = null;
  if (names.includes('checkpoint.latest')) {
    const payload = await fsp.readFile(join(dir, 'checkpoint.latest'));
    try {
      const rec = decodeRecord(payload);
      latest = { recordSeq: rec.seq, hash: hashPayload(payload) };
    } catch { /* an unreadable hint is ignored; the chain stands on its own */ }
  }
  const anchorSeqs = [latest?.recordSeq, options.expect?.recordSeq].filter((x): x is number => x !== undefined);
  const v = new ChainVerifier({ ...options, unsignedLimit: options.unsignedLimit ?? DEFAULT_UNSIGNED_LIMIT, dir, anchorSeqs });
  v.report.segments = segs.length;
  outer: for (let i = 0; i < segs.length; i++) {
    const seg = segs[i];
    const isLast = i === segs.length - 1;
    const bytes = await fsp.readFile(seg.path);
    if (bytes.length === 0) {
      if (isLast) break;
      v.fail('segment-empty', `segment ${seg.name} is empty`, { segment: seg.name, offset: 0 });
      break;
    }
    let offset = 0;
    let first = true;
    while (offset < bytes.length) {
      const fr = readFrame(bytes, offset);
      if (!fr.ok) {
        const short = fr.problem === 'short-header' || fr.problem === 'short-payload';
        // Intact records after it: damage to committed records, never a torn tail.
        const next = findNextRecord(bytes, offset + 1);
        if (short && isLast && next === null) {
          v.report.tornTail = { segment: seg.name, offset, bytes: bytes.length - offset };
          break outer;
        }
        const code = fr.problem === 'crc' ? 'crc' : fr.problem === 'length' ? 'frame-length' : 'frame-truncated';
        const fromSeq = expectedSeq(v) ?? (first ? seg.firstSeq : null);
        const toSeq = next !== null ? next.seq - 1 : null;
        const endOffset = next?.offset ?? bytes.length;
        const held = fromSeq !== null && toSeq !== null ? (toSeq >= fromSeq ? `seq ${fromSeq}..${toSeq}` : 'no whole record') : `seq ${fromSeq ?? '?'} on`;
        v.fail(code, `${fr.message}${short && next === null ? ' (not at the end of the log)' : ''}; damaged: bytes ${offset}..${endOffset} of ${seg.name} (${held})`, { segment: seg.name, offset, seq: fromSeq });
        if (v.report.error) v.report.error.range = { fromSeq, toSeq, offset, endOffset };
        break outer;
      }
      if (!v.addPayload(fr.payload, { segment: seg.name, offset, segmentFirstSeq: first ? seg.firstSeq : undefined })) {
        explainReorder(v.report, bytes, fr.next);
        break outer;
      }
      first = false;
      offset = fr.next;
    }
  }
  if (latest) v.checkAnchor('checkpoint.latest', latest.recordSeq, latest.hash);
  if (options.expect) v.checkAnchor('expected checkpoint', options.expect.recordSeq, options.expect.hash);
  v.finishUnsigned();
  return v.report;
}

/**
 * A seq jump forward whose missing seq comes a few records later in the same segment is records
 * out of order (swapped), not records missing: says so, and where the expected one is.
 */
function explainReorder(r: VerifyReport, bytes: Buffer, from: number): void {
  const e = r.error;
  if (e === null || e.code !== 'seq' || e.seq === null || r.lastSeq === null || e.seq <= r.lastSeq + 1) return;
  const want = r.lastSeq + 1;
  let offset = from;
  for (let i = 0; i < 64 && offset < bytes.length; i++) {
    const fr = readFrame(bytes, offset);
    if (!fr.ok) return;
    let seq: number;
    try { seq = decodeRecord(fr.payload).seq; } catch { return; }
    if (seq === want) {
      e.message = `records out of order: expected seq ${want}, found seq ${e.seq}; seq ${want} comes later, at offset ${offset} of ${e.segment} (records reordered)`;
      return;
    }
    offset = fr.next;
  }
}

function expectedSeq(v: ChainVerifier): number | null {
  return v.report.lastSeq === null ? null : v.report.lastSeq + 1;
}
