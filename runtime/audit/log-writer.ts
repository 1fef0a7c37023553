/**
 * The audit log's writer (group commit). A timer (flushDelayMs after the oldest waiting record
 * was queued, or at once when batchMax records wait) hands the queue to the writer, which
 * encodes, chains and frames the batch straight into one reused buffer (frame-batch.ts) and does
 * one positional write and one fsync for it. Records queued while a write is under way wait for
 * their own deadline (flushDelayMs, or coalesceMs once coalesceRecords wait) or a full batch
 * rather than starting another write + fsync as soon as it ends. Seqs and hashes are assigned
 * here, so records lost before they reach the disk (queue full, a failed write) leave no hole in
 * the chain: the next batch begins with a `gap` record counting them. A failed batch goes back to
 * the head of the queue and is retried retryMs later (at once when deleting uploaded segments
 * made room on a full disk).
 */
import { FrameBatch } from './frame-batch';
import { GENESIS_PREV, hashPayload, type GapBody, type RecordBody } from '../../protocol/audit/record';
import type { AuditFs } from './fs';
import type { DenyFloodSummariser } from './flood';
import type { AuditAlarms } from './log-alarms';
import type { Checkpoints } from './log-checkpoints';
import type { UploadCursor } from './log-cursor';
import type { RecordQueue } from './log-queue';
import type { Evicted, Segments } from './log-segments';
import type { AuditTimers, LogCounts } from './log-types';
import { writeSideFile } from './side-file';

export interface WriterOptions {
  fs: AuditFs;
  dir: string;
  now: () => number;
  timers: AuditTimers;
  flushDelayMs: number;
  batchMax: number;
  coalesceMs: number;
  coalesceRecords: number;
  retryMs: number;
  queueCapacity: number;
  maxBytes: number;
}

/** The parts the writer drives. */
export interface WriterParts {
  queue: RecordQueue;
  segments: Segments;
  checkpoints: Checkpoints;
  cursor: UploadCursor;
  alarms: AuditAlarms;
  counts: LogCounts;
}

/** One batch encoded into the frame buffer, not yet written. */
interface Encoded {
  data: Buffer;
  records: number;
  seq: number;
  prev: Buffer;
  since: number;
  checkpoint: { payload: Buffer; seq: number } | null;
}

type Waiter = { target: number; resolve: () => void };

export class GroupCommitWriter {
  /** Set once by the log after construction (the summariser emits into this writer). */
  flood: DenyFloodSummariser | null = null;
  nextSeq = 0;
  head: Buffer = GENESIS_PREV;
  /** Events accepted into the queue, and events that left it (written or lost). */
  private accepted = 0;
  private processed = 0;
  private closing = false;
  /** close() finished: the segment is closed and nothing more is written. */
  private finished = false;
  private timer: unknown = null;
  private timerDue = Infinity;
  private writing: Promise<void> | null = null;
  private waiters: Waiter[] = [];
  /** A write failed since the last wake(): flush() waiters are told (their records stay queued for the retry). */
  private failedAttempt = false;
  private pendingEvicted: GapBody | null = null;
  /** The frame buffer, reused batch after batch (one writer at a time). */
  private readonly batch = new FrameBatch();

  constructor(private readonly o: WriterOptions, private readonly p: WriterParts) {}

  /** Queues a record and arms the timer its position in the queue calls for. */
  enqueue(body: RecordBody): void {
    const { queue, counts } = this.p;
    if (!queue.push(body)) {
      counts.queueFull++;
      if (queue.lost.queueFull === 1) this.p.alarms.raise('audit-queue-full', `audit queue full (${this.o.queueCapacity} records): records are being dropped`);
      return;
    }
    this.accepted++;
    const depth = queue.depth;
    if (depth === this.o.batchMax) this.arm(0);
    else if (depth === 1) this.arm(this.o.flushDelayMs);
    else if (depth === this.o.coalesceRecords) this.arm(Math.max(0, queue.runQueuedAt[0] + this.o.coalesceMs - this.o.now()));
  }

