/**
 * The policy half of the compliance report: zones and conduits in the language of IEC 62443-3-2
 * (ZCR 3: partition into zones and conduits, each zone with its target security level SL-T),
 * every allowed path with its protocol operations and authentication requirements, and the
 * electronic access points and vendor remote access paths in NERC CIP-005 / CIP-003 terms.
 * Pure: a PolicyDocument in, plain data out.
 */
import type { Conduit, PolicyDocument, Weekday } from '../../policy/types';
import { modbusFunctionName } from '../../policy/modbus';
import { CROB_OPERATIONS, dnp3FunctionName, type Dnp3Allow, type Dnp3ObjectRef } from '../../policy/dnp3';
import type { Iec104Allow } from '../../policy/iec104';
import { typeName } from '../../policy/iec104-types';

export interface ZoneEntry {
  id: string;
  securityLevel: number;
  networks: string[];
  interfaces: string[];
  description: string | null;
  assets: { id: string; kind: string; addresses: string[]; services: string[]; description: string | null }[];
  identities: { id: string; kind: string; addresses: string[] }[];
}

export interface PathEntry {
  conduit: string;
  description: string | null;
  /** Who: identities, roles (people authenticated at the edge), zones. */
  from: string[];
  fromZones: string[];
  to: string[];
  toZones: string[];
  protocol: string;
  ports: string;
  /**
   * Modbus: function names, units, address ranges; DNP3: function names, link addresses, point
   * ranges; IEC 104: type names, common addresses, IOA ranges; tcp: whole connections.
   */
  operations: { functions: string[]; units: string; addresses: string } | null;
  /** DNP3 paths: what else the conduit's allow block narrows (objects, controls, values, unsolicited). */
  dnp3: Dnp3PathOperations | null;
  /** Edge login, signed grant, schedule, mode, rate limit, in words. */
  requirements: string[];
  edgeAuth: boolean;
  grant: boolean;
  schedule: string | null;
  mode: 'enforce' | 'monitor';
  rateLimit: string | null;
  vendor: boolean;
  /** Crosses from a lower to a higher security level zone. */
  inbound: boolean;
}

export interface Dnp3PathOperations {
  functions: string[];
  /** `masters 1 → outstations 10`, or `any`. */
  links: string;
  /** Objects allowed, with every function or per function (`read: g1, g30v1`). */
  objects: string[];
  /** Point indices per group (`g12 0-7`), `any` when none is narrowed. */
  points: string;
  /** CROB operations allowed (names), `any`. */
  controls: string;
  /** Analog output values allowed, `any`. */
  values: string;
  unsolicited: boolean;
}

/** IEC 62443 conduit: the paths between one pair of zones. */
export interface ZoneConduit {
  fromZone: string;
  toZone: string;
  fromLevel: number | null;
  toLevel: number | null;
  paths: string[];
}

/** NERC CIP-005 R1: an electronic access point: the gateway interface at a zone boundary. */
export interface AccessPoint {
  zone: string;
  interface: string;
  securityLevel: number;
  /** Conduits entering the zone through it. */
  inboundPaths: string[];
}

export interface Inventory {
  site: string;
  zones: ZoneEntry[];
  paths: PathEntry[];
  zoneConduits: ZoneConduit[];
  accessPoints: AccessPoint[];
  vendorPaths: PathEntry[];
  quarantine: string[];
  onExpiry: string;
  counts: { zones: number; assets: number; identities: number; conduits: number; modbusPaths: number; dnp3Paths: number; iec104Paths: number; tcpPaths: number; monitorPaths: number };
}

const DAY_ORDER: Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

function hhmm(min: number): string {
  return `${String(Math.floor(min / 60)).padStart(2, '0')}:${String(min % 60).padStart(2, '0')}`;
}

function days(ds: Weekday[]): string {
  const set = new Set(ds);
  if (set.size === 7) return 'every day';
  if (set.size === 5 && ['mon', 'tue', 'wed', 'thu', 'fri'].every((d) => set.has(d as Weekday))) return 'weekdays';
  return DAY_ORDER.filter((d) => set.has(d)).join(', ');
}

function ranges(rs: { start: number; end: number }[] | undefined): string {
  if (!rs) return 'any';
  return rs.map((r) => (r.start === r.end ? String(r.start) : `${r.start}-${r.end}`)).join(', ');
}

