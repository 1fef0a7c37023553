/**
 * Where the collector keeps each device's verified chain (fleet/audit-collect.ts). Two
 * implementations: the per-device file store (audit-device-store.ts, the embedded default) and
 * PostgreSQL (store/pg/collect-store.ts, shared by several collectors of one group).
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { AuditRecord } from '../protocol/audit/record';
import { DeviceAuditStore } from './audit-device-store';

export interface ChainEnd {
  /** Seq of the first and last stored record; -1 when none. */
  firstSeq: number;
  lastSeq: number;
  /** SHA-256 of the last stored payload; null when none. */
  lastHash: Buffer | null;
  /** Pinned raw ed25519 key, or null until pinned. */
  key: Buffer | null;
}

export interface VerifiedRun {
  firstSeq: number;
  payloads: Buffer[];
  records: AuditRecord[];
  hashes: Buffer[];
  lastHash: Buffer;
  /** The last checkpoint payload of the run, if any. */
  checkpoint?: Buffer;
}

export type AppendOutcome = 'stored' | 'conflict' | 'parked' | 'full';

export interface AppendOptions { park?: boolean; start?: boolean; maxParked?: number }

export interface CollectorDeviceStore {
  /** The stored end as last read or written by this process. */
  readonly state: ChainEnd;
  /** Where the chain is kept, for messages. */
  readonly where: string;
  /** Reads the stored end again (another collector may have moved it); a no-op for a private store. */
  refresh(): Promise<void>;
  pinKey(raw: Uint8Array): Promise<void>;
  /**
   * Stores a verified run that continues `state` and resolves once it is durable (fsync or
   * COMMIT), never before; `state` then holds the new end (a shared store may also have moved in
   * parked runs that the run connected). 'conflict': the stored end moved meanwhile (another
   * collector): nothing was written, `state` holds the end as it is now; decide again.
   * With `park` (stores with `parks` only), a run that starts after a hole is kept by the store
   * until the hole fills ('parked'), unless the device already has maxParked runs there ('full').
   * `start`: the run may begin an empty chain (it starts at seq 0, or mid-chain starts are allowed).
   */
  append(run: VerifiedRun, o?: AppendOptions): Promise<AppendOutcome>;
  /** Keeps a refused batch as evidence; returns where. */
  keepRefused(o: { bytes: Uint8Array; fromSeq: number | null; at: number; reason: { code: string; message: string } & Record<string, unknown> }): Promise<string>;
  close(): Promise<void>;
}

export interface CollectorStore {
  /** True when other collectors write to the same store (PostgreSQL): the end is re-read per batch. */
  readonly shared: boolean;
  /**
   * The store keeps runs that arrive ahead of a hole and moves them in when the hole fills
   * (PostgreSQL): collectors of a group never wait on each other's batches.
   */
  readonly parks?: boolean;
  /**
   * Calls `cb` with a device id whenever any collector moved that device's stored end (PostgreSQL
   * LISTEN/NOTIFY); returns a stop function. Absent for a private store.
   */
  onAdvance?(cb: (device: string) => void): Promise<() => Promise<void>>;
  open(device: string): Promise<CollectorDeviceStore>;
  /** How many devices have a chain here (sizes the resync spread: audit-collect-mqtt.ts). */
  countDevices?(): Promise<number>;
  close(): Promise<void>;
}

/** The per-device file store under `out` (`<out>/<device>/`, the device's own segment format). */
export function fileCollectorStore(out: string): CollectorStore {
  return {
    shared: false,
    async open(device) {
      const s = await DeviceAuditStore.open({ dir: join(out, device) });
      return {
        state: s.state,
        where: s.dir,
        refresh: async () => undefined,
        pinKey: (raw) => s.pinKey(raw),
        async append(run) { await s.append(run); return 'stored'; },
        keepRefused: (o) => s.keepRefused(o),
        close: () => s.close(),
      };
    },
    async countDevices() {
      const entries = await readdir(out, { withFileTypes: true }).catch(() => []);
      return entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).length;
    },
    close: async () => undefined,
  };
}