  /** A denial went into a flood window: make sure a group commit comes to carry its count. */
  counted(): void {
    if (this.timer === null && this.writing === null) this.arm(this.o.flushDelayMs);
  }

  /** Eviction deleted records before upload: the next batch begins with a gap record for them. */
  evicted(e: Evicted): void {
    const prev = this.pendingEvicted;
    this.pendingEvicted = prev === null
      ? { reason: 'evicted', count: e.count, fromSeq: e.fromSeq, toSeq: e.toSeq }
      : { reason: 'evicted', count: prev.count + e.count, fromSeq: prev.fromSeq, toSeq: e.toSeq };
    this.p.alarms.raise('audit-evicted-unuploaded', `disk bound ${this.o.maxBytes} bytes reached: records ${e.fromSeq}..${e.toSeq} deleted before upload`);
  }

  arm(ms: number): void {
    if (this.finished) return;
    const due = this.o.now() + ms;
    if (this.timer !== null) {
      if (due >= this.timerDue) return;
      this.o.timers.clearTimeout(this.timer);
    }
    this.timerDue = due;
    this.timer = this.o.timers.setTimeout(() => {
      this.timer = null;
      this.timerDue = Infinity;
      void this.pump();
    }, ms);
  }

  private disarm(): void {
    if (this.timer !== null) { this.o.timers.clearTimeout(this.timer); this.timer = null; this.timerDue = Infinity; }
  }

  /**
   * Runs the writer until nothing is left to write, one writer at a time. After a failed write
   * it stops and tries again retryMs later, so a full disk costs one attempt per retryMs.
   */
  pump(): Promise<void> {
    if (this.writing !== null) return this.writing;
    if (this.finished) return Promise.resolve();
    // afterDrain runs in a later microtask, always after `writing` was set here.
    const p = this.drain().then((failed) => this.afterDrain(failed), () => { this.p.counts.internal++; this.afterDrain(true); });
    this.writing = p;
    return p;
  }

  /** Writes batches until none is left; true when it stopped on a failed write. */
  private async drain(): Promise<boolean> {
    for (;;) {
      if (this.flood !== null) {
        this.flood.sweep(this.o.now());
        // Flood counts are as durable as records: each group commit carries them.
        this.flood.flushPartials();
      }
      if (!(this.p.queue.depth > 0 || this.hasPendingMeta())) break;
      const ok = await this.writeBatch();
      this.wake();
      if (!ok) return true;
      // Group commit: what came in during that write waits for its own deadline (or a full
      // batch) instead of costing a write + fsync of its own at once.
      if (!this.due()) break;
    }
    if (this.p.cursor.dirty) await this.side('uploaded', this.p.cursor.take());
    return false;
  }

  private afterDrain(failed: boolean): void {
    const { queue, cursor } = this.p;
    this.writing = null;
    this.wake();
    if (failed) this.arm(this.o.retryMs);
    else if (this.due()) this.arm(0);
    else if (queue.depth > 0) {
      const wait = queue.depth >= this.o.coalesceRecords ? Math.min(this.o.coalesceMs, this.o.flushDelayMs) : this.o.flushDelayMs;
      this.arm(Math.max(0, queue.runQueuedAt[0] + wait - this.o.now()));
    } else if (this.flood !== null && !this.closing) {
      if (this.flood.pending() > 0) this.arm(this.o.flushDelayMs);
      else if (this.flood.hasOpen()) this.arm(this.flood.windowMs);
    }
    // An ack that came in while this drain was writing the previous mark (its timer found the
    // writer busy) is written by a drain of its own, not at the next record, which may never come.
    if (cursor.dirty) this.arm(this.o.flushDelayMs);
  }

