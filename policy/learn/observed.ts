/**
 * What replay and learning read from recorded traffic, and the per-protocol extension point.
 *
 * An observation is the part of an audit decision record (protocol/audit/record.ts: the
 * AuditEvent a driver emitted) that says who asked what of which asset: `src`, `asset`, `port`,
 * `protocol`, the protocol's operation fields (Modbus: `modbus.{function, unit, address, count}`,
 * FC 23's write range in `detail.{writeAddress, writeCount}`), `at` and the decision made then.
 * A pcap (learn only) yields the same shape. These fields suffice to re-decide a request except
 * for the session facts of a person logged in at the edge: the record names the person
 * (`decision.identity`) but not whether a grant was active, so replay assumes the session as it was
 * (logged in, grant active) and reports grant changes only through `policy diff`.
 *
 * Each protocol a driver inspects registers one ProtocolHandler (modbus.ts, tcp.ts, dnp3.ts,
 * iec104.ts here); records of a protocol without one are counted as skipped, never guessed at.
 */
import type { Conduit, Decision, Protocol } from '../types';
import type { ScopeState } from '../decide';

/** The fields of a recorded decision that replay and learning read (an AuditRecord has them all). */
export interface Observation {
  kind: string;
  /** Epoch ms. */
  at: number;
  src?: string;
  asset?: string;
  port?: number;
  protocol?: string;
  /**
   * `values`: what a write carried (registers, coil states 0/1, FC 22's and/or masks); `sub`: FC 08's
   * diagnostics sub-function or FC 43's MEI type; both as the proxy audits them.
   */
  modbus?: { function: number; unit: number; address: number; count: number; values?: number[]; sub?: number };
  /** DNP3: the driver's audit fields (drivers/dnp3/audit-fields.ts; read by dnp3.ts). */
  dnp3?: { function: number; source: number; destination: number; objects: string[]; points?: number[]; values?: number[] };
  /** IEC 104: the driver's audit fields (drivers/iec104/audit-fields.ts; read by iec104.ts). */
  iec104?: { type: number; cause: number; ca: number; count: number; ioa: number[]; values?: (number | null)[]; select?: boolean[] };
  detail?: Record<string, unknown>;
  decision?: { decision: 'allow' | 'deny'; conduit: string | null; reason: string | null; identity: string | null; monitor?: boolean };
  message?: string;
}

/** What one source did to one asset over one protocol, gathered for a learnt conduit. */
export interface OperationLearner {
  /** Adds one observed operation (or connection). */
  add(obs: Observation): void;
  /**
   * The allow blocks of the learnt conduits (one per block: e.g. Modbus reads and writes apart),
   * each with a short name suffix, its boundary probes for deny tests and one real example.
   */
  blocks(slack: number): LearntBlock[];
}

/**
 * The addresses (indices) a block's boundary deny tests probe: just below the lowest range, just
 * above the highest, and both sides of the first gap: at most 4 per conduit, so that a conduit
 * learnt from scattered traffic (hundreds of ranges) does not bury the policy in tests.
 */
export function boundaryProbes(ranges: readonly { start: number; end: number }[], max: number): number[] {
  if (ranges.length === 0) return [];
  const out = [ranges[0].start - 1, ranges[ranges.length - 1].end + 1];
  if (ranges.length > 1) out.push(ranges[0].end + 1, ranges[1].start - 1);
  return [...new Set(out)].filter((a) => a >= 0 && a <= max).sort((a, b) => a - b);
}

/** One learnt conduit's protocol part. */
export interface LearntBlock {
  /** Appended to the conduit id (`read`, `write`, ... or '' for a single block). */
  suffix: string;
  /** The conduit's protocol-specific fields (normalised as validate.ts makes them). */
  fields: Partial<Pick<Conduit, 'allow' | 'ports' | 'dnp3' | 'iec104'>>;
  /** A request (its protocol part: `modbus: {...}`, `port`) that real traffic made. */
  example: Record<string, unknown>;
  /** Requests just outside what was learnt (policy test `expect: deny`). */
  probes: Record<string, unknown>[];
  /** Observations that fell into this block. */
  count: number;
}

/** A protocol's part in replay and learning. */
export interface ProtocolHandler {
  /** The `protocol` its driver writes into audit records. */
  readonly recordProtocol: string;
  /** The policy protocol its conduits use. */
  readonly policyProtocol: Protocol;
  /** True when the observation is one protocol operation, false for a connection-level decision. */
  isOperation(obs: Observation): boolean;
  /** Re-decides an operation on a scope resolved for its source and destination; null when fields are missing. */
  decideOperation(scope: ScopeState, obs: Observation, at: number): Decision | null;
  /** A short text for the operation (`read-holding-registers unit 1 @10+2`). */
  describe(obs: Observation): string;
  /** A fresh learner for one source × asset. */
  newLearner(): OperationLearner;
}
