/**
 * Store-and-forward upload of the audit log over MQTT (design.md "The audit log", issue 5).
 *
 * The log on disk is the store; this is the forward. The uploader reads committed records with
 * the log's cursor (AuditLog.readFrom), frames them as batches (upload-batch.ts: the exact stored
 * payloads, at most maxRecords / maxBytes each) and publishes them QoS 1 on the device's `audit`
 * topic. The fleet answers on `audit/ack` with the highest seq it holds verified; that point is
 * handed to AuditLog.uploadedThrough(), which persists it (`<audit>/uploaded`), so after a
 * restart the upload resumes from the acked point on disk. Duplicates are harmless: the fleet
 * drops seqs it already holds.
 *
 * Flow control (go-back-N): at most `window` batches are sent but not acked. When a publish
 * fails (offline, broker gone) or no ack comes within ackTimeoutMs, everything after the acked
 * point is sent again, after a capped exponential backoff with jitter for failures.
 *
 * Resync: a collector that (re)connects without a session at the broker announces itself on the
 * site's `audit-resync` topic (upload-batch.ts): batches published before its subscription went
 * to nobody, and their PUBACK came from the broker all the same. The uploader then sends again
 * from the acked point, if batches sent before the announcement are still unacked, after a random
 * delay in [0, spreadMs) that the collector sized for the site (a thousand gateways must not all
 * answer in the same second), instead of waiting out ackTimeoutMs. Announcements that arrive
 * while one is pending are merged: one resend at most per pending delay, covering what was sent
 * before the last of them. Nothing here
 * is awaited by enforcement: the log's record() never waits for upload, and a slow or absent
 * fleet only lets records accumulate on disk (the log's own disk bound and eviction apply).
 */
import type { AuditLog } from './log';
import { decodeAuditAck, encodeAuditBatch, type AuditResync } from '../../protocol/audit/upload-batch';
import { createBackoff, type Backoff, type BackoffOptions } from '../../protocol/backoff';

export interface UploadTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface AuditUploaderOptions {
  /** The audit log (its cursor, its acked mark). */
  log: Pick<AuditLog, 'readFrom' | 'uploadedThrough' | 'status'>;
  device: string;
  site: string;
  /** Publishes one batch QoS 1 and resolves on PUBACK (MqttSync.publishAuditBatch). */
  publish(bytes: Uint8Array): Promise<void>;
  /** Subscribes to `audit/ack` payloads; returns an unsubscribe function (MqttSync.onAuditAck). */
  onAck(cb: (bytes: Uint8Array) => void): () => void;
  /** Subscribes to decoded `audit-resync` announcements of the site (MqttSync.onAuditResync); optional. */
  onResync?(cb: (r: AuditResync) => void): () => void;
  now?: () => number;
  random?: () => number;
  timers?: UploadTimers;
  /** Retry schedule after a failed publish. Default 1 s doubling to 60 s, jitter 0.5. */
  backoff?: Backoff | BackoffOptions;
  /** Records per batch, default 256. */
  maxRecords?: number;
  /** Payload bytes per batch, default 256 KiB (a single larger record still goes alone). */
  maxBytes?: number;
  /** Batches sent and not yet acked, default 4. */
  window?: number;
  /** With nothing to send, look for new records this often, ms. Default 2,000. */
  pollMs?: number;
  /** Resend from the acked point when no ack came this long after a send, ms. Default 30,000. */
  ackTimeoutMs?: number;
  /** Diagnostics; never required. */
  onLog?: (level: 'info' | 'warn' | 'error', message: string) => void;
}

export interface UploadStatus {
  running: boolean;
  /** The fleet's acknowledged point (-1: nothing yet). */
  ackedThrough: number;
  /** Highest seq sent (may be ahead of ackedThrough by at most `window` batches). */
  sentThrough: number;
  inFlight: number;
  /** Records on disk not yet acknowledged (nextSeq - 1 - ackedThrough). */
  backlog: number;
  batchesSent: number;
  recordsSent: number;
  /** Times the window was sent again from the acked point (failure, ack timeout or resync). */
  rewinds: number;
  /** Collector announcements (audit-resync) heard, and the resends they caused. */
  resyncs: number;
  resyncResends: number;
  acks: number;
  /** Acks that were not ours or not well-formed. */
  acksIgnored: number;
  publishFailures: number;
  lastAckAt: number | null;
  lastError: { at: number; message: string } | null;
  nextAttemptAt: number | null;
}