  /** True when waiting records must be written now: a full batch, a deadline reached, a flush() or close() waiting, log records pending. */
  private due(): boolean {
    const depth = this.p.queue.depth;
    if (depth === 0) return this.hasPendingMeta();
    if (depth >= this.o.batchMax || this.closing || this.hasPendingMeta()) return true;
    const waited = this.o.now() - this.p.queue.runQueuedAt[0];
    if (waited >= this.o.flushDelayMs || (depth >= this.o.coalesceRecords && waited >= this.o.coalesceMs)) return true;
    for (const w of this.waiters) if (w.target > this.processed) return true;
    return false;
  }

  hasPendingMeta(): boolean {
    const lost = this.p.queue.lost;
    return lost.queueFull > 0 || lost.writeFailed > 0 || this.pendingEvicted !== null || this.p.checkpoints.pending();
  }

  private wake(): void {
    const failed = this.failedAttempt;
    this.failedAttempt = false;
    if (this.waiters.length === 0) return;
    const keep: Waiter[] = [];
    for (const w of this.waiters) (failed || this.processed >= w.target ? w.resolve() : keep.push(w));
    this.waiters = keep;
  }

  /**
   * Encodes, frames and chains the gap records, `events` and perhaps a checkpoint straight into
   * the batch buffer (frame-batch.ts), one SHA-256 per payload as the chain needs (FORMAT.md
   * "Record": prev is the hash of the previous payload). Seqs are only consumed if the write succeeds.
   */
  private encode(events: RecordBody[], now: number, gaps: GapBody[]): Encoded {
    const batch = this.batch;
    batch.reset();
    const e: Encoded = { data: Buffer.alloc(0), records: 0, seq: this.nextSeq, prev: this.head, since: this.p.checkpoints.since, checkpoint: null };
    const append = (b: RecordBody): Buffer => {
      const payload = batch.append(b, e.seq, e.prev);
      e.prev = hashPayload(payload);
      e.seq++;
      e.records++;
      return payload;
    };
    const encodeOne = (b: RecordBody): void => {
      try {
        append(b);
      } catch (err) {
        // An event cbor-x cannot encode (a cycle, a BigInt mix) or one over the frame limit: keep a note instead.
        this.p.counts.internal++;
        append({ kind: b.kind, at: typeof b.at === 'number' ? b.at : now, source: String(b.source), message: `unencodable event: ${(err as Error).message}` });
      }
      e.since++;
    };
    for (const g of gaps) encodeOne(gapBody(now, g));
    for (let i = 0; i < events.length; i++) encodeOne(events[i]);
    // At the end of a batch written checkpointIntervalMs or more after the last checkpoint (Checkpoints.due).
    if (this.p.checkpoints.due(now, e.since)) {
      const checkpoint = this.p.checkpoints.sign(e.seq - 1, e.prev, now);
      const seq = e.seq;
      // A copy: the batch buffer is reused by the next batch, checkpoint.latest is written from it.
      e.checkpoint = { payload: Buffer.from(append({ kind: 'checkpoint', at: now, source: 'audit', checkpoint })), seq };
      e.since = 0;
    }
    if (e.records > 0) e.data = batch.bytes();
    return e;
  }