const objectRef = (o: Dnp3ObjectRef): string => `g${o.group}${o.variation ? `v${o.variation}` : ''}`;
const CROB_NAMES = new Map(Object.entries(CROB_OPERATIONS).map(([name, code]) => [code, name]));

/** An IEC 104 conduit's allow block in words (undefined: every well-formed ASDU). */
function iec104Operations(a: Iec104Allow | undefined): { functions: string[]; units: string; addresses: string } {
  if (a === undefined) return { functions: ['any well-formed ASDU'], units: 'any', addresses: 'any' };
  const extra = [a.values ? `set-points ${a.values.min}..${a.values.max}` : '', a.selectBeforeExecute ? 'select before execute' : ''].filter(Boolean);
  return { functions: [...a.types.map((t) => `${typeName(t)} (${t})`), ...extra], units: a.commonAddresses ? `CA ${a.commonAddresses.join(', ')}` : 'any', addresses: ranges(a.ioas) };
}

/** A DNP3 conduit's allow block in words (undefined: every well-formed request). */
export function dnp3Operations(a: Dnp3Allow | undefined): Dnp3PathOperations {
  if (a === undefined) return { functions: ['any well-formed request'], links: 'any', objects: ['any'], points: 'any', controls: 'any', values: 'any', unsolicited: true };
  const links = a.masters === undefined && a.outstations === undefined ? 'any'
    : `masters ${a.masters?.join(', ') ?? 'any'} → outstations ${a.outstations?.join(', ') ?? 'any'}`;
  let objects: string[];
  if (a.objects === undefined) objects = ['any'];
  else if (Array.isArray(a.objects)) objects = [a.objects.map(objectRef).join(', ')];
  else {
    const per = a.objects;
    objects = Object.keys(per).map(Number).sort((x, y) => x - y).map((fn) => `${dnp3FunctionName(fn)}: ${per[String(fn)].map(objectRef).join(', ')}`);
  }
  const points = a.points === undefined || Object.keys(a.points).length === 0 ? 'any'
    : Object.keys(a.points).sort().map((g) => `${g} ${ranges(a.points![g])}`).join('; ');
  return {
    functions: a.functions.map((f) => `${dnp3FunctionName(f)} (${f})`), links, objects, points,
    controls: a.controls === undefined ? 'any' : a.controls.map((c) => CROB_NAMES.get(c) ?? `0x${c.toString(16)}`).join(', '),
    values: a.values === undefined ? 'any' : `${a.values.min}..${a.values.max}`,
    unsolicited: a.unsolicited === true,
  };
}

