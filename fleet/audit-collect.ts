/**
 * The fleet's audit collector (issue 5): receives the batches gateways upload on
 * `zonegate/v1/<site>/+/audit` (protocol/audit/upload-batch.ts), verifies them, stores every
 * device's records exactly once in seq order (audit-device-store.ts), acknowledges on
 * `.../audit/ack` up to the highest contiguous verified seq, and forwards each stored record to
 * the SIEM sinks (siem.ts) with its chain position.
 *
 * Order of checks for each batch (style.md "check everything first"):
 *   1. topic: our site, kind `audit`, a valid device id                       else ignored
 *   2. size, CBOR shape (decodeAuditBatch); batch device/site = the topic's   else refused
 *   3. entirely at or below the stored end: a duplicate                       dropped, re-acked
 *   4. starts after the stored end (a hole): kept pending until the hole is filled (bounded)
 *   5. every new record, in order, through ChainVerifier continuing from the stored end: seq,
 *      prev = hash of the previous payload, checkpoints signed by the pinned key (pinned from
 *      --key-dir/<device>.pub, else from the first checkpoint seen and kept in pinned-key.pub),
 *      the batch header's seqs and the checkpoint's device id agree                else refused
 *   6. stored (one write + fsync, or one COMMIT), then acked, then forwarded.
 * With a shared store (PostgreSQL, several collectors in one shared-subscription group) the store's
 * append re-checks the end under a row lock: when another collector moved it meanwhile, nothing
 * is written and the batch is decided again against the end the store returned. A batch after a
 * hole is verified on its own and parked in the store (step 4 there instead of in memory): the
 * member that fills the hole moves it in within the same transaction, and acks the whole run.
 * Batches of one device are handled in arrival order, different devices side by side.
 * A refused batch is never stored nor acked: it is kept in `<out>/<device>/refused/` with the
 * reason, reported through onAlert and to the sinks as an alert. The whole batch is refused, so a
 * record edited in the middle of a batch is caught by its successor's prev within the batch.
 */
import { toHex, type AuditRecord } from '../protocol/audit/record';
import { decodeAuditBatch, type AuditBatch } from '../protocol/audit/upload-batch';
import { parseTopic } from '../protocol/mqtt/topics';
import { readKeyDirKey } from './audit-device-store';
import { fileCollectorStore, type AppendOutcome, type CollectorDeviceStore, type CollectorStore, type VerifiedRun } from './audit-store';
import { verifyAhead, verifyBatch } from './audit-collect-verify';
import { KeyedQueue } from './keyed-queue';

/** One stored record as it is forwarded: its place in the chain and the exact payload. */
export interface ForwardedRecord {
  device: string;
  site: string;
  seq: number;
  /** Hex SHA-256 of the payload, and of the previous record's payload. */
  hash: string;
  prev: string;
  /** The exact stored payload, base64: anyone downstream can re-hash it. */
  payload: string;
  record: AuditRecord;
}

/** A verification failure or another event an operator must see. */
export interface CollectorAlert {
  at: number;
  device: string;
  site: string;
  code: 'verify-failed' | 'batch-invalid' | 'pending-dropped';
  message: string;
  fromSeq: number | null;
  /** Where the refused batch was kept. */
  evidence?: string;
}

/** Where stored records go (syslog, JSON lines). Must not throw; may buffer (bounded). */
export interface RecordSink {
  forward(r: ForwardedRecord): void;
  alert(a: CollectorAlert): void;
}

export type BatchOutcome = 'stored' | 'duplicate' | 'pending' | 'refused' | 'ignored';

export interface BatchResult {
  outcome: BatchOutcome;
  device?: string;
  /** Records newly stored (including pending batches this one unblocked). */
  stored?: number;
  through?: number;
  reason?: string;
}

