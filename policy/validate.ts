/**
 * Checks a policy document (plain data from YAML, JSON or a bundle's CBOR) against the public
 * format of design.md "The policy language" and turns it into the normalised PolicyDocument of
 * types.ts. Every problem is collected (never only the first) as an Issue with its document
 * path and, when a locator is given, its line and column.
 *
 * Order of checks: shapes and field types per entry, then ids (duplicates, asset/identity
 * clashes), then references between entries, then cross-entry facts (addresses inside their
 * zone, overlapping zone networks, conduits that could never match), then the embedded tests.
 * An entry with a bad field still registers its id, so one typo gives one issue, not a cascade.
 */
import { ZonegateError } from './errors';
import type { Issue } from './errors';
import type {
  AddressRange, Asset, Conduit, DenyReason, Identity, IdentityKind, ModbusAllow, PolicyDocument, PolicyTest, Protocol,
  Schedule, Service, Settings, Weekday, Zone,
} from './types';
import { DENY_REASONS } from './types';
import { MODBUS_FUNCTIONS, modbusFunctionCode, modbusSubFunction, modbusSubFunctionNames } from './modbus';
import { readCoilRules, readValueRules } from './validate-values';
import { cidrContains, cidrHostBitsSet, cidrNetwork, cidrsOverlap, formatCidr, formatIp, parseCidr, parseIp } from './net';
import type { Cidr, IpAddr } from './net';
import type { SourcePath, SourcePosition } from './source';
import {
  IssueList, q, checkId, isValidId, checkInt, describe, didYouMean, editDistance, formatPath, get, has, readBoolean, readList, readObject, readString,
  readStringList,
} from './check';
import type { Path, PathLike } from './check';
import { readRequest } from './request';
import { readDnp3Allow } from './dnp3-allow';
import { readIec104Allow } from './iec104-allow';

/** Where the document came from, for issue positions. */
export interface ValidateOptions {
  /** Named in the error message and in every issue. */
  file?: string;
  /** Line/column of a document path (from parseSource); absent for bundles. */
  locate?: (path: SourcePath) => SourcePosition | undefined;
}

const TOP_FIELDS = ['site', 'zones', 'assets', 'identities', 'conduits', 'quarantine', 'settings', 'tests'];
const ZONE_FIELDS = ['id', 'networks', 'interfaces', 'securityLevel', 'description'];
const ASSET_FIELDS = ['id', 'zone', 'address', 'addresses', 'kind', 'services', 'description'];
const SERVICE_FIELDS = ['protocol', 'port', 'name'];
const IDENTITY_FIELDS = ['id', 'kind', 'zone', 'address', 'addresses', 'roles', 'description'];
const CONDUIT_FIELDS = ['id', 'description', 'from', 'to', 'protocol', 'ports', 'allow', 'requires', 'schedule', 'mode', 'rateLimit', 'writeRateLimit'];
const FROM_FIELDS = ['identities', 'roles', 'zones'];
const TO_FIELDS = ['assets', 'zones'];
const ALLOW_FIELDS = ['functions', 'units', 'addresses', 'values', 'coils'];
const REQUIRES_FIELDS = ['edgeAuth', 'grant'];
const SCHEDULE_FIELDS = ['days', 'from', 'to', 'tz'];
const RATE_FIELDS = ['perSecond', 'burst'];
const SETTINGS_FIELDS = ['onExpiry'];
const TEST_FIELDS = ['name', 'request', 'expect', 'conduit', 'reason'];

const PROTOCOLS: readonly Protocol[] = ['modbus', 'tcp', 'dnp3', 'iec104'];
const KINDS: readonly IdentityKind[] = ['device', 'user', 'service', 'vendor'];
const WEEK: readonly Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const DAY_WORDS: Readonly<Record<string, readonly Weekday[]>> = Object.assign(Object.create(null) as Record<string, readonly Weekday[]>, {
  mon: ['mon'], tue: ['tue'], wed: ['wed'], thu: ['thu'], fri: ['fri'], sat: ['sat'], sun: ['sun'],
  monday: ['mon'], tuesday: ['tue'], wednesday: ['wed'], thursday: ['thu'], friday: ['fri'], saturday: ['sat'], sunday: ['sun'],
  weekdays: ['mon', 'tue', 'wed', 'thu', 'fri'], weekend: ['sat', 'sun'], all: WEEK, daily: WEEK,
});
const ON_EXPIRY: readonly Settings['onExpiry'][] = ['keep-enforcing', 'deny-all'];

interface Located<T> { value: T; path: Path }

const ADDRESS_RANGE = { min: 0, max: 65535, name: 'an address' };
const PORT_RANGE = { min: 1, max: 65535, name: 'a port' };
const UNIT_RANGE = { min: 0, max: 255, name: 'a unit id' };

/** Validates and normalises; throws ZonegateError('ERR_POLICY_INVALID') listing every problem. */
export function validatePolicy(raw: unknown, opts: ValidateOptions = {}): PolicyDocument {
  const steps = validatePolicySteps(raw, opts);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/** Entries checked between two yields of validatePolicySteps (well under a millisecond of work; callers time-box). */
export const VALIDATE_SLICE = 32;

/**
 * validatePolicy in slices: the generator yields after every VALIDATE_SLICE list entries and
 * between the phases of the check, and finally returns the same document (or throws the same
 * error) as validatePolicy. A caller with an event loop (runtime/store) lets other work run
 * between slices; `raw` must not change until the generator is done.
 */
export function* validatePolicySteps(raw: unknown, opts: ValidateOptions = {}): Generator<void, PolicyDocument, void> {
  const { doc, issues, total } = yield* runChecksSteps(raw, opts);
  if (doc) return doc;
  throw new ZonegateError('ERR_POLICY_INVALID', `${total} problem${total === 1 ? '' : 's'} in ${opts.file ?? 'policy'}`, { issues });
}

/** Like validatePolicy but returns the issues; `doc` is set only when there are none. */
export function checkPolicy(raw: unknown, opts: ValidateOptions = {}): { doc?: PolicyDocument; issues: Issue[] } {
  const { doc, issues } = runChecks(raw, opts);
  return doc ? { doc, issues } : { issues };
}

function runChecks(raw: unknown, opts: ValidateOptions): { doc?: PolicyDocument; issues: Issue[]; total: number } {
  const steps = runChecksSteps(raw, opts);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

function* runChecksSteps(raw: unknown, opts: ValidateOptions): Generator<void, { doc?: PolicyDocument; issues: Issue[]; total: number }, void> {
  const out = new IssueList({ file: opts.file, locate: opts.locate });
  const doc = yield* new PolicyChecker(out).run(raw);
  if (out.count === 0 && doc) return { doc, issues: [], total: 0 };
  // Report in reading order when positions are known (Array.prototype.sort is stable).
  const issues = out.issues.slice().sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity) || (a.col ?? 0) - (b.col ?? 0));
  if (out.dropped > 0) {
    const more: Issue = { path: '', message: `${out.dropped} more problems not listed` };
    if (opts.file !== undefined) more.file = opts.file;
    issues.push(more);
  }
  return { issues, total: Math.max(1, out.count) };
}

