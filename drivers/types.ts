/**
 * The contracts between drivers and the runtime: the audit sink a driver writes to and the
 * lifecycle every driver implements. Drivers get a Decider (policy/types.ts) and an AuditSink
 * handed in; they never reach for the runtime.
 */
import type { Decision } from '../policy/types';
import type { Iec104AuditFields } from './iec104/audit-fields';

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

/** Must never throw and never block: the hot path calls it for every decision. */
export interface AuditSink {
  record(event: AuditEvent): void;
}

/** Every driver: started with an AbortSignal, stopped (draining) by stop(). */
export interface Driver {
  readonly name: string;
  start(signal: AbortSignal): Promise<void>;
  stop(): Promise<void>;
}