export interface AuditUploader {
  /** Subscribes to acks and starts sending from the acked point on disk. Never waits for the broker. */
  start(): void;
  /** Stops sending; in-flight batches are simply sent again after the next start. */
  stop(): void;
  /** New records were written: send soon rather than at the next poll. */
  kick(): void;
  /** The link to the broker is up again: send now, not when the failure backoff (up to 60 s) ends. */
  linkUp(): void;
  status(): UploadStatus;
  /** Resolves once no read-and-send pass is running (tests wait on it instead of sleeping). */
  idle(): Promise<void>;
}

interface InFlight { fromSeq: number; toSeq: number; sentAt: number }

const realTimers: UploadTimers = { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };

/** Builds the uploader; nothing is read or sent until start(). */
export function createAuditUploader(o: AuditUploaderOptions): AuditUploader {
  return new UploadLoop(o, uploadSettings(o));
}

interface UploadSettings {
  now: () => number;
  random: () => number;
  timers: UploadTimers;
  backoff: Backoff;
  maxRecords: number;
  maxBytes: number;
  window: number;
  pollMs: number;
  ackTimeoutMs: number;
  say: NonNullable<AuditUploaderOptions['onLog']>;
}

/** The options with their defaults; TypeError on a batch or window below its minimum. */
function uploadSettings(o: AuditUploaderOptions): UploadSettings {
  const backoff: Backoff = o.backoff && 'delay' in o.backoff ? o.backoff : createBackoff({ initialMs: 1000, maxMs: 60_000, ...(o.backoff as BackoffOptions | undefined) });
  const set: UploadSettings = {
    now: o.now ?? Date.now, random: o.random ?? Math.random, timers: o.timers ?? realTimers, backoff,
    maxRecords: o.maxRecords ?? 256, maxBytes: o.maxBytes ?? 256 * 1024, window: o.window ?? 4,
    pollMs: o.pollMs ?? 2000, ackTimeoutMs: o.ackTimeoutMs ?? 30_000, say: o.onLog ?? (() => undefined),
  };
  if (!(set.maxRecords >= 1) || !(set.maxBytes >= 1024) || !(set.window >= 1)) throw new TypeError('uploader: maxRecords and window must be ≥ 1, maxBytes ≥ 1024');
  return set;
}

/** One batch from the records read: contiguous seqs (the cursor may jump over evicted records), within maxBytes (a larger first record goes alone). */
function takeBatch(records: readonly { seq: number; payload: Uint8Array }[], maxBytes: number): { fromSeq: number; payloads: Uint8Array[] } {
  const payloads: Uint8Array[] = [];
  let bytes = 0;
  const fromSeq = records[0].seq;
  for (const r of records) {
    if (r.seq !== fromSeq + payloads.length) break;
    if (payloads.length > 0 && bytes + r.payload.length > maxBytes) break;
    payloads.push(r.payload);
    bytes += r.payload.length;
  }
  return { fromSeq, payloads };
}

type RewindCause = 'no-ack' | 'publish-failed' | 'resync';

const REWIND_HINT: Record<RewindCause, string> = {
  'no-ack': 'is `zonegate fleet audit collect` running for this site?',
  resync: 'batches sent before it subscribed reached nobody.',
  'publish-failed': 'the broker is unreachable.',
};

/** The uploader's state and its steps: read and send (go-back-N window), acks, rewinds, retries, resyncs. */
class UploadLoop implements AuditUploader {
  private readonly st: UploadStatus = {
    running: false, ackedThrough: -1, sentThrough: -1, inFlight: 0, backlog: 0, batchesSent: 0, recordsSent: 0, rewinds: 0,
    resyncs: 0, resyncResends: 0, acks: 0, acksIgnored: 0, publishFailures: 0, lastAckAt: null, lastError: null, nextAttemptAt: null,
  };
  private inFlight: InFlight[] = [];
  private failures = 0;
  /** Bumped on every rewind: publish outcomes of an older generation are ignored. */
  private generation = 0;
  private pumping = false;
  private idleWaiters: Array<() => void> = [];
  private again = false;
  private retryTimer: unknown = null;
  private pollTimer: unknown = null;
  private ackTimer: unknown = null;
  private resyncTimer: unknown = null;
  /** When the last announcement was heard, and from which collector (what a pending resend covers). */
  private resyncHeardAt = 0;
  private resyncCollector = '';
  private unsubscribe: (() => void) | null = null;
  private unsubscribeResync: (() => void) | null = null;
  /**
   * Resends since the last acknowledgement. Said once per streak (and again when the cause
   * changes), not at every ack timeout: with no collector running that would be every 30 s forever.
   */
  private streak = 0;
  private streakCause = '';