/** Splits an address range text ("0-99", "5") or number into an interval; undefined with an issue otherwise. */
export function parseAddressRange(v: unknown, path: PathLike, out: IssueList, bound: { min: number; max: number; name: string } = ADDRESS_RANGE): AddressRange | undefined {
  const expected = `must be ${bound.name} ${bound.min}..${bound.max} or a range like "0-99"`;
  if (typeof v === 'number') {
    const n = checkInt(v, path, out, bound);
    return n === undefined ? undefined : { start: n, end: n };
  }
  if (typeof v === 'string') {
    const m = /^\s*(\d{1,8})\s*(?:-\s*(\d{1,8})\s*)?$/.exec(v);
    if (!m) {
      out.add(path, `${expected}, got ${describe(v)}`);
      return undefined;
    }
    const start = Number(m[1]);
    const end = m[2] === undefined ? start : Number(m[2]);
    if (start > bound.max || end > bound.max) { out.add(path, `address range "${v}" goes past ${bound.max}`); return undefined; }
    if (start > end) { out.add(path, `address range "${v}" is empty: ${start} is after ${end} (did you mean "${end}-${start}"?)`); return undefined; }
    return { start, end };
  }
  out.add(path, `${expected}, got ${describe(v)}`);
  return undefined;
}

/** Sorts intervals and merges the overlapping and adjacent ones. */
export function mergeRanges(ranges: readonly AddressRange[]): AddressRange[] {
  if (ranges.length === 1) return [{ start: ranges[0].start, end: ranges[0].end }];
  const sorted = ranges.map((r) => ({ start: r.start, end: r.end })).sort((a, b) => a.start - b.start || a.end - b.end);
  const res: AddressRange[] = [];
  for (const r of sorted) {
    const last = res[res.length - 1];
    if (last && r.start <= last.end + 1) { if (r.end > last.end) last.end = r.end; } else res.push(r);
  }
  return res;
}

/** "HH:MM" (00:00..24:00) to minutes after midnight. */
export function parseClock(v: unknown): number | undefined {
  if (typeof v !== 'string') return undefined;
  const t = v.trim();
  const colon = t.indexOf(':');
  if (colon < 1 || colon > 2 || t.length !== colon + 3) return undefined;
  const digit = (i: number): number => { const c = t.charCodeAt(i) - 48; return c >= 0 && c <= 9 ? c : NaN; };
  const h = colon === 1 ? digit(0) : digit(0) * 10 + digit(1);
  const min = digit(colon + 1) * 10 + digit(colon + 2);
  if (Number.isNaN(h) || Number.isNaN(min)) return undefined;
  if (min > 59 || h > 24 || (h === 24 && min !== 0)) return undefined;
  return h * 60 + min;
}

/** Sorts in place and drops repeats; returns the same array. */
/** The path of item i of list field `key` (a single scalar's is the field's own). */
function itemPath(rec: Record<string, unknown>, key: string, path: Path, i: number): Path {
  return Array.isArray(rec[key]) ? [...path, key, i] : [...path, key];
}

function sortedUnique(xs: number[]): number[] {
  if (xs.length < 2) return xs;
  // Insertion sort: the lists are short, and Array.prototype.sort allocates.
  for (let i = 1; i < xs.length; i++) {
    const x = xs[i];
    let j = i - 1;
    while (j >= 0 && xs[j] > x) { xs[j + 1] = xs[j]; j--; }
    xs[j + 1] = x;
  }
  let n = 1;
  for (let i = 1; i < xs.length; i++) if (xs[i] !== xs[n - 1]) xs[n++] = xs[i];
  xs.length = n;
  return xs;
}

class PolicyChecker {
  private readonly zones = new Map<string, { zone?: Zone; cidrs: Located<Cidr>[]; path: Path }>();
  private readonly assets = new Map<string, { asset?: Asset; path: Path }>();
  private readonly identities = new Map<string, { identity?: Identity; path: Path }>();
  private readonly conduits = new Map<string, { conduit?: Conduit; path: Path }>();
  /** role → whether some person (user/vendor) holds it. */
  private readonly roles = new Map<string, { person: boolean }>();
  private readonly tzCache = new Map<string, string | undefined>();
  /** interface name → zone id. */
  private readonly interfaces = new Map<string, string>();

  constructor(private readonly out: IssueList) {}

  *run(raw: unknown): Generator<void, PolicyDocument | undefined, void> {
    const out = this.out;
    const top = readObject(raw, [], TOP_FIELDS, out, 'a mapping with site, zones, assets, identities and conduits');
    if (!top) return undefined;
    const site = readString(top, 'site', [], out, { required: true });
    if (site !== undefined) checkId(site, ['site'], out);

    const zones = yield* this.list(top, 'zones', (v, p) => this.zone(v, p));
    this.checkZoneOverlaps();
    yield* this.spend(zones.length);
    const assets = yield* this.list(top, 'assets', (v, p) => this.asset(v, p));
    const identities = yield* this.list(top, 'identities', (v, p) => this.identity(v, p));
    this.checkAddressClashes();
    yield* this.spend(this.assetIps.length + this.identityIps.length);
    const conduits = yield* this.list(top, 'conduits', (v, p) => this.conduit(v, p));
    const quarantine = this.quarantine(top);
    const settings = this.settings(get(top, 'settings'));
    const tests = yield* this.list(top, 'tests', (v, p) => this.test(v, p));
    if (out.count > 0 || site === undefined || !settings) return undefined;
    return { site, zones, assets, identities, conduits, quarantine, settings, tests };
  }

