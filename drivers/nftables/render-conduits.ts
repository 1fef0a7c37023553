/**
 * The conduit part of the ruleset: per conduit (sorted by id), its source addresses and zone sets,
 * its destinations (asset services, proxied or plain, and zones), and one forward accept per
 * family, source and destination; or the reason it gets none (`skipped`). Pure.
 */
import type { Asset, Conduit, Identity, PolicyDocument, Zone } from '../../policy/types';
import { FAMILIES, KW, mergeNets, valueSet } from './nets';
import type { Family, Net } from './nets';
import { fitComment } from './names';
import type { ProxyListener, SkippedConduit } from './options';

export const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
export const sortedUnique = (xs: Iterable<string>): string[] => Array.from(new Set(xs)).sort(byString);

export function sortedNums(xs: readonly number[]): number[] {
  return Array.from(new Set(xs)).sort((a, b) => a - b);
}

export function portSet(ports: Iterable<number>): string {
  return valueSet(Array.from(new Set(ports)).sort((a, b) => a - b).map(String));
}

/** A checked proxy listener: the asset service it stands for and where it listens. */
export interface Listener {
  proxy: ProxyListener;
  /** undefined for the unspecified address: `redirect`. */
  host?: { family: Family; text: string };
  conduits: Set<string>;
}

/** One forward accept before it is written: family, source match, destination, ports. */
export interface PlainRule {
  family: Family;
  src: string;
  dst: { addrs: string[]; ports: string } | { set: string; ports: string };
  comment: string;
}

interface Restriction { test(c: Conduit): boolean; reason: string }

/** What only a proxy can check (policy/types.ts Conduit): kept in one table. */
const NEEDS_PROXY: readonly Restriction[] = [
  { test: (c) => c.protocol === 'modbus' && c.allow !== undefined, reason: 'Modbus function/unit/address filter' },
  { test: (c) => c.protocol === 'dnp3' && c.dnp3 !== undefined, reason: 'DNP3 function/object/point filter' },
  { test: (c) => c.protocol === 'iec104' && c.iec104 !== undefined, reason: 'IEC 104 type/address/cause filter' },
  { test: (c) => c.requires.edgeAuth, reason: 'edge authentication' },
  { test: (c) => c.requires.grant, reason: 'a signed grant' },
  { test: (c) => c.schedule !== undefined, reason: 'a schedule' },
  { test: (c) => c.rateLimit !== undefined, reason: 'a rate limit' },
];

/** What the conduit pass reads: the policy by id, parsed addresses, zone sets, proxy listeners. */
export interface ConduitInput {
  doc: PolicyDocument;
  zones: ReadonlyMap<string, Zone>;
  assets: ReadonlyMap<string, Asset>;
  identities: ReadonlyMap<string, Identity>;
  net(text: string): Net;
  zoneSet: ReadonlyMap<string, Record<Family, string | undefined>>;
  listeners: ReadonlyMap<string, Listener[]>;
}

/** What the conduit pass found. */
export interface ConduitOutput {
  plainRules: PlainRule[];
  skipped: SkippedConduit[];
  forwarded: Set<string>;
  proxied: Set<string>;
}

type PlainGroups = Map<string, { ports: number[]; addrs: Net[] }>;

/** The forward accepts of plain conduits, and the conduits proxied or skipped. */
export function conduitRules(input: ConduitInput): ConduitOutput {
  const { doc } = input;
  const out: ConduitOutput = { plainRules: [], skipped: [], forwarded: new Set(), proxied: new Set() };
  const byRole = new Map<string, Identity[]>();
  for (const d of doc.identities) for (const r of d.roles) { const l = byRole.get(r) ?? []; l.push(d); byRole.set(r, l); }
  const assetsByZone = new Map<string, Asset[]>();
  for (const a of doc.assets) { const l = assetsByZone.get(a.zone) ?? []; l.push(a); assetsByZone.set(a.zone, l); }
  const skippedIds = new Set<string>();
  const skip = (s: SkippedConduit) => { out.skipped.push(s); skippedIds.add(s.conduit); };
  const servicePorts = (list: readonly Asset[], c: Conduit): number[] =>
    sortedNums(list.flatMap((a) => a.services.filter((s) => s.protocol === c.protocol).map((s) => s.port)));
  for (const c of doc.conduits.slice().sort((a, b) => byString(a.id, b.id))) {
    const { sources, srcZones } = conduitSources(input, c, byRole);
    // Destinations: asset services (proxied or plain) and zones.
    const { plainByPorts, plainTargets } = plainAssets(input, c, servicePorts, out.proxied);
    const dstZones: { zone: string; ports: number[] }[] = [];
    for (const z of sortedUnique(c.to.zones)) {
      if (!input.zones.has(z)) continue;
      const ports = c.ports ? sortedNums(c.ports) : servicePorts(assetsByZone.get(z) ?? [], c);
      if (!ports.length) skip({ conduit: c.id, reason: `zone ${z}: no port (the conduit names none and no asset there offers ${c.protocol})` });
      else { dstZones.push({ zone: z, ports }); plainTargets.push(`zone ${z}`); }
    }
    if (!plainByPorts.size && !dstZones.length) {
      if (!out.proxied.has(c.id) && !skippedIds.has(c.id)) skip({ conduit: c.id, reason: 'no destination address or port' });
      continue;
    }
    const needs = NEEDS_PROXY.filter((r) => r.test(c)).map((r) => r.reason);
    if (needs.length) {
      // A conduit partly proxied names the part left out (its other destinations).
      const part = out.proxied.has(c.id) ? `to ${plainTargets.join(', ')}: ` : '';
      skip({ conduit: c.id, reason: `${part}needs a proxy for ${needs.join(', ')}; no proxy listener for ${part ? 'these' : 'its destination'}` });
      continue;
    }
    const zoneSet = input.zoneSet;
    if (!sources.length && !srcZones.some((z) => zoneSet.get(z)![4] || zoneSet.get(z)![6])) {
      skip({ conduit: c.id, reason: 'no source address (people authenticate at the edge: only a proxy can carry this)' });
      continue;
    }
    const before = out.plainRules.length;
    familyRules(input, c, sources, srcZones, plainByPorts, dstZones, out.plainRules);
    if (out.plainRules.length > before) out.forwarded.add(c.id);
    else skip({ conduit: c.id, reason: 'source and destination share no address family' });
  }
  return out;
}

