/**
 * The device's tamper-evident audit log (design.md "The audit log"). Implements AuditSink:
 * record() only appends to a bounded in-memory queue and returns; a timer (flushDelayMs after the
 * oldest waiting record was queued, or at once when batchMax records wait) hands the queue to the
 * writer, which encodes, chains and frames the batch straight into one reused buffer
 * (frame-batch.ts) and does one positional write and one fsync for it (group commit). Records
 * queued while a write is under way wait for their own deadline (flushDelayMs, or coalesceMs once
 * coalesceRecords wait) or a full batch rather than starting another write + fsync as soon as it
 * ends: every write + fsync costs the event loop libuv round trips and promise work whatever its
 * size (≈ 100 fsyncs/s at 20k records/s rather than one per fsync latency, thousands). Seqs and
 * hashes are assigned by the writer, so records lost before they reach the disk (queue full, a
 * failed write) leave no hole in the chain: the next batch begins with a `gap` record counting
 * them.
 *
 * Files in `dir`: segments `audit-<firstSeq>.seg` (segment.ts, rolled at segmentBytes, at batch
 * boundaries), `checkpoint.latest` (the payload of the newest checkpoint record, written after
 * that record is on disk; the verifier uses it to detect segments cut short) and `uploaded`
 * (the upload cursor's high-water mark, decimal).
 *
 * Checkpoints live in the chain itself as records of kind `checkpoint` (record.ts), written
 * every checkpointEvery records or checkpointIntervalMs, and at close().
 */
import { join } from 'node:path';
import { ZonegateError } from '../../policy/errors';
import type { KeyObject } from 'node:crypto';
import type { AuditEvent, AuditSink } from '../../drivers/types';
import { FrameBatch } from './frame-batch';
import { GENESIS_PREV, hashPayload, toHex, type GapBody, type RecordBody } from '../../protocol/audit/record';
import { signCheckpoint } from '../../protocol/audit/checkpoint';
import { nodeAuditFs, type AuditFs } from './fs';
import { segmentName } from '../../protocol/audit/segment';
import { scanSegment, type ScannedRecord } from '../../protocol/audit/scan';
import { recoverAuditDir, type AuditDamage } from './recover';
import { DenyFloodSummariser, type FloodOptions } from './flood';

export interface AuditTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface AuditLogOptions {
  /** The audit folder, normally `<stateDir>/audit`; created (0700) if missing. */
  dir: string;
  /** Device id, signed into every checkpoint. */
  device: string;
  /** The device key (runtime/device-key.ts) that signs checkpoints. */
  key: { privateKey: KeyObject; publicRaw: Uint8Array };
  now?: () => number;
  timers?: AuditTimers;
  fs?: AuditFs;
  /** Longest a record waits before its batch's write + fsync begins (default 50 ms). */
  flushDelayMs?: number;
  /** Most records per write + fsync; a full batch is written at once (default 512). */
  batchMax?: number;
  /**
   * Under load, a batch goes once coalesceRecords wait and the oldest has waited coalesceMs
   * (defaults 64 and 10 ms), not flushDelayMs: events held in the queue for tens of ms survive
   * young-generation GCs, and V8 then grows the young generation (+25 MiB RSS measured on the
   * Modbus proxy at 20k records/s with 50 ms; none with 10 ms).
   */
  coalesceMs?: number;
  coalesceRecords?: number;
  /** Records waiting at most; beyond, record() drops and counts (default 65,536). */
  queueCapacity?: number;
  /** Segment size at which the next batch starts a new segment (default 4 MiB). */
  segmentBytes?: number;
  /** Disk use bound over all segments (default 256 MiB; at least 2 × segmentBytes). */
  maxBytes?: number;
  /** A checkpoint after this many records (default 10,000) ... */
  checkpointEvery?: number;
  /** ... or after this long with records since the last one (default 60 s). */
  checkpointIntervalMs?: number;
  /** After a failed write, the next attempt comes this much later (default 1,000 ms). */
  retryMs?: number;
  /** Deny-flood summarising; false keeps every denial verbatim. */
  flood?: FloodOptions | false;
  /** Called whenever an alarm is raised (again: count and message updated) or cleared (active false). Errors are swallowed. */
  onAlarm?: (alarm: AuditAlarm) => void;
}

export type AuditAlarmCode = 'audit-write-failed' | 'audit-queue-full' | 'audit-evicted-unuploaded' | 'audit-recovered' | 'audit-damaged';

