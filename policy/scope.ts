/**
 * The first half of a decision (see decide.ts): a source and a destination resolved under an
 * index into a ScopeState once per connection (evaluation steps 1, 2, 3 and 5 of compile.ts):
 * names and addresses to integers, the candidate conduits of that source, destination, protocol
 * and port, and the session facts.
 */
import type { Decision, Protocol, Scope, SessionFacts } from './types';
import { parseIp, ipv4ToUint32, formatIp, cidrContains, type IpAddr } from './net';
import {
  PROTOCOLS, PROTO_MODBUS, PROTO_TCP, N_PROTO, R_PORT, R_QUARANTINED, R_NO_CONDUIT, R_UNKNOWN_DEST, csrHas,
  type DecisionCache, type IndexTables, type PolicyIndex,
} from './index-tables';
import { decisionCache, denyDecision } from './decision-cache';

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

