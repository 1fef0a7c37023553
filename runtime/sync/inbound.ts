/**
 * The inbound side of the MQTT sync: every message the broker delivers goes through the checks
 * listed at the top of mqtt-sync.ts (ours, size, empty, dedupe), then into a bounded queue per
 * kind whose handler runs one payload at a time. A handler's failure is counted and kept; a new
 * trust root gives the refused bundles another go.
 */
import { createHash } from 'node:crypto';
import type { AuditSink } from '../../drivers/types';
import { INBOUND_KINDS, parseTopic, TOPIC_KINDS, type InboundKind } from '../../protocol/mqtt/topics';
import { decodeAuditResync, type AuditResync } from '../../protocol/audit/upload-batch';
import type { StatusRefusal } from '../../protocol/mqtt/status';
import { KindQueue, SeenCache } from './kind-queue';
import { errorOf, type InboundLimits } from './sync-helpers';
import type { MqttSyncOptions, PayloadMeta, SyncHandlers, SyncStatus } from './sync-types';

interface Pending { bytes: Uint8Array; meta: PayloadMeta }

export interface InboundOptions {
  site: string;
  device: string;
  handlers: SyncHandlers;
  limits: InboundLimits;
  extra?: MqttSyncOptions['extra'];
  queueDepth: number;
  dedupeSize: number;
  /** The sync's counters and lastError, updated in place. */
  st: SyncStatus;
  audit?: AuditSink;
  now: () => number;
  log: (level: 'info' | 'warn' | 'error', message: string) => void;
  /** Publishes the status now (after a refusal and after each handled payload). */
  publishStatus: () => void;
}

