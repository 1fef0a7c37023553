/**
 * Decisions over a compiled index (evaluation order: see the comment at the top of compile.ts).
 *
 * Two halves: resolving a source and destination into a ScopeState (names and addresses to
 * integers, the candidate conduits of that source/destination/protocol/port, the session facts)
 * once per connection, and deciding one operation against a scope, the hot path, which reads
 * typed arrays and returns preallocated frozen decisions. decide() does both for one request;
 * decider.ts keeps scopes across a connection's requests.
 */
import type { Decision, DecisionRequest, ModbusOperation, Protocol, Scope, SessionFacts } from './types';
import { ZonegateError } from './errors';
import { MODBUS_FUNCTIONS, modbusFunctionCode, pduSubFunction } from './modbus';
import { SUB_SLOT, subFunctionAllowed, writeValuesAllowed, writesValues } from './values';
import { encodeRequestPdu } from './request-pdu';
import { parseIp, ipv4ToUint32, formatIp, cidrContains, type IpAddr } from './net';
import { windowOpen } from './schedule';
import { decideDnp3 } from './dnp3-decide';
import { dnp3Operation } from './dnp3-request';
import { decideIec104 } from './iec104-decide';
import { iec104Operation } from './iec104-request';
import {
  PROTOCOLS, PROTO_MODBUS, PROTO_TCP, N_PROTO, R_ADDRESS, R_EDGE_AUTH, R_FUNCTION, R_GRANT, R_MALFORMED, R_NO_CONDUIT,
  R_PORT, R_QUARANTINED, R_SCHEDULE, R_UNIT, R_UNKNOWN_DEST, R_VALUE,
  allowDecision, csrHas, decisionCache, denyDecision, monitorDecision,
  type DecisionCache, type IndexTables, type PolicyIndex,
} from './compile';

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
const EMPTY = new Int32Array(0);

/**
 * A connection's resolved view of one index. Mutable: the decider re-resolves it in place when
 * the index changes or the session facts do. Fields other than Scope's are internal.
 */
export class ScopeState implements Scope {
  policyVersion = 'none';
  identity: string | null = null;
  index: PolicyIndex | null = null;
  /** Source identity number a deny names (the person when logged in, else the device), -1 for none. */
  identityNum = -1;
  /** The identity bound to the source address (or named by `from`), logged-in person or not. */
  device: string | null = null;
  /** A decision that holds for every operation (unknown destination, quarantine, no policy). */
  pre: Decision | null = null;
  /** The decision when there is no candidate (no-conduit / port-not-allowed), after the malformed check. */
  empty: Decision | null = null;
  cands: Int32Array = EMPTY;
  allowAt: (Decision | undefined)[] = [];
  /** Who a deny (and pre/empty) names. */
  cache: DecisionCache | null = null;
  /** Per candidate: whom its allow or monitor decision names (the person if it matched through them, else the device). */
  candCache: DecisionCache[] = [];
  edgeAuth = false;
  grantAll = false;
  /** Per conduit number: 1 when the session's grant lists it. */
  grant: Uint8Array | null = null;
  /** What the scope was resolved from, to resolve it again under a new index. */
  source: SourceSpec = { ip: undefined, fromIdentity: undefined, session: undefined };
  dest: DestSpec = { asset: undefined, ip: undefined, port: undefined, protocol: undefined, hasOp: false };
}

/** A source as given: an address and/or an identity id, and the session facts. */
export interface SourceSpec { ip: string | undefined; fromIdentity: string | undefined; session: SessionFacts | undefined }
/** A destination as given: an asset id or an address, port and protocol when known. */
export interface DestSpec { asset: string | undefined; ip: string | undefined; port: number | undefined; protocol: Protocol | undefined; hasOp: boolean }

/**
 * The source of a scope after resolution (step 1 and the source half of step 3). A source is the
 * device bound to its address (or named by `from`) and, while someone is logged in at the edge
 * from it (session.identity), also that person: a conduit's `from` matches through either.
 */
export interface ResolvedSource {
  /** The logged-in person (a known session identity), or -1. */
  person: number;
  /** The person's zone (their identity's zone, else the address's zone); -1 without a person. */
  personZone: number;
  /** The identity bound to the address or named by `from`, or -1. */
  device: number;
  /** The device's zone (its identity's zone, else the address's zone), or -1. */
  deviceZone: number;
  /** Whom a deny names: the person when there is one, else the device. */
  identity: number;
  /** The zone shown with `identity` (personZone with a person, else deviceZone). */
  zone: number;
  quarantined: boolean;
  ip: IpAddr | undefined;
}
/** The destination after resolution (step 2). */
export interface ResolvedDest { asset: number; zone: number; proto: number; port: number; quarantined: boolean }

