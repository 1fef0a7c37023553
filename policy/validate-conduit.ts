/**
 * The conduit half of policy validation: `from`, `to`, ports, the protocol's `allow`, `requires`,
 * schedule, mode and rate limits of each conduit, and whether its destination offers the service
 * at all.
 */
import type { AddressRange, Conduit, ModbusAllow, Protocol, Schedule, Weekday } from './types';
import { MODBUS_FUNCTIONS, modbusFunctionCode, modbusSubFunction, modbusSubFunctionNames } from './modbus';
import { readCoilRules, readValueRules } from './validate-values';
import {
  q, checkInt, describe, didYouMean, editDistance, get, has, readBoolean, readList, readObject, readString,
} from './check';
import type { Path } from './check';
import { readDnp3Allow } from './dnp3-allow';
import { readIec104Allow } from './iec104-allow';
import {
  ALLOW_FIELDS, CONDUIT_FIELDS, DAY_WORDS, FROM_FIELDS, PORT_RANGE, RATE_FIELDS, REQUIRES_FIELDS, SCHEDULE_FIELDS,
  TO_FIELDS, UNIT_RANGE, WEEK, itemPath, mergeRanges, parseAddressRange, parseClock, sortedUnique, supportedTimeZones,
} from './validate-fields';
import { InventoryChecker } from './validate-inventory';

/** Checks conduits against the inventory InventoryChecker registered. */
export class ConduitChecker extends InventoryChecker {
  protected conduit(v: unknown, path: Path): Conduit | undefined {
    const out = this.out;
    const rec = readObject(v, path, CONDUIT_FIELDS, out);
    if (!rec) return undefined;
    const before = out.count;
    const entry: { conduit?: Conduit; path: Path } = { path };
    const id = this.id(rec, path, this.conduits, 'conduit', entry);
    const description = readString(rec, 'description', path, out);
    const protocol = this.protocol(rec, path);

    const from = this.conduitFrom(rec, path);
    const to = this.conduitTo(rec, path);
    const ports = this.conduitPorts(rec, path);
    const { allow, dnp3, iec104 } = this.conduitAllow(rec, path, protocol);
    const requires = this.conduitRequires(rec, path, from);

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

    if (to && protocol) this.checkServicesOffered(to, protocol, ports, path);

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

  // from: who may start the connection (design.md "The policy language").
  private conduitFrom(rec: Record<string, unknown>, path: Path): Conduit['from'] | undefined {
    const out = this.out;
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
    return from;
  }

  // to: what it may reach.
  private conduitTo(rec: Record<string, unknown>, path: Path): Conduit['to'] | undefined {
    const out = this.out;
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
    return to;
  }

  private conduitPorts(rec: Record<string, unknown>, path: Path): number[] | undefined {
    const out = this.out;
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
    return ports;
  }

  private conduitAllow(rec: Record<string, unknown>, path: Path, protocol: Protocol | undefined): Pick<Conduit, 'allow' | 'dnp3' | 'iec104'> {
    const out = this.out;
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
    return { allow, dnp3, iec104 };
  }

  private conduitRequires(rec: Record<string, unknown>, path: Path, from: Conduit['from'] | undefined): Conduit['requires'] {
    const out = this.out;
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
    return requires;
  }

  // A conduit to an asset that offers no service of this protocol (and port) could never match.
  private checkServicesOffered(to: Conduit['to'], protocol: Protocol, ports: number[] | undefined, path: Path): void {
    const out = this.out;
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

  /** A `{ perSecond, burst }` field (rateLimit, writeRateLimit); undefined when absent or wrong. */
  protected rate(rec: Record<string, unknown>, key: string, path: Path): { perSecond: number; burst: number } | undefined {
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
  protected refs(rec: Record<string, unknown>, key: string, path: Path, kind: 'identity' | 'role' | 'zone' | 'asset'): string[] | undefined {
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

  protected allow(v: unknown, path: Path): ModbusAllow | undefined {
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
  protected items(rec: Record<string, unknown>, key: string, path: Path): unknown[] | undefined {
    const v = rec[key];
    if (Array.isArray(v)) return v;
    if (v !== undefined && v !== null && typeof v !== 'object') return [v];
    this.out.add([...path, key], `must be a list, got ${describe(v)}`);
    return undefined;
  }

  protected schedule(v: unknown, path: Path): Schedule | undefined {
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
  protected timeZone(tz: string): string | undefined {
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

}
