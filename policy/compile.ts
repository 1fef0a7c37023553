/**
 * The policy compiler: a validated PolicyDocument → a PolicyIndex that decide.ts answers from
 * with integer lookups and typed arrays.
 *
 * EVALUATION ORDER (the semantics every decision follows; test/policy/reference.ts is the same
 * order written plainly, and the property test holds the two together):
 *
 *  1. Source. `from` is an identity id, or `{ ip }` resolved to the identity bound to that exact
 *     address (first in document order), else no identity: the device. A session identity (a
 *     person who authenticated at the edge from that source) is added to the device, it does not
 *     replace it: the source is both. An identity's zone is its own zone, else the zone whose
 *     networks contain the source IP (longest prefix, ties: first in document order), IPv4 and
 *     IPv6 alike. An unknown identity id (also in the session) is no identity.
 *  2. Destination. `to` is an asset id, or `{ ip, port }` resolved to the asset with that address,
 *     else to the zone containing the IP. The destination zone is the asset's zone. The protocol is
 *     request.protocol, else modbus when a Modbus operation is given, else the protocol of the
 *     asset's only service, else tcp. The port is `to.port`, else `request.port`, else the port of
 *     the asset's only service of that protocol, else unknown (matches no port).
 *     Neither asset nor zone → deny `unknown-destination`.
 *  3. Quarantine. The source identity, the identity bound to the source address, an asset owning
 *     the source address, or the destination asset listed in `quarantine` → deny `quarantined`,
 *     whatever any conduit or monitor mode says.
 *  4. Modbus validity (Modbus Application Protocol V1.1b3 section 6, table in modbus.ts): unknown
 *     function, unit outside 0..255, a quantity of 0 or above the function's maximum, an address
 *     outside 0..65535 or address + count - 1 > 65535 → deny `malformed`. Functions whose PDU has
 *     one address and no quantity (single, mask, fifo) count as one register; FC 23 needs a valid
 *     read AND write range; shape `none` has no address to check.
 *  5. Candidates, in document order: protocol equal; `from` matches the person or the device
 *     (its id in from.identities, one of its roles in from.roles, or its zone in from.zones; an
 *     address without an identity: the address's zone); `to` matches (asset in
 *     to.assets, or destination zone in to.zones); the port matches (conduit.ports when set, else
 *     the destination asset's service ports of that protocol; a zone destination without an
 *     asset needs conduit.ports). None → deny `port-not-allowed` if some conduit failed only on
 *     the port, else `no-conduit`.
 *  6. Each candidate is checked in this order, the first failing check is its reason:
 *     schedule (`outside-schedule`, see schedule.ts), requires.edgeAuth (`edge-auth-required`
 *     unless session.edgeAuth), requires.grant (`grant-required` unless session.grant is true or
 *     lists the conduit id), then for a Modbus operation on a conduit with `allow`: function
 *     (`function-not-allowed`; a function with sub-functions, FC 8 and FC 43, is allowed whole
 *     when `functions` names it, else only the sub-functions listed, and a request whose
 *     sub-function is unknown or absent is not one of them), unit (`unit-not-allowed`; units
 *     absent = any), every address of the request inside ONE allowed range
 *     (`address-out-of-range`; for FC 23 the read range and the write range each inside one;
 *     addresses absent = any; shape `none` skips this check), then for a write every value it
 *     carries inside the value rule of its register or the coil states allowed
 *     (`value-out-of-range`; see values.ts; registers and coils without a rule take any value;
 *     a write whose values are not known, e.g. a request without `values`, fails a conduit
 *     with a rule on one of its registers or coils).
 *     A connection-level request (no Modbus operation) stops after the grant check.
 *     The first candidate that passes every check allows, naming it.
 *  7. No candidate passes: the reason is that of the candidate that got furthest in the check
 *     order (ties: first in document order). If any failing candidate is `mode: monitor`, the
 *     request is allowed with `monitor: true`, naming the monitor candidate that got furthest
 *     (ties: document order) and the reason it would have been denied. A passing candidate always
 *     wins over monitor. Quarantine, unknown destination, malformed and no candidate are never
 *     softened by monitor mode.
 *  Every decision names a source identity id (or null): an allow or monitor allow names the person
 *  when the conduit matched through the person, else the device; every other decision names the
 *  person when logged in, else the device.
 *
 * The index: identities, zones, assets, conduits and roles are interned as integers (their
 * document order). Candidate conduits are looked up most selective key first: destination asset →
 * protocol → port → Int32Array of conduit numbers in document order (and for addresses that are
 * only in a zone: destination zone → protocol → port). Source addresses: IPv4 exact addresses in a
 * Map<uint32, number>, zone networks as sorted disjoint IPv4 intervals (binary search) and a short
 * IPv6 prefix list. Per conduit: a 256-bit function bitset (8 × uint32), a unit set (Uint8Array(256)
 * or null for any), allowed register ranges as sorted, merged Int32Array starts/ends.
 */
