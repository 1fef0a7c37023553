/**
 * The per-request half shared by both RTU services: parse the PDU with the Modbus/TCP driver's
 * parser (one parser for TCP and RTU), decide it (sub-functions and write values included), and
 * emit the same audit record the TCP proxy emits.
 */
import type { Decider, Decision, Scope } from '../../policy/types';
import type { AuditEvent } from '../types';
import { ModbusRequest, parseRequestPdu, requestAuditFields } from '../modbus-tcp/pdu';
import { exceptionForReason, ModbusException } from '../modbus-tcp/exception';

const MALFORMED_VALUE: Decision = Object.freeze({ decision: 'deny', conduit: null, reason: 'malformed', identity: null });

export interface RequestContext {
  readonly name: string;
  readonly asset: string;
  readonly servicePort: number;
  readonly decider: Decider;
  readonly now: () => number;
  emit(event: AuditEvent): void;
}

/** The outcome: a framing problem (close / drop), an exception code to answer, or 0 to forward. */
export type Verdict = { problem: string } | { exception: number } | { forward: true };

/** Parses, decides and audits one request PDU at buf[pdu .. pdu+len) for `unit`. */
export function decideRequest(ctx: RequestContext, scope: Scope, req: ModbusRequest, buf: Buffer, pdu: number, len: number, unit: number, peer: { src: string; srcPort: number }): Verdict {
  const problem = parseRequestPdu(buf, pdu, len, req);
  if (problem !== null) return { problem };
  req.unit = unit;
  const now = ctx.now();
  const decision = req.invalid !== null ? MALFORMED_VALUE
    : ctx.decider.operation !== undefined ? ctx.decider.operation(scope, req, now)
      : ctx.decider.modbus(scope, req.fn, unit, req.address, req.count, now, req.writeCount === 0 ? undefined : req.writeAddress, req.writeCount === 0 ? undefined : req.writeCount);
  ctx.emit({
    kind: 'decision', at: now, source: ctx.name, decision, policyVersion: scope.policyVersion,
    src: peer.src, srcPort: peer.srcPort, asset: ctx.asset, port: ctx.servicePort, protocol: 'modbus',
    modbus: requestAuditFields(buf, pdu, len, req, unit),
    message: decision.monitor === true ? `monitor: would deny (${decision.reason})` : req.invalid ?? undefined,
    detail: req.writeCount !== 0 ? { writeAddress: req.writeAddress, writeCount: req.writeCount } : undefined,
  });
  if (decision.decision === 'allow') return { forward: true };
  return { exception: req.known ? exceptionForReason(decision.reason) : ModbusException.IllegalFunction };
}