  constructor(private readonly o: AuditUploaderOptions, private readonly set: UploadSettings) {}

  private clear(h: unknown): null {
    if (h !== null) this.set.timers.clearTimeout(h);
    return null;
  }

  private rewind(cause: RewindCause, why: string): void {
    const st = this.st;
    this.generation++;
    this.inFlight = [];
    st.sentThrough = st.ackedThrough;
    st.rewinds++;
    this.ackTimer = this.clear(this.ackTimer);
    this.streak++;
    if (this.streak > 1 && cause === this.streakCause) return;
    this.streakCause = cause;
    this.set.say('info', `${why}; ${REWIND_HINT[cause]} Records from seq ${st.ackedThrough + 1} stay on disk and are resent until acknowledged (said once; status shows progress)`);
  }

  private armAckTimer(): void {
    if (this.ackTimer !== null || this.inFlight.length === 0 || !this.st.running) return;
    const { now, ackTimeoutMs, timers } = this.set;
    const due = this.inFlight[0].sentAt + ackTimeoutMs - now();
    this.ackTimer = timers.setTimeout(() => {
      this.ackTimer = null;
      if (!this.st.running || this.inFlight.length === 0) return;
      if (now() - this.inFlight[0].sentAt >= ackTimeoutMs) { this.rewind('no-ack', `no acknowledgement within ${ackTimeoutMs} ms`); this.kick(); } else this.armAckTimer();
    }, Math.max(0, due));
  }

  private onFailure(gen: number, e: unknown): void {
    const st = this.st;
    if (gen !== this.generation || !st.running) return;
    const { now, backoff, random, timers } = this.set;
    this.failures++;
    st.publishFailures++;
    st.lastError = { at: now(), message: (e as Error)?.message ?? String(e) };
    this.rewind('publish-failed', `publish failed: ${st.lastError.message}`);
    const d = backoff.delay(this.failures, random);
    st.nextAttemptAt = now() + d;
    this.retryTimer = this.clear(this.retryTimer);
    this.retryTimer = timers.setTimeout(() => { this.retryTimer = null; st.nextAttemptAt = null; this.kick(); }, d);
  }

  private async sendSome(): Promise<void> {
    const st = this.st;
    const { maxRecords, maxBytes, window, now } = this.set;
    while (st.running && this.retryTimer === null && this.inFlight.length < window) {
      const gen0 = this.generation;
      const { records } = await this.o.log.readFrom(st.sentThrough + 1, maxRecords);
      if (!st.running) break;
      if (gen0 !== this.generation) continue; // rewound while reading: read again from the acked point
      if (records.length === 0) break;
      const { fromSeq, payloads } = takeBatch(records, maxBytes);
      const toSeq = fromSeq + payloads.length - 1;
      const payload = encodeAuditBatch({ device: this.o.device, site: this.o.site, fromSeq, records: payloads });
      const gen = this.generation;
      this.inFlight.push({ fromSeq, toSeq, sentAt: now() });
      st.sentThrough = toSeq;
      st.batchesSent++;
      st.recordsSent += payloads.length;
      this.armAckTimer();
      Promise.resolve().then(() => this.o.publish(payload)).then(() => { if (gen === this.generation) this.failures = 0; }, (e) => this.onFailure(gen, e));
    }
  }

  readonly kick = (): void => {
    if (!this.st.running) return;
    if (this.pumping) { this.again = true; return; }
    this.pumping = true;
    this.pollTimer = this.clear(this.pollTimer);
    void this.pump();
  };

