/**
 * Decisions over a compiled index (evaluation order: see the comment at the top of compile.ts);
 * the first half, resolving a scope, lives in scope.ts.
 *
 * Two halves: resolving a source and destination into a ScopeState (names and addresses to
 * integers, the candidate conduits of that source/destination/protocol/port, the session facts)
 * once per connection, and deciding one operation against a scope, the hot path, which reads
 * typed arrays and returns preallocated frozen decisions. decide() does both for one request;
 * decider.ts keeps scopes across a connection's requests.
 */
import type { Decision, DecisionRequest, ModbusOperation } from './types';
import { ZonegateError } from './errors';
import { MODBUS_FUNCTIONS, modbusFunctionCode, pduSubFunction } from './modbus';
import { SUB_SLOT, subFunctionAllowed, writeValuesAllowed, writesValues } from './values';
import { encodeRequestPdu } from './request-pdu';
import { windowOpen } from './schedule';
import { decideDnp3 } from './dnp3-decide';
import { dnp3Operation } from './dnp3-request';
import { decideIec104 } from './iec104-decide';
import { iec104Operation } from './iec104-request';
import {
  R_ADDRESS, R_EDGE_AUTH, R_FUNCTION, R_GRANT, R_MALFORMED, R_SCHEDULE, R_UNIT, R_VALUE, type DecisionCache, type IndexTables, type PolicyIndex,
} from './index-tables';
import { allowDecision, denyDecision, monitorDecision } from './decision-cache';
import { ScopeState, resolveScope, type DestSpec, type SourceSpec } from './scope';

export {
  ScopeState, resolveScope, resolveSource, resolveDest, zoneOfIp, fromMatches, sourceMatch, destConduits, destConduitsAnyPort,
} from './scope';
export type { SourceSpec, DestSpec, ResolvedSource, ResolvedDest } from './scope';

// Modbus PDU shapes as small integers (modbus.ts; Modbus Application Protocol V1.1b3 section 6).
const S_UNKNOWN = 0, S_NONE = 1, S_ONE = 2, S_RANGE = 3, S_RW = 4;
const SHAPE = new Uint8Array(256);
const MAX_COUNT = new Uint16Array(256);
const MAX_WRITE = new Uint16Array(256);
for (const f of MODBUS_FUNCTIONS) {
  SHAPE[f.code] = f.shape === 'none' ? S_NONE
    : f.shape === 'single' || f.shape === 'mask' || f.shape === 'fifo' ? S_ONE
      : f.shape === 'read-write' ? S_RW : S_RANGE;
  MAX_COUNT[f.code] = f.maxCount;
  MAX_WRITE[f.code] = f.maxWriteCount ?? 0;
}

/** The deny reason of a candidate by how far it got: schedule, edge auth, grant, function, unit, address, values. */
const STAGE_REASON = Int32Array.of(R_SCHEDULE, R_EDGE_AUTH, R_GRANT, R_FUNCTION, R_UNIT, R_ADDRESS, R_VALUE);

function inRanges(t: IndexTables, c: number, lo: number, hi: number): boolean {
  const s = t.rangeStart, e = t.rangeEnd;
  let a = t.cRangeOff[c], b = t.cRangeOff[c + 1] - 1;
  if (b - a > 8) {
    // Binary search for the last range starting at or before lo (ranges are sorted and disjoint).
    let found = -1;
    while (a <= b) {
      const mid = (a + b) >>> 1;
      if (s[mid] <= lo) { found = mid; a = mid + 1; } else b = mid - 1;
    }
    return found >= 0 && e[found] >= hi;
  }
  for (let i = a; i <= b; i++) {
    if (s[i] > lo) return false;
    if (e[i] >= lo) return e[i] >= hi;
  }
  return false;
}

function allowAt(scope: ScopeState, index: PolicyIndex, i: number, c: number): Decision {
  const d = scope.allowAt[i];
  if (d !== undefined) return d;
  return (scope.allowAt[i] = allowDecision(scope.candCache[i], index, c));
}

/**
 * Steps 6 and 7 over the scope's candidates. `hasOp` false is a connection-level question (stops
 * after the grant check); otherwise fn/unit and the inclusive address ranges [lo, hi] and, for FC
 * 23, [wlo, whi] (lo < 0: no address) were validated by the caller.
 */