  // Checks the entries of a top-level list, yielding after every VALIDATE_SLICE of them.
  private *list<T>(top: Record<string, unknown>, key: string, one: (v: unknown, p: Path) => T | undefined): Generator<void, T[], void> {
    if (!has(top, key) || top[key] === undefined || top[key] === null) return [];
    const l = readList(top[key], [key], this.out);
    if (!l) return [];
    const res: T[] = [];
    const items = l.items;
    for (let i = 0; i < items.length; i++) {
      if (!(i in items)) continue; // a hole in a sparse list, skipped as forEach would
      const r = one(items[i], [key, i]);
      if (r !== undefined) res.push(r);
      if (++this.work >= VALIDATE_SLICE) { this.work = 0; yield; }
    }
    return res;
  }

  // Counts work done since the last yield; yields once it reaches a slice (VALIDATE_SLICE entries).
  private work = 0;
  private *spend(n: number): Generator<void, void, void> {
    this.work += n;
    if (this.work >= VALIDATE_SLICE) {
      this.work = 0;
      yield;
    }
  }

  /** Reads `id`, checks it and registers it; returns it only when it is valid and new. */
  private id<E extends { path: Path }>(rec: Record<string, unknown>, path: Path, table: Map<string, E>, what: string, entry: E): string | undefined {
    const id = readString(rec, 'id', path, this.out, { required: true });
    if (id === undefined) return undefined;
    // An invalid id is still registered, so that references to it do not add a second issue.
    const valid = isValidId(id) || checkId(id, [...path, 'id'], this.out);
    const prev = table.get(id);
    if (prev) {
      this.out.add([...path, 'id'], `duplicate ${what} id '${q(id)}' (first defined at ${formatPath(prev.path)})`);
      return undefined;
    }
    table.set(id, entry);
    return valid ? id : undefined;
  }

  private zone(v: unknown, path: Path): Zone | undefined {
    const out = this.out;
    const rec = readObject(v, path, ZONE_FIELDS, out);
    if (!rec) return undefined;
    const before = out.count;
    const entry: { zone?: Zone; cidrs: Located<Cidr>[]; path: Path } = { cidrs: [], path };
    const id = this.id(rec, path, this.zones, 'zone', entry);
    const networks: string[] = [];
    const nets = readStringList(rec, 'networks', path, out, { required: true, single: true });
    if (nets) {
      if (nets.length === 0) out.add([...path, 'networks'], 'a zone needs at least one network (CIDR)');
      nets.forEach((s, i) => {
        const p = Array.isArray(rec.networks) ? [...path, 'networks', i] : [...path, 'networks'];
        const c = parseCidr(s);
        if (!c) { out.add(p, `'${q(s)}' is not a CIDR like 10.10.1.0/24 or fd00:10::/64`); return; }
        if (cidrHostBitsSet(c)) { out.add(p, `'${q(s)}' has host bits set; did you mean ${formatCidr(cidrNetwork(c))}?`); return; }
        entry.cidrs.push({ value: c, path: p });
        networks.push(formatCidr(c));
      });
    }
    const interfaces = readStringList(rec, 'interfaces', path, out, { single: true }) ?? [];
    // An interface carries one zone's traffic: the nftables driver maps interfaces to zones.
    interfaces.forEach((name, i) => {
      const owner = this.interfaces.get(name);
      const p = Array.isArray(rec.interfaces) ? [...path, 'interfaces', i] : [...path, 'interfaces'];
      if (owner !== undefined && owner !== id) out.add(p, `interface ${q(name)} is already in zone '${q(owner)}'`);
      else if (id !== undefined) this.interfaces.set(name, id);
    });
    let securityLevel: number | undefined;
    if (!has(rec, 'securityLevel')) out.add([...path, 'securityLevel'], "required field 'securityLevel' is missing (IEC 62443 security level 0..4)");
    else securityLevel = checkInt(rec.securityLevel, [...path, 'securityLevel'], out, { min: 0, max: 4, name: 'a security level' });
    const description = readString(rec, 'description', path, out);
    if (out.count > before || id === undefined || securityLevel === undefined) return undefined;
    const zone: Zone = { id, networks, interfaces, securityLevel };
    if (description !== undefined) zone.description = description;
    entry.zone = zone;
    return zone;
  }

  private checkZoneOverlaps(): void {
    const all: { zone: string; c: Located<Cidr> }[] = [];
    for (const [zone, z] of this.zones) for (const c of z.cidrs) all.push({ zone, c });
    for (let j = 0; j < all.length; j++) {
      for (let i = 0; i < j; i++) {
        if (all[i].zone === all[j].zone) continue;
        if (cidrsOverlap(all[i].c.value, all[j].c.value)) {
          this.out.add(all[j].c.path, `${formatCidr(all[j].c.value)} overlaps ${formatCidr(all[i].c.value)} of zone '${all[i].zone}': a source address must belong to one zone`);
        }
      }
    }
  }

  /** A zone reference; undefined (with an issue) when unknown. */
  private zoneRef(id: string, path: PathLike): boolean {
    if (this.zones.has(id)) return true;
    this.out.add(path, `unknown zone '${q(id)}'${didYouMean(id, this.zones.keys())}`);
    return false;
  }