import type { Conduit, PolicyDocument, Protocol } from './types';
import { DENY_REASONS } from './types';
import type { Decision, DenyReason } from './types';
import { parseCidr, parseIp, ipv4ToUint32, formatIp, type Cidr } from './net';
import { ZoneClock, weekdayMask } from './schedule';
import { cidrInterval, mostSpecific, type LabelledInterval } from './address-set';
import { compileDnp3Rules, type Dnp3Rules } from './dnp3-decide';
import { compileIec104Rules, type Iec104Rules } from './iec104-decide';
import { ValueTablesBuilder, type ValueTables } from './values';

/** Protocols as integers: the index of each in this list. */
export const PROTOCOLS: readonly Protocol[] = ['modbus', 'tcp', 'dnp3', 'iec104'];
export const PROTO_MODBUS = 0;
export const PROTO_TCP = 1;
export const PROTO_DNP3 = 2;
export const PROTO_IEC104 = 3;
/** Per-destination tables are indexed destination * N_PROTO + protocol. */
export const N_PROTO = PROTOCOLS.length;

/** Deny reasons as integers: their index in DENY_REASONS. */
export const R_NO_CONDUIT = DENY_REASONS.indexOf('no-conduit');
export const R_FUNCTION = DENY_REASONS.indexOf('function-not-allowed');
export const R_UNIT = DENY_REASONS.indexOf('unit-not-allowed');
export const R_ADDRESS = DENY_REASONS.indexOf('address-out-of-range');
export const R_VALUE = DENY_REASONS.indexOf('value-out-of-range');
export const R_PORT = DENY_REASONS.indexOf('port-not-allowed');
export const R_SCHEDULE = DENY_REASONS.indexOf('outside-schedule');
export const R_EDGE_AUTH = DENY_REASONS.indexOf('edge-auth-required');
export const R_GRANT = DENY_REASONS.indexOf('grant-required');
export const R_QUARANTINED = DENY_REASONS.indexOf('quarantined');
export const R_MALFORMED = DENY_REASONS.indexOf('malformed');
export const R_UNKNOWN_DEST = DENY_REASONS.indexOf('unknown-destination');
export const R_NO_POLICY = DENY_REASONS.indexOf('no-policy');
const N_REASONS = DENY_REASONS.length;

/** The frozen decisions of one source identity, made on first use and shared by every scope. */
export interface DecisionCache {
  readonly identity: string | null;
  /** By conduit number. */
  readonly allow: Map<number, Decision>;
  readonly deny: (Decision | undefined)[];
  /** By conduit * N_REASONS + reason. */
  readonly monitor: Map<number, Decision>;
}