export interface AuditAlarm {
  code: AuditAlarmCode;
  message: string;
  active: boolean;
  /** How many times it was raised since open. */
  count: number;
  firstAt: number;
  lastAt: number;
}

export interface AuditStatus {
  /** Records written since open (events, summaries, gaps, checkpoints). */
  records: number;
  /** Bytes in all segments on disk. */
  bytes: number;
  segments: number;
  queueDepth: number;
  queueCapacity: number;
  /** The seq the next record will get, and the hash of the last one (hex). */
  nextSeq: number;
  head: string;
  dropped: {
    /** record() found the queue full. */
    queueFull: number;
    /** Still unwritten when the log closed after failed writes (disk full, I/O error); failed batches are retried until then. */
    writeFailed: number;
    /** record() after close(). */
    closed: number;
    /** Records deleted from disk before upload to keep under maxBytes. */
    evictedUnuploaded: number;
  };
  /** Denials counted into summaries instead of being written verbatim. */
  summarised: number;
  writes: number;
  fsyncs: number;
  lastFsyncAt: number | null;
  lastCheckpointSeq: number | null;
  uploadedThrough: number;
  /** Bytes truncated from a torn tail when the log was opened. */
  recoveredBytes: number;
  alarms: AuditAlarm[];
}

/** One record as the upload cursor hands it out: its seq and the exact payload bytes. */
export interface CursorRecord {
  seq: number;
  payload: Buffer;
}

interface Segment {
  name: string;
  path: string;
  firstSeq: number;
  size: number;
}

type Waiter = { target: number; resolve: () => void };

/** The audit log. Open with AuditLog.open(); it never throws from record(). */
export class AuditLog implements AuditSink {
  private readonly dir: string;
  private readonly device: string;
  private readonly key: { privateKey: KeyObject; publicRaw: Uint8Array };
  private readonly now: () => number;
  private readonly timers: AuditTimers;
  private readonly fs: AuditFs;
  private readonly flushDelayMs: number;
  private readonly batchMax: number;
  private readonly coalesceMs: number;
  private readonly coalesceRecords: number;
  private readonly queueCapacity: number;
  private readonly segmentBytes: number;
  private readonly maxBytes: number;
  private readonly checkpointEvery: number;
  private readonly checkpointIntervalMs: number;
  private readonly retryMs: number;
  private readonly onAlarm?: (alarm: AuditAlarm) => void;
  private readonly flood: DenyFloodSummariser | null;
  /** The writer's frame buffer, reused batch after batch (one writer at a time). */
  private readonly batch = new FrameBatch();

  /** Waiting records are queue[queueHead..]; taking a batch moves the head instead of copying the rest. */
  private queue: RecordBody[] = [];
  private queueHead = 0;
  /**
   * When the first record of each batch-sized run of the queue was queued, oldest first: [0] is the
   * oldest waiting record's, so its batch is due flushDelayMs after it (takeBatch takes batchMax).
   */
  private runQueuedAt: number[] = [];
  private timer: unknown = null;
  private timerDue = Infinity;
  private writing: Promise<void> | null = null;
  private waiters: Waiter[] = [];
  /** Events accepted into the queue, and events that left it (written or lost). */
  private accepted = 0;
  private processed = 0;
  private closed = false;
  private closing = false;
  /** close() finished: the segment is closed and nothing more is written. */
  private finished = false;

  private segments: Segment[] = [];
  private fd: number | null = null;
  /** The current segment's size is dirty when a failed write may have left bytes past it. */
  private dirtyTail = false;
  private nextSeq = 0;
  private head: Buffer = GENESIS_PREV;
  private sinceCheckpoint = 0;
  private lastCheckpointAt: number;
  private forceCheckpoint = false;
  private uploaded = -1;
  private uploadedDirty = false;

  /** Lost before they got a seq, for the next gap record; queueFullDenials: the denials they stood for (a summary counts its denials). */
  private lost = { queueFull: 0, writeFailed: 0, queueFullDenials: 0 };
  /** A write failed since the last wake(): flush() waiters are told (their records stay queued for the retry). */
  private failedAttempt = false;
  private pendingEvicted: GapBody | null = null;
  private counts = { records: 0, writes: 0, fsyncs: 0, queueFull: 0, writeFailed: 0, closed: 0, evicted: 0, internal: 0 };
  private lastFsyncAt: number | null = null;
  private lastCheckpointSeq: number | null = null;
  private recoveredBytes = 0;
  private lastAtOpen: number | null = null;
  /** Damaged committed records recovery kept (recover.ts); cleared when their segment is evicted. */
  private damage: AuditDamage | null = null;
  private readonly alarms = new Map<AuditAlarmCode, AuditAlarm>();
  /** The upload cursor's last scanned segment (a full segment is read once, not per batch). */
  private cursorCache: { path: string; size: number; records: ScannedRecord[] } | null = null;