  /** `address` and `addresses` merged, each an IP (not a prefix), inside the zone when one is known. */
  private addresses(rec: Record<string, unknown>, path: Path, zone: string | undefined): { list: string[]; ips: Located<IpAddr>[] } | undefined {
    const out = this.out;
    const before = out.count;
    const raw: { text: unknown; path: Path }[] = [];
    if (has(rec, 'address') && rec.address !== undefined) raw.push({ text: rec.address, path: [...path, 'address'] });
    if (has(rec, 'addresses') && rec.addresses !== undefined) {
      const l = readList(rec.addresses, [...path, 'addresses'], out, { single: true });
      if (l) l.items.forEach((t, i) => raw.push({ text: t, path: l.pathOf(i) }));
    }
    const list: string[] = [];
    const ips: Located<IpAddr>[] = [];
    const z = zone !== undefined ? this.zones.get(zone) : undefined;
    for (const { text, path: p } of raw) {
      const ip = typeof text === 'string' ? parseIp(text) : undefined;
      if (!ip) {
        const hint = typeof text === 'string' && text.includes('/') ? ' (one address, not a prefix)' : '';
        out.add(p, `must be an IPv4 or IPv6 address${hint}, got ${describe(text)}`);
        continue;
      }
      const s = formatIp(ip);
      if (z && z.cidrs.length > 0 && !z.cidrs.some((c) => cidrContains(c.value, ip))) {
        out.add(p, `${s} is not inside zone '${zone}' (${z.cidrs.map((c) => formatCidr(c.value)).join(', ')})`);
        continue;
      }
      if (!list.includes(s)) { list.push(s); ips.push({ value: ip, path: p }); }
    }
    return out.count > before ? undefined : { list, ips };
  }

  private readonly assetIps: { owner: string; ip: Located<IpAddr> }[] = [];
  private readonly identityIps: { owner: string; ip: Located<IpAddr> }[] = [];

  private asset(v: unknown, path: Path): Asset | undefined {
    const out = this.out;
    const rec = readObject(v, path, ASSET_FIELDS, out);
    if (!rec) return undefined;
    const before = out.count;
    const entry: { asset?: Asset; path: Path } = { path };
    const id = this.id(rec, path, this.assets, 'asset', entry);
    const zone = readString(rec, 'zone', path, out, { required: true });
    const zoneOk = zone !== undefined && this.zoneRef(zone, [...path, 'zone']);
    const addrs = this.addresses(rec, path, zoneOk ? zone : undefined);
    if (addrs && addrs.list.length === 0 && !has(rec, 'address') && !has(rec, 'addresses')) {
      out.add([...path, 'address'], "required field 'address' is missing (the asset's IP address)");
    } else if (addrs && addrs.list.length === 0) out.add([...path, 'addresses'], 'an asset needs at least one address');
    const kind = readString(rec, 'kind', path, out) ?? 'other';
    const services: Service[] = [];
    if (has(rec, 'services') && rec.services !== undefined) {
      const l = readList(rec.services, [...path, 'services'], out);
      const seen = new Map<string, number>();
      if (l) l.items.forEach((sv, i) => {
        const s = this.service(sv, [...path, 'services', i]);
        if (!s) return;
        const key = `${s.port}`;
        if (seen.has(key)) { out.add([...path, 'services', i, 'port'], `port ${s.port} is already listed at services[${seen.get(key)}]`); return; }
        seen.set(key, i);
        services.push(s);
      });
    }
    const description = readString(rec, 'description', path, out);
    if (id !== undefined && addrs) for (const ip of addrs.ips) this.assetIps.push({ owner: id, ip });
    if (out.count > before || id === undefined || zone === undefined || !addrs) return undefined;
    const asset: Asset = { id, zone, addresses: addrs.list, kind, services };
    if (description !== undefined) asset.description = description;
    entry.asset = asset;
    return asset;
  }

  private service(v: unknown, path: Path): Service | undefined {
    const out = this.out;
    const rec = readObject(v, path, SERVICE_FIELDS, out);
    if (!rec) return undefined;
    const before = out.count;
    const protocol = this.protocol(rec, path);
    let port: number | undefined;
    if (!has(rec, 'port')) out.add([...path, 'port'], "required field 'port' is missing");
    else port = checkInt(rec.port, [...path, 'port'], out, PORT_RANGE);
    const name = readString(rec, 'name', path, out);
    if (out.count > before || protocol === undefined || port === undefined) return undefined;
    const s: Service = { protocol, port };
    if (name !== undefined) s.name = name;
    return s;
  }

  private protocol(rec: Record<string, unknown>, path: Path): Protocol | undefined {
    const p = readString(rec, 'protocol', path, this.out, { required: true });
    if (p === undefined) return undefined;
    if ((PROTOCOLS as readonly string[]).includes(p)) return p as Protocol;
    const hint = didYouMean(p, PROTOCOLS);
    this.out.add([...path, 'protocol'], `protocol must be 'modbus', 'dnp3', 'iec104' or 'tcp', got '${q(p)}'${hint || " (other TCP protocols, e.g. https, are 'tcp' with a port)"}`);
    return undefined;
  }

  private identity(v: unknown, path: Path): Identity | undefined {
    const out = this.out;
    const rec = readObject(v, path, IDENTITY_FIELDS, out);
    if (!rec) return undefined;
    const before = out.count;
    const entry: { identity?: Identity; path: Path } = { path };
    const id = this.id(rec, path, this.identities, 'identity', entry);
    if (id !== undefined && this.assets.has(id)) {
      out.add([...path, 'id'], `identity id '${q(id)}' is also an asset id (${formatPath(this.assets.get(id)!.path)}); requests name either, so ids must differ`);
    }
    const kindText = readString(rec, 'kind', path, out, { required: true });
    let kind: IdentityKind | undefined;
    if (kindText !== undefined) {
      if ((KINDS as readonly string[]).includes(kindText)) kind = kindText as IdentityKind;
      else out.add([...path, 'kind'], `kind must be one of ${KINDS.join(', ')}, got '${q(kindText)}'${didYouMean(kindText, KINDS)}`);
    }
    const zone = readString(rec, 'zone', path, out);
    const zoneOk = zone !== undefined && this.zoneRef(zone, [...path, 'zone']);
    const person = kind === 'user' || kind === 'vendor';
    const hasAddr = has(rec, 'address') || has(rec, 'addresses');
    let addrs: { list: string[]; ips: Located<IpAddr>[] } | undefined = { list: [], ips: [] };
    if (person && hasAddr) {
      // People authenticate at the edge (console or login page) and are bound to the source they
      // log in from; a fixed address would let anyone at that machine act as them.
      out.add([...path, has(rec, 'addresses') ? 'addresses' : 'address'],
        `a ${kind} authenticates at the edge and is not bound to addresses; declare the machine they use as a device identity`);
    } else if (hasAddr) addrs = this.addresses(rec, path, zoneOk ? zone : undefined);
    if ((kind === 'device' || kind === 'service') && !hasAddr && zone === undefined) {
      out.add([...path, 'addresses'], `a ${kind} identity needs addresses (or a zone) to recognise it by its source address`);
    }
    const roles = readStringList(rec, 'roles', path, out, { single: true }) ?? [];
    const description = readString(rec, 'description', path, out);
    if (id !== undefined && addrs) for (const ip of addrs.ips) this.identityIps.push({ owner: id, ip });
    for (const r of roles) {
      const known = this.roles.get(r);
      if (known) known.person ||= person; else this.roles.set(r, { person });
    }
    if (out.count > before || id === undefined || kind === undefined || !addrs) return undefined;
    const identity: Identity = { id, kind, addresses: addrs.list, roles: Array.from(new Set(roles)) };
    if (zone !== undefined) identity.zone = zone;
    if (description !== undefined) identity.description = description;
    entry.identity = identity;
    return identity;
  }