/** Internal tables of the index; read by decide.ts, decider.ts and explain.ts only. */
export interface IndexTables {
  readonly identityIndex: ReadonlyMap<string, number>;
  readonly assetIndex: ReadonlyMap<string, number>;
  readonly zoneIndex: ReadonlyMap<string, number>;
  readonly conduitIndex: ReadonlyMap<string, number>;
  /** Per identity: its zone number or -1, its role numbers, whether quarantined. */
  readonly identityZone: Int32Array;
  readonly identityRoles: Csr;
  readonly identityQuarantined: Uint8Array;
  /** Per asset: zone number or -1, whether quarantined, service ports per protocol (asset * N_PROTO + proto). */
  readonly assetZone: Int32Array;
  readonly assetQuarantined: Uint8Array;
  readonly assetPorts: readonly number[][];
  /** Exact source/destination addresses → identity / asset number (first in document order). */
  readonly v4Identity: ReadonlyMap<number, number>;
  readonly v6Identity: ReadonlyMap<string, number>;
  readonly v4Asset: ReadonlyMap<number, number>;
  readonly v6Asset: ReadonlyMap<string, number>;
  /** Zone networks, IPv4: disjoint sorted intervals with the most specific zone of each. */
  readonly zoneV4Start: Float64Array;
  readonly zoneV4End: Float64Array;
  readonly zoneV4Zone: Int32Array;
  /** Zone networks, IPv6: longest prefix first (ties in document order). */
  readonly zoneV6: readonly { cidr: Cidr; zone: number }[];
  /** Candidates by destination: (asset * N_PROTO + proto) → port → conduits; `Any` ignores the port. */
  readonly byAsset: readonly (Map<number, Int32Array> | undefined)[];
  readonly byAssetAny: readonly (Int32Array | undefined)[];
  /** Candidates for addresses only in a zone: (zone * N_PROTO + proto) → port → conduits. */
  readonly byZone: readonly (Map<number, Int32Array> | undefined)[];
  readonly byZoneAny: readonly (Int32Array | undefined)[];
  /** Per conduit `from`: identity, role and zone numbers. */
  readonly fromIdentities: Csr;
  readonly fromRoles: Csr;
  readonly fromZones: Csr;
  /** Per conduit: protocol, monitor mode, requires edge auth / grant. */
  readonly cProto: Uint8Array;
  readonly cMonitor: Uint8Array;
  readonly cEdgeAuth: Uint8Array;
  readonly cGrant: Uint8Array;
  /** Per conduit schedule: time-zone number in `clock` or -1 for none, weekday mask, from, to. */
  readonly cSchedTz: Int32Array;
  readonly cSchedDays: Uint8Array;
  readonly cSchedFrom: Int32Array;
  readonly cSchedTo: Int32Array;
  /** 1 when a modbus conduit has no `allow` (every well-formed operation). */
  readonly cAllowAll: Uint8Array;
  /** Function bitsets, 8 words per conduit. */
  readonly cFunctions: Uint32Array;
  /** Allowed unit ids per conduit, or null for any (identical sets are shared). */
  readonly cUnits: readonly (Uint8Array | null)[];
  /** 1 when any address is allowed; otherwise ranges rangeStart/End[cRangeOff[c] .. cRangeOff[c+1]). */
  readonly cAnyAddress: Uint8Array;
  readonly cRangeOff: Int32Array;
  /** Per conduit: write bounds (allow.values, allow.coils) and sub-functions allowed one by one. */
  readonly values: ValueTables;
  readonly rangeStart: Int32Array;
  readonly rangeEnd: Int32Array;
  /** Local clocks of the schedules' time zones, cached per UTC minute. */
  readonly clock: ZoneClock;
  /** Per conduit: compiled DNP3 rules, null for other protocols or no `allow` (dnp3-decide.ts). */
  readonly dnp3: readonly (Dnp3Rules | null)[];
  /** Per conduit: compiled IEC 104 rules, null for other protocols or no `allow` (iec104-decide.ts). */
  readonly iec104: readonly (Iec104Rules | null)[];
  /** Decision objects by source identity number + 1 (0 = no identity), made lazily. */
  readonly decisions: (DecisionCache | undefined)[];
}

