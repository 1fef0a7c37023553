/**
 * FleetReadStore over the per-device file store (fleet/audit-device-store.ts): `<dir>/<site>/<device>/`
 * as `zonegate fleet audit collect --site <site> --out <dir>/<site>` writes it. Records are read
 * incrementally (new frames of grown segments only) into a bounded in-memory index per device
 * (the newest `maxRowsPerDevice` rows; the PostgreSQL store has no such bound). A device's chain
 * is verified with runtime/audit/verify.ts under its pinned key whenever a file in its folder
 * changed (a record stored, a checkpoint, an altered segment),
 * and counts as broken while refused batches lie in its `refused/` folder. Gateway statuses come
 * from a StatusBook (the retained status topics).
 */
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { readFrame } from '../../protocol/audit/frame';
import { decodeRecord, type AuditRecord } from '../../protocol/audit/record';
import { sortSegments } from '../../protocol/audit/segment';
import { verifyAuditDir } from '../../protocol/audit/verify';
import { parseDevicePublicKey } from '../../protocol/device-public-key';
import { idProblem } from '../../protocol/mqtt/topics';
import type { StatusDocument } from '../../protocol/mqtt/status';
import { PINNED_KEY_FILE, REFUSED_DIR } from '../audit-device-store';
import { decisionOf, operationOf } from './operation';
import type { StatusBook } from './status-book';
import type { AuditFilter, AuditRow, AuditSearch, ChainState, DenialBucket, FleetReadStore } from './types';

export interface FileReadStoreOptions {
  /** Holds one folder per site, each holding one folder per device. */
  dir: string;
  /** The sites read; other folders under `dir` are ignored. */
  sites: readonly string[];
  statuses: StatusBook;
  /** Rows kept in memory per device, newest. Default 200,000. */
  maxRowsPerDevice?: number;
  /** Reads the folders again at most this often, ms. Default 500. */
  refreshMs?: number;
  now?: () => number;
}

interface DeviceIndex {
  site: string;
  device: string;
  dir: string;
  rows: AuditRow[];
  /** Bytes of each segment already read. */
  read: Map<string, number>;
  lastSeq: number;
  /** The last verification and what it saw: the stored head, refused batches, the folder's newest change. */
  chain: { at: number; refused: number; changed: number; state: ChainState } | null;
}


/** The searchable row of a stored record. */
export function rowOf(site: string, device: string, r: AuditRecord): AuditRow {
  const s = (v: unknown) => (typeof v === 'string' ? v : null);
  return {
    site, device, seq: r.seq, at: r.at, kind: String(r.kind), identity: s(r.decision?.identity), src: s(r.src),
    asset: s(r.asset), operation: operationOf(r), decision: decisionOf(r), reason: s(r.decision?.reason), record: r,
  };
}

/** True when `row` passes every given filter of `f`. */
export function rowMatches(row: AuditRow, f: AuditFilter): boolean {
  if (f.site !== undefined && row.site !== f.site) return false;
  if (f.device !== undefined && row.device !== f.device) return false;
  if (f.identity !== undefined && row.identity !== f.identity && row.src !== f.identity) return false;
  if (f.asset !== undefined && row.asset !== f.asset) return false;
  if (f.operation !== undefined && row.operation !== f.operation) return false;
  if (f.decision !== undefined && row.decision !== f.decision) return false;
  if (f.from !== undefined && row.at < f.from) return false;
  if (f.to !== undefined && row.at >= f.to) return false;
  return true;
}

/** Newest first: at, then device, then seq, all descending. */
function newer(a: { at: number; device: string; seq: number }, b: { at: number; device: string; seq: number }): number {
  if (a.at !== b.at) return b.at - a.at;
  if (a.device !== b.device) return a.device < b.device ? 1 : -1;
  return b.seq - a.seq;
}

export class FileReadStore implements FleetReadStore {
  private readonly devices = new Map<string, DeviceIndex>();
  private lastRefresh = -Infinity;
  private refreshing: Promise<void> | null = null;
  private readonly max: number;
  private readonly now: () => number;

  constructor(private readonly o: FileReadStoreOptions) {
    for (const s of o.sites) { const p = idProblem(s, 'site'); if (p) throw new TypeError(p); }
    this.max = o.maxRowsPerDevice ?? 200_000;
    this.now = o.now ?? Date.now;
  }

  async search(q: AuditSearch): Promise<AuditRow[]> {
    if (!Number.isInteger(q.limit) || q.limit < 1) throw new TypeError('search limit must be a positive integer');
    await this.refresh();
    const out: AuditRow[] = [];
    for (const d of this.selected(q)) {
      for (const row of d.rows) {
        if (!rowMatches(row, q)) continue;
        if (q.before && newer(q.before, row) >= 0) continue;
        out.push(row);
      }
    }
    return out.sort(newer).slice(0, q.limit);
  }