  /** One address, one asset; one source address, one identity (else the decision is ambiguous). */
  private checkAddressClashes(): void {
    for (const [list, what] of [[this.assetIps, 'asset'], [this.identityIps, 'identity']] as const) {
      const seen = new Map<string, string>();
      for (const { owner, ip } of list) {
        const key = formatIp(ip.value);
        const prev = seen.get(key);
        if (prev !== undefined && prev !== owner) this.out.add(ip.path, `${key} is already the address of ${what} '${q(prev)}'`);
        else seen.set(key, owner);
      }
    }
  }

  private conduit(v: unknown, path: Path): Conduit | undefined {
    const out = this.out;
    const rec = readObject(v, path, CONDUIT_FIELDS, out);
    if (!rec) return undefined;
    const before = out.count;
    const entry: { conduit?: Conduit; path: Path } = { path };
    const id = this.id(rec, path, this.conduits, 'conduit', entry);
    const description = readString(rec, 'description', path, out);
    const protocol = this.protocol(rec, path);

    // from: who may start the connection; to: what it may reach (design.md "The policy language").
    let from: Conduit['from'] | undefined;
    if (!has(rec, 'from')) out.add([...path, 'from'], "required field 'from' is missing (identities, roles or zones)");
    else {
      const fromPath = [...path, 'from'];
      const f = readObject(rec.from, fromPath, FROM_FIELDS, out, 'a mapping with identities, roles or zones');
      if (f) {
        const identities = this.refs(f, 'identities', fromPath, 'identity');
        const roles = this.refs(f, 'roles', fromPath, 'role');
        const zones = this.refs(f, 'zones', fromPath, 'zone');
        if (identities && roles && zones) {
          if (identities.length + roles.length + zones.length === 0) out.add(fromPath, 'names nobody: give at least one of identities, roles or zones');
          from = { identities, roles, zones };
        }
      }
    }
    let to: Conduit['to'] | undefined;
    if (!has(rec, 'to')) out.add([...path, 'to'], "required field 'to' is missing (assets or zones)");
    else {
      const toPath = [...path, 'to'];
      const t = readObject(rec.to, toPath, TO_FIELDS, out, 'a mapping with assets or zones');
      if (t) {
        const assets = this.refs(t, 'assets', toPath, 'asset');
        const zones = this.refs(t, 'zones', toPath, 'zone');
        if (assets && zones) {
          if (assets.length + zones.length === 0) out.add(toPath, 'names nothing: give at least one of assets or zones');
          to = { assets, zones };
        }
      }
    }

    let ports: number[] | undefined;
    if (has(rec, 'ports') && rec.ports !== undefined) {
      const l = readList(rec.ports, [...path, 'ports'], out, { single: true });
      if (l) {
        const ps: number[] = [];
        l.items.forEach((p, i) => { const n = checkInt(p, () => l.pathOf(i), out, PORT_RANGE); if (n !== undefined) ps.push(n); });
        if (l.items.length === 0) out.add([...path, 'ports'], 'is empty: leave it out to use the assets\' service ports');
        ports = sortedUnique(ps);
      }
    }

    // A modbus conduit says what it allows: `allow: all` or the operations. A missing `allow`
    // used to mean every operation (writes and diagnostics included), silently.
    let allow: ModbusAllow | undefined;
    let dnp3: Conduit['dnp3'];
    let iec104: Conduit['iec104'];
    if (has(rec, 'allow') && rec.allow !== undefined && protocol === 'dnp3') {
      dnp3 = readDnp3Allow(rec.allow, [...path, 'allow'], out);
    } else if (has(rec, 'allow') && rec.allow !== undefined && protocol === 'iec104') {
      iec104 = readIec104Allow(rec.allow, [...path, 'allow'], out);
    } else if (has(rec, 'allow') && rec.allow !== undefined) {
      if (protocol === 'tcp') {
        out.add([...path, 'allow'], "'allow' lists Modbus operations; a tcp conduit allows whole connections (remove it, or use protocol: modbus)");
      } else if (rec.allow !== 'all') allow = this.allow(rec.allow, [...path, 'allow']);
    } else if (protocol === 'modbus' && !Object.keys(rec).some((k) => !CONDUIT_FIELDS.includes(k) && editDistance(k, 'allow', 2) <= 2)) {
      // (a misspelt `alow:` already got "did you mean 'allow'?")
      out.add([...path, 'allow'], "required field 'allow' is missing: list the operations ({ functions: [...], units, addresses }) or write `allow: all` to allow every Modbus operation, writes and diagnostics included");
    }

    let requires = { edgeAuth: false, grant: false };
    if (has(rec, 'requires') && rec.requires !== undefined) {
      const reqPath = [...path, 'requires'];
      const r = readObject(rec.requires, reqPath, REQUIRES_FIELDS, out);
      if (r) {
        requires = {
          edgeAuth: readBoolean(r, 'edgeAuth', reqPath, out) ?? false,
          grant: readBoolean(r, 'grant', reqPath, out) ?? false,
        };
        if (requires.grant && !requires.edgeAuth) {
          out.add([...path, 'requires', 'grant'], 'grant: true needs edgeAuth: true as well (a grant opens only after edge authentication); add edgeAuth: true');
        }
      }
    }
    if (requires.edgeAuth && from) {
      const personIdentity = from.identities.some((i) => { const k = this.identities.get(i)?.identity?.kind; return k === 'user' || k === 'vendor'; });
      const personRole = from.roles.some((r) => this.roles.get(r)?.person === true);
      if (!personIdentity && !personRole) {
        out.add([...path, 'requires', 'edgeAuth'], 'requires edgeAuth but from names no person: add roles held by users or vendors, or user/vendor identities');
      }
    }

    let schedule: Schedule | undefined;
    if (has(rec, 'schedule') && rec.schedule !== undefined) schedule = this.schedule(rec.schedule, [...path, 'schedule']);

    let mode: Conduit['mode'] = 'enforce';
    if (has(rec, 'mode')) {
      const m = readString(rec, 'mode', path, out);
      if (m === 'enforce' || m === 'monitor') mode = m;
      else if (m !== undefined) out.add([...path, 'mode'], `mode must be 'enforce' or 'monitor', got '${q(m)}'${didYouMean(m, ['enforce', 'monitor'])}`);
    }

    const rateLimit = this.rate(rec, 'rateLimit', path);
    const writeRateLimit = this.rate(rec, 'writeRateLimit', path);
    if (writeRateLimit !== undefined && protocol === 'tcp') out.add([...path, 'writeRateLimit'], 'a tcp conduit has no writes to limit (use rateLimit)');

    // A conduit to an asset that offers no service of this protocol (and port) could never match.
    if (to && protocol) {
      for (let i = 0; i < to.assets.length; i++) {
        const a = to.assets[i];
        const asset = this.assets.get(a)?.asset;
        if (!asset) continue;
        let offered = false;
        let onPort = false;
        for (const sv of asset.services) {
          if (sv.protocol !== protocol) continue;
          offered = true;
          if (!ports || ports.length === 0 || ports.includes(sv.port)) onPort = true;
        }
        if (!offered) out.add([...path, 'to', 'assets', i], `asset '${q(a)}' offers no ${protocol} service (add one to its services, or fix the protocol)`);
        else if (!onPort) {
          const svcPorts = asset.services.filter((sv) => sv.protocol === protocol).map((sv) => sv.port);
          out.add([...path, 'to', 'assets', i], `asset '${q(a)}' offers ${protocol} only on port ${svcPorts.join(', ')}, not on ${ports!.join(', ')}`);
        }
      }
    }

    if (out.count > before || id === undefined || !from || !to || !protocol) return undefined;
    const conduit: Conduit = { id, from, to, protocol, requires, mode };
    if (ports !== undefined) conduit.ports = ports;
    if (allow !== undefined) conduit.allow = allow;
    if (dnp3 !== undefined) conduit.dnp3 = dnp3;
    if (iec104 !== undefined) conduit.iec104 = iec104;
    if (schedule !== undefined) conduit.schedule = schedule;
    if (rateLimit !== undefined) conduit.rateLimit = rateLimit;
    if (writeRateLimit !== undefined) conduit.writeRateLimit = writeRateLimit;
    if (description !== undefined) conduit.description = description;
    entry.conduit = conduit;
    return conduit;
  }