/** The zone whose networks contain the address (longest prefix), or -1. */
export function zoneOfIp(t: IndexTables, ip: IpAddr): number {
  if (ip.family === 4) {
    const x = ipv4ToUint32(ip);
    const s = t.zoneV4Start;
    let lo = 0, hi = s.length - 1, found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (s[mid] <= x) { found = mid; lo = mid + 1; } else hi = mid - 1;
    }
    return found >= 0 && t.zoneV4End[found] >= x ? t.zoneV4Zone[found] : -1;
  }
  for (const n of t.zoneV6) if (cidrContains(n.cidr, ip)) return n.zone;
  return -1;
}

function identityOfIp(t: IndexTables, ip: IpAddr): number {
  return (ip.family === 4 ? t.v4Identity.get(ipv4ToUint32(ip)) : t.v6Identity.get(formatIp(ip))) ?? -1;
}

function assetOfIp(t: IndexTables, ip: IpAddr): number {
  return (ip.family === 4 ? t.v4Asset.get(ipv4ToUint32(ip)) : t.v6Asset.get(formatIp(ip))) ?? -1;
}

/** Step 1 (and the source half of step 3): identity, zone and quarantine of a source. */
export function resolveSource(index: PolicyIndex, spec: SourceSpec): ResolvedSource {
  const t = index.t;
  const ip = spec.ip === undefined ? undefined : parseIp(spec.ip);
  const device = spec.fromIdentity !== undefined ? t.identityIndex.get(spec.fromIdentity) ?? -1 : ip ? identityOfIp(t, ip) : -1;
  const sessionId = spec.session?.identity;
  // An unknown session identity is no person; the address keeps its device.
  const person = sessionId !== undefined ? t.identityIndex.get(sessionId) ?? -1 : -1;
  const ipZone = ip ? zoneOfIp(t, ip) : -1;
  const zoneOf = (n: number): number => (n >= 0 && t.identityZone[n] >= 0 ? t.identityZone[n] : ipZone);
  const deviceZone = zoneOf(device);
  const personZone = person >= 0 ? zoneOf(person) : -1;
  const srcAsset = ip ? assetOfIp(t, ip) : -1;
  const quarantined = (person >= 0 && t.identityQuarantined[person] === 1)
    || (device >= 0 && t.identityQuarantined[device] === 1)
    || (srcAsset >= 0 && t.assetQuarantined[srcAsset] === 1);
  const identity = person >= 0 ? person : device;
  return { person, personZone, device, deviceZone, identity, zone: person >= 0 ? personZone : deviceZone, quarantined, ip };
}

/** Step 2: asset, zone, protocol and port of a destination. */
export function resolveDest(index: PolicyIndex, spec: DestSpec): ResolvedDest {
  const t = index.t;
  let asset = -1, zone = -1;
  if (spec.asset !== undefined) {
    asset = t.assetIndex.get(spec.asset) ?? -1;
  } else if (spec.ip !== undefined) {
    const ip = parseIp(spec.ip);
    if (ip) { asset = assetOfIp(t, ip); if (asset < 0) zone = zoneOfIp(t, ip); }
  }
  if (asset >= 0) zone = t.assetZone[asset];
  let proto: number;
  if (spec.protocol !== undefined) proto = PROTOCOLS.indexOf(spec.protocol);
  else if (spec.hasOp) proto = PROTO_MODBUS;
  else if (asset >= 0 && index.doc.assets[asset].services.length === 1) proto = PROTOCOLS.indexOf(index.doc.assets[asset].services[0].protocol);
  else proto = PROTO_TCP;
  let port = spec.port ?? -1;
  if (spec.port === undefined && asset >= 0) {
    const ports = t.assetPorts[asset * N_PROTO + proto];
    if (ports.length === 1) port = ports[0];
  }
  return { asset, zone, proto, port, quarantined: asset >= 0 && t.assetQuarantined[asset] === 1 };
}

