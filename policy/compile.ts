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
import type { Conduit, PolicyDocument } from './types';
import { parseCidr, parseIp, ipv4ToUint32, formatIp, type Cidr } from './net';
import { ZoneClock } from './schedule';
import { cidrInterval, mostSpecific, type LabelledInterval } from './address-set';
import { compileDnp3Rules } from './dnp3-decide';
import { compileIec104Rules } from './iec104-decide';
import { CsrBuilder, PROTOCOLS, type CompileOptions, type IndexTables, type PolicyIndex } from './index-tables';
import { ConduitTablesBuilder, rangeCapacity } from './compile-conduits';

export * from './index-tables';
export { decisionCache, allowDecision, denyDecision, monitorDecision } from './decision-cache';

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

type IdentityTables = Pick<IndexTables, 'identityZone' | 'identityRoles' | 'identityQuarantined' | 'v4Identity' | 'v6Identity'>;

// Identities: zone, roles, quarantine, source addresses (first in document order wins).
function* identityTables(doc: PolicyDocument, zoneOf: (z: string | undefined) => number, quarantine: Set<string>, role: (r: string) => number): Generator<void, IdentityTables, void> {
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
    if (i % COMPILE_SLICE === COMPILE_SLICE - 1) yield;
  }
  return { identityZone, identityQuarantined, identityRoles: identityRoles.build(), v4Identity, v6Identity };
}

type AssetTables = Pick<IndexTables, 'assetZone' | 'assetQuarantined' | 'assetPorts' | 'v4Asset' | 'v6Asset'> & { assetsInZone: number[][] };

// Assets: zone, quarantine, addresses, service ports per protocol (asset * N_PROTO + proto).
function* assetTables(doc: PolicyDocument, zoneOf: (z: string | undefined) => number, quarantine: Set<string>): Generator<void, AssetTables, void> {
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
    if (a % COMPILE_SLICE === COMPILE_SLICE - 1) yield;
  }
  return { assetZone, assetQuarantined, assetPorts, v4Asset, v6Asset, assetsInZone };
}

type ZoneTables = Pick<IndexTables, 'zoneV4Start' | 'zoneV4End' | 'zoneV4Zone' | 'zoneV6'>;

// Zone networks. IPv4: each piece of the address space gets the most specific zone containing it
// (longest prefix, ties: document order), neighbours of one zone merged (address-set.ts). IPv6:
// a prefix list, longest first (ties: document order).
function zoneTables(doc: PolicyDocument): ZoneTables {
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
  const pieces = mostSpecific(v4Nets);
  return {
    zoneV4Start: Float64Array.from(pieces, (p) => Number(p.interval.lo)),
    zoneV4End: Float64Array.from(pieces, (p) => Number(p.interval.hi)),
    zoneV4Zone: Int32Array.from(pieces, (p) => p.label),
    zoneV6: zoneV6.map(({ cidr, zone }) => ({ cidr, zone })),
  };
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
  const identities = yield* identityTables(doc, zoneOf, quarantine, role);
  const { assetsInZone, ...assets } = yield* assetTables(doc, zoneOf, quarantine);
  const nI = doc.identities.length;
  const nA = doc.assets.length;
  let work = 0;

  // Conduits, then their candidate lists.
  const nC = doc.conduits.length;
  const conduits = new ConduitTablesBuilder(nC, nA, doc.zones.length, { identityIndex, assetIndex, zoneIndex, role, assetsInZone, assetPorts: assets.assetPorts }, rangeCapacity(doc.conduits));
  for (let c = 0; c < nC; c++) {
    conduits.add(c, doc.conduits[c]);
    if (++work >= COMPILE_SLICE) { work = 0; yield; }
  }
  const { lists: candidateLists, ...candidates } = yield* conduits.candidates(COMPILE_SLICE);
  yield;

  const clock = new ZoneClock(conduits.tzs);
  // Fail now, not on the first request, for a time zone Intl does not know.
  for (let z = 0; z < conduits.tzs.length; z++) clock.weekMinute(z, 0);

  const conduitById = new Map<string, Conduit>();
  for (let c = 0; c < nC; c++) {
    const cd = doc.conduits[c];
    if (!conduitById.has(cd.id)) conduitById.set(cd.id, cd);
    if (c % INTERN_SLICE === INTERN_SLICE - 1) yield;
  }

  const t: IndexTables = {
    identityIndex, assetIndex, zoneIndex, conduitIndex,
    ...identities,
    ...assets,
    ...zoneTables(doc),
    ...candidates,
    ...conduits.tables(),
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
