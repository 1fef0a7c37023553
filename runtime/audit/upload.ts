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
  const now = o.now ?? Date.now;
  const random = o.random ?? Math.random;
  const timers = o.timers ?? realTimers;
  const backoff: Backoff = o.backoff && 'delay' in o.backoff ? o.backoff : createBackoff({ initialMs: 1000, maxMs: 60_000, ...(o.backoff as BackoffOptions | undefined) });
  const maxRecords = o.maxRecords ?? 256;
  const maxBytes = o.maxBytes ?? 256 * 1024;
  const window = o.window ?? 4;
  const pollMs = o.pollMs ?? 2000;
  const ackTimeoutMs = o.ackTimeoutMs ?? 30_000;
  const say = o.onLog ?? (() => undefined);
  if (!(maxRecords >= 1) || !(maxBytes >= 1024) || !(window >= 1)) throw new TypeError('uploader: maxRecords and window must be ≥ 1, maxBytes ≥ 1024');

  const st: UploadStatus = {
    running: false, ackedThrough: -1, sentThrough: -1, inFlight: 0, backlog: 0, batchesSent: 0, recordsSent: 0, rewinds: 0,
    resyncs: 0, resyncResends: 0, acks: 0, acksIgnored: 0, publishFailures: 0, lastAckAt: null, lastError: null, nextAttemptAt: null,
  };
  let inFlight: InFlight[] = [];
  let failures = 0;
  /** Bumped on every rewind: publish outcomes of an older generation are ignored. */
  let generation = 0;
  let pumping = false;
  let idleWaiters: Array<() => void> = [];
  let again = false;
  let retryTimer: unknown = null;
  let pollTimer: unknown = null;
  let ackTimer: unknown = null;
  let resyncTimer: unknown = null;
  let unsubscribe: (() => void) | null = null;
  let unsubscribeResync: (() => void) | null = null;

  const clear = (h: unknown): null => { if (h !== null) timers.clearTimeout(h); return null; };

  /**
   * Resends since the last acknowledgement. Said once per streak (and again when the cause
   * changes), not at every ack timeout: with no collector running that would be every 30 s forever.
   */
  let streak = 0;
  let streakCause = '';
  function rewind(cause: 'no-ack' | 'publish-failed' | 'resync', why: string): void {
    generation++;
    inFlight = [];
    st.sentThrough = st.ackedThrough;
    st.rewinds++;
    ackTimer = clear(ackTimer);
    streak++;
    if (streak > 1 && cause === streakCause) return;
    streakCause = cause;
    const hint = cause === 'no-ack' ? 'is `zonegate fleet audit collect` running for this site?' : cause === 'resync' ? 'batches sent before it subscribed reached nobody.' : 'the broker is unreachable.';
    say('info', `${why}; ${hint} Records from seq ${st.ackedThrough + 1} stay on disk and are resent until acknowledged (said once; status shows progress)`);
  }

  function armAckTimer(): void {
    if (ackTimer !== null || inFlight.length === 0 || !st.running) return;
    const due = inFlight[0].sentAt + ackTimeoutMs - now();
    ackTimer = timers.setTimeout(() => {
      ackTimer = null;
      if (!st.running || inFlight.length === 0) return;
      if (now() - inFlight[0].sentAt >= ackTimeoutMs) { rewind('no-ack', `no acknowledgement within ${ackTimeoutMs} ms`); kick(); } else armAckTimer();
    }, Math.max(0, due));
  }

  function onFailure(gen: number, e: unknown): void {
    if (gen !== generation || !st.running) return;
    failures++;
    st.publishFailures++;
    st.lastError = { at: now(), message: (e as Error)?.message ?? String(e) };
    rewind('publish-failed', `publish failed: ${st.lastError.message}`);
    const d = backoff.delay(failures, random);
    st.nextAttemptAt = now() + d;
    retryTimer = clear(retryTimer);
    retryTimer = timers.setTimeout(() => { retryTimer = null; st.nextAttemptAt = null; kick(); }, d);
  }

  async function sendSome(): Promise<void> {
    while (st.running && retryTimer === null && inFlight.length < window) {
      const gen0 = generation;
      const { records } = await o.log.readFrom(st.sentThrough + 1, maxRecords);
      if (!st.running) break;
      if (gen0 !== generation) continue; // rewound while reading: read again from the acked point
      if (records.length === 0) break;
      // One batch: contiguous seqs (the cursor may jump over evicted records), within maxBytes.
      const take: Uint8Array[] = [];
      let bytes = 0;
      const fromSeq = records[0].seq;
      for (const r of records) {
        if (r.seq !== fromSeq + take.length) break;
        if (take.length > 0 && bytes + r.payload.length > maxBytes) break;
        take.push(r.payload);
        bytes += r.payload.length;
      }
      const toSeq = fromSeq + take.length - 1;
      const payload = encodeAuditBatch({ device: o.device, site: o.site, fromSeq, records: take });
      const gen = generation;
      inFlight.push({ fromSeq, toSeq, sentAt: now() });
      st.sentThrough = toSeq;
      st.batchesSent++;
      st.recordsSent += take.length;
      armAckTimer();
      Promise.resolve().then(() => o.publish(payload)).then(() => { if (gen === generation) failures = 0; }, (e) => onFailure(gen, e));
    }
  }

  function kick(): void {
    if (!st.running) return;
    if (pumping) { again = true; return; }
    pumping = true;
    pollTimer = clear(pollTimer);
    void (async () => {
      try {
        do { again = false; await sendSome(); } while (again && st.running);
      } catch (e) {
        st.lastError = { at: now(), message: `reading the audit log: ${(e as Error)?.message ?? String(e)}` };
        say('error', st.lastError.message);
      } finally {
        pumping = false;
        if (st.running && pollTimer === null) pollTimer = timers.setTimeout(() => { pollTimer = null; kick(); }, pollMs);
        const waiters = idleWaiters;
        idleWaiters = [];
        for (const w of waiters) w();
      }
    })();
  }

  /**
   * A collector announced itself: resend what it may have missed, after a random share of its
   * spread. One merged into a pending resend moves the point the resend covers to itself: a batch
   * sent between two announcements reached the first collector's subscription, not necessarily the
   * second's (kept at the first, the batch waited out ackTimeoutMs).
   */
  let resyncHeardAt = 0;
  let resyncCollector = '';
  function onResync(r: AuditResync): void {
    if (!st.running) return;
    st.resyncs++;
    resyncHeardAt = now();
    resyncCollector = r.collector;
    if (resyncTimer !== null) return; // merged into the resend already pending
    resyncTimer = timers.setTimeout(() => {
      resyncTimer = null;
      if (!st.running) return;
      // Batches sent after the (last) announcement went to the collector's new subscription.
      if (inFlight.length > 0 && inFlight[0].sentAt <= resyncHeardAt) {
        st.resyncResends++;
        rewind('resync', `collector ${JSON.stringify(resyncCollector)} (re)connected without a session at the broker`);
      }
      kick();
    }, Math.floor(random() * r.spreadMs));
  }

  function onAck(bytes: Uint8Array): void {
    const ack = decodeAuditAck(bytes);
    if (!ack || ack.device !== o.device) { st.acksIgnored++; return; }
    st.acks++;
    st.lastAckAt = now();
    // Never believe an ack beyond what the log holds (a confused or hostile fleet would make
    // the uploader skip records that were never sent).
    const through = Math.min(ack.through, o.log.status().nextSeq - 1);
    if (through <= st.ackedThrough) return;
    if (streak > 1) say('info', `acknowledged through seq ${through} again after ${streak} resend(s)`);
    streak = 0;
    streakCause = '';
    st.ackedThrough = through;
    try { o.log.uploadedThrough(through); } catch (e) { st.lastError = { at: now(), message: (e as Error).message }; }
    inFlight = inFlight.filter((b) => b.toSeq > through);
    // The fleet may already hold more than this run sent (a restart before `uploaded` was written).
    if (st.sentThrough < through) st.sentThrough = through;
    ackTimer = clear(ackTimer);
    armAckTimer();
    kick();
  }

  return {
    start() {
      if (st.running) return;
      st.running = true;
      const acked = o.log.status().uploadedThrough;
      st.ackedThrough = acked;
      st.sentThrough = acked;
      inFlight = [];
      unsubscribe = o.onAck(onAck);
      unsubscribeResync = o.onResync?.(onResync) ?? null;
      kick();
    },
    stop() {
      if (!st.running) return;
      st.running = false;
      generation++;
      inFlight = [];
      retryTimer = clear(retryTimer);
      pollTimer = clear(pollTimer);
      ackTimer = clear(ackTimer);
      resyncTimer = clear(resyncTimer);
      st.nextAttemptAt = null;
      unsubscribe?.();
      unsubscribeResync?.();
      unsubscribe = null;
      unsubscribeResync = null;
    },
    kick,
    linkUp() {
      if (!st.running || retryTimer === null) return;
      retryTimer = clear(retryTimer);
      st.nextAttemptAt = null;
      failures = 0;
      kick();
    },
    idle: () => (pumping ? new Promise<void>((resolve) => { idleWaiters.push(resolve); }) : Promise.resolve()),
    status() {
      const next = o.log.status().nextSeq;
      return { ...st, inFlight: inFlight.length, backlog: Math.max(0, next - 1 - st.ackedThrough), lastError: st.lastError && { ...st.lastError } };
    },
  };
}