  /** A `{ perSecond, burst }` field (rateLimit, writeRateLimit); undefined when absent or wrong. */
  private rate(rec: Record<string, unknown>, key: string, path: Path): { perSecond: number; burst: number } | undefined {
    if (!has(rec, key) || rec[key] === undefined) return undefined;
    const out = this.out;
    const r = readObject(rec[key], [...path, key], RATE_FIELDS, out);
    if (!r) return undefined;
    let perSecond: number | undefined;
    const ps = get(r, 'perSecond');
    if (ps === undefined) out.add([...path, key, 'perSecond'], "required field 'perSecond' is missing");
    else if (typeof ps !== 'number' || !Number.isFinite(ps) || ps <= 0 || ps > 1e6) out.add([...path, key, 'perSecond'], `must be a positive number of requests per second (at most 1000000), got ${describe(ps)}`);
    else perSecond = ps;
    let burst: number | undefined;
    if (has(r, 'burst')) burst = checkInt(r.burst, [...path, key, 'burst'], out, { min: 1, max: 1_000_000, name: 'a burst size' });
    return perSecond === undefined ? undefined : { perSecond, burst: burst ?? Math.max(1, Math.ceil(perSecond)) };
  }

  /** A list of references (unique, in order); undefined when the list itself is malformed. */
  private refs(rec: Record<string, unknown>, key: string, path: Path, kind: 'identity' | 'role' | 'zone' | 'asset'): string[] | undefined {
    if (!has(rec, key) || rec[key] === undefined) return [];
    const v = rec[key];
    const isList = Array.isArray(v);
    // A single id may stand for a list of one (`zones: control`).
    const items: unknown[] | undefined = isList ? v as unknown[] : typeof v === 'string' ? [v] : undefined;
    if (!items) { this.out.add([...path, key], `must be a list of ids, got ${describe(v)}`); return undefined; }
    const table: Map<string, unknown> = kind === 'identity' ? this.identities : kind === 'role' ? this.roles : kind === 'zone' ? this.zones : this.assets;
    if (items.length === 1 && typeof items[0] === 'string' && table.has(items[0])) return [items[0]]; // the common case
    const res: string[] = [];
    let ok = true;
    for (let i = 0; i < items.length; i++) {
      const id = items[i];
      if (typeof id !== 'string' || id.trim() === '') {
        this.out.add(isList ? [...path, key, i] : [...path, key], `must be a non-empty string, got ${describe(id)}`);
        ok = false;
        continue;
      }
      // Unknown references are reported but kept, so that `from` is not also called empty.
      if (!table.has(id)) {
        const at = isList ? [...path, key, i] : [...path, key];
        if (kind === 'identity') this.identityRef(id, at);
        else if (kind === 'role') this.roleRef(id, at);
        else if (kind === 'zone') this.zoneRef(id, at);
        else this.assetRef(id, at);
      }
      if (res.length === 0 || !res.includes(id)) res.push(id);
    }
    return ok ? res : undefined;
  }

  private identityRef(id: string, p: PathLike): boolean {
    if (this.identities.has(id)) return true;
    const asAsset = this.assets.has(id) ? ` ('${q(id)}' is an asset; a source must be an identity)` : didYouMean(id, this.identities.keys());
    this.out.add(p, `unknown identity '${q(id)}'${asAsset}`);
    return false;
  }