export interface DeviceCollectStatus {
  device: string;
  firstSeq: number;
  through: number;
  stored: number;
  duplicates: number;
  refused: number;
  pending: number;
  pendingDropped: number;
  key: 'pinned' | 'key-dir' | 'first-checkpoint' | 'none';
  lastAt: number | null;
}

export interface CollectorStatus {
  batches: number;
  ignored: number;
  stored: number;
  duplicates: number;
  refused: number;
  /** Batches after a hole parked in the store, and held in memory. */
  parked: number;
  held: number;
  /** Appends another collector got in first with (decided again). */
  conflicts: number;
  devices: DeviceCollectStatus[];
}

export interface AuditCollectorOptions {
  /** Output folder; each device's log goes to `<out>/<device>/` (the file store, when no `store`). */
  out?: string;
  /** Where chains are kept; default the file store under `out`. Closed by close(). */
  store?: CollectorStore;
  site: string;
  /** Folder of `<device>.pub` keys to pin (SPKI PEM or hex). */
  keyDir?: string;
  /** Publishes an ack (QoS 1) on the device's audit/ack topic. Must not throw. */
  ack(device: string, through: number): void;
  sinks?: RecordSink[];
  onAlert?: (a: CollectorAlert) => void;
  now?: () => number;
  /** Out-of-order batches kept per device, default 64 (more are dropped and counted). */
  maxPending?: number;
  /** Accept a device's first batch when it does not start at seq 0 (its older records are gone). Default false. */
  allowMidChainStart?: boolean;
}

export interface AuditCollector {
  /** Handles one MQTT message; one device's messages are processed one at a time in arrival order, devices side by side. */
  handle(topic: string, payload: Uint8Array): Promise<BatchResult>;
  status(): CollectorStatus;
  /**
   * Shared store only: re-reads the stored end of `device` (default: every device) with batches
   * held in memory for a hole (another collector of the group may have filled it) and stores
   * what now follows.
   */
  retryPending(device?: string): Promise<void>;
  /** Resolves once every message handed in so far is processed. */
  idle(): Promise<void>;
  /** Devices known: those seen by this process, or with a chain in the store, whichever is more. */
  deviceCount(): Promise<number>;
  close(): Promise<void>;
}

interface DeviceState {
  store: CollectorDeviceStore;
  keySource: DeviceCollectStatus['key'];
  pending: Map<number, { batch: AuditBatch; bytes: Uint8Array }>;
  counts: { stored: number; duplicates: number; refused: number; pendingDropped: number };
  lastAt: number | null;
}

/** Builds a collector over `out`; device folders are opened on their first batch. */
export function createAuditCollector(o: AuditCollectorOptions): AuditCollector {
  if (!o.store && !o.out) throw new TypeError('createAuditCollector: `out` or `store` is required');
  return new Collector(o, o.store ?? fileCollectorStore(o.out as string));
}

type Applied = { stored: number } | { refused: BatchResult } | { conflict: true } | { parked: AppendOutcome };

/** The collector's state (devices, totals) and its steps: check, decide, apply, hold and drain, retry. */
class Collector implements AuditCollector {
  private readonly now: () => number;
  private readonly sinks: RecordSink[];
  private readonly maxPending: number;
  private readonly devices = new Map<string, DeviceState>();
  /** Park runs that arrive ahead in the store, unless records are forwarded (a parked run is moved in by whichever collector fills the hole, which could not forward what it never decoded). */
  private readonly parks: boolean;
  private readonly totals = { batches: 0, ignored: 0, stored: 0, duplicates: 0, refused: 0, parked: 0, held: 0, conflicts: 0 };
  private readonly queues = new KeyedQueue();

  constructor(private readonly o: AuditCollectorOptions, private readonly chains: CollectorStore) {
    this.now = o.now ?? Date.now;
    this.sinks = o.sinks ?? [];
    this.maxPending = o.maxPending ?? 64;
    this.parks = chains.parks === true && this.sinks.length === 0;
  }