/** A compiled policy. Immutable apart from its internal caches. */
export interface PolicyIndex {
  /** The policy version that decisions are tagged with. */
  readonly version: string;
  readonly doc: PolicyDocument;
  readonly site: string;
  readonly counts: { readonly zones: number; readonly assets: number; readonly identities: number; readonly conduits: number; readonly candidateLists: number };
  /** Conduits in document order; a conduit's number is its position here. */
  readonly conduits: readonly Conduit[];
  readonly conduitById: ReadonlyMap<string, Conduit>;
  readonly t: IndexTables;
}

/** Options of compile(). */
export interface CompileOptions {
  /** The policy version (a bundle's version); default "unversioned". */
  version?: string;
}

/** The conduit with this id, for drivers (rateLimit, mode) and the nftables renderer. */
export function conduitOf(index: PolicyIndex, id: string): Conduit | undefined {
  return index.conduitById.get(id);
}

// Ids → first position; yields every INTERN_SLICE ids (a 10,000-conduit list is ~1 ms whole).
function* intern(items: readonly { id: string }[]): Generator<void, Map<string, number>, void> {
  const m = new Map<string, number>();
  for (let i = 0; i < items.length; i++) {
    const id = items[i].id;
    if (!m.has(id)) m.set(id, i);
    if (i % INTERN_SLICE === INTERN_SLICE - 1) yield;
  }
  return m;
}

const INTERN_SLICE = 1024;

/** Lists of integers packed flat: row r is data[off[r] .. off[r + 1]). */
export interface Csr { readonly off: Int32Array; readonly data: Int32Array }

/** Builds a Csr row by row; a value already in the current row is not added again. */
class CsrBuilder {
  private readonly off: number[] = [0];
  private readonly data: number[] = [];

  add(x: number): void {
    if (x < 0) return;
    for (let i = this.off[this.off.length - 1]; i < this.data.length; i++) if (this.data[i] === x) return;
    this.data.push(x);
  }

  endRow(): void {
    this.off.push(this.data.length);
  }

  build(): Csr {
    return { off: Int32Array.from(this.off), data: Int32Array.from(this.data) };
  }
}

/** Whether row `r` of `m` holds `x`. */
export function csrHas(m: Csr, r: number, x: number): boolean {
  const d = m.data;
  for (let i = m.off[r], e = m.off[r + 1]; i < e; i++) if (d[i] === x) return true;
  return false;
}

/** Exact host address → canonical key; CIDR host prefixes (/32, /128) are accepted as addresses. */
function hostAddress(s: string): { v4?: number; v6?: string } | undefined {
  let ip = parseIp(s);
  if (!ip) {
    const c = parseCidr(s);
    if (!c || c.prefix !== (c.family === 4 ? 32 : 128)) return undefined;
    ip = { family: c.family, bytes: c.bytes };
  }
  return ip.family === 4 ? { v4: ipv4ToUint32(ip) } : { v6: formatIp(ip) };
}

function pushUnique(map: Map<number, number[]>, key: number, c: number): void {
  const list = map.get(key);
  if (!list) map.set(key, [c]);
  else if (list[list.length - 1] !== c) list.push(c);
}

/**
 * Compiles a validated document into a decision index. Pure; never mutates the document. Throws
 * TypeError for documents that validation should have refused (dangling references are ignored,
 * an unknown time zone throws RangeError from Intl).
 */