  private assetRef(id: string, p: PathLike): boolean {
    if (this.assets.has(id)) return true;
    const asIdentity = this.identities.has(id) ? ` ('${q(id)}' is an identity; a destination must be an asset)` : didYouMean(id, this.assets.keys());
    this.out.add(p, `unknown asset '${q(id)}'${asIdentity}`);
    return false;
  }

  private roleRef(r: string, p: PathLike): boolean {
    if (this.roles.has(r)) return true;
    this.out.add(p, `no identity has role '${q(r)}'${didYouMean(r, this.roles.keys())}`);
    return false;
  }

  private allow(v: unknown, path: Path): ModbusAllow | undefined {
    const out = this.out;
    const rec = readObject(v, path, ALLOW_FIELDS, out, "`all` or a mapping ({ functions, units, addresses })");
    if (!rec) return undefined;
    const before = out.count;
    // The hot path of a large policy: plain loops, paths only made for an issue.
    const functions: number[] = [];
    const subFunctions: { fn: number; sub: number }[] = [];
    if (!has(rec, 'functions')) out.add([...path, 'functions'], "required field 'functions' is missing (names like read-holding-registers, or codes)");
    else {
      const items = this.items(rec, 'functions', path);
      if (items) {
        if (items.length === 0) out.add([...path, 'functions'], 'is empty: this conduit would allow no Modbus operation');
        for (let i = 0; i < items.length; i++) {
          const f = items[i];
          const code = typeof f === 'string' || typeof f === 'number' ? modbusFunctionCode(f) : undefined;
          if (code !== undefined) { functions.push(code); continue; }
          const sub = typeof f === 'string' ? modbusSubFunction(f) : undefined;
          if (sub !== undefined) { subFunctions.push(sub); continue; }
          const hint = typeof f === 'string' ? didYouMean(f, [...MODBUS_FUNCTIONS.map((x) => x.name), ...modbusSubFunctionNames()]) : '';
          out.add(itemPath(rec, 'functions', path, i), `unknown Modbus function ${typeof f === 'string' ? `'${q(f)}'` : describe(f)}${hint}`);
        }
      }
    }
    let units: number[] | undefined;
    if (has(rec, 'units') && rec.units !== undefined) {
      const items = this.items(rec, 'units', path);
      if (items) {
        if (items.length === 0) out.add([...path, 'units'], 'is empty: leave it out to allow any unit');
        const us: number[] = [];
        for (let i = 0; i < items.length; i++) {
          const u = items[i];
          if (typeof u === 'number' && Number.isInteger(u) && u >= 0 && u <= 255) us.push(u);
          else checkInt(u, itemPath(rec, 'units', path, i), out, UNIT_RANGE);
        }
        units = sortedUnique(us);
      }
    }
    let addresses: AddressRange[] | undefined;
    if (has(rec, 'addresses') && rec.addresses !== undefined) {
      const items = this.items(rec, 'addresses', path);
      if (items) {
        if (items.length === 0) out.add([...path, 'addresses'], 'is empty: leave it out to allow any address');
        const rs: AddressRange[] = [];
        for (let i = 0; i < items.length; i++) {
          const a = items[i];
          // Fast path for the usual single numbers; everything else (and every issue) below.
          if (typeof a === 'number' && Number.isInteger(a) && a >= 0 && a <= 65535) { rs.push({ start: a, end: a }); continue; }
          const r = parseAddressRange(a, () => itemPath(rec, 'addresses', path, i), out);
          if (r) rs.push(r);
        }
        addresses = mergeRanges(rs);
      }
    }
    const values = has(rec, 'values') && rec.values !== undefined ? readValueRules(rec.values, [...path, 'values'], out) : undefined;
    const coils = has(rec, 'coils') && rec.coils !== undefined ? readCoilRules(rec.coils, [...path, 'coils'], out) : undefined;
    if (out.count > before) return undefined;
    const allow: ModbusAllow = { functions: sortedUnique(functions) };
    // A sub-function of a function allowed whole adds nothing.
    const subs = subFunctions.filter((x, i) => !allow.functions.includes(x.fn)
      && subFunctions.findIndex((y) => y.fn === x.fn && y.sub === x.sub) === i);
    if (subs.length > 0) allow.subFunctions = subs.sort((a, b) => a.fn - b.fn || a.sub - b.sub);
    if (units !== undefined) allow.units = units;
    if (addresses !== undefined) allow.addresses = addresses;
    if (values !== undefined) allow.values = values;
    if (coils !== undefined) allow.coils = coils;
    return allow;
  }

  /** A list field's items (one scalar counts as a list of one), or undefined with an issue. */
  private items(rec: Record<string, unknown>, key: string, path: Path): unknown[] | undefined {
    const v = rec[key];
    if (Array.isArray(v)) return v;
    if (v !== undefined && v !== null && typeof v !== 'object') return [v];
    this.out.add([...path, key], `must be a list, got ${describe(v)}`);
    return undefined;
  }