  handle(topic: string, payload: Uint8Array): Promise<BatchResult> {
    return this.queues.run(parseTopic(topic)?.device ?? topic, () => this.handleOne(topic, payload));
  }

  async retryPending(device?: string): Promise<void> {
    const ids = device === undefined ? [...this.devices.keys()] : [device];
    await Promise.all(ids.filter((id) => (this.devices.get(id)?.pending.size ?? 0) > 0).map((id) => this.queues.run(id, () => this.retryOne(id))));
  }

  idle(): Promise<void> {
    return this.queues.idle();
  }

  async deviceCount(): Promise<number> {
    const stored = await (this.chains.countDevices?.() ?? Promise.resolve(0)).catch(() => 0);
    return Math.max(this.devices.size, stored);
  }

  status(): CollectorStatus {
    return {
      ...this.totals,
      devices: [...this.devices.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([id, d]) => ({
        device: id, firstSeq: d.store.state.firstSeq, through: d.store.state.lastSeq, ...d.counts,
        pending: d.pending.size, key: d.keySource, lastAt: d.lastAt,
      })),
    };
  }

  async close(): Promise<void> {
    await this.idle();
    for (const d of this.devices.values()) await d.store.close();
    await this.chains.close();
  }

  private alert(a: CollectorAlert): void {
    for (const s of this.sinks) { try { s.alert(a); } catch { /* a sink must not stop collection */ } }
    try { this.o.onAlert?.(a); } catch { /* nor an alert handler */ }
  }

  private async device(id: string): Promise<DeviceState> {
    let d = this.devices.get(id);
    if (d) return d;
    const { keyDir } = this.o;
    const store = await this.chains.open(id);
    let keySource: DeviceCollectStatus['key'] = store.state.key ? 'pinned' : 'none';
    if (keyDir) {
      const k = await readKeyDirKey(keyDir, id);
      if (k) {
        if (store.state.key && !store.state.key.equals(k)) {
          throw new Error(`device ${id}: key in ${keyDir} differs from the key pinned in ${store.where}`);
        }
        if (!store.state.key) await store.pinKey(k);
        keySource = 'key-dir';
      }
    }
    d = { store, keySource, pending: new Map(), counts: { stored: 0, duplicates: 0, refused: 0, pendingDropped: 0 }, lastAt: null };
    this.devices.set(id, d);
    return d;
  }

  private async refuse(d: DeviceState | null, deviceId: string, bytes: Uint8Array, fromSeq: number | null, code: CollectorAlert['code'], message: string): Promise<BatchResult> {
    const site = this.o.site;
    this.totals.refused++;
    let evidence: string | undefined;
    if (d) {
      d.counts.refused++;
      try { evidence = await d.store.keepRefused({ bytes, fromSeq, at: this.now(), reason: { code, message, device: deviceId, site, fromSeq } }); } catch { /* reported below anyway */ }
    }
    this.alert({ at: this.now(), device: deviceId, site, code, message, fromSeq, evidence });
    return { outcome: 'refused', device: deviceId, reason: message };
  }

  /** Verifies and stores the part of `batch` after the stored end (a store that parks may also park it). */
  private async apply(deviceId: string, d: DeviceState, batch: AuditBatch, bytes: Uint8Array, park = false): Promise<Applied> {
    const st = d.store.state;
    const skip = st.lastSeq >= 0 ? Math.max(0, st.lastSeq + 1 - batch.fromSeq) : 0;
    const verdict = park
      ? verifyAhead({ deviceId, batch, key: st.key })
      : verifyBatch({ deviceId, batch, skip, key: st.key, after: st.lastSeq >= 0 && st.lastHash ? { seq: st.lastSeq, hash: st.lastHash } : undefined });
    if (verdict === null) return { parked: 'full' };
    if ('error' in verdict) return { refused: await this.refuse(d, deviceId, bytes, batch.fromSeq, 'verify-failed', verdict.error) };
    const run = verdict.run;
    if (!run) return { stored: 0 };
    if (verdict.pinnedFromCheckpoint) {
      await d.store.pinKey(Buffer.from(verdict.pinnedFromCheckpoint, 'hex'));
      d.keySource = 'first-checkpoint';
    }
    const put = await d.store.append(run, { park, start: run.firstSeq === 0 || this.o.allowMidChainStart === true, maxParked: this.maxPending });
    if (put === 'conflict') return { conflict: true };
    if (put !== 'stored') return { parked: put };
    // The store may have moved in parked runs after this one: those count as stored here too.
    const stored = d.store.state.lastSeq - (run.firstSeq - 1);
    d.counts.stored += stored;
    this.totals.stored += stored;
    d.lastAt = this.now();
    this.forward(deviceId, run);
    return { stored };
  }