function evaluate(scope: ScopeState, hasOp: boolean, fn: number, unit: number, lo: number, hi: number, wlo: number, whi: number, nowMs: number, op: ModbusOperation | null): Decision {
  const index = scope.index as PolicyIndex;
  const t = index.t;
  const v = t.values;
  const cands = scope.cands;
  let best = -1, bestStage = -1, mon = -1, monStage = -1, monAt = -1;
  const fnWord = fn >>> 5, fnBit = 1 << (fn & 31);
  // Read from the PDU once, only for the functions that have them (no allocation).
  const pdu = op === null ? null : op.pdu;
  const sub = hasOp && SUB_SLOT[fn & 0xff] >= 0 && pdu !== null ? pduSubFunction(pdu, (op as ModbusOperation).pduOffset, (op as ModbusOperation).pduLength) : -1;
  const writes = hasOp && writesValues(fn);
  for (let i = 0; i < cands.length; i++) {
    const c = cands[i];
    let stage: number;
    const tz = t.cSchedTz[c];
    if (tz >= 0 && !windowOpen(t.cSchedDays[c], t.cSchedFrom[c], t.cSchedTo[c], t.clock.weekMinute(tz, nowMs))) stage = 0;
    else if (t.cEdgeAuth[c] === 1 && !scope.edgeAuth) stage = 1;
    else if (t.cGrant[c] === 1 && !scope.grantAll && (scope.grant === null || scope.grant[c] === 0)) stage = 2;
    else if (!hasOp || t.cAllowAll[c] === 1) return allowAt(scope, index, i, c);
    else if ((t.cFunctions[c * 8 + fnWord] & fnBit) === 0
      || ((v.subOnly[c * 8 + fnWord] & fnBit) !== 0 && !subFunctionAllowed(v, c, fn, sub))) stage = 3;
    else {
      const units = t.cUnits[c];
      if (units !== null && units[unit] === 0) stage = 4;
      else if (lo >= 0 && t.cAnyAddress[c] === 0 && (!inRanges(t, c, lo, hi) || (wlo >= 0 && !inRanges(t, c, wlo, whi)))) stage = 5;
      else if (writes && !writeValuesAllowed(v, c, fn, pdu, op === null ? 0 : op.pduOffset, op === null ? 0 : op.pduLength, wlo >= 0 ? wlo : lo, wlo >= 0 ? whi : hi)) stage = 6;
      else return allowAt(scope, index, i, c);
    }
    if (stage > bestStage) { best = c; bestStage = stage; }
    if (t.cMonitor[c] === 1 && stage > monStage) { mon = c; monStage = stage; monAt = i; }
  }
  if (mon >= 0) return monitorDecision(scope.candCache[monAt], index, mon, STAGE_REASON[monStage]);
  return best >= 0 ? denyDecision(scope.cache as DecisionCache, STAGE_REASON[bestStage]) : (scope.empty as Decision);
}

/** A connection-level decision for a resolved scope: could some conduit apply now? */
export function decideConnect(scope: ScopeState, nowMs: number): Decision {
  if (scope.pre !== null) return scope.pre;
  if (scope.cands.length === 0) return scope.empty as Decision;
  return evaluate(scope, false, 0, 0, -1, -1, -1, -1, nowMs, null);
}

const isU16 = (x: number): boolean => (x & 0xffff) === x;

/**
 * The hot path: one Modbus operation against a resolved scope. No allocation once the scope's
 * decisions exist. Values that are not integers in range are malformed (step 4).
 */
export function decideModbus(scope: ScopeState, fn: number, unit: number, address: number, count: number, nowMs: number, writeAddress?: number, writeCount?: number): Decision {
  return decideOp(scope, fn, unit, address, count, nowMs, writeAddress, writeCount, null);
}

/**
 * The hot path with the request's PDU: decideModbus() plus the sub-function and value checks.
 * No allocation once the scope's decisions exist.
 */
export function decideOperation(scope: ScopeState, op: ModbusOperation, nowMs: number): Decision {
  return op.writeCount === 0
    ? decideOp(scope, op.fn, op.unit, op.address, op.count, nowMs, undefined, undefined, op)
    : decideOp(scope, op.fn, op.unit, op.address, op.count, nowMs, op.writeAddress, op.writeCount, op);
}