  private constructor(o: AuditLogOptions) {
    this.dir = o.dir;
    this.device = o.device;
    this.key = o.key;
    this.now = o.now ?? Date.now;
    this.timers = o.timers ?? { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };
    this.fs = o.fs ?? nodeAuditFs();
    this.flushDelayMs = o.flushDelayMs ?? 50;
    this.batchMax = o.batchMax ?? 512;
    this.coalesceMs = o.coalesceMs ?? 10;
    this.coalesceRecords = o.coalesceRecords ?? 64;
    this.queueCapacity = o.queueCapacity ?? 65_536;
    this.segmentBytes = o.segmentBytes ?? 4 * 1024 * 1024;
    this.maxBytes = o.maxBytes ?? 256 * 1024 * 1024;
    this.checkpointEvery = o.checkpointEvery ?? 10_000;
    this.checkpointIntervalMs = o.checkpointIntervalMs ?? 60_000;
    this.retryMs = o.retryMs ?? 1000;
    this.onAlarm = o.onAlarm;
    this.lastCheckpointAt = this.now();
    if (!(this.batchMax >= 1) || !(this.queueCapacity >= 1) || !(this.flushDelayMs >= 0) || !(this.coalesceRecords >= 1) || !(this.coalesceMs >= 0)) throw new TypeError('audit: batchMax, queueCapacity, coalesceRecords must be ≥ 1 and flushDelayMs, coalesceMs ≥ 0');
    if (!(this.segmentBytes >= 1024)) throw new TypeError('audit: segmentBytes must be at least 1024');
    if (!(this.maxBytes >= 2 * this.segmentBytes)) throw new TypeError('audit: maxBytes must be at least 2 × segmentBytes');
    if (typeof o.device !== 'string' || o.device === '') throw new TypeError('audit: device id is required');
    this.flood = o.flood === false ? null : new DenyFloodSummariser({ ...(o.flood ?? {}), emit: (b) => this.enqueue(b) });
  }

  /**
   * Opens (creating if needed) the log in options.dir and recovers it: the last segment is
   * scanned frame by frame and cut at the first frame that is torn or does not chain (a write
   * cut by power loss), so every committed record is kept and the chain goes on from the last
   * good one. Rejects with ERR_AUDIT (the file system's error as cause) when the folder cannot be
   * read or written.
   */
  static async open(options: AuditLogOptions): Promise<AuditLog> {
    const log = new AuditLog(options);
    try {
      await log.recover();
    } catch (e) {
      if (log.fd !== null) await log.fs.close(log.fd).catch(() => undefined);
      const err = e as NodeJS.ErrnoException;
      throw new ZonegateError('ERR_AUDIT', `cannot open the audit log in ${options.dir}: ${err.code ? `${err.code}: ` : ''}${err.message}`, { cause: e });
    }
    return log;
  }

  /** The time of the last record the log held when it was opened (null for a new log): a clock floor. */
  get lastRecordAtOpen(): number | null { return this.lastAtOpen; }

  private async recover(): Promise<void> {
    const r = await recoverAuditDir(this.fs, this.dir);
    this.lastAtOpen = r.lastAt;
    this.segments = r.segments;
    this.uploaded = r.uploaded;
    this.nextSeq = r.nextSeq;
    this.head = r.head;
    this.fd = r.fd;
    this.recoveredBytes = r.recoveredBytes;
    this.damage = r.damage;
    this.sinceCheckpoint = r.sinceCheckpoint;
    // The first batch after a restart ends with a checkpoint: the records after the last checkpoint
    // never span more than checkpointIntervalMs past it (verify.ts holds a pinned log to that).
    if (this.segments.length > 0) this.lastCheckpointAt = -Infinity;
    if (this.recoveredBytes > 0) {
      this.raise('audit-recovered', `recovery cut ${this.recoveredBytes} torn byte(s) from the end of the log`);
    }
    const d = r.damage;
    if (d !== null) {
      this.raise('audit-damaged', `committed audit records are damaged: ${d.segment} from offset ${d.offset} (seq ${d.fromSeq}..${d.toSeq ?? '?'}); kept as evidence, the log goes on at seq ${r.nextSeq}`);
    }
    if (this.segments.length > 0) {
      // A clean shutdown ends with a checkpoint; anything else was a crash or power loss.
      const detail: Record<string, unknown> = { clean: r.clean && r.lastKind === 'checkpoint', truncatedBytes: this.recoveredBytes };
      if (d !== null) detail.damaged = { ...d };
      this.enqueue({ kind: 'log', at: this.now(), source: 'audit', message: 'opened', detail });
    } else {
      this.enqueue({ kind: 'log', at: this.now(), source: 'audit', message: 'created', detail: { device: this.device, key: toHex(this.key.publicRaw) } });
    }
  }

