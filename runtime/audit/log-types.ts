/**
 * The audit log's public types (AuditLog in log.ts re-exports them): its options, status and
 * alarms, and the counters its parts share.
 */
import type { KeyObject } from 'node:crypto';
import type { AuditFs } from './fs';
import type { FloodOptions } from './flood';

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

/** The counters the log's parts keep together (status() reads them). */
export interface LogCounts {
  records: number;
  writes: number;
  fsyncs: number;
  queueFull: number;
  writeFailed: number;
  closed: number;
  evicted: number;
  internal: number;
  lastFsyncAt: number | null;
}