  /** Each record of a stored run to every sink, with its place in the chain. */
  private forward(deviceId: string, run: VerifiedRun): void {
    for (let i = 0; i < run.payloads.length; i++) {
      const fr: ForwardedRecord = {
        device: deviceId, site: this.o.site, seq: run.firstSeq + i, hash: run.hashes[i].toString('hex'), prev: toHex(run.records[i].prev),
        payload: run.payloads[i].toString('base64'), record: run.records[i],
      };
      for (const s of this.sinks) { try { s.forward(fr); } catch { /* counted by the sink */ } }
    }
  }

  private async handleOne(topic: string, bytes: Uint8Array): Promise<BatchResult> {
    const { site } = this.o;
    const totals = this.totals;
    totals.batches++;
    const t = parseTopic(topic);
    if (!t || t.site !== site || t.kind !== 'audit' || t.siteWide) { totals.ignored++; return { outcome: 'ignored', reason: `not an audit topic of site ${site}: ${topic}` }; }
    const deviceId = t.device;
    // The device id names a folder under `out`: never `.`, `..` or anything with a separator.
    if (deviceId === '.' || deviceId === '..' || deviceId.includes('\\') || deviceId.startsWith('.')) {
      totals.ignored++;
      this.alert({ at: this.now(), device: deviceId, site, code: 'batch-invalid', message: `batch on ${topic}: device id ${JSON.stringify(deviceId)} cannot name a folder`, fromSeq: null });
      return { outcome: 'ignored', reason: `device id ${JSON.stringify(deviceId)} cannot name a folder` };
    }
    const { batch, error } = decodeAuditBatch(bytes);
    if (!batch) {
      const d = await this.device(deviceId).catch(() => null);
      return this.refuse(d, deviceId, bytes, null, 'batch-invalid', `batch from ${deviceId} is not an audit batch: ${error}`);
    }
    const d = await this.device(deviceId);
    if (batch.device !== deviceId || batch.site !== site) {
      return this.refuse(d, deviceId, bytes, batch.fromSeq, 'batch-invalid', `batch on ${topic} says device ${batch.device}, site ${batch.site}`);
    }
    // Another collector of the group may move the stored end at any time: decide again on a conflict.
    for (let attempt = 0; ; attempt++) {
      const r = await this.decide(deviceId, d, batch, bytes);
      if (r !== 'conflict') return r;
      if (attempt >= 20) throw new Error(`${deviceId}: the stored end kept moving under batch from seq ${batch.fromSeq}; the device sends it again`);
    }
  }