  /** AuditSink: queues the event; never throws, never waits. The event must not be mutated afterwards. */
  record(event: AuditEvent): void {
    if (this.closed) { this.counts.closed++; return; }
    if (event === null || typeof event !== 'object') { this.counts.internal++; return; }
    try {
      if (this.flood !== null && event.kind === 'decision' && event.decision !== undefined && event.decision.decision === 'deny') {
        if (!this.flood.admit(event)) {
          // Counted, not queued: its count goes out in a summary with the next group commit.
          if (this.timer === null && this.writing === null) this.arm(this.flushDelayMs);
          return;
        }
      }
      this.enqueue(event as RecordBody);
    } catch {
      this.counts.internal++;
    }
  }

  private enqueue(body: RecordBody): void {
    if (this.queue.length - this.queueHead >= this.queueCapacity) {
      this.counts.queueFull++;
      this.lost.queueFull++;
      this.lost.queueFullDenials += deniesIn(body);
      if (this.lost.queueFull === 1) this.raise('audit-queue-full', `audit queue full (${this.queueCapacity} records): records are being dropped`);
      return;
    }
    this.queue.push(body);
    this.accepted++;
    const depth = this.queue.length - this.queueHead;
    if ((depth - 1) % this.batchMax === 0) this.runQueuedAt.push(this.now());
    if (depth === this.batchMax) this.arm(0);
    else if (depth === 1) this.arm(this.flushDelayMs);
    else if (depth === this.coalesceRecords) this.arm(Math.max(0, this.runQueuedAt[0] + this.coalesceMs - this.now()));
  }

  private arm(ms: number): void {
    if (this.finished) return;
    const due = this.now() + ms;
    if (this.timer !== null) {
      if (due >= this.timerDue) return;
      this.timers.clearTimeout(this.timer);
    }
    this.timerDue = due;
    this.timer = this.timers.setTimeout(() => {
      this.timer = null;
      this.timerDue = Infinity;
      void this.pump();
    }, ms);
  }

  /**
   * Runs the writer until nothing is left to write, one writer at a time. After a failed write
   * it stops and tries again retryMs later, so a full disk costs one attempt per retryMs.
   */
  private pump(): Promise<void> {
    if (this.writing !== null) return this.writing;
    if (this.finished) return Promise.resolve();
    // afterDrain runs in a later microtask, always after `writing` was set here.
    const p = this.drain().then((failed) => this.afterDrain(failed), () => { this.counts.internal++; this.afterDrain(true); });
    this.writing = p;
    return p;
  }

  /** Writes batches until none is left; true when it stopped on a failed write. */
  private async drain(): Promise<boolean> {
    for (;;) {
      if (this.flood !== null) {
        this.flood.sweep(this.now());
        // Flood counts are as durable as records: each group commit carries them.
        this.flood.flushPartials();
      }
      if (!(this.queue.length > this.queueHead || this.hasPendingMeta())) break;
      const ok = await this.writeBatch();
      this.wake();
      if (!ok) return true;
      // Group commit: what came in during that write waits for its own deadline (or a full
      // batch) instead of costing a write + fsync of its own at once.
      if (!this.due()) break;
    }
    if (this.uploadedDirty) {
      this.uploadedDirty = false;
      await this.writeSideFile('uploaded', Buffer.from(`${this.uploaded}\n`));
    }
    return false;
  }

  private afterDrain(failed: boolean): void {
    this.writing = null;
    this.wake();
    if (failed) this.arm(this.retryMs);
    else if (this.due()) this.arm(0);
    else if (this.queue.length > this.queueHead) {
      const wait = this.queue.length - this.queueHead >= this.coalesceRecords ? Math.min(this.coalesceMs, this.flushDelayMs) : this.flushDelayMs;
      this.arm(Math.max(0, this.runQueuedAt[0] + wait - this.now()));
    }
    else if (this.flood !== null && !this.closed) {
      if (this.flood.pending() > 0) this.arm(this.flushDelayMs);
      else if (this.flood.hasOpen()) this.arm(this.flood.windowMs);
    }
    // An ack that came in while this drain was writing the previous mark (its timer found the
    // writer busy) is written by a drain of its own, not at the next record, which may never come.
    if (this.uploadedDirty) this.arm(this.flushDelayMs);
  }

