/**
 * A policy document back to the public format, as readable YAML: zones, assets, identities and
 * tests one flow mapping a line, conduits in block style with a comment above each (what was
 * observed), grouped under a comment per asset. The text parses back (policy/parse.ts) into the
 * same document; policy learn checks that before it writes anything.
 */
import type { Asset, Conduit, DecisionRequest, Identity, PolicyDocument, PolicyTest, Schedule, Zone } from '../types';
import { modbusFunction, modbusFunctionName, modbusSubFunctionName } from '../modbus';
import { CROB_OPERATIONS, dnp3FunctionName, type Dnp3Allow, type Dnp3ObjectRef, type Dnp3RequestSpec } from '../dnp3';
import type { Iec104Allow, Iec104RequestSpec } from '../iec104';
import { typeName } from '../iec104-types';
import { formatRange } from '../ranges';

export type Data = string | number | boolean | null | Data[] | { [k: string]: Data | undefined };

const PLAIN = /^[A-Za-z][A-Za-z0-9_.\-/@]*$/;
const RESERVED = /^(true|false|yes|no|on|off|null|y|n)$/i;
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** One scalar: plain when YAML reads it back as the same string (ids, names, IPv4), else double-quoted. */
function scalar(v: string | number | boolean | null): string {
  if (typeof v !== 'string') return String(v);
  if ((PLAIN.test(v) && !RESERVED.test(v)) || IPV4.test(v)) return v;
  return JSON.stringify(v);
}

/** A flow-style YAML value on one line. */
export function flow(v: Data): string {
  if (Array.isArray(v)) return `[${v.map(flow).join(', ')}]`;
  if (v !== null && typeof v === 'object') {
    const parts = Object.entries(v).filter(([, x]) => x !== undefined).map(([k, x]) => `${k}: ${flow(x as Data)}`);
    return `{ ${parts.join(', ')} }`;
  }
  return scalar(v);
}