  /** Writes one batch; false when the write failed (its records go back to the head of the queue). */
  private async writeBatch(): Promise<boolean> {
    const { queue, segments, alarms, cursor, checkpoints, counts } = this.p;
    const now = this.o.now();
    const events = queue.take();
    const lostQueue = queue.lost.queueFull, lostWrite = queue.lost.writeFailed, evicted = this.pendingEvicted;
    const lostDenials = queue.lost.queueFullDenials;
    const gaps: GapBody[] = [];
    if (lostQueue > 0) gaps.push({ reason: 'queue-full', count: lostQueue, ...(lostDenials > 0 ? { denials: lostDenials } : {}) });
    if (lostWrite > 0) gaps.push({ reason: 'write-failed', count: lostWrite });
    if (evicted !== null) gaps.push(evicted);
    const e = this.encode(events, now, gaps);
    if (e.records === 0) return true;
    try {
      await segments.append(e.data, this.nextSeq);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      queue.requeue(events, this.o.now() - this.o.flushDelayMs);
      this.failedAttempt = true;
      alarms.raise('audit-write-failed', `audit write failed (${code ?? 'error'}: ${(err as Error).message}); ${queue.depth} record(s) waiting to be retried`);
      // A full disk: make room with what the fleet already has, and retry at once if that freed any.
      if (code === 'ENOSPC' && await segments.evict(cursor.uploaded, true)) { this.failedAttempt = false; return this.writeBatch(); }
      return false;
    }
    // Committed.
    this.nextSeq = e.seq;
    this.head = e.prev;
    counts.records += e.records;
    this.processed += events.length;
    if (lostQueue > 0) { queue.lost.queueFull -= lostQueue; queue.lost.queueFullDenials -= lostDenials; }
    if (lostWrite > 0) queue.lost.writeFailed -= lostWrite;
    if (evicted !== null && this.pendingEvicted === evicted) this.pendingEvicted = null;
    alarms.clear('audit-write-failed');
    if (queue.lost.queueFull === 0) alarms.clear('audit-queue-full');
    checkpoints.committed(e.since, e.checkpoint ? { seq: e.checkpoint.seq, at: now } : null);
    if (e.checkpoint !== null) await this.side('checkpoint.latest', e.checkpoint.payload);
    await segments.evict(cursor.uploaded);
    return true;
  }

  private async side(name: string, data: Buffer): Promise<void> {
    // Side files are hints (the chain itself holds every checkpoint); a failure here is not an alarm.
    if (!await writeSideFile(this.o.fs, this.o.dir, name, data)) this.p.counts.internal++;
  }

  /** Resolves once no drain is running (a drain and what it arms after it: afterDrain is part of `writing`). */
  async idle(): Promise<void> {
    while (this.writing !== null) await this.writing;
  }

  /** Resolves once every record queued before the call is on disk, or a write of it failed. Never rejects. */
  flush(closed: boolean): Promise<void> {
    // Denials counted into open flood windows are committed too, as summaries.
    if (!closed) this.flood?.flushPartials();
    const target = this.accepted;
    if (this.processed >= target && !this.hasPendingMeta()) return Promise.resolve();
    const p = new Promise<void>((resolve) => this.waiters.push({ target, resolve }));
    void this.pump();
    return p;
  }

  /** Writes what is left with a final checkpoint; what still cannot be written is counted as lost. */
  async close(): Promise<void> {
    if (this.closing) { while (!this.finished && this.writing) await this.writing; return; }
    this.closing = true;
    this.flood?.closeAll();
    this.p.checkpoints.force = true;
    this.disarm();
    await this.flush(true);
    while (this.writing) await this.writing;
    // One more attempt for what a failed write left (gap records, the final checkpoint).
    if (this.p.queue.depth > 0 || this.hasPendingMeta() || this.p.cursor.dirty) await this.pump();
    this.finished = true;
    // What still could not be written is lost now: counted (status().dropped.writeFailed).
    const left = this.p.queue.dropAll();
    if (left > 0) {
      this.p.counts.writeFailed += left;
      this.processed += left;
      this.wake();
    }
    this.disarm();
    await this.p.segments.close();
  }
}

function gapBody(at: number, gap: GapBody): RecordBody {
  const range = gap.fromSeq !== undefined ? ` (seq ${gap.fromSeq}..${gap.toSeq})` : '';
  const denials = gap.denials !== undefined ? `, standing for ${gap.denials} denial(s)` : '';
  return { kind: 'gap', at, source: 'audit', message: `${gap.count} record(s) lost${denials}: ${gap.reason}${range}`, gap };
}
