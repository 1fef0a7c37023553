/**
 * The inventory half of policy validation: zones (networks, interfaces, overlaps), assets and
 * their services, identities and their addresses, ids and their duplicates, address clashes, and
 * the references other entries make to them. Every problem goes to the IssueList; an entry with a
 * bad field still registers its id, so one typo gives one issue.
 */
import type { Asset, Conduit, Identity, IdentityKind, Protocol, Service, Zone } from './types';
import { cidrContains, cidrHostBitsSet, cidrNetwork, cidrsOverlap, formatCidr, formatIp, parseCidr, parseIp } from './net';
import type { Cidr, IpAddr } from './net';
import {
  IssueList, q, checkId, isValidId, checkInt, describe, didYouMean, formatPath, has, readList, readObject, readString,
  readStringList,
} from './check';
import type { Path, PathLike } from './check';
import {
  ASSET_FIELDS, IDENTITY_FIELDS, KINDS, Located, PORT_RANGE, PROTOCOLS, SERVICE_FIELDS, ZONE_FIELDS,
} from './validate-fields';

/** Checks and registers the inventory; ConduitChecker and PolicyChecker build on it. */
export class InventoryChecker {
  protected readonly zones = new Map<string, { zone?: Zone; cidrs: Located<Cidr>[]; path: Path }>();
  protected readonly assets = new Map<string, { asset?: Asset; path: Path }>();
  protected readonly identities = new Map<string, { identity?: Identity; path: Path }>();
  protected readonly conduits = new Map<string, { conduit?: Conduit; path: Path }>();
  /** role → whether some person (user/vendor) holds it. */
  protected readonly roles = new Map<string, { person: boolean }>();
  protected readonly tzCache = new Map<string, string | undefined>();
  /** interface name → zone id. */
  protected readonly interfaces = new Map<string, string>();

  constructor(protected readonly out: IssueList) {}

  /** Reads `id`, checks it and registers it; returns it only when it is valid and new. */
  protected id<E extends { path: Path }>(rec: Record<string, unknown>, path: Path, table: Map<string, E>, what: string, entry: E): string | undefined {
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

  protected zone(v: unknown, path: Path): Zone | undefined {
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

  protected checkZoneOverlaps(): void {
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
  protected zoneRef(id: string, path: PathLike): boolean {
    if (this.zones.has(id)) return true;
    this.out.add(path, `unknown zone '${q(id)}'${didYouMean(id, this.zones.keys())}`);
    return false;
  }

  /** `address` and `addresses` merged, each an IP (not a prefix), inside the zone when one is known. */
  protected addresses(rec: Record<string, unknown>, path: Path, zone: string | undefined): { list: string[]; ips: Located<IpAddr>[] } | undefined {
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

  protected readonly assetIps: { owner: string; ip: Located<IpAddr> }[] = [];
  protected readonly identityIps: { owner: string; ip: Located<IpAddr> }[] = [];

  protected asset(v: unknown, path: Path): Asset | undefined {
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

  protected service(v: unknown, path: Path): Service | undefined {
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

  protected protocol(rec: Record<string, unknown>, path: Path): Protocol | undefined {
    const p = readString(rec, 'protocol', path, this.out, { required: true });
    if (p === undefined) return undefined;
    if ((PROTOCOLS as readonly string[]).includes(p)) return p as Protocol;
    const hint = didYouMean(p, PROTOCOLS);
    this.out.add([...path, 'protocol'], `protocol must be 'modbus', 'dnp3', 'iec104' or 'tcp', got '${q(p)}'${hint || " (other TCP protocols, e.g. https, are 'tcp' with a port)"}`);
    return undefined;
  }

  protected identity(v: unknown, path: Path): Identity | undefined {
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
  protected checkAddressClashes(): void {
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



  protected identityRef(id: string, p: PathLike): boolean {
    if (this.identities.has(id)) return true;
    const asAsset = this.assets.has(id) ? ` ('${q(id)}' is an asset; a source must be an identity)` : didYouMean(id, this.identities.keys());
    this.out.add(p, `unknown identity '${q(id)}'${asAsset}`);
    return false;
  }

  protected assetRef(id: string, p: PathLike): boolean {
    if (this.assets.has(id)) return true;
    const asIdentity = this.identities.has(id) ? ` ('${q(id)}' is an identity; a destination must be an asset)` : didYouMean(id, this.assets.keys());
    this.out.add(p, `unknown asset '${q(id)}'${asIdentity}`);
    return false;
  }

  protected roleRef(r: string, p: PathLike): boolean {
    if (this.roles.has(r)) return true;
    this.out.add(p, `no identity has role '${q(r)}'${didYouMean(r, this.roles.keys())}`);
    return false;
  }

  protected conduitRef(id: string, p: PathLike): boolean {
    if (this.conduits.has(id)) return true;
    this.out.add(p, `unknown conduit '${q(id)}'${didYouMean(id, this.conduits.keys())}`);
    return false;
  }
}
