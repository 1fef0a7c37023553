/**
 * The device's tamper-evident audit log (design.md "The audit log"), a facade over its parts:
 * the bounded queue (log-queue.ts), the group-commit writer (log-writer.ts), the segment files
 * (log-segments.ts: roll, evict; recover.ts at open), the checkpoints (log-checkpoints.ts), the
 * upload cursor (log-cursor.ts) and the alarms (log-alarms.ts). Implements AuditSink: record()
 * only appends to the queue and returns; the writer does one write and one fsync per batch.
 *
 * Files in `dir`: segments `audit-<firstSeq>.seg` (segment.ts, rolled at segmentBytes, at batch
 * boundaries), `checkpoint.latest` (the payload of the newest checkpoint record, written after
 * that record is on disk; the verifier uses it to detect segments cut short) and `uploaded`
 * (the upload cursor's high-water mark, decimal).
 *
 * Checkpoints live in the chain itself as records of kind `checkpoint` (record.ts), written
 * every checkpointEvery records or checkpointIntervalMs, and at close().
 */
import { ZonegateError } from '../../policy/errors';
import type { AuditEvent, AuditSink } from '../../drivers/types';
import { toHex, type RecordBody } from '../../protocol/audit/record';
import { nodeAuditFs, type AuditFs } from './fs';
import { recoverAuditDir } from './recover';
import { DenyFloodSummariser } from './flood';
import { AuditAlarms } from './log-alarms';
import { Checkpoints } from './log-checkpoints';
import { UploadCursor } from './log-cursor';
import { RecordQueue } from './log-queue';
import { Segments } from './log-segments';
import { GroupCommitWriter } from './log-writer';
import type { AuditLogOptions, AuditStatus, CursorRecord, LogCounts } from './log-types';

export type { AuditTimers, AuditLogOptions, AuditAlarmCode, AuditAlarm, AuditStatus, CursorRecord } from './log-types';

/** Checks the options a log cannot run with (programming errors). */
function checkOptions(o: Required<Pick<AuditLogOptions, 'batchMax' | 'queueCapacity' | 'flushDelayMs' | 'coalesceRecords' | 'coalesceMs' | 'segmentBytes' | 'maxBytes'>>, device: unknown): void {
  if (!(o.batchMax >= 1) || !(o.queueCapacity >= 1) || !(o.flushDelayMs >= 0) || !(o.coalesceRecords >= 1) || !(o.coalesceMs >= 0)) throw new TypeError('audit: batchMax, queueCapacity, coalesceRecords must be ≥ 1 and flushDelayMs, coalesceMs ≥ 0');
  if (!(o.segmentBytes >= 1024)) throw new TypeError('audit: segmentBytes must be at least 1024');
  if (!(o.maxBytes >= 2 * o.segmentBytes)) throw new TypeError('audit: maxBytes must be at least 2 × segmentBytes');
  if (typeof device !== 'string' || device === '') throw new TypeError('audit: device id is required');
}

/** The audit log. Open with AuditLog.open(); it never throws from record(). */
export class AuditLog implements AuditSink {
  private readonly o: AuditLogOptions;
  private readonly now: () => number;
  private readonly fs: AuditFs;
  private readonly counts: LogCounts = { records: 0, writes: 0, fsyncs: 0, queueFull: 0, writeFailed: 0, closed: 0, evicted: 0, internal: 0, lastFsyncAt: null };
  private readonly alarms: AuditAlarms;
  private readonly queue: RecordQueue;
  private readonly segments: Segments;
  private readonly checkpoints: Checkpoints;
  private readonly cursor: UploadCursor;
  private readonly writer: GroupCommitWriter;
  private readonly flood: DenyFloodSummariser | null;
  private readonly queueCapacity: number;
  private closed = false;
  private recoveredBytes = 0;
  private lastAtOpen: number | null = null;