  /** True when waiting records must be written now: a full batch, a deadline reached, a flush() or close() waiting, log records pending. */
  private due(): boolean {
    const depth = this.queue.length - this.queueHead;
    if (depth === 0) return this.hasPendingMeta();
    if (depth >= this.batchMax || this.closing || this.hasPendingMeta()) return true;
    const waited = this.now() - this.runQueuedAt[0];
    if (waited >= this.flushDelayMs || (depth >= this.coalesceRecords && waited >= this.coalesceMs)) return true;
    for (const w of this.waiters) if (w.target > this.processed) return true;
    return false;
  }

  private hasPendingMeta(): boolean {
    return this.lost.queueFull > 0 || this.lost.writeFailed > 0 || this.pendingEvicted !== null || (this.forceCheckpoint && this.sinceCheckpoint > 0);
  }

  private wake(): void {
    const failed = this.failedAttempt;
    this.failedAttempt = false;
    if (this.waiters.length === 0) return;
    const keep: Waiter[] = [];
    for (const w of this.waiters) (failed || this.processed >= w.target ? w.resolve() : keep.push(w));
    this.waiters = keep;
  }

  private takeBatch(): RecordBody[] {
    if (this.queueHead === 0 && this.queue.length <= this.batchMax) {
      const b = this.queue;
      this.queue = [];
      this.runQueuedAt.length = 0;
      return b;
    }
    const end = Math.min(this.queue.length, this.queueHead + this.batchMax);
    const b = this.queue.slice(this.queueHead, end);
    this.queueHead = end;
    if (this.queueHead === this.queue.length) {
      this.queue = [];
      this.queueHead = 0;
      this.runQueuedAt.length = 0;
      return b;
    }
    this.runQueuedAt.shift();
    if (this.queueHead >= 65_536) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
    return b;
  }