  /** Sends until the window is full or nothing is left (again while kick() was called meanwhile), then polls. */
  private async pump(): Promise<void> {
    const st = this.st;
    try {
      do { this.again = false; await this.sendSome(); } while (this.again && st.running);
    } catch (e) {
      st.lastError = { at: this.set.now(), message: `reading the audit log: ${(e as Error)?.message ?? String(e)}` };
      this.set.say('error', st.lastError.message);
    } finally {
      this.pumping = false;
      if (st.running && this.pollTimer === null) this.pollTimer = this.set.timers.setTimeout(() => { this.pollTimer = null; this.kick(); }, this.set.pollMs);
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  /**
   * A collector announced itself: resend what it may have missed, after a random share of its
   * spread. One merged into a pending resend moves the point the resend covers to itself: a batch
   * sent between two announcements reached the first collector's subscription, not necessarily the
   * second's (kept at the first, the batch waited out ackTimeoutMs).
   */
  private readonly onResync = (r: AuditResync): void => {
    const st = this.st;
    if (!st.running) return;
    st.resyncs++;
    this.resyncHeardAt = this.set.now();
    this.resyncCollector = r.collector;
    if (this.resyncTimer !== null) return; // merged into the resend already pending
    this.resyncTimer = this.set.timers.setTimeout(() => {
      this.resyncTimer = null;
      if (!st.running) return;
      // Batches sent after the (last) announcement went to the collector's new subscription.
      if (this.inFlight.length > 0 && this.inFlight[0].sentAt <= this.resyncHeardAt) {
        st.resyncResends++;
        this.rewind('resync', `collector ${JSON.stringify(this.resyncCollector)} (re)connected without a session at the broker`);
      }
      this.kick();
    }, Math.floor(this.set.random() * r.spreadMs));
  };

  private readonly onAck = (bytes: Uint8Array): void => {
    const st = this.st;
    const ack = decodeAuditAck(bytes);
    if (!ack || ack.device !== this.o.device) { st.acksIgnored++; return; }
    st.acks++;
    st.lastAckAt = this.set.now();
    // Never believe an ack beyond what the log holds (a confused or hostile fleet would make
    // the uploader skip records that were never sent).
    const through = Math.min(ack.through, this.o.log.status().nextSeq - 1);
    if (through <= st.ackedThrough) return;
    if (this.streak > 1) this.set.say('info', `acknowledged through seq ${through} again after ${this.streak} resend(s)`);
    this.streak = 0;
    this.streakCause = '';
    st.ackedThrough = through;
    try { this.o.log.uploadedThrough(through); } catch (e) { st.lastError = { at: this.set.now(), message: (e as Error).message }; }
    this.inFlight = this.inFlight.filter((b) => b.toSeq > through);
    // The fleet may already hold more than this run sent (a restart before `uploaded` was written).
    if (st.sentThrough < through) st.sentThrough = through;
    this.ackTimer = this.clear(this.ackTimer);
    this.armAckTimer();
    this.kick();
  };

  start(): void {
    const st = this.st;
    if (st.running) return;
    st.running = true;
    const acked = this.o.log.status().uploadedThrough;
    st.ackedThrough = acked;
    st.sentThrough = acked;
    this.inFlight = [];
    this.unsubscribe = this.o.onAck(this.onAck);
    this.unsubscribeResync = this.o.onResync?.(this.onResync) ?? null;
    this.kick();
  }

  stop(): void {
    const st = this.st;
    if (!st.running) return;
    st.running = false;
    this.generation++;
    this.inFlight = [];
    this.retryTimer = this.clear(this.retryTimer);
    this.pollTimer = this.clear(this.pollTimer);
    this.ackTimer = this.clear(this.ackTimer);
    this.resyncTimer = this.clear(this.resyncTimer);
    st.nextAttemptAt = null;
    this.unsubscribe?.();
    this.unsubscribeResync?.();
    this.unsubscribe = null;
    this.unsubscribeResync = null;
  }

  linkUp(): void {
    if (!this.st.running || this.retryTimer === null) return;
    this.retryTimer = this.clear(this.retryTimer);
    this.st.nextAttemptAt = null;
    this.failures = 0;
    this.kick();
  }

  idle(): Promise<void> {
    return this.pumping ? new Promise<void>((resolve) => { this.idleWaiters.push(resolve); }) : Promise.resolve();
  }

  status(): UploadStatus {
    const st = this.st;
    const next = this.o.log.status().nextSeq;
    return { ...st, inFlight: this.inFlight.length, backlog: Math.max(0, next - 1 - st.ackedThrough), lastError: st.lastError && { ...st.lastError } };
  }
}