/** Builds the inventory of a validated policy. */
export function buildInventory(doc: PolicyDocument): Inventory {
  const zoneOf = new Map<string, string>();
  for (const a of doc.assets) zoneOf.set(`a:${a.id}`, a.zone);
  for (const i of doc.identities) if (i.zone) zoneOf.set(`i:${i.id}`, i.zone);
  const level = new Map(doc.zones.map((z) => [z.id, z.securityLevel]));
  const vendorRoles = new Set<string>();
  const vendorIds = new Set<string>();
  for (const i of doc.identities) if (i.kind === 'vendor') { vendorIds.add(i.id); for (const r of i.roles) vendorRoles.add(r); }

  const zones: ZoneEntry[] = doc.zones.map((z) => ({
    id: z.id, securityLevel: z.securityLevel, networks: z.networks, interfaces: z.interfaces, description: z.description ?? null,
    assets: doc.assets.filter((a) => a.zone === z.id).map((a) => ({ id: a.id, kind: a.kind, addresses: a.addresses, services: a.services.map((s) => `${s.name ?? s.protocol}/${s.port}`), description: a.description ?? null })),
    identities: doc.identities.filter((i) => i.zone === z.id).map((i) => ({ id: i.id, kind: i.kind, addresses: i.addresses })),
  }));

  const paths = doc.conduits.map((c) => pathOf(c));
  function pathOf(c: Conduit): PathEntry {
    const from = [...c.from.identities.map((i) => i), ...c.from.roles.map((r) => `role ${r}`), ...c.from.zones.map((z) => `zone ${z}`)];
    const fromZones = new Set<string>(c.from.zones);
    for (const i of c.from.identities) fromZones.add(zoneOf.get(`i:${i}`) ?? '(edge login)');
    if (c.from.roles.length) fromZones.add('(edge login)');
    const toZones = new Set<string>(c.to.zones);
    for (const a of c.to.assets) toZones.add(zoneOf.get(`a:${a}`) ?? '?');
    const schedule = c.schedule ? `${days(c.schedule.days)} ${hhmm(c.schedule.from)}-${hhmm(c.schedule.to)} ${c.schedule.tz}${c.schedule.from > c.schedule.to ? ' (overnight)' : ''}` : null;
    const rateLimit = c.rateLimit ? `${c.rateLimit.perSecond}/s, burst ${c.rateLimit.burst}` : null;
    const requirements: string[] = [];
    if (c.requires.edgeAuth) requirements.push('login at the gateway edge');
    if (c.requires.grant) requirements.push('signed time-boxed grant');
    if (schedule) requirements.push(`schedule ${schedule}`);
    if (c.mode === 'monitor') requirements.push('MONITOR mode (allows, records would-be denials)');
    if (rateLimit) requirements.push(`rate limit ${rateLimit}`);
    if (requirements.length === 0) requirements.push('source address only');
    const vendor = c.from.identities.some((i) => vendorIds.has(i)) || c.from.roles.some((r) => vendorRoles.has(r));
    const dnp3 = dnp3Operations(c.protocol === 'dnp3' ? c.dnp3 : undefined);
    const fromLevels = [...fromZones].map((z) => level.get(z)).filter((x): x is number => x !== undefined);
    const toLevels = [...toZones].map((z) => level.get(z)).filter((x): x is number => x !== undefined);
    return {
      conduit: c.id, description: c.description ?? null, from, fromZones: [...fromZones], to: [...c.to.assets, ...c.to.zones.map((z) => `zone ${z}`)], toZones: [...toZones],
      protocol: c.protocol, ports: c.ports ? c.ports.join(', ') : 'asset services',
      operations: c.protocol === 'modbus'
        ? { functions: c.allow ? c.allow.functions.map((f) => `${modbusFunctionName(f)} (${f})`) : ['any well-formed request'], units: c.allow?.units ? c.allow.units.join(', ') : 'any', addresses: ranges(c.allow?.addresses) }
        : c.protocol === 'dnp3' ? { functions: dnp3.functions, units: dnp3.links, addresses: dnp3.points }
          : c.protocol === 'iec104' ? iec104Operations(c.iec104) : null,
      dnp3: c.protocol === 'dnp3' ? dnp3 : null,
      requirements, edgeAuth: c.requires.edgeAuth, grant: c.requires.grant, schedule, mode: c.mode, rateLimit, vendor,
      inbound: toLevels.length > 0 && (fromLevels.length === 0 || Math.min(...fromLevels) < Math.max(...toLevels)),
    };
  }

  const pairs = new Map<string, ZoneConduit>();
  for (const p of paths) for (const f of p.fromZones) for (const t of p.toZones) {
    const k = `${f}\u0000${t}`;
    const e = pairs.get(k) ?? { fromZone: f, toZone: t, fromLevel: level.get(f) ?? null, toLevel: level.get(t) ?? null, paths: [] };
    if (!e.paths.includes(p.conduit)) e.paths.push(p.conduit);
    pairs.set(k, e);
  }
  const accessPoints: AccessPoint[] = [];
  for (const z of doc.zones) for (const ifc of z.interfaces) {
    accessPoints.push({ zone: z.id, interface: ifc, securityLevel: z.securityLevel, inboundPaths: paths.filter((p) => p.toZones.includes(z.id)).map((p) => p.conduit) });
  }
  return {
    site: doc.site, zones, paths,
    zoneConduits: [...pairs.values()].sort((a, b) => (a.toZone + a.fromZone < b.toZone + b.fromZone ? -1 : 1)),
    accessPoints,
    vendorPaths: paths.filter((p) => p.vendor),
    quarantine: [...doc.quarantine],
    onExpiry: doc.settings.onExpiry,
    counts: {
      zones: doc.zones.length, assets: doc.assets.length, identities: doc.identities.length, conduits: doc.conduits.length,
      modbusPaths: paths.filter((p) => p.protocol === 'modbus').length, dnp3Paths: paths.filter((p) => p.protocol === 'dnp3').length, iec104Paths: paths.filter((p) => p.protocol === 'iec104').length, tcpPaths: paths.filter((p) => p.protocol === 'tcp').length,
      monitorPaths: paths.filter((p) => p.mode === 'monitor').length,
    },
  };
}