  /**
   * Writes one batch; false when the write failed. A failed batch is not lost: its records go back
   * to the head of the queue and are retried (at once when a full disk could be relieved by
   * deleting segments the fleet acknowledged, else retryMs later).
   */
  private async writeBatch(): Promise<boolean> {
    const now = this.now();
    const events = this.takeBatch();
    const lostQueue = this.lost.queueFull, lostWrite = this.lost.writeFailed, evicted = this.pendingEvicted;
    const lostDenials = this.lost.queueFullDenials;

    // Encode, frame and chain straight into the batch buffer (frame-batch.ts), one SHA-256 per
    // payload as the chain needs (FORMAT.md "Record": prev is the hash of the previous payload).
    // Seqs are only consumed if the write succeeds.
    const batch = this.batch;
    batch.reset();
    let seq = this.nextSeq;
    let prev = this.head;
    let records = 0;
    let since = this.sinceCheckpoint;
    let lastCheckpoint: { payload: Buffer; seq: number } | null = null;
    const encodeOne = (b: RecordBody): void => {
      let payload: Buffer;
      try {
        payload = batch.append(b, seq, prev);
      } catch (e) {
        // An event cbor-x cannot encode (a cycle, a BigInt mix) or one over the frame limit: keep a note instead.
        this.counts.internal++;
        payload = batch.append({ kind: b.kind, at: typeof b.at === 'number' ? b.at : now, source: String(b.source), message: `unencodable event: ${(e as Error).message}` }, seq, prev);
      }
      prev = hashPayload(payload);
      seq++;
      records++;
      since++;
    };
    const encodeCheckpoint = (): void => {
      const checkpoint = signCheckpoint({ device: this.device, seq: seq - 1, head: prev, at: now }, this.key);
      // A copy: the batch buffer is reused by the next batch, checkpoint.latest is written from it.
      const payload = Buffer.from(batch.append({ kind: 'checkpoint', at: now, source: 'audit', checkpoint }, seq, prev));
      lastCheckpoint = { payload, seq };
      prev = hashPayload(payload);
      seq++;
      records++;
      since = 0;
    };
    if (lostQueue > 0) encodeOne(gapBody(now, { reason: 'queue-full', count: lostQueue, ...(lostDenials > 0 ? { denials: lostDenials } : {}) }));
    if (lostWrite > 0) encodeOne(gapBody(now, { reason: 'write-failed', count: lostWrite }));
    if (evicted !== null) encodeOne(gapBody(now, evicted));
    for (let i = 0; i < events.length; i++) encodeOne(events[i]);
    // At the end of a batch written checkpointIntervalMs or more after the last checkpoint: so no
    // record after the last checkpoint is dated more than that after it (verify.ts checks it).
    if (since > 0 && (this.forceCheckpoint || since >= this.checkpointEvery || now - this.lastCheckpointAt >= this.checkpointIntervalMs)) encodeCheckpoint();
    if (records === 0) return true;
    // One buffer, one write (frame.ts: [length][crc32][payload] per record).
    const data = batch.bytes();

    try {
      await this.appendData(data);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      this.requeue(events);
      this.failedAttempt = true;
      this.raise('audit-write-failed', `audit write failed (${err.code ?? 'error'}: ${err.message}); ${this.queue.length - this.queueHead} record(s) waiting to be retried`);
      // A full disk: make room with what the fleet already has, and retry at once if that freed any.
      if (err.code === 'ENOSPC' && await this.evict(true)) { this.failedAttempt = false; return this.writeBatch(); }
      return false;
    }
    // Committed.
    this.nextSeq = seq;
    this.head = prev;
    this.counts.records += records;
    this.processed += events.length;
    if (lostQueue > 0) { this.lost.queueFull -= lostQueue; this.lost.queueFullDenials -= lostDenials; }
    if (lostWrite > 0) this.lost.writeFailed -= lostWrite;
    if (evicted !== null && this.pendingEvicted === evicted) this.pendingEvicted = null;
    this.clear('audit-write-failed');
    if (this.lost.queueFull === 0) this.clear('audit-queue-full');
    this.sinceCheckpoint = since;
    const cp = lastCheckpoint as { payload: Buffer; seq: number } | null;
    if (cp !== null) {
      this.lastCheckpointAt = now;
      this.lastCheckpointSeq = cp.seq;
      this.forceCheckpoint = false;
      await this.writeSideFile('checkpoint.latest', cp.payload);
    }
    await this.evict();
    return true;
  }

  /** Appends one batch's bytes to the current segment: one positional write, one fsync. */
  private async appendData(data: Buffer): Promise<void> {
    await this.ensureSegment(data.length);
    const seg = this.segments[this.segments.length - 1];
    if (this.dirtyTail) {
      // A failed write may have left bytes past the committed size: cut them first.
      await this.fs.ftruncate(this.fd as number, seg.size);
      this.dirtyTail = false;
    }
    this.dirtyTail = true;
    await this.fs.write(this.fd as number, data, seg.size);
    this.counts.writes++;
    await this.fs.fsync(this.fd as number);
    this.dirtyTail = false;
    this.counts.fsyncs++;
    this.lastFsyncAt = this.now();
    seg.size += data.length;
  }

  /** Puts a batch that failed back at the head of the queue, in order, due at once. */
  private requeue(events: RecordBody[]): void {
    if (events.length === 0) return;
    this.queue = events.concat(this.queue.slice(this.queueHead));
    this.queueHead = 0;
    const due = this.now() - this.flushDelayMs;
    this.runQueuedAt = new Array<number>(Math.ceil(this.queue.length / this.batchMax)).fill(due);
  }

  /** Makes sure a segment is open for the next write, rolling (at a batch boundary) when the current one is full. */
  private async ensureSegment(incoming: number): Promise<void> {
    const cur = this.segments[this.segments.length - 1];
    if (cur !== undefined && this.fd !== null && (cur.size === 0 || cur.size + incoming <= this.segmentBytes)) return;
    const name = segmentName(this.nextSeq);
    const path = join(this.dir, name);
    const fd = await this.fs.open(path, 'wx').catch(async (e: NodeJS.ErrnoException) => {
      // Left over from a failed roll (created, then the write failed): it holds nothing committed.
      if (e.code !== 'EEXIST') throw e;
      const again = await this.fs.open(path, 'r+');
      await this.fs.ftruncate(again, 0);
      return again;
    });
    await this.fs.fsyncDir(this.dir);
    if (this.fd !== null) await this.fs.close(this.fd).catch(() => undefined);
    this.fd = fd;
    this.segments.push({ name, path, firstSeq: this.nextSeq, size: 0 });
    this.dirtyTail = false;
  }

