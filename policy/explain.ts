/**
 * Explains a decision: how the source and destination resolved and, for every conduit of that
 * protocol that leads to the destination, whether it was a candidate and which check it failed
 * (evaluation order: compile.ts). The decision itself always comes from decide(), so an
 * explanation can never disagree with what the gateway would do; the per-conduit detail is
 * recomputed here plainly (not the hot path).
 */
import type { Decision, DecisionRequest, DenyReason } from './types';
import { modbusFunction, modbusFunctionCode, pduSubFunction } from './modbus';
import { subFunctionAllowed, subFunctionRestricted, writeValuesAllowed } from './values';
import { encodeRequestPdu } from './request-pdu';
import { windowOpen } from './schedule';
import { dnp3Stage, dnp3StageReason } from './dnp3-decide';
import { dnp3Operation } from './dnp3-request';
import { iec104Stage, iec104StageReason } from './iec104-decide';
import { iec104Operation } from './iec104-request';
import { PROTOCOLS, type PolicyIndex } from './compile';
import { decide, destConduits, destConduitsAnyPort, requestSpecs, requestTime, resolveDest, resolveSource, sourceMatch } from './decide';

/** `allow by X`, `deny (reason)`, `allow by X (monitor mode: would deny, reason)`: one line for people. */
export function describeDecision(d: Decision): string {
  if (d.decision === 'allow') return d.monitor ? `allow by ${d.conduit} (monitor mode: would deny, ${d.reason})` : `allow by ${d.conduit}`;
  return `deny (${d.reason})`;
}

/** One conduit that leads to the destination over the request's protocol. */
export interface ConduitVerdict {
  conduit: string;
  mode: 'enforce' | 'monitor';
  /** `allow`: it passes every check; `fail`: a candidate that failed `reason`; `not-candidate`: `why`. */
  result: 'allow' | 'fail' | 'not-candidate';
  reason?: DenyReason;
  why?: 'from' | 'port';
  /** For a candidate: whom its `from` matched, the person (preferred) or the device. */
  via?: 'person' | 'device';
}

export interface Explanation {
  decision: Decision;
  at: number;
  /**
   * identity/zone: whom a deny names (the person when logged in, else the device); person and
   * device: both halves of the source, each with its zone (null: absent).
   */
  source: {
    identity: string | null; zone: string | null; ip: string | null;
    person: { identity: string; zone: string | null } | null;
    device: { identity: string | null; zone: string | null };
  };
  destination: { asset: string | null; zone: string | null; protocol: string; port: number | null };
  /** In document order. */
  conduits: ConduitVerdict[];
}