/** Whether conduit `c`'s `from` matches a source identity (or -1) and zone (or -1). */
export function fromMatches(t: IndexTables, c: number, identity: number, zone: number): boolean {
  if (identity >= 0) {
    if (csrHas(t.fromIdentities, c, identity)) return true;
    const roles = t.identityRoles;
    for (let i = roles.off[identity], e = roles.off[identity + 1]; i < e; i++) if (csrHas(t.fromRoles, c, roles.data[i])) return true;
  }
  return zone >= 0 && csrHas(t.fromZones, c, zone);
}

/** Whether conduit `c`'s `from` matches the source through the person (true) or only the device (false); null: neither. */
export function sourceMatch(t: IndexTables, c: number, src: ResolvedSource): boolean | null {
  if (src.person >= 0 && fromMatches(t, c, src.person, src.personZone)) return true;
  return fromMatches(t, c, src.device, src.deviceZone) ? false : null;
}

/** The conduits of `list` whose `from` matches the source; `via` (when given) gets, per kept conduit, whether it matched through the person. */
function filterFrom(t: IndexTables, list: Int32Array | undefined, src: ResolvedSource, via?: boolean[]): Int32Array {
  if (!list) return EMPTY;
  const out: number[] = [];
  for (let i = 0; i < list.length; i++) {
    const m = sourceMatch(t, list[i], src);
    if (m !== null) { out.push(list[i]); via?.push(m); }
  }
  return out.length === 0 ? EMPTY : Int32Array.from(out);
}

/** The conduits of a destination whose protocol and `to` match, port ignored (for port-not-allowed). */
export function destConduitsAnyPort(t: IndexTables, dst: ResolvedDest): Int32Array | undefined {
  return dst.asset >= 0 ? t.byAssetAny[dst.asset * N_PROTO + dst.proto] : dst.zone >= 0 ? t.byZoneAny[dst.zone * N_PROTO + dst.proto] : undefined;
}

/** The conduits of a destination whose protocol, `to` and port match (step 5 without `from`). */
export function destConduits(t: IndexTables, dst: ResolvedDest): Int32Array | undefined {
  const m = dst.asset >= 0 ? t.byAsset[dst.asset * N_PROTO + dst.proto] : dst.zone >= 0 ? t.byZone[dst.zone * N_PROTO + dst.proto] : undefined;
  return m?.get(dst.port);
}

/** Fills `scope` from a source and destination under `index` (steps 1, 2, 3 and 5). */
export function resolveScope(scope: ScopeState, index: PolicyIndex, source: SourceSpec, dest: DestSpec): ScopeState {
  const t = index.t;
  scope.source = source;
  scope.dest = dest;
  scope.index = index;
  scope.policyVersion = index.version;
  const src = resolveSource(index, source);
  const dst = resolveDest(index, dest);
  scope.identityNum = src.identity;
  scope.identity = src.identity >= 0 ? index.doc.identities[src.identity].id : null;
  scope.device = src.device >= 0 ? index.doc.identities[src.device].id : null;
  const cache = decisionCache(index, src.identity);
  scope.cache = cache;
  const deviceCache = decisionCache(index, src.device);
  if (dst.asset < 0 && dst.zone < 0) scope.pre = denyDecision(cache, R_UNKNOWN_DEST);
  else if (src.quarantined || dst.quarantined) scope.pre = denyDecision(cache, R_QUARANTINED);
  else scope.pre = null;
  const via: boolean[] = [];
  scope.cands = filterFrom(t, destConduits(t, dst), src, via);
  scope.candCache = via.map((p) => (p ? cache : deviceCache));
  scope.allowAt = new Array(scope.cands.length).fill(undefined);
  scope.empty = scope.cands.length > 0 ? null
    : denyDecision(cache, filterFrom(t, destConduitsAnyPort(t, dst), src).length > 0 ? R_PORT : R_NO_CONDUIT);
  applySession(scope, index, source.session);
  return scope;
}

function applySession(scope: ScopeState, index: PolicyIndex, session: SessionFacts | undefined): void {
  scope.edgeAuth = session?.edgeAuth === true;
  const g = session?.grant;
  scope.grantAll = g === true;
  scope.grant = null;
  if (Array.isArray(g) && g.length > 0) {
    const set = new Uint8Array(index.conduits.length);
    for (const id of g) { const c = index.t.conduitIndex.get(id); if (c !== undefined) set[c] = 1; }
    scope.grant = set;
  }
}

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
