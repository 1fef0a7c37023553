/**
 * The audit event: what a driver or the runtime hands the audit log, and what every audit record
 * carries as its payload (protocol/audit/record.ts frames, chains and encodes it). Protocol code:
 * the gateway writes it, the fleet reads it back from uploaded logs. drivers/types.ts re-exports
 * AuditEvent and AuditKind beside the AuditSink drivers write to.
 */
import type { Decision } from '../../policy/types';
import type { Iec104Class } from '../../policy/iec104-classes';

export type AuditKind =
  | 'decision'        // a connection or protocol operation was decided
  | 'malformed'       // a frame or request that could not be parsed; the connection was closed
  | 'connection'      // opened / closed / timed out / capped
  | 'driver'          // a driver started, stopped, failed
  | 'policy'          // bundle activated, refused, expired
  | 'auth'            // login, failed login, logout, lockout
  | 'grant'
  | 'break-glass'
  | 'quarantine'
  | 'config';

/** One audit event as a driver or the runtime emits it; the audit log frames, chains and stores it. */
export interface AuditEvent {
  kind: AuditKind;
  /** Epoch milliseconds. */
  at: number;
  /** Which part emitted it: `modbus-tcp`, `tcp-conduit`, `nftables`, `store`, `console`, ... */
  source: string;
  /** For decisions: the decision as the policy made it. */
  decision?: Decision;
  /** The policy version that decided. */
  policyVersion?: string;
  /** Client address and port, the listener's asset and service port. */
  src?: string;
  srcPort?: number;
  asset?: string;
  port?: number;
  protocol?: string;
  /**
   * Modbus operation: function code, unit, address, count, for writes the values written, and for
   * FC 08 / FC 43 the sub-function (diagnostics code, MEI type) the request carried.
   */
  modbus?: { function: number; unit: number; address: number; count: number; values?: number[]; sub?: number };
  /**
   * DNP3 operation (drivers/dnp3/audit-fields.ts): function code and name, link addresses (source:
   * the master, destination: the outstation), application sequence, object headers as
   * `g12v1 q28 3-9 x2`, and the points and values of controls (CROB control codes, g41 values).
   */
  dnp3?: { function: number; name: string; source: number; destination: number; seq: number; objects: string[]; points?: number[]; values?: number[]; iin?: number };
  /**
   * IEC 104 ASDU (drivers/iec104/audit-fields.ts): type and class, cause with P/N and test bits,
   * originator, common address, IOAs, and the values, qualifiers and S/E bits of commands.
   */
  iec104?: Iec104AuditFields;
  /** Free-form short message (malformed reason, connection event). */
  message?: string;
  /** Anything else worth keeping, plain JSON data. */
  detail?: Record<string, unknown>;
}

/**
 * The `iec104` field of audit records (drivers/iec104/audit-fields.ts fills it from a parsed ASDU):
 * type and class, cause with P/N and test bits, originator, common address, the IOAs, and for
 * commands and set-points the values, qualifiers and S/E bits.
 */
export interface Iec104AuditFields {
  type: number;
  name: string;
  /** The decision class; absent for a type 104 does not define. */
  class?: Iec104Class;
  cause: number;
  negative: boolean;
  test: boolean;
  originator: number;
  ca: number;
  sq: boolean;
  /** Information objects in the ASDU (the lists below hold at most AUDIT_MAX_OBJECTS). */
  count: number;
  ioa: number[];
  /** Commands and set-points: the commanded value per object (null for NaN, which JSON cannot carry). */
  values?: (number | null)[];
  /** Commands: QU; set-points: QL. */
  qualifiers?: number[];
  /** Commands and set-points: true for select, false for execute. */
  select?: boolean[];
}