  private constructor(o: AuditLogOptions) {
    this.o = o;
    const now = this.now = o.now ?? Date.now;
    const n = {
      flushDelayMs: o.flushDelayMs ?? 50, batchMax: o.batchMax ?? 512, coalesceMs: o.coalesceMs ?? 10, coalesceRecords: o.coalesceRecords ?? 64,
      queueCapacity: o.queueCapacity ?? 65_536, segmentBytes: o.segmentBytes ?? 4 * 1024 * 1024, maxBytes: o.maxBytes ?? 256 * 1024 * 1024,
    };
    checkOptions(n, o.device);
    this.queueCapacity = n.queueCapacity;
    this.fs = o.fs ?? nodeAuditFs();
    this.alarms = new AuditAlarms(now, o.onAlarm);
    this.queue = new RecordQueue({ capacity: n.queueCapacity, batchMax: n.batchMax, now });
    this.checkpoints = new Checkpoints({ every: o.checkpointEvery ?? 10_000, intervalMs: o.checkpointIntervalMs ?? 60_000, now, device: o.device, key: o.key });
    this.cursor = new UploadCursor(this.fs);
    this.segments = new Segments({
      fs: this.fs, dir: o.dir, segmentBytes: n.segmentBytes, maxBytes: n.maxBytes, counts: this.counts, now,
      onEvicted: (e) => this.writer.evicted(e),
      onDamageGone: () => this.alarms.clear('audit-damaged'),
    });
    const timers = o.timers ?? { setTimeout: (fn: () => void, ms: number) => setTimeout(fn, ms), clearTimeout: (h: unknown) => clearTimeout(h as NodeJS.Timeout) };
    this.writer = new GroupCommitWriter(
      { fs: this.fs, dir: o.dir, now, timers, retryMs: o.retryMs ?? 1000, ...n },
      { queue: this.queue, segments: this.segments, checkpoints: this.checkpoints, cursor: this.cursor, alarms: this.alarms, counts: this.counts },
    );
    this.flood = o.flood === false ? null : new DenyFloodSummariser({ ...(o.flood ?? {}), emit: (b) => this.writer.enqueue(b) });
    this.writer.flood = this.flood;
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
      await log.segments.close();
      const err = e as NodeJS.ErrnoException;
      throw new ZonegateError('ERR_AUDIT', `cannot open the audit log in ${options.dir}: ${err.code ? `${err.code}: ` : ''}${err.message}`, { cause: e });
    }
    return log;
  }

  /** The time of the last record the log held when it was opened (null for a new log): a clock floor. */
  get lastRecordAtOpen(): number | null { return this.lastAtOpen; }

  private async recover(): Promise<void> {
    const r = await recoverAuditDir(this.fs, this.o.dir);
    this.lastAtOpen = r.lastAt;
    this.segments.list = r.segments;
    this.segments.fd = r.fd;
    this.segments.damage = r.damage;
    this.cursor.uploaded = r.uploaded;
    this.writer.nextSeq = r.nextSeq;
    this.writer.head = r.head;
    this.recoveredBytes = r.recoveredBytes;
    this.checkpoints.since = r.sinceCheckpoint;
    // The first batch after a restart ends with a checkpoint: the records after the last checkpoint
    // never span more than checkpointIntervalMs past it (verify.ts holds a pinned log to that).
    if (r.segments.length > 0) this.checkpoints.afterRestart();
    if (r.recoveredBytes > 0) this.alarms.raise('audit-recovered', `recovery cut ${r.recoveredBytes} torn byte(s) from the end of the log`);
    const d = r.damage;
    if (d !== null) {
      this.alarms.raise('audit-damaged', `committed audit records are damaged: ${d.segment} from offset ${d.offset} (seq ${d.fromSeq}..${d.toSeq ?? '?'}); kept as evidence, the log goes on at seq ${r.nextSeq}`);
    }
    if (r.segments.length > 0) {
      // A clean shutdown ends with a checkpoint; anything else was a crash or power loss.
      const detail: Record<string, unknown> = { clean: r.clean && r.lastKind === 'checkpoint', truncatedBytes: r.recoveredBytes };
      if (d !== null) detail.damaged = { ...d };
      this.writer.enqueue({ kind: 'log', at: this.now(), source: 'audit', message: 'opened', detail });
    } else {
      this.writer.enqueue({ kind: 'log', at: this.now(), source: 'audit', message: 'created', detail: { device: this.o.device, key: toHex(this.o.key.publicRaw) } });
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
          this.writer.counted();
          return;
        }
      }
      this.writer.enqueue(event as RecordBody);
    } catch {
      this.counts.internal++;
    }
  }

  /**
   * Resolves once every record queued before the call is on disk (written and fsynced), or a write
   * of it failed (it then stays queued and is retried every retryMs; status().alarms says so).
   * Never rejects.
   */
  flush(): Promise<void> {
    return this.writer.flush(this.closed);
  }

  /** Resolves once no group commit is being written (tests step injected timers after it). Starts none. */
  idle(): Promise<void> {
    return this.writer.idle();
  }

  /**
   * Closes the log: emits pending flood summaries, writes a final checkpoint, flushes and closes
   * the segment. Records after close() are counted as dropped.
   */
  close(): Promise<void> {
    this.closed = true;
    return this.writer.close();
  }

  /** Marks every record up to and including `seq` as uploaded and acknowledged; eviction deletes those first. */
  uploadedThrough(seq: number): void {
    if (!Number.isSafeInteger(seq)) throw new TypeError('uploadedThrough: seq must be an integer');
    if (this.cursor.mark(seq, this.writer.nextSeq)) this.writer.arm(this.o.flushDelayMs ?? 50);
  }

  /**
   * The upload cursor: up to maxRecords committed records from `seq` on, oldest first, as their
   * exact payloads (the fleet hashes them to check the chain). If `seq` was evicted, starts at the
   * oldest record still on disk (the records say where). `next` is the seq to ask for next.
   */
  readFrom(seq: number, maxRecords: number): Promise<{ records: CursorRecord[]; next: number }> {
    return this.cursor.readFrom(this.segments.list, this.writer.nextSeq, seq, maxRecords);
  }

  /** Counters and alarms for status and telemetry. */
  status(): AuditStatus {
    const c = this.counts;
    return {
      records: c.records,
      bytes: this.segments.bytes(),
      segments: this.segments.list.length,
      queueDepth: this.queue.depth,
      queueCapacity: this.queueCapacity,
      nextSeq: this.writer.nextSeq,
      head: toHex(this.writer.head),
      dropped: { queueFull: c.queueFull, writeFailed: c.writeFailed, closed: c.closed, evictedUnuploaded: c.evicted },
      summarised: this.flood?.summarised ?? 0,
      writes: c.writes,
      fsyncs: c.fsyncs,
      lastFsyncAt: c.lastFsyncAt,
      lastCheckpointSeq: this.checkpoints.lastSeq,
      uploadedThrough: this.cursor.uploaded,
      recoveredBytes: this.recoveredBytes,
      alarms: this.alarms.list(),
    };
  }
}