  private schedule(v: unknown, path: Path): Schedule | undefined {
    const out = this.out;
    const rec = readObject(v, path, SCHEDULE_FIELDS, out);
    if (!rec) return undefined;
    const before = out.count;
    let days: Weekday[] = WEEK.slice();
    if (has(rec, 'days') && rec.days !== undefined) {
      const items = this.items(rec, 'days', path);
      if (items) {
        if (items.length === 0) out.add([...path, 'days'], 'is empty: the conduit would never be open (leave it out for every day)');
        let mask = 0;
        for (let i = 0; i < items.length; i++) {
          const d = items[i];
          const ds = typeof d === 'string' ? DAY_WORDS[d] ?? DAY_WORDS[d.trim().toLowerCase()] : undefined;
          if (ds) { for (const x of ds) mask |= 1 << WEEK.indexOf(x); continue; }
          out.add(itemPath(rec, 'days', path, i), `unknown day ${typeof d === 'string' ? `'${q(d)}'` : describe(d)}: use mon..sun, weekdays, weekend or all${typeof d === 'string' ? didYouMean(d, Object.keys(DAY_WORDS)) : ''}`);
        }
        days = mask === 0x7f ? days : WEEK.filter((_, i) => (mask & (1 << i)) !== 0);
      }
    }
    const times: number[] = [];
    for (const key of ['from', 'to'] as const) {
      if (!has(rec, key)) { out.add([...path, key], `required field '${q(key)}' is missing ("HH:MM")`); continue; }
      const m = parseClock(rec[key]);
      if (m === undefined) out.add([...path, key], `must be a time "HH:MM" from 00:00 to 24:00, got ${describe(rec[key])}`);
      else if (key === 'from' && m === 1440) out.add([...path, key], 'a window starts at 00:00..23:59 (write "00:00" for midnight)');
      else times.push(m);
    }
    if (times.length === 2 && times[0] === times[1]) {
      out.add([...path, 'to'], `from and to are both ${rec.to}: the window is empty (leave out the schedule for always)`);
    }
    let tz = 'UTC';
    if (has(rec, 'tz')) {
      const t = readString(rec, 'tz', path, out);
      if (t !== undefined) {
        const canonical = this.timeZone(t);
        if (canonical === undefined) out.add([...path, 'tz'], `unknown time zone '${q(t)}'${didYouMean(t, supportedTimeZones())}`);
        else tz = canonical;
      }
    }
    if (out.count > before) return undefined;
    return { days, from: times[0], to: times[1], tz };
  }

  /** The canonical IANA name, or undefined when Intl does not know the zone. */
  private timeZone(tz: string): string | undefined {
    if (this.tzCache.has(tz)) return this.tzCache.get(tz);
    let res: string | undefined;
    try {
      res = new Intl.DateTimeFormat('en-US', { timeZone: tz }).resolvedOptions().timeZone;
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      res = undefined;
    }
    this.tzCache.set(tz, res);
    return res;
  }

  private quarantine(top: Record<string, unknown>): string[] {
    const out = this.out;
    if (!has(top, 'quarantine') || top.quarantine === undefined || top.quarantine === null) return [];
    const list = readStringList(top, 'quarantine', [], out);
    if (!list) return [];
    const res: string[] = [];
    list.forEach((id, i) => {
      if (!this.identities.has(id) && !this.assets.has(id)) {
        out.add(['quarantine', i], `unknown identity or asset '${q(id)}'${didYouMean(id, [...this.identities.keys(), ...this.assets.keys()])}`);
      } else if (!res.includes(id)) res.push(id);
    });
    return res;
  }

  private settings(v: unknown): Settings | undefined {
    const settings: Settings = { onExpiry: 'keep-enforcing' };
    if (v === undefined || v === null) return settings;
    const rec = readObject(v, ['settings'], SETTINGS_FIELDS, this.out);
    if (!rec) return undefined;
    const e = readString(rec, 'onExpiry', ['settings'], this.out);
    if (e !== undefined) {
      if ((ON_EXPIRY as readonly string[]).includes(e)) settings.onExpiry = e as Settings['onExpiry'];
      else { this.out.add(['settings', 'onExpiry'], `must be 'keep-enforcing' or 'deny-all', got '${q(e)}'${didYouMean(e, ON_EXPIRY)}`); return undefined; }
    }
    return settings;
  }

  private test(v: unknown, path: Path): PolicyTest | undefined {
    const out = this.out;
    const rec = readObject(v, path, TEST_FIELDS, out);
    if (!rec) return undefined;
    const before = out.count;
    const name = readString(rec, 'name', path, out);
    let request: PolicyTest['request'] | undefined;
    if (!has(rec, 'request')) out.add([...path, 'request'], "required field 'request' is missing");
    else {
      request = readRequest(rec.request, [...path, 'request'], out);
      if (request) {
        const rp = [...path, 'request'];
        // The decider resolves a source id as an identity only (compile.ts step 1); an asset as
        // a source is written by its address.
        if (typeof request.from === 'string' && !this.identities.has(request.from)) {
          const hint = this.assets.has(request.from)
            ? ` ('${q(request.from)}' is an asset: write from: { ip: ... } for a request from its address)`
            : didYouMean(request.from, this.identities.keys());
          out.add([...rp, 'from'], `unknown identity '${q(request.from)}'${hint}`);
        }
        if (typeof request.to === 'string') this.assetRef(request.to, [...rp, 'to']);
        const s = request.session;
        if (s?.identity !== undefined) this.identityRef(s.identity, [...rp, 'session', 'identity']);
        if (Array.isArray(s?.grant)) (s!.grant as string[]).forEach((c, i) => this.conduitRef(c, [...rp, 'session', 'grant', i]));
      }
    }
    const expectText = readString(rec, 'expect', path, out, { required: true });
    let expect: PolicyTest['expect'] | undefined;
    if (expectText === 'allow' || expectText === 'deny') expect = expectText;
    else if (expectText !== undefined) out.add([...path, 'expect'], `must be 'allow' or 'deny', got '${q(expectText)}'`);
    const conduit = readString(rec, 'conduit', path, out);
    if (conduit !== undefined) this.conduitRef(conduit, [...path, 'conduit']);
    const reasonText = readString(rec, 'reason', path, out);
    let reason: DenyReason | undefined;
    if (reasonText !== undefined) {
      if ((DENY_REASONS as readonly string[]).includes(reasonText)) reason = reasonText as DenyReason;
      else out.add([...path, 'reason'], `unknown deny reason '${q(reasonText)}'${didYouMean(reasonText, DENY_REASONS)}`);
    }
    if (out.count > before || !request || !expect) return undefined;
    const t: PolicyTest = { request, expect };
    if (name !== undefined) t.name = name;
    if (conduit !== undefined) t.conduit = conduit;
    if (reason !== undefined) t.reason = reason;
    return t;
  }

  private conduitRef(id: string, p: PathLike): boolean {
    if (this.conduits.has(id)) return true;
    this.out.add(p, `unknown conduit '${q(id)}'${didYouMean(id, this.conduits.keys())}`);
    return false;
  }
}

function supportedTimeZones(): string[] {
  const intl = Intl as unknown as { supportedValuesOf?: (k: string) => string[] };
  try {
    return typeof intl.supportedValuesOf === 'function' ? intl.supportedValuesOf('timeZone') : [];
  } catch {
    return [];
  }
}
