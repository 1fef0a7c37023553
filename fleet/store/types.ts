/**
 * What the fleet console reads, whichever store holds the fleet's data: the per-device file
 * store (fleet/audit-device-store.ts, the embedded default) or PostgreSQL. The collector writes
 * through its own store interface; this is the read side, shared by `fleet serve`, the audit
 * search and the SIEM export.
 */
import type { AuditRecord } from '../../protocol/audit/record';
import type { StatusDocument } from '../../protocol/mqtt/status';

export type Decision = 'allow' | 'deny' | 'would-deny';

export interface AuditFilter {
  site?: string;
  device?: string;
  /** Identity name (record.decision.identity) or source address (record.src), exact. */
  identity?: string;
  asset?: string;
  /**
   * Operation, exact: `modbus:<function code>`, `dnp3:<function name>`, `iec104:<type id>`, or the
   * record's kind for records that are not protocol operations (login, grant, activation).
   * operationOf() in fleet/store/operation.ts derives it from a record, the same way for every store.
   */
  operation?: string;
  decision?: Decision;
  /** Record time (record.at, epoch ms), from inclusive, to exclusive. */
  from?: number;
  to?: number;
}

export interface AuditRow {
  site: string;
  device: string;
  seq: number;
  at: number;
  kind: string;
  identity: string | null;
  src: string | null;
  asset: string | null;
  operation: string | null;
  decision: Decision | null;
  reason: string | null;
  /** The decoded record as stored. */
  record: AuditRecord;
}

/** Newest first; `before` continues a page: rows strictly older than (at, device, seq). */
export interface AuditSearch extends AuditFilter {
  limit: number;
  before?: { at: number; device: string; seq: number };
}

export interface DenialBucket {
  /** Bucket start, epoch ms. */
  start: number;
  site: string;
  asset: string | null;
  reason: string | null;
  count: number;
}

/** Where a device's stored chain stands, for the "verifies" mark beside every result. */
export interface ChainState {
  site: string;
  device: string;
  firstSeq: number;
  /** Last seq stored and acknowledged; -1 when none. */
  through: number;
  /** Result of the collector's verification (chain links and the last signed checkpoint). */
  verified: boolean;
  /** Seq of the last checkpoint whose signature verified, or null. */
  checkpointSeq: number | null;
  /** Why the chain does not verify (refused batch, broken link), or null. */
  problem: string | null;
  lastAt: number | null;
}

export interface FleetReadStore {
  search(q: AuditSearch): Promise<AuditRow[]>;
  /** Denials (decision deny, and flood summaries counted as their `count`) per bucket, site, asset and reason. */
  denials(q: AuditFilter & { from: number; to: number; bucketMs: number }): Promise<DenialBucket[]>;
  chains(site?: string): Promise<ChainState[]>;
  /** Last known status document per gateway (from the retained status topic), newest kept. */
  gateways(site?: string): Promise<StatusDocument[]>;
  close(): Promise<void>;
}