  /**
   * Keeps disk use under maxBytes: oldest segments go first; unuploaded records lost become a gap
   * record. With uploadedOnly (the disk is full), deletes every fully uploaded segment and no other.
   * True when it deleted any segment.
   */
  private async evict(uploadedOnly = false): Promise<boolean> {
    let total = 0;
    for (const s of this.segments) total += s.size;
    let removed = false;
    while ((uploadedOnly || total > this.maxBytes) && this.segments.length > 1) {
      const oldest = this.segments[0];
      const lastSeq = this.segments[1].firstSeq - 1;
      if (uploadedOnly && lastSeq > this.uploaded) break;
      try {
        await this.fs.unlink(oldest.path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') break;
      }
      this.segments.shift();
      total -= oldest.size;
      removed = true;
      if (this.damage !== null && this.damage.segment === oldest.name) {
        // The damaged records are gone from the device (the verify report and the gap say so).
        this.damage = null;
        this.clear('audit-damaged');
      }
      if (lastSeq > this.uploaded) {
        const fromSeq = Math.max(oldest.firstSeq, this.uploaded + 1);
        const count = lastSeq - fromSeq + 1;
        this.counts.evicted += count;
        const p = this.pendingEvicted;
        this.pendingEvicted = p === null
          ? { reason: 'evicted', count, fromSeq, toSeq: lastSeq }
          : { reason: 'evicted', count: (p.count) + count, fromSeq: p.fromSeq, toSeq: lastSeq };
        this.raise('audit-evicted-unuploaded', `disk bound ${this.maxBytes} bytes reached: records ${fromSeq}..${lastSeq} deleted before upload`);
      }
    }
    if (removed) await this.fs.fsyncDir(this.dir).catch(() => undefined);
    return removed;
  }

  private async writeSideFile(name: string, data: Buffer): Promise<void> {
    const path = join(this.dir, name);
    const tmp = `${path}.tmp`;
    try {
      const fd = await this.fs.open(tmp, 'wx').catch(async (e: NodeJS.ErrnoException) => {
        if (e.code !== 'EEXIST') throw e;
        await this.fs.unlink(tmp);
        return this.fs.open(tmp, 'wx');
      });
      try {
        await this.fs.write(fd, data, 0);
        await this.fs.fsync(fd);
      } finally {
        await this.fs.close(fd);
      }
      await this.fs.rename(tmp, path);
      await this.fs.fsyncDir(this.dir);
    } catch {
      // Side files are hints (the chain itself holds every checkpoint); a failure here is not an alarm.
      this.counts.internal++;
    }
  }

  /** Raises (or raises again: count and message updated) an alarm; every change reaches onAlarm. */
  private raise(code: AuditAlarmCode, message: string): void {
    const at = this.now();
    const a = this.alarms.get(code);
    const alarm: AuditAlarm = a
      ? { code, message, active: true, count: a.count + 1, firstAt: a.firstAt, lastAt: at }
      : { code, message, active: true, count: 1, firstAt: at, lastAt: at };
    this.alarms.set(code, alarm);
    this.notify(alarm);
  }

  /** Clears an active alarm (its cause is gone); onAlarm hears it with active false. */
  private clear(code: AuditAlarmCode): void {
    const a = this.alarms.get(code);
    if (!a?.active) return;
    const cleared = { ...a, active: false, lastAt: this.now() };
    this.alarms.set(code, cleared);
    this.notify(cleared);
  }

  private notify(alarm: AuditAlarm): void {
    if (!this.onAlarm) return;
    try { this.onAlarm({ ...alarm }); } catch { /* an alarm handler must not break the log */ }
  }

  /**
   * Resolves once every record queued before the call is on disk (written and fsynced), or a write
   * of it failed (it then stays queued and is retried every retryMs; status().alarms says so).
   * Never rejects.
   */
  flush(): Promise<void> {
    // Denials counted into open flood windows are committed too, as summaries.
    if (!this.closed) this.flood?.flushPartials();
    const target = this.accepted;
    if (this.processed >= target && !this.hasPendingMeta()) return Promise.resolve();
    const p = new Promise<void>((resolve) => this.waiters.push({ target, resolve }));
    void this.pump();
    return p;
  }

  /**
   * Closes the log: emits pending flood summaries, writes a final checkpoint, flushes and closes
   * the segment. Records after close() are counted as dropped.
   */
  async close(): Promise<void> {
    if (this.closing) { while (!this.finished && this.writing) await this.writing; return; }
    this.closing = true;
    this.closed = true;
    this.flood?.closeAll();
    this.forceCheckpoint = true;
    if (this.timer !== null) { this.timers.clearTimeout(this.timer); this.timer = null; this.timerDue = Infinity; }
    await this.flush();
    while (this.writing) await this.writing;
    // One more attempt for what a failed write left (gap records, the final checkpoint).
    if (this.queue.length > this.queueHead || this.hasPendingMeta() || this.uploadedDirty) await this.pump();
    this.finished = true;
    // What still could not be written is lost now: counted (status().dropped.writeFailed).
    const left = this.queue.length - this.queueHead;
    if (left > 0) {
      this.counts.writeFailed += left;
      this.processed += left;
      this.queue = [];
      this.queueHead = 0;
      this.runQueuedAt.length = 0;
      this.wake();
    }
    if (this.timer !== null) { this.timers.clearTimeout(this.timer); this.timer = null; this.timerDue = Infinity; }
    if (this.fd !== null) { await this.fs.close(this.fd).catch(() => undefined); this.fd = null; }
  }

  /** Marks every record up to and including `seq` as uploaded and acknowledged; eviction deletes those first. */
  uploadedThrough(seq: number): void {
    if (!Number.isSafeInteger(seq)) throw new TypeError('uploadedThrough: seq must be an integer');
    if (seq > this.uploaded) {
      this.uploaded = Math.min(seq, this.nextSeq - 1);
      this.uploadedDirty = true;
      this.arm(this.flushDelayMs);
    }
  }

  /**
   * The upload cursor: up to maxRecords committed records from `seq` on, oldest first, as their
   * exact payloads (the fleet hashes them to check the chain). If `seq` was evicted, starts at the
   * oldest record still on disk (the records say where). `next` is the seq to ask for next.
   */
  async readFrom(seq: number, maxRecords: number): Promise<{ records: CursorRecord[]; next: number }> {
    const out: CursorRecord[] = [];
    const segs = this.segments.map((s) => ({ ...s }));
    let next = seq;
    for (let i = 0; i < segs.length && out.length < maxRecords; i++) {
      const s = segs[i];
      const end = i + 1 < segs.length ? segs[i + 1].firstSeq : this.nextSeq;
      if (end <= next) continue;
      let scanned = this.cursorCache !== null && this.cursorCache.path === s.path && this.cursorCache.size === s.size ? this.cursorCache.records : null;
      if (scanned === null) {
        let bytes: Buffer;
        try { bytes = await this.fs.readFile(s.path); } catch { continue; }
        scanned = scanSegment(bytes.subarray(0, s.size), s.firstSeq).records;
        this.cursorCache = { path: s.path, size: s.size, records: scanned };
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

  /** Counters and alarms for status and telemetry. */
  status(): AuditStatus {
    let bytes = 0;
    for (const s of this.segments) bytes += s.size;
    return {
      records: this.counts.records,
      bytes,
      segments: this.segments.length,
      queueDepth: this.queue.length - this.queueHead,
      queueCapacity: this.queueCapacity,
      nextSeq: this.nextSeq,
      head: toHex(this.head),
      dropped: { queueFull: this.counts.queueFull, writeFailed: this.counts.writeFailed, closed: this.counts.closed, evictedUnuploaded: this.counts.evicted },
      summarised: this.flood?.summarised ?? 0,
      writes: this.counts.writes,
      fsyncs: this.counts.fsyncs,
      lastFsyncAt: this.lastFsyncAt,
      lastCheckpointSeq: this.lastCheckpointSeq,
      uploadedThrough: this.uploaded,
      recoveredBytes: this.recoveredBytes,
      alarms: [...this.alarms.values()].map((a) => ({ ...a })),
    };
  }
}

/** How many denials a record stands for: a summary its count, a denied decision 1. */
function deniesIn(b: RecordBody): number {
  if (b.kind === 'summary') return b.summary?.count ?? 0;
  return b.kind === 'decision' && b.decision?.decision === 'deny' ? 1 : 0;
}

function gapBody(at: number, gap: GapBody): RecordBody {
  const range = gap.fromSeq !== undefined ? ` (seq ${gap.fromSeq}..${gap.toSeq})` : '';
  const denials = gap.denials !== undefined ? `, standing for ${gap.denials} denial(s)` : '';
  return { kind: 'gap', at, source: 'audit', message: `${gap.count} record(s) lost${denials}: ${gap.reason}${range}`, gap };
}