  /** Steps 3 to 6 for one decoded batch, against the stored end as it is now. */
  private async decide(deviceId: string, d: DeviceState, batch: AuditBatch, bytes: Uint8Array): Promise<BatchResult | 'conflict'> {
    const { o, totals } = this;
    // A store that parks answers every append with its end as it is: no read before each batch.
    if (this.chains.shared && !this.parks) await d.store.refresh();
    const st = d.store.state;
    const batchTo = batch.fromSeq + batch.records.length - 1;
    if (st.lastSeq >= 0 && batchTo <= st.lastSeq) {
      d.counts.duplicates++;
      totals.duplicates++;
      o.ack(deviceId, st.lastSeq);
      return { outcome: 'duplicate', device: deviceId, through: st.lastSeq };
    }
    // A hole after the stored end; for a device with nothing stored yet, anything but seq 0 is a
    // hole too (its first batch may still come), unless mid-chain starts are allowed (a device
    // whose early records were evicted before it was ever collected).
    const hole = st.lastSeq >= 0 ? batch.fromSeq > st.lastSeq + 1 : batch.fromSeq > 0 && !o.allowMidChainStart;
    const r = hole && !this.parks ? { parked: 'full' as const } : await this.apply(deviceId, d, batch, bytes, hole);
    if ('conflict' in r) { totals.conflicts++; return 'conflict'; }
    if ('refused' in r) return r.refused;
    if ('parked' in r) {
      if (r.parked !== 'full') totals.parked++;
      else if (this.hold(deviceId, d, batch, bytes) && this.chains.shared) {
        // Held on the end this collector last saw: the hole may be filled already (and its NOTIFY
        // gone by), so look once now; every later move of the end wakes retryPending.
        await this.retryOne(deviceId);
      }
      if (d.store.state.lastSeq >= 0) o.ack(deviceId, d.store.state.lastSeq);
      return { outcome: 'pending', device: deviceId, through: d.store.state.lastSeq, reason: `waiting for seq ${d.store.state.lastSeq + 1}..${batch.fromSeq - 1}` };
    }
    const stored = r.stored + await this.drainPending(deviceId, d);
    o.ack(deviceId, d.store.state.lastSeq);
    return { outcome: 'stored', device: deviceId, stored, through: d.store.state.lastSeq };
  }

  /** Keeps a batch that waits for a hole in memory (bounded; the device sends a dropped one again); true when kept. */
  private hold(deviceId: string, d: DeviceState, batch: AuditBatch, bytes: Uint8Array): boolean {
    if (d.pending.has(batch.fromSeq)) return false;
    const maxPending = this.maxPending;
    if (d.pending.size >= maxPending) {
      d.counts.pendingDropped++;
      this.alert({ at: this.now(), device: deviceId, site: this.o.site, code: 'pending-dropped', message: `more than ${maxPending} batches of ${deviceId} wait for seq ${d.store.state.lastSeq + 1}: dropped the one from seq ${batch.fromSeq} (the device sends it again)`, fromSeq: batch.fromSeq });
      return false;
    }
    d.pending.set(batch.fromSeq, { batch, bytes });
    this.totals.held++;
    return true;
  }

  /** Stores the pending batches that now continue the stored end; returns how many records. */
  private async drainPending(deviceId: string, d: DeviceState): Promise<number> {
    let stored = 0;
    for (;;) {
      const end = d.store.state.lastSeq;
      let next: { batch: AuditBatch; bytes: Uint8Array } | undefined;
      for (const [from, p] of d.pending) {
        const to = from + p.batch.records.length - 1;
        if (to <= end) { d.pending.delete(from); continue; }
        if (from <= end + 1) { next = p; d.pending.delete(from); break; }
      }
      if (!next) return stored;
      const pr = await this.apply(deviceId, d, next.batch, next.bytes);
      if ('conflict' in pr) { await d.store.refresh(); continue; }
      if (!('stored' in pr)) return stored;
      stored += pr.stored;
    }
  }

  /** Looks at the stored end of one device again and stores the held batches that now follow it. */
  private async retryOne(id: string): Promise<void> {
    const d = this.devices.get(id);
    if (!this.chains.shared || !d || d.pending.size === 0) return;
    await d.store.refresh();
    const before = d.store.state.lastSeq;
    await this.drainPending(id, d);
    if (d.store.state.lastSeq >= 0 && d.store.state.lastSeq !== before) this.o.ack(id, d.store.state.lastSeq);
  }
}