/** The queues, the dedupe cache and the handlers' bookkeeping of one sync. */
export class Inbound {
  /** The hash of the last payload each kind's handler accepted (the status document's `applied`). */
  readonly applied: Partial<Record<InboundKind, string>> = {};
  /** The last payload each kind's handler refused, until one of that kind is accepted (the status document's `refused`). */
  readonly refused: Partial<Record<InboundKind, StatusRefusal>> = {};
  private readonly queues = {} as Record<InboundKind, KindQueue<Pending>>;
  private readonly running = {} as Record<InboundKind, string | undefined>;
  private readonly failed = {} as Record<InboundKind, Map<string, Pending>>;
  private readonly seen: SeenCache;
  private readonly ackListeners = new Set<(bytes: Uint8Array) => void>();
  private readonly resyncListeners = new Set<(r: AuditResync) => void>();
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly o: InboundOptions) {
    for (const k of INBOUND_KINDS) {
      this.queues[k] = new KindQueue<Pending>(o.queueDepth, TOPIC_KINDS[k].retained);
      this.failed[k] = new Map();
    }
    this.seen = new SeenCache(o.dedupeSize);
  }

  /** One message from the broker (steps 1-5 of mqtt-sync.ts). */
  onMessage(topic: string, payload: Buffer, retained: boolean): void {
    const { o } = this;
    o.st.messagesReceived += 1;
    if (o.extra && o.extra.topics.includes(topic)) { this.onExtra(topic, payload); return; }
    const t = parseTopic(topic);
    // 1. ours? (a broker or ACL mistake must not feed us another device's payloads)
    if (!t || t.site !== o.site || (t.device !== o.device && !t.siteWide) || !(t.kind in o.limits)) {
      this.refuse(topic, 'message on an unexpected topic', { bytes: payload.length });
      return;
    }
    const kind = t.kind as InboundKind | 'audit/ack' | 'audit-resync';
    // 2. size before anything else
    if (payload.length > o.limits[kind]) {
      this.refuse(topic, `${kind} payload of ${payload.length} bytes exceeds the ${o.limits[kind]}-byte limit`, { bytes: payload.length, limit: o.limits[kind] });
      return;
    }
    if (kind === 'audit/ack') { this.onAck(payload); return; }
    // 3. a zero-length retained message only clears the broker's copy
    if (payload.length === 0) return;
    if (kind === 'audit-resync') { this.onResync(topic, t.site, payload); return; }
    // 4. dedupe identical bytes on the same topic
    const hash = createHash('sha256').update(payload).digest('hex');
    const key = `${topic}\u0000${hash}`;
    if (this.seen.has(key) || this.running[kind] === key || this.queues[kind].has(key)) {
      o.st.messagesDuplicate += 1;
      return;
    }
    // 5. queue for the kind's handler
    this.enqueue(kind, { topic, key, value: { bytes: payload, meta: { topic, kind, siteWide: t.siteWide, retained, hash, receivedAt: o.now() } } });
    void this.drain(kind);
  }

  /** Adds an `audit/ack` listener; returns its removal. */
  onAuditAck(cb: (bytes: Uint8Array) => void): () => void {
    this.ackListeners.add(cb);
    return () => { this.ackListeners.delete(cb); };
  }

  /** Adds a listener for well-formed `audit-resync` announcements of our site; returns its removal. */
  onAuditResync(cb: (r: AuditResync) => void): () => void {
    this.resyncListeners.add(cb);
    return () => { this.resyncListeners.delete(cb); };
  }

  /** Resolves once no handler is running or pending. */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private isIdle(): boolean {
    return INBOUND_KINDS.every((k) => this.running[k] === undefined && this.queues[k].length === 0);
  }

  // Another part's topic: the same size-before-anything check, then its raw bytes.
  private onExtra(topic: string, payload: Buffer): void {
    const extra = this.o.extra!;
    const max = extra.maxBytes(topic);
    if (payload.length > max) { this.refuse(topic, `payload of ${payload.length} bytes exceeds the ${max}-byte limit`, { bytes: payload.length, limit: max }); return; }
    if (payload.length === 0) return;
    try { extra.onMessage(topic, new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength)); } catch (e) { this.o.log('error', `${topic}: ${(e as Error).message}`); }
  }

  private onAck(payload: Buffer): void {
    for (const cb of this.ackListeners) {
      try { cb(payload); } catch (e) { this.o.log('error', `audit/ack listener failed: ${(e as Error).message}`); }
    }
  }

  // A collector's announcement: decoded here (capped, never throws), so that a malformed one is
  // refused, counted and audit-logged like any other refused payload, and never reaches the uploader.
  private onResync(topic: string, site: string, payload: Buffer): void {
    const { resync, error } = decodeAuditResync(payload);
    const why = error ?? (resync!.site !== site ? `says site ${JSON.stringify(resync!.site.slice(0, 130))} on a topic of site ${site}` : undefined);
    if (why !== undefined) { this.refuse(topic, `audit resync refused: ${why}`, { bytes: payload.length }); return; }
    for (const cb of this.resyncListeners) {
      try { cb(resync!); } catch (e) { this.o.log('error', `audit-resync listener failed: ${(e as Error).message}`); }
    }
  }

  private refuse(topic: string, reason: string, detail: Record<string, unknown>): void {
    const { o } = this;
    o.st.messagesRefused += 1;
    const at = o.now();
    o.st.lastError = { at, code: 'ERR_MQTT_PAYLOAD', message: reason };
    o.log('warn', `refused ${topic}: ${reason}`);
    try {
      o.audit?.record({ kind: 'policy', at, source: 'mqtt-sync', message: reason, detail: { topic, ...detail } });
    } catch { /* an audit sink must not throw; if it does, the sync carries on */ }
    o.publishStatus();
  }

  private enqueue(kind: InboundKind, entry: { topic: string; key: string; value: Pending }): void {
    const q = this.queues[kind];
    const before = q.dropped;
    q.push(entry);
    this.o.st.queueDropped += q.dropped - before;
  }

  private async drain(kind: InboundKind): Promise<void> {
    if (this.running[kind] !== undefined) return;
    const q = this.queues[kind];
    for (let e = q.shift(); e; e = q.shift()) {
      this.running[kind] = e.key;
      await this.handle(kind, e);
      this.running[kind] = undefined;
      this.o.publishStatus();
    }
    if (this.isIdle()) {
      const w = this.idleWaiters; this.idleWaiters = [];
      for (const f of w) f();
    }
  }

  private async handle(kind: InboundKind, e: { topic: string; key: string; value: Pending }): Promise<void> {
    const { o } = this;
    try {
      await o.handlers[kind](e.value.bytes, e.value.meta);
      o.st.handled += 1;
      this.applied[kind] = e.value.meta.hash;
      delete this.refused[kind];
      this.seen.add(e.key);
      this.failed[kind].delete(e.topic);
      if (kind === 'trust') this.retryFailed();
    } catch (err) {
      o.st.handlerErrors += 1;
      o.st.lastError = errorOf(err, o.now());
      this.refused[kind] = { hash: e.value.meta.hash, code: o.st.lastError.code, at: o.st.lastError.at };
      this.failed[kind].set(e.topic, e.value);
      o.log('warn', `${kind} from ${e.topic} refused: ${(err as Error)?.message ?? err}`);
    }
  }

  // A new trust root may make a refused bundle acceptable: give the refused ones another go.
  private retryFailed(): void {
    for (const k of INBOUND_KINDS) {
      if (k === 'trust') continue;
      for (const [topic, p] of this.failed[k]) {
        const key = `${topic}\u0000${p.meta.hash}`;
        if (this.queues[k].has(key) || this.running[k] === key) continue;
        this.enqueue(k, { topic, key, value: p });
      }
      this.failed[k].clear();
      void this.drain(k);
    }
  }
}