// Sources: addresses of the named identities and of the identities holding a named role; zone sets.
function conduitSources(input: ConduitInput, c: Conduit, byRole: ReadonlyMap<string, Identity[]>): { sources: Net[]; srcZones: string[] } {
  const srcIdentities = new Set<Identity>();
  for (const id of c.from.identities) { const d = input.identities.get(id); if (d) srcIdentities.add(d); }
  for (const role of c.from.roles) for (const d of byRole.get(role) ?? []) srcIdentities.add(d);
  const srcAddrs: Net[] = [];
  for (const d of srcIdentities) for (const s of d.addresses) srcAddrs.push(input.net(s));
  return { sources: mergeNets(srcAddrs), srcZones: sortedUnique(c.from.zones).filter((z) => input.zones.has(z)) };
}

// Asset destinations: a port with a proxy listener is proxied; the others are grouped by port list.
function plainAssets(input: ConduitInput, c: Conduit, servicePorts: (list: readonly Asset[], c: Conduit) => number[], proxied: Set<string>): { plainByPorts: PlainGroups; plainTargets: string[] } {
  const plainByPorts: PlainGroups = new Map();
  const plainTargets: string[] = [];
  for (const assetId of sortedUnique(c.to.assets)) {
    const asset = input.assets.get(assetId);
    if (!asset) continue;
    const ports = c.ports ? sortedNums(c.ports) : servicePorts([asset], c);
    const plainPorts: number[] = [];
    for (const port of ports) {
      const ls = input.listeners.get(`${asset.id}\u0000${port}`);
      if (ls) { for (const l of ls) l.conduits.add(c.id); proxied.add(c.id); } else plainPorts.push(port);
    }
    if (!plainPorts.length) continue;
    plainTargets.push(`${asset.id}:${plainPorts.join(',')}`);
    const key = plainPorts.join(',');
    const group = plainByPorts.get(key) ?? { ports: plainPorts, addrs: [] };
    for (const s of asset.addresses) group.addrs.push(input.net(s));
    plainByPorts.set(key, group);
  }
  return { plainByPorts, plainTargets };
}

// One accept per family, source match and destination.
function familyRules(input: ConduitInput, c: Conduit, sources: Net[], srcZones: string[], plainByPorts: PlainGroups, dstZones: { zone: string; ports: number[] }[], rules: PlainRule[]): void {
  const zoneSet = input.zoneSet;
  const comment = `comment "${fitComment(['conduit', c.id])}"`;
  for (const f of FAMILIES) {
    const kw = KW[f];
    const srcMatches = [
      ...(sources.some((n) => n.family === f) ? [`${kw} saddr ${valueSet(sources.filter((n) => n.family === f).map((n) => n.text))}`] : []),
      ...srcZones.filter((z) => zoneSet.get(z)![f]).map((z) => `${kw} saddr @${zoneSet.get(z)![f]}`),
    ];
    const dsts: PlainRule['dst'][] = [];
    for (const g of plainByPorts.values()) {
      const addrs = mergeNets(g.addrs).filter((n) => n.family === f);
      if (addrs.length) dsts.push({ addrs: addrs.map((n) => n.text), ports: portSet(g.ports) });
    }
    for (const d of dstZones) {
      const name = zoneSet.get(d.zone)![f];
      if (name) dsts.push({ set: name, ports: portSet(d.ports) });
    }
    for (const src of srcMatches) for (const dst of dsts) rules.push({ family: f, src, dst, comment });
  }
}