  async denials(q: AuditFilter & { from: number; to: number; bucketMs: number }): Promise<DenialBucket[]> {
    if (!(q.bucketMs > 0) || !(q.to > q.from)) throw new TypeError('denials needs to > from and bucketMs > 0');
    await this.refresh();
    const f: AuditFilter = { ...q, decision: 'deny' };
    const buckets = new Map<string, DenialBucket>();
    for (const d of this.selected(q)) {
      for (const row of d.rows) {
        if (!rowMatches(row, f)) continue;
        const start = q.from + Math.floor((row.at - q.from) / q.bucketMs) * q.bucketMs;
        const key = `${start}\u0000${row.site}\u0000${row.asset}\u0000${row.reason}`;
        const weight = row.kind === 'summary' && typeof row.record.summary?.count === 'number' ? row.record.summary.count : 1;
        const b = buckets.get(key);
        if (b) b.count += weight;
        else buckets.set(key, { start, site: row.site, asset: row.asset, reason: row.reason, count: weight });
      }
    }
    return [...buckets.values()].sort((a, b) => a.start - b.start);
  }

  async chains(site?: string): Promise<ChainState[]> {
    await this.refresh();
    const out: ChainState[] = [];
    for (const d of this.devices.values()) {
      if (site !== undefined && d.site !== site) continue;
      out.push(await this.chainOf(d));
    }
    return out.sort((a, b) => (a.site === b.site ? (a.device < b.device ? -1 : 1) : a.site < b.site ? -1 : 1));
  }

  async gateways(site?: string): Promise<StatusDocument[]> {
    return this.o.statuses.list(site);
  }

  async close(): Promise<void> {
    this.devices.clear();
  }

  private selected(f: AuditFilter): DeviceIndex[] {
    return [...this.devices.values()].filter((d) => (f.site === undefined || d.site === f.site) && (f.device === undefined || d.device === f.device));
  }

  /** Reads what the collector appended since the last look; at most once per refreshMs. */
  private refresh(): Promise<void> {
    if (this.refreshing) return this.refreshing;
    if (this.now() - this.lastRefresh < (this.o.refreshMs ?? 500)) return Promise.resolve();
    this.refreshing = this.readAll().finally(() => { this.lastRefresh = this.now(); this.refreshing = null; });
    return this.refreshing;
  }

  private async readAll(): Promise<void> {
    for (const site of this.o.sites) {
      const siteDir = join(this.o.dir, site);
      let names: string[];
      try { names = await fsp.readdir(siteDir); } catch { continue; }
      for (const device of names) {
        if (idProblem(device, 'device')) continue;
        const key = `${site}\u0000${device}`;
        let d = this.devices.get(key);
        if (!d) {
          try { if (!(await fsp.stat(join(siteDir, device))).isDirectory()) continue; } catch { continue; }
          d = { site, device, dir: join(siteDir, device), rows: [], read: new Map(), lastSeq: -1, chain: null };
          this.devices.set(key, d);
        }
        await this.readDevice(d);
      }
    }
  }

  private async readDevice(d: DeviceIndex): Promise<void> {
    let names: string[];
    try { names = await fsp.readdir(d.dir); } catch { return; }
    for (const seg of sortSegments(d.dir, names)) {
      const done = d.read.get(seg.name) ?? 0;
      const size = (await fsp.stat(seg.path)).size;
      if (size <= done) continue;
      const fh = await fsp.open(seg.path, 'r');
      let bytes: Buffer;
      try {
        bytes = Buffer.alloc(size - done);
        await fh.read(bytes, 0, bytes.length, done);
      } finally { await fh.close(); }
      let offset = 0;
      while (offset < bytes.length) {
        const fr = readFrame(bytes, offset);
        if (!fr.ok) break; // a frame still being written: read it next time
        let r: AuditRecord;
        try { r = decodeRecord(fr.payload, { copyBytes: true }); } catch { offset = fr.next; continue; }
        if (r.seq > d.lastSeq) { d.rows.push(rowOf(d.site, d.device, r)); d.lastSeq = r.seq; }
        offset = fr.next;
      }
      d.read.set(seg.name, done + offset);
    }
    if (d.rows.length > this.max) d.rows.splice(0, d.rows.length - this.max);
  }

  private async chainOf(d: DeviceIndex): Promise<ChainState> {
    let refused = 0;
    try { refused = (await fsp.readdir(join(d.dir, REFUSED_DIR))).filter((n) => n.endsWith('.batch')).length; } catch { /* none */ }
    let changed = 0;
    for (const n of await fsp.readdir(d.dir)) {
      try { changed = Math.max(changed, (await fsp.stat(join(d.dir, n))).mtimeMs); } catch { /* gone meanwhile */ }
    }
    if (d.chain && d.chain.at === d.lastSeq && d.chain.refused === refused && d.chain.changed === changed) return d.chain.state;
    let key: Buffer | undefined;
    try { key = parseDevicePublicKey(await fsp.readFile(join(d.dir, PINNED_KEY_FILE), 'utf8'), PINNED_KEY_FILE); } catch { key = undefined; }
    const r = await verifyAuditDir(d.dir, { ...(key ? { devicePublicKey: key } : {}), unsignedLimit: false });
    const problem = r.error ? r.error.message
      : refused > 0 ? `${refused} refused batch(es) kept in ${REFUSED_DIR}/`
        : !key ? 'no pinned device key yet (no checkpoint collected)' : null;
    const state: ChainState = {
      site: d.site, device: d.device, firstSeq: r.firstSeq ?? -1, through: r.lastSeq ?? -1,
      verified: problem === null, checkpointSeq: r.lastCheckpoint?.seq ?? null, problem, lastAt: r.lastAt,
    };
    d.chain = { at: d.lastSeq, refused, changed, state };
    return state;
  }
}