const hm = (m: number): string => `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;

function scheduleData(s: Schedule): Data {
  return { days: s.days, from: hm(s.from), to: hm(s.to), tz: s.tz };
}

/** A conduit as the document writes it (defaults left out). */
export function conduitData(c: Conduit): Record<string, Data | undefined> {
  const from: Record<string, Data> = {};
  if (c.from.identities.length) from.identities = c.from.identities;
  if (c.from.roles.length) from.roles = c.from.roles;
  if (c.from.zones.length) from.zones = c.from.zones;
  const to: Record<string, Data> = {};
  if (c.to.assets.length) to.assets = c.to.assets;
  if (c.to.zones.length) to.zones = c.to.zones;
  const out: Record<string, Data | undefined> = { id: c.id, description: c.description, from, to, protocol: c.protocol };
  if (c.ports) out.ports = c.ports;
  if (c.allow) {
    const allow: Record<string, Data> = { functions: [...c.allow.functions.map(modbusFunctionName), ...(c.allow.subFunctions ?? []).map((x) => modbusSubFunctionName(x.fn, x.sub))] };
    if (c.allow.units) allow.units = c.allow.units;
    if (c.allow.addresses) allow.addresses = c.allow.addresses.map(formatRange);
    if (c.allow.values) {
      const v: Record<string, Data> = {};
      for (const r of c.allow.values) {
        const bounds = `${r.min}..${r.max}`;
        // The short form reads as uint16, or int16 when a bound is negative; anything else says its type.
        const short = (r.type === 'uint16' && r.min >= 0) || (r.type === 'int16' && r.min < 0);
        v[formatRange(r)] = short ? bounds : r.type === 'uint16' || r.type === 'int16' ? { type: r.type, range: bounds } : { type: r.type, range: bounds, order: r.order };
      }
      allow.values = v;
    }
    if (c.allow.coils) {
      const k: Record<string, Data> = {};
      for (const r of c.allow.coils) k[formatRange(r)] = r.on && r.off ? ['on', 'off'] : r.on ? 'on' : 'off';
      allow.coils = k;
    }
    out.allow = allow;
  }
  if (c.protocol === 'dnp3' && c.dnp3) out.allow = dnp3AllowData(c.dnp3);
  if (c.protocol === 'iec104' && c.iec104) out.allow = iec104AllowData(c.iec104);
  if (c.requires.edgeAuth || c.requires.grant) out.requires = { edgeAuth: c.requires.edgeAuth, grant: c.requires.grant };
  if (c.schedule) out.schedule = scheduleData(c.schedule);
  if (c.mode === 'monitor') out.mode = 'monitor';
  if (c.rateLimit) out.rateLimit = { perSecond: c.rateLimit.perSecond, burst: c.rateLimit.burst };
  if (c.writeRateLimit) out.writeRateLimit = { perSecond: c.writeRateLimit.perSecond, burst: c.writeRateLimit.burst };
  return out;
}

const objectRef = (o: Dnp3ObjectRef): string => (o.variation === 0 ? `g${o.group}` : `g${o.group}v${o.variation}`);
const CROB_NAMES = new Map(Object.entries(CROB_OPERATIONS).map(([k, v]) => [v, k]));

/** A dnp3 conduit's `allow` in the document form (policy/dnp3-allow.ts reads it back). */
export function dnp3AllowData(a: Dnp3Allow): Data {
  const out: Record<string, Data | undefined> = { functions: a.functions.map(dnp3FunctionName) };
  if (a.masters) out.masters = a.masters;
  if (a.outstations) out.outstations = a.outstations;
  if (Array.isArray(a.objects)) out.objects = a.objects.map(objectRef);
  else if (a.objects) {
    const per: Record<string, Data> = {};
    for (const k of Object.keys(a.objects).sort((x, y) => Number(x) - Number(y))) per[dnp3FunctionName(Number(k))] = a.objects[k].map(objectRef);
    out.objects = per;
  }
  if (a.points) {
    const per: Record<string, Data> = {};
    for (const k of Object.keys(a.points)) per[k] = a.points[k].map((r) => (r.start === r.end ? String(r.start) : `${r.start}-${r.end}`));
    out.points = per;
  }
  if (a.values) out.values = { min: a.values.min, max: a.values.max };
  if (a.controls) out.controls = a.controls.map((c) => CROB_NAMES.get(c) ?? String(c));
  if (a.unsolicited !== undefined) out.unsolicited = a.unsolicited;
  return out;
}

/** An iec104 conduit's `allow` in the document form (policy/iec104-allow.ts reads it back): types by name. */
export function iec104AllowData(a: Iec104Allow): Data {
  const out: Record<string, Data | undefined> = { types: a.types.map(typeName) };
  if (a.commonAddresses) out.commonAddresses = a.commonAddresses;
  if (a.ioas) out.ioas = a.ioas.map((r) => (r.start === r.end ? String(r.start) : `${r.start}-${r.end}`));
  if (a.causes) out.causes = a.causes;
  if (a.values) out.values = { min: a.values.min, max: a.values.max };
  if (a.selectBeforeExecute !== undefined) out.selectBeforeExecute = a.selectBeforeExecute;
  return out;
}

function iec104RequestData(d: Iec104RequestSpec): Data {
  return { type: typeName(d.type), cause: d.cause, ca: d.ca, ioas: d.ioas, values: d.values, select: d.select, selected: d.selected };
}

function dnp3RequestData(d: Dnp3RequestSpec): Data {
  return {
    function: dnp3FunctionName(d.function), source: d.source, destination: d.destination,
    objects: d.objects?.map((o) => ({
      group: o.group, variation: o.variation, start: o.start, stop: o.stop, indices: o.indices, values: o.values,
      control: o.control === undefined ? undefined : CROB_NAMES.get(o.control) ?? o.control,
    })),
  };
}

/** Every field a Modbus test request may carry (a dropped subFunction or values would test another request). */
function modbusRequestData(m: NonNullable<DecisionRequest['modbus']>): Data {
  const sub = typeof m.subFunction === 'number' && typeof m.function === 'number' ? subFunctionName(m.function, m.subFunction) : m.subFunction;
  return { function: m.function, unit: m.unit, address: m.address, count: m.count, writeAddress: m.writeAddress, writeCount: m.writeCount, subFunction: sub, values: m.values };
}

function requestData(r: DecisionRequest): Data {
  const out: Record<string, Data | undefined> = {
    from: typeof r.from === 'string' ? r.from : { ip: r.from.ip },
    to: typeof r.to === 'string' ? r.to : { ip: r.to.ip, port: r.to.port },
    // A request with `modbus` is a Modbus request; say the protocol only when that does not.
    protocol: r.modbus === undefined && r.dnp3 === undefined && r.iec104 === undefined ? r.protocol : undefined,
    port: r.port,
    modbus: r.modbus ? modbusRequestData(r.modbus) : undefined,
    dnp3: r.dnp3 ? dnp3RequestData(r.dnp3) : undefined,
    iec104: r.iec104 ? iec104RequestData(r.iec104) : undefined,
    at: r.at === undefined ? undefined : typeof r.at === 'number' ? new Date(r.at).toISOString() : r.at,
    session: r.session as Data | undefined,
  };
  return out;
}

export function testData(t: PolicyTest): Data {
  return { name: t.name, request: requestData(t.request), expect: t.expect, conduit: t.conduit, reason: t.reason };
}

const zoneData = (z: Zone): Data => ({ id: z.id, networks: z.networks, interfaces: z.interfaces.length ? z.interfaces : undefined, securityLevel: z.securityLevel, description: z.description });
const assetData = (a: Asset): Data => ({ id: a.id, zone: a.zone, addresses: a.addresses, kind: a.kind, services: a.services.map((s) => ({ protocol: s.protocol, port: s.port, name: s.name })), description: a.description });
const identityData = (i: Identity): Data => ({ id: i.id, kind: i.kind, zone: i.zone, addresses: i.addresses.length ? i.addresses : undefined, roles: i.roles.length ? i.roles : undefined, description: i.description });

/** Conduits grouped by the first asset they name (or zone), groups and conduits sorted: the text's order. */
function groupConduits(conduits: readonly Conduit[]): Map<string, Conduit[]> {
  const groups = new Map<string, Conduit[]>();
  for (const c of conduits) {
    const key = c.to.assets[0] ?? `zone ${c.to.zones[0] ?? ''}`;
    const g = groups.get(key);
    if (g) g.push(c); else groups.set(key, [c]);
  }
  const out = new Map<string, Conduit[]>();
  for (const key of [...groups.keys()].sort()) out.set(key, (groups.get(key) as Conduit[]).sort((a, b) => a.id.localeCompare(b.id)));
  return out;
}

/**
 * A copy of a builder's item without its undefined fields (what the text reads back), made as the
 * item is built: the builder's object dies young, and the copy's objects keep V8's compact shapes
 * (deleting fields in place would turn tens of thousands of test requests into dictionaries).
 */
function defined(v: Data | undefined): Data {
  if (Array.isArray(v)) return v.map(defined);
  if (v === null || typeof v !== 'object') return v as Data;
  const out: { [k: string]: Data } = {};
  for (const k of Object.keys(v)) { const x = v[k]; if (x !== undefined) out[k] = defined(x); }
  return out;
}

/** The conduits in the order the text lists them: grouped by asset, sorted. */
export const conduitsInTextOrder = (conduits: readonly Conduit[]): Conduit[] => [...groupConduits(conduits).values()].flat();

/**
 * The document as the plain data emitPolicyYaml writes (the same item builders, without the
 * text, and without undefined fields): what policy learn validates instead of parsing its text
 * back. `list` makes the conduits' and tests' lists (default: arrays of their data; policy learn
 * hands the validator lists that build each item's data as it is read).
 */
export function policyData(doc: PolicyDocument, list: ListMaker = (items, data) => items.map(data)): Data {
  return {
    site: doc.site, zones: doc.zones.map((z) => defined(zoneData(z))), assets: doc.assets.map((a) => defined(assetData(a))),
    identities: doc.identities.map((i) => defined(identityData(i))),
    conduits: list(conduitsInTextOrder(doc.conduits), (c) => defined(conduitData(c) as Data)), quarantine: doc.quarantine,
    settings: { onExpiry: doc.settings.onExpiry }, tests: list(doc.tests, testItemData),
  };
}

/** A test as policyData lists it (the plain data its text reads back as). */
export const testItemData = (t: PolicyTest): Data => defined(testData(t));

/** Makes the data of a list of conduits or tests from the items and each item's data. */
export type ListMaker = <T>(items: T[], data: (item: T) => Data) => Data[];

/** Comments to place in the text: a header, one above each conduit, one above each asset's group. */
export interface EmitComments {
  header: string[];
  conduit: Pick<ReadonlyMap<string, readonly string[]>, 'get'>;
  /** Conduits are emitted grouped by the first asset they name, sorted; this titles each group. */
  assetTitle?: (asset: string) => string;
}

const comment = (lines: readonly string[], indent = ''): string[] => lines.map((l) => `${indent}# ${l}`.trimEnd());