export function compile(doc: PolicyDocument, opts: CompileOptions = {}): PolicyIndex {
  const steps = compileSteps(doc, opts);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/** Units of work (identities, assets, conduits, candidate lists) between two yields of compileSteps. */
export const COMPILE_SLICE = 32;

/**
 * compile() in slices: the generator yields after every COMPILE_SLICE units of work and returns
 * the same index (or throws the same error) as compile(). A caller with an event loop
 * (runtime/store) lets decisions run between slices; `doc` must not change until it is done.
 */
export function* compileSteps(doc: PolicyDocument, opts: CompileOptions = {}): Generator<void, PolicyIndex, void> {
  let work = 0;
  const identityIndex = yield* intern(doc.identities);
  const assetIndex = yield* intern(doc.assets);
  const zoneIndex = yield* intern(doc.zones);
  const conduitIndex = yield* intern(doc.conduits);
  const roleIndex = new Map<string, number>();
  const role = (r: string): number => {
    let n = roleIndex.get(r);
    if (n === undefined) { n = roleIndex.size; roleIndex.set(r, n); }
    return n;
  };
  const quarantine = new Set(doc.quarantine);
  const zoneOf = (z: string | undefined): number => (z === undefined ? -1 : zoneIndex.get(z) ?? -1);

  // Identities and their source addresses.
  const nI = doc.identities.length;
  const identityZone = new Int32Array(nI);
  const identityQuarantined = new Uint8Array(nI);
  const identityRoles = new CsrBuilder();
  const v4Identity = new Map<number, number>();
  const v6Identity = new Map<string, number>();
  for (let i = 0; i < nI; i++) {
    const idn = doc.identities[i];
    identityZone[i] = zoneOf(idn.zone);
    identityQuarantined[i] = quarantine.has(idn.id) ? 1 : 0;
    for (const r of idn.roles) identityRoles.add(role(r));
    identityRoles.endRow();
    for (const a of idn.addresses) {
      const h = hostAddress(a);
      if (h?.v4 !== undefined && !v4Identity.has(h.v4)) v4Identity.set(h.v4, i);
      if (h?.v6 !== undefined && !v6Identity.has(h.v6)) v6Identity.set(h.v6, i);
    }
    if (++work >= COMPILE_SLICE) { work = 0; yield; }
  }

  // Assets: zone, quarantine, addresses, service ports per protocol.
  const nA = doc.assets.length;
  const assetZone = new Int32Array(nA);
  const assetQuarantined = new Uint8Array(nA);
  const assetPorts: number[][] = [];
  const v4Asset = new Map<number, number>();
  const v6Asset = new Map<string, number>();
  const assetsInZone: number[][] = doc.zones.map(() => []);
  for (let a = 0; a < nA; a++) {
    const as = doc.assets[a];
    assetZone[a] = zoneOf(as.zone);
    if (assetZone[a] >= 0) assetsInZone[assetZone[a]].push(a);
    assetQuarantined[a] = quarantine.has(as.id) ? 1 : 0;
    for (let p = 0; p < PROTOCOLS.length; p++) {
      assetPorts.push([...new Set(as.services.filter((s) => s.protocol === PROTOCOLS[p]).map((s) => s.port))]);
    }
    for (const addr of as.addresses) {
      const h = hostAddress(addr);
      if (h?.v4 !== undefined && !v4Asset.has(h.v4)) v4Asset.set(h.v4, a);
      if (h?.v6 !== undefined && !v6Asset.has(h.v6)) v6Asset.set(h.v6, a);
    }
    if (++work >= COMPILE_SLICE) { work = 0; yield; }
  }

  // Zone networks. IPv4: each piece of the address space gets the most specific zone containing
  // it (longest prefix, ties: document order), neighbours of one zone merged (address-set.ts).
  const v4Nets: LabelledInterval<number>[] = [];
  const zoneV6: { cidr: Cidr; zone: number; order: number }[] = [];
  doc.zones.forEach((z, zi) => {
    for (const n of z.networks) {
      const c = parseCidr(n);
      if (!c) continue;
      if (c.family === 4) v4Nets.push({ interval: cidrInterval(c), label: zi });
      else zoneV6.push({ cidr: c, zone: zi, order: zoneV6.length });
    }
  });
  zoneV6.sort((a, b) => b.cidr.prefix - a.cidr.prefix || a.order - b.order);
  const zonePieces = mostSpecific(v4Nets);

  // Conduits.
  const nC = doc.conduits.length;
  const cProto = new Uint8Array(nC);
  const cMonitor = new Uint8Array(nC);
  const cEdgeAuth = new Uint8Array(nC);
  const cGrant = new Uint8Array(nC);
  const cSchedTz = new Int32Array(nC).fill(-1);
  const cSchedDays = new Uint8Array(nC);
  const cSchedFrom = new Int32Array(nC);
  const cSchedTo = new Int32Array(nC);
  const cAllowAll = new Uint8Array(nC);
  const cFunctions = new Uint32Array(nC * 8);
  const cUnits: (Uint8Array | null)[] = [];
  const unitSets = new Map<string, Uint8Array>();
  const cAnyAddress = new Uint8Array(nC);
  const cRangeOff = new Int32Array(nC + 1);
  const valueTables = new ValueTablesBuilder(nC);
  const starts: number[] = [], ends: number[] = [];
  const fromIdentities = new CsrBuilder(), fromRoles = new CsrBuilder(), fromZones = new CsrBuilder();
  const tzs: string[] = [];
  const tzIndex = new Map<string, number>();
  const byAssetMaps: (Map<number, number[]> | undefined)[] = new Array(nA * N_PROTO);
  const byAssetAnyLists: (number[] | undefined)[] = new Array(nA * N_PROTO);
  const byZoneMaps: (Map<number, number[]> | undefined)[] = new Array(doc.zones.length * N_PROTO);
  const byZoneAnyLists: (number[] | undefined)[] = new Array(doc.zones.length * N_PROTO);
  const pushAny = (lists: (number[] | undefined)[], key: number, c: number): void => {
    const l = lists[key];
    if (!l) lists[key] = [c];
    else if (l[l.length - 1] !== c) l.push(c);
  };

  for (let c = 0; c < nC; c++) {
    const cd = doc.conduits[c];
    const proto = PROTOCOLS.indexOf(cd.protocol);
    if (proto < 0) throw new TypeError(`conduit ${cd.id}: unknown protocol ${cd.protocol}`);
    cProto[c] = proto;
    cMonitor[c] = cd.mode === 'monitor' ? 1 : 0;
    cEdgeAuth[c] = cd.requires.edgeAuth ? 1 : 0;
    cGrant[c] = cd.requires.grant ? 1 : 0;
    if (cd.schedule) {
      let tz = tzIndex.get(cd.schedule.tz);
      if (tz === undefined) { tz = tzs.length; tzs.push(cd.schedule.tz); tzIndex.set(cd.schedule.tz, tz); }
      cSchedTz[c] = tz;
      cSchedDays[c] = weekdayMask(cd.schedule.days);
      cSchedFrom[c] = cd.schedule.from;
      cSchedTo[c] = cd.schedule.to;
    }
    for (const x of cd.from.identities) fromIdentities.add(identityIndex.get(x) ?? -1);
    for (const x of cd.from.roles) fromRoles.add(role(x));
    for (const x of cd.from.zones) fromZones.add(zoneIndex.get(x) ?? -1);
    fromIdentities.endRow(); fromRoles.endRow(); fromZones.endRow();

    const allow = cd.allow;
    cAllowAll[c] = allow === undefined ? 1 : 0;
    if (allow) {
      for (const f of allow.functions) if (f >= 0 && f <= 255) cFunctions[c * 8 + (f >>> 5)] |= 1 << (f & 31);
      // A function allowed only through sub-functions is in the bitset too; values.ts narrows it.
      for (const { fn } of allow.subFunctions ?? []) if (fn >= 0 && fn <= 255) cFunctions[c * 8 + (fn >>> 5)] |= 1 << (fn & 31);
      if (allow.units === undefined) cUnits.push(null);
      else {
        const key = allow.units.join(',');
        let u = unitSets.get(key);
        if (!u) {
          u = new Uint8Array(256);
          for (const x of allow.units) if (x >= 0 && x <= 255) u[x] = 1;
          unitSets.set(key, u);
        }
        cUnits.push(u);
      }
      if (allow.addresses === undefined) cAnyAddress[c] = 1;
      else {
        // Sorted and merged here too (validation normally did it), so that "inside one range"
        // means inside one merged interval.
        let rs = allow.addresses;
        let sorted = true;
        for (let i = 1; i < rs.length; i++) if (rs[i].start <= rs[i - 1].end + 1) { sorted = false; break; }
        if (!sorted) rs = rs.slice().sort((a, b) => a.start - b.start);
        const first = starts.length;
        for (const r of rs) {
          const last = starts.length - 1;
          if (last >= first && r.start <= ends[last] + 1) ends[last] = Math.max(ends[last], r.end);
          else { starts.push(r.start); ends.push(r.end); }
        }
      }
    } else {
      cUnits.push(null);
      cAnyAddress[c] = 1;
    }
    cRangeOff[c + 1] = starts.length;
    valueTables.add(allow);

    // Destinations: assets named, plus every asset of the zones named; the zones themselves too.
    const assets: number[] = [];
    for (const a of cd.to.assets) { const n = assetIndex.get(a); if (n !== undefined) assets.push(n); }
    const zones: number[] = [];
    for (const z of cd.to.zones) { const n = zoneIndex.get(z); if (n !== undefined) { zones.push(n); for (const a of assetsInZone[n]) assets.push(a); } }
    for (const a of assets.length > 1 ? new Set(assets) : assets) {
      const key = a * N_PROTO + proto;
      pushAny(byAssetAnyLists, key, c);
      const ports = cd.ports ?? assetPorts[key];
      let m = byAssetMaps[key];
      if (!m) { m = new Map(); byAssetMaps[key] = m; }
      for (const p of ports) pushUnique(m, p, c);
    }
    for (const z of zones.length > 1 ? new Set(zones) : zones) {
      const key = z * N_PROTO + proto;
      pushAny(byZoneAnyLists, key, c);
      if (!cd.ports) continue;
      let m = byZoneMaps[key];
      if (!m) { m = new Map(); byZoneMaps[key] = m; }
      for (const p of cd.ports) pushUnique(m, p, c);
    }
    if (++work >= COMPILE_SLICE) { work = 0; yield; }
  }
  // Conduits were visited in document order and each list only ever gains the current conduit
  // (deduplicated against its last entry), so every list is sorted and without duplicates.
  let candidateLists = 0;
  const freeze = (m: Map<number, number[]> | undefined): Map<number, Int32Array> | undefined => {
    if (!m) return undefined;
    const out = new Map<number, Int32Array>();
    for (const [k, v] of m) { out.set(k, Int32Array.from(v)); candidateLists++; }
    return out;
  };
  const byAsset: (Map<number, Int32Array> | undefined)[] = new Array(byAssetMaps.length);
  const byAssetAny: (Int32Array | undefined)[] = new Array(byAssetAnyLists.length);
  for (let k = 0; k < byAssetMaps.length; k++) {
    byAsset[k] = freeze(byAssetMaps[k]);
    const l = byAssetAnyLists[k];
    byAssetAny[k] = l ? Int32Array.from(l) : undefined;
    if (l && ++work >= COMPILE_SLICE) { work = 0; yield; }
  }
  const byZone = Array.from(byZoneMaps, freeze);
  const byZoneAny = Array.from(byZoneAnyLists, (l) => (l ? Int32Array.from(l) : undefined));
  yield;

  const clock = new ZoneClock(tzs);
  // Fail now, not on the first request, for a time zone Intl does not know.
  for (let z = 0; z < tzs.length; z++) clock.weekMinute(z, 0);

  const conduitById = new Map<string, Conduit>();
  for (let c = 0; c < nC; c++) {
    const cd = doc.conduits[c];
    if (!conduitById.has(cd.id)) conduitById.set(cd.id, cd);
    if (c % INTERN_SLICE === INTERN_SLICE - 1) yield;
  }

  const t: IndexTables = {
    identityIndex, assetIndex, zoneIndex, conduitIndex,
    identityZone, identityRoles: identityRoles.build(), identityQuarantined,
    assetZone, assetQuarantined, assetPorts,
    v4Identity, v6Identity, v4Asset, v6Asset,
    zoneV4Start: Float64Array.from(zonePieces, (p) => Number(p.interval.lo)),
    zoneV4End: Float64Array.from(zonePieces, (p) => Number(p.interval.hi)),
    zoneV4Zone: Int32Array.from(zonePieces, (p) => p.label),
    zoneV6: zoneV6.map(({ cidr, zone }) => ({ cidr, zone })),
    byAsset, byAssetAny, byZone, byZoneAny,
    fromIdentities: fromIdentities.build(), fromRoles: fromRoles.build(), fromZones: fromZones.build(),
    cProto, cMonitor, cEdgeAuth, cGrant, cSchedTz, cSchedDays, cSchedFrom, cSchedTo,
    cAllowAll, cFunctions, cUnits, cAnyAddress, cRangeOff, values: valueTables.build(),
    rangeStart: Int32Array.from(starts), rangeEnd: Int32Array.from(ends),
    clock,
    dnp3: compileDnp3Rules(doc.conduits),
    iec104: compileIec104Rules(doc.conduits),
    decisions: new Array(nI + 1).fill(undefined),
  };
  return {
    version: opts.version ?? 'unversioned',
    doc,
    site: doc.site,
    counts: { zones: doc.zones.length, assets: nA, identities: nI, conduits: nC, candidateLists },
    conduits: doc.conduits,
    conduitById,
    t,
  };
}

/** The decision cache of a source identity (number, or -1 for none), made on first use. */
export function decisionCache(index: PolicyIndex, identity: number): DecisionCache {
  const slot = identity + 1;
  let d = index.t.decisions[slot];
  if (d === undefined) {
    d = { identity: identity < 0 ? null : index.doc.identities[identity].id, allow: new Map(), deny: new Array(N_REASONS).fill(undefined), monitor: new Map() };
    index.t.decisions[slot] = d;
  }
  return d;
}

/** The frozen allow decision naming conduit `c`. */
export function allowDecision(cache: DecisionCache, index: PolicyIndex, c: number): Decision {
  let d = cache.allow.get(c);
  if (d === undefined) {
    d = Object.freeze({ decision: 'allow', conduit: index.conduits[c].id, reason: null, identity: cache.identity });
    cache.allow.set(c, d);
  }
  return d;
}

/** The frozen deny decision for reason number `r`. */
export function denyDecision(cache: DecisionCache, r: number): Decision {
  let d = cache.deny[r];
  if (d === undefined) {
    d = Object.freeze({ decision: 'deny', conduit: null, reason: DENY_REASONS[r], identity: cache.identity });
    cache.deny[r] = d;
  }
  return d;
}

/** The frozen monitor-mode allow: conduit `c` would have denied for reason `r`. */
export function monitorDecision(cache: DecisionCache, index: PolicyIndex, c: number, r: number): Decision {
  const k = c * N_REASONS + r;
  let d = cache.monitor.get(k);
  if (d === undefined) {
    d = Object.freeze({ decision: 'allow', conduit: index.conduits[c].id, reason: DENY_REASONS[r] as DenyReason, identity: cache.identity, monitor: true });
    cache.monitor.set(k, d);
  }
  return d;
}
