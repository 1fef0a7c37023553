/**
 * The contracts between drivers and the runtime: the audit sink a driver writes to and the
 * lifecycle every driver implements. Drivers get a Decider (policy/types.ts) and an AuditSink
 * handed in; they never reach for the runtime.
 */
import type { AuditEvent } from '../protocol/audit/event';

export type { AuditEvent, AuditKind } from '../protocol/audit/event';

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