/** The YAML text of a document. */
export function emitPolicyYaml(doc: PolicyDocument, comments: EmitComments): string {
  return [...emitPolicyText(doc, comments)].join('');
}

const lines = (xs: readonly string[]): string => (xs.length ? `${xs.join('\n')}\n` : '');

/**
 * Tests emitted per piece of text. Few: a test made, checked and written allocates about 20 KB, so
 * the lines of a piece of 512 outlived two scavenges of V8's 2 MiB young generation and were
 * promoted, tens of MiB of old-generation garbage over a large learnt policy's 80,000 tests.
 */
const TESTS_PER_PIECE = 32;

/**
 * The YAML text of a document in pieces, each ending in a newline: the inventory, one asset's
 * group of conduits, a slice of the tests; their concatenation is emitPolicyYaml's text. Policy
 * learn writes the pieces as they come (no one large string) and gives the tests as they are
 * made and checked (`tests`, read once, instead of `doc.tests`).
 */
export function* emitPolicyText(doc: PolicyDocument, comments: EmitComments, tests: Iterable<PolicyTest> = doc.tests): Generator<string, void, void> {
  const head: string[] = [...comment(comments.header), `site: ${scalar(doc.site)}`, '', 'zones:'];
  for (const z of doc.zones) head.push(`  - ${flow(zoneData(z))}`);
  head.push('', 'assets:');
  for (const a of doc.assets) head.push(`  - ${flow(assetData(a))}`);
  head.push('', doc.identities.length ? 'identities:' : 'identities: []');
  for (const i of doc.identities) head.push(`  - ${flow(identityData(i))}`);
  head.push('', doc.conduits.length ? 'conduits:' : 'conduits: []');
  yield lines(head);
  for (const [key, list] of groupConduits(doc.conduits)) {
    const out = comment([`── ${comments.assetTitle ? comments.assetTitle(key) : key} ──`], '  ');
    for (const c of list) {
      out.push(...comment(comments.conduit.get(c.id) ?? [], '  '));
      const entries = Object.entries(conduitData(c)).filter(([, v]) => v !== undefined);
      entries.forEach(([k, v], n) => out.push(`${n === 0 ? '  - ' : '    '}${k}: ${flow(v as Data)}`));
    }
    yield lines(out);
  }
  const tail = ['', `quarantine: ${flow(doc.quarantine)}`, `settings: ${flow({ onExpiry: doc.settings.onExpiry })}`, ''];
  // `tests:` or `tests: []`, known once the first test comes (or none does).
  let piece: string[] = [];
  let any = false;
  for (const t of tests) {
    if (!any) { any = true; yield lines([...tail, 'tests:']); }
    piece.push(`  - ${flow(testData(t))}`);
    if (piece.length === TESTS_PER_PIECE) { yield lines(piece); piece = []; }
  }
  yield any ? lines(piece) : lines([...tail, 'tests: []']);
}

/** A sub-function's name in its function's table (what a reader of the test recognises), else its code. */
function subFunctionName(fn: number, sub: number): string | number {
  return modbusFunction(fn)?.subFunctions?.find((x) => x.code === sub)?.name ?? sub;
}