/** The decision for `request` (exactly decide()'s) with the reasons behind it. */
export function explain(index: PolicyIndex, request: DecisionRequest, nowMs?: number): Explanation {
  const decision = decide(index, request, nowMs);
  const at = requestTime(request, nowMs);
  const t = index.t;
  const { source, dest } = requestSpecs(request);
  const src = resolveSource(index, source);
  const dst = resolveDest(index, dest);
  const op = request.modbus !== undefined && request.protocol !== 'tcp' ? request.modbus : undefined;
  const fn = op ? modbusFunctionCode(op.function) ?? -1 : -1;
  const shape = modbusFunction(fn)?.shape ?? 'none';
  const unit = op?.unit ?? 1;
  const lo = op?.address ?? 0;
  // Counts as decide() derives them: FC 15/16 from the values, FC 23's write range from them.
  const nValues = op?.values?.length ?? 0;
  const count = op?.count ?? (nValues > 0 && shape === 'multiple' ? nValues : 1);
  const hi = shape === 'range' || shape === 'multiple' || shape === 'read-write' ? lo + count - 1 : lo;
  const wCount = op?.writeCount ?? (shape === 'read-write' && nValues > 0 ? nValues : undefined);
  const wAddress = op?.writeAddress ?? (wCount !== undefined ? lo : undefined);
  const writes = shape === 'read-write' && wAddress !== undefined && wCount !== undefined
    ? [wAddress, wAddress + wCount - 1] : null;
  const grant = request.session?.grant;
  const dnp3op = request.dnp3 !== undefined ? dnp3Operation(request.dnp3) : null;
  const iec104op = request.iec104 !== undefined ? iec104Operation(request.iec104) : null;
  const pdu = op ? encodeRequestPdu(fn, op) : null;
  const sub = pdu === null ? -1 : pduSubFunction(pdu, 0, pdu.length);

  const inOne = (c: number, a: number, b: number): boolean => {
    for (let i = t.cRangeOff[c]; i < t.cRangeOff[c + 1]; i++) if (t.rangeStart[i] <= a && b <= t.rangeEnd[i]) return true;
    return false;
  };
  const check = (c: number): DenyReason | null => {
    const tz = t.cSchedTz[c];
    if (tz >= 0 && !windowOpen(t.cSchedDays[c], t.cSchedFrom[c], t.cSchedTo[c], t.clock.weekMinute(tz, at))) return 'outside-schedule';
    if (t.cEdgeAuth[c] === 1 && request.session?.edgeAuth !== true) return 'edge-auth-required';
    if (t.cGrant[c] === 1 && !(grant === true || (Array.isArray(grant) && grant.includes(index.conduits[c].id)))) return 'grant-required';
    if (dnp3op !== null) { const st = dnp3Stage(t.dnp3[c], dnp3op); return st < 0 ? null : dnp3StageReason(st); }
    if (iec104op !== null) { const st = iec104Stage(t.iec104[c], iec104op); return st < 0 ? null : iec104StageReason(st); }
    if (!op || t.cAllowAll[c] === 1) return null;
    if (fn < 0 || (t.cFunctions[c * 8 + (fn >>> 5)] & (1 << (fn & 31))) === 0) return 'function-not-allowed';
    if (subFunctionRestricted(t.values, c, fn) && !subFunctionAllowed(t.values, c, fn, sub)) return 'function-not-allowed';
    const units = t.cUnits[c];
    if (units !== null && units[unit] !== 1) return 'unit-not-allowed';
    if (shape !== 'none' && t.cAnyAddress[c] === 0 && (!inOne(c, lo, hi) || (writes !== null && !inOne(c, writes[0], writes[1])))) return 'address-out-of-range';
    if (!writeValuesAllowed(t.values, c, fn, pdu, 0, pdu === null ? 0 : pdu.length, writes !== null ? writes[0] : lo, writes !== null ? writes[1] : hi)) return 'value-out-of-range';
    return null;
  };

  const candidates = new Set(destConduits(t, dst) ?? []);
  const verdicts: ConduitVerdict[] = [];
  for (const c of destConduitsAnyPort(t, dst) ?? []) {
    const cd = index.conduits[c];
    const v: ConduitVerdict = { conduit: cd.id, mode: cd.mode, result: 'not-candidate' };
    const via = sourceMatch(t, c, src);
    if (via === null) v.why = 'from';
    else if (!candidates.has(c)) v.why = 'port';
    else {
      v.via = via ? 'person' : 'device';
      const reason = check(c);
      if (reason === null) v.result = 'allow';
      else { v.result = 'fail'; v.reason = reason; }
    }
    verdicts.push(v);
  }
  const name = <T extends { id: string }>(xs: readonly T[], n: number): string | null => (n >= 0 ? xs[n].id : null);
  return {
    decision,
    at,
    source: {
      identity: name(index.doc.identities, src.identity),
      zone: name(index.doc.zones, src.zone),
      ip: source.ip ?? null,
      person: src.person >= 0 ? { identity: index.doc.identities[src.person].id, zone: name(index.doc.zones, src.personZone) } : null,
      device: { identity: name(index.doc.identities, src.device), zone: name(index.doc.zones, src.deviceZone) },
    },
    destination: { asset: name(index.doc.assets, dst.asset), zone: name(index.doc.zones, dst.zone), protocol: PROTOCOLS[dst.proto], port: dst.port >= 0 ? dst.port : null },
    conduits: verdicts,
  };
}