function decideOp(scope: ScopeState, fn: number, unit: number, address: number, count: number, nowMs: number, writeAddress: number | undefined, writeCount: number | undefined, op: ModbusOperation | null): Decision {
  if (scope.pre !== null) return scope.pre;
  const shape = (fn & 0xff) === fn ? SHAPE[fn] : S_UNKNOWN;
  let lo = -1, hi = -1, wlo = -1, whi = -1;
  let ok = shape !== S_UNKNOWN && (unit & 0xff) === unit;
  if (ok && shape !== S_NONE) {
    if (!isU16(address)) ok = false;
    else if (shape === S_ONE) { lo = address; hi = address; }
    else {
      lo = address; hi = address + count - 1;
      ok = (count | 0) === count && count >= 1 && count <= MAX_COUNT[fn] && hi <= 0xffff;
      if (ok && shape === S_RW) {
        if (writeAddress === undefined || writeCount === undefined || !isU16(writeAddress) || (writeCount | 0) !== writeCount) ok = false;
        else {
          wlo = writeAddress; whi = writeAddress + writeCount - 1;
          ok = writeCount >= 1 && writeCount <= MAX_WRITE[fn] && whi <= 0xffff;
        }
      }
    }
  }
  if (!ok) return denyDecision(scope.cache as DecisionCache, R_MALFORMED);
  if (scope.cands.length === 0) return scope.empty as Decision;
  return evaluate(scope, true, fn, unit, lo, hi, wlo, whi, nowMs, op);
}

/** The source and destination specs of a request as a person writes it. */
export function requestSpecs(request: DecisionRequest): { source: SourceSpec; dest: DestSpec } {
  const from = request.from, to = request.to;
  return {
    source: {
      ip: typeof from === 'string' ? undefined : from.ip,
      fromIdentity: typeof from === 'string' ? from : undefined,
      session: request.session,
    },
    dest: {
      asset: typeof to === 'string' ? to : undefined,
      ip: typeof to === 'string' ? undefined : to.ip,
      port: (typeof to === 'string' ? undefined : to.port) ?? request.port,
      protocol: request.protocol,
      hasOp: request.modbus !== undefined || request.dnp3 !== undefined || request.iec104 !== undefined,
    },
  };
}

/** The instant a request is decided at: request.at, else nowMs. */
export function requestTime(request: DecisionRequest, nowMs: number | undefined): number {
  if (request.at !== undefined) {
    const ms = typeof request.at === 'number' ? request.at : Date.parse(request.at);
    if (!Number.isFinite(ms)) throw new ZonegateError('ERR_REQUEST_INVALID', `request.at is not a time: ${String(request.at)}`, { issues: [{ path: 'at', message: 'must be an ISO 8601 time or epoch milliseconds' }] });
    return ms;
  }
  if (nowMs === undefined) throw new TypeError('decide() needs request.at or nowMs');
  return nowMs;
}

/**
 * Decides one request as a person writes it (CLI, policy tests): resolves names and addresses
 * into a scope, then runs the hot path. A Modbus operation without unit, address or count
 * means unit 1, address 0, count 1. `nowMs` is used when the request has no `at`.
 */
export function decide(index: PolicyIndex, request: DecisionRequest, nowMs?: number): Decision {
  const at = requestTime(request, nowMs);
  const { source, dest } = requestSpecs(request);
  const scope = resolveScope(new ScopeState(), index, source, dest);
  if (request.dnp3 !== undefined) return decideDnp3(scope, dnp3Operation(request.dnp3), at);
  if (request.iec104 !== undefined) return decideIec104(scope, iec104Operation(request.iec104), at);
  const op = request.modbus;
  // A Modbus operation is only looked at on a modbus request (the parser refuses modbus + tcp).
  if (op === undefined || request.protocol === 'tcp') return decideConnect(scope, at);
  const fn = modbusFunctionCode(op.function) ?? (typeof op.function === 'number' ? op.function : -1);
  const pdu = encodeRequestPdu(fn, op);
  const count = op.count ?? (op.values !== undefined && op.values.length > 0 && (fn === 15 || fn === 16) ? op.values.length : 1);
  const writeCount = op.writeCount ?? (fn === 23 && op.values !== undefined && op.values.length > 0 ? op.values.length : undefined);
  const writeAddress = op.writeAddress ?? (writeCount !== undefined ? op.address ?? 0 : undefined);
  const operation: ModbusOperation = {
    fn, unit: op.unit ?? 1, address: op.address ?? 0, count, writeAddress: writeAddress ?? 0, writeCount: writeCount ?? 0,
    pdu, pduOffset: 0, pduLength: pdu === null ? 0 : pdu.length,
  };
  if (fn === 23 && writeCount === undefined) return decideModbus(scope, fn, operation.unit, operation.address, count, at);
  return decideOperation(scope, operation, at);
}
