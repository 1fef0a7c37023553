/**
 * The plain reference evaluator (test-only): the evaluation order of policy/compile.ts written
 * straight out, linear scans over the document, strings everywhere, Intl asked on every call.
 * The property test holds decide(compile(doc)) to it.
 */
import type { Conduit, Decision, DecisionRequest, DenyReason, PolicyDocument, Weekday } from '../../policy/types';
import { MODBUS_FUNCTIONS } from '../../policy/modbus';
import { parseCidr, parseIp, cidrContains, formatIp, type IpAddr } from '../../policy/net';

const DAYS: Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const SHORT: Record<string, Weekday> = { Mon: 'mon', Tue: 'tue', Wed: 'wed', Thu: 'thu', Fri: 'fri', Sat: 'sat', Sun: 'sun' };

function sameIp(text: string, ip: IpAddr): boolean {
  const a = parseIp(text) ?? (() => { const c = parseCidr(text); return c && c.prefix === (c.family === 4 ? 32 : 128) ? { family: c.family, bytes: c.bytes } : undefined; })();
  return a !== undefined && a.family === ip.family && formatIp(a) === formatIp(ip);
}

function zoneContaining(doc: PolicyDocument, ip: IpAddr): string | null {
  let best: string | null = null, bestPrefix = -1;
  for (const z of doc.zones) {
    for (const n of z.networks) {
      const c = parseCidr(n);
      if (c && cidrContains(c, ip) && c.prefix > bestPrefix) { best = z.id; bestPrefix = c.prefix; }
    }
  }
  return best;
}

function localTime(tz: string, ms: number): { day: Weekday; minute: number } {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', weekday: 'short', hour: '2-digit', minute: '2-digit' }).formatToParts(new Date(ms));
  const get = (type: string) => parts.find((p) => p.type === type)!.value;
  return { day: SHORT[get('weekday')], minute: (Number(get('hour')) % 24) * 60 + Number(get('minute')) };
}

function scheduleOpen(c: Conduit, ms: number): boolean {
  const s = c.schedule;
  if (!s) return true;
  const { day, minute } = localTime(s.tz, ms);
  const days = s.days.length === 0 ? DAYS : s.days;
  const yesterday = DAYS[(DAYS.indexOf(day) + 6) % 7];
  if (s.from < s.to) return days.includes(day) && minute >= s.from && minute < s.to;
  // crosses midnight: opened today at `from`, or opened yesterday and not yet at `to`
  return (days.includes(day) && minute >= s.from) || (days.includes(yesterday) && minute < s.to);
}

const deny = (reason: DenyReason, identity: string | null): Decision => ({ decision: 'deny', conduit: null, reason, identity });

/** Decides a request the slow, obvious way. */
export function referenceDecide(doc: PolicyDocument, req: DecisionRequest, nowMs: number): Decision {
  const at = req.at === undefined ? nowMs : typeof req.at === 'number' ? req.at : Date.parse(req.at);

  // 1. source: the device (bound to the address, or named by `from`) and the logged-in person, both
  const srcIp = typeof req.from === 'string' ? undefined : parseIp(req.from.ip);
  let baseId: string | null = null;
  if (typeof req.from === 'string') baseId = doc.identities.some((i) => i.id === req.from) ? req.from : null;
  else if (srcIp) baseId = doc.identities.find((i) => i.addresses.some((a) => sameIp(a, srcIp)))?.id ?? null;
  const device = doc.identities.find((i) => i.id === baseId);
  const person = req.session?.identity !== undefined ? doc.identities.find((i) => i.id === req.session!.identity) : undefined;
  const zoneOf = (who: typeof device): string | null => {
    if (who?.zone !== undefined && doc.zones.some((z) => z.id === who.zone)) return who.zone;
    return srcIp ? zoneContaining(doc, srcIp) : null;
  };
  const deviceZone = zoneOf(device);
  const personZone = person ? zoneOf(person) : null;
  // a deny names the person when logged in, else the device
  const identityId = person?.id ?? baseId;

  // 2. destination
  let asset = typeof req.to === 'string' ? doc.assets.find((a) => a.id === req.to) : undefined;
  let dstZone: string | null = null;
  if (typeof req.to !== 'string') {
    const ip = parseIp(req.to.ip);
    if (ip) {
      asset = doc.assets.find((a) => a.addresses.some((x) => sameIp(x, ip)));
      if (!asset) dstZone = zoneContaining(doc, ip);
    }
  }
  if (asset) dstZone = doc.zones.some((z) => z.id === asset!.zone) ? asset.zone : null;
  const protocol = req.protocol ?? (req.modbus ? 'modbus' : asset && asset.services.length === 1 ? asset.services[0].protocol : 'tcp');
  let port: number | null = (typeof req.to === 'string' ? undefined : req.to.port) ?? req.port ?? null;
  if (port === null && asset) {
    const ports = [...new Set(asset.services.filter((s) => s.protocol === protocol).map((s) => s.port))];
    if (ports.length === 1) port = ports[0];
  }
  if (!asset && dstZone === null) return deny('unknown-destination', identityId);

  // 3. quarantine
  const q = (id: string | null | undefined) => id != null && doc.quarantine.includes(id);
  const srcAsset = srcIp ? doc.assets.find((a) => a.addresses.some((x) => sameIp(x, srcIp))) : undefined;
  if (q(person?.id) || q(baseId) || q(srcAsset?.id) || q(asset?.id)) return deny('quarantined', identityId);

  // 4. modbus validity
  const op = req.modbus && protocol === 'modbus' ? req.modbus : undefined;
  let fnCode = -1, unit = 0, ranges: [number, number][] = [], shape = 'none';
  if (op) {
    fnCode = typeof op.function === 'number' ? op.function : (MODBUS_FUNCTIONS.find((f) => f.name === op.function)?.code ?? Number(op.function));
    const f = MODBUS_FUNCTIONS.find((x) => x.code === fnCode);
    unit = op.unit ?? 1;
    const address = op.address ?? 0, count = op.count ?? 1;
    const okInt = (x: unknown, lo: number, hi: number) => Number.isInteger(x) && (x as number) >= lo && (x as number) <= hi;
    let valid = f !== undefined && okInt(unit, 0, 255);
    if (valid && f) {
      shape = f.shape;
      if (shape === 'single' || shape === 'mask' || shape === 'fifo') {
        valid = okInt(address, 0, 65535);
        ranges = [[address, address]];
      } else if (shape !== 'none') {
        valid = okInt(address, 0, 65535) && okInt(count, 1, f.maxCount) && address + count - 1 <= 65535;
        ranges = [[address, address + count - 1]];
        if (shape === 'read-write') {
          const wa = op.writeAddress, wc = op.writeCount;
          valid = valid && okInt(wa, 0, 65535) && okInt(wc, 1, f.maxWriteCount!) && wa! + wc! - 1 <= 65535;
          ranges.push([wa!, wa! + wc! - 1]);
        }
      }
    }
    if (!valid) return deny('malformed', identityId);
  }

  // 5. candidates
  const matchesWho = (c: Conduit, who: typeof device, zone: string | null) =>
    (who !== undefined && (c.from.identities.includes(who.id) || who.roles.some((r) => c.from.roles.includes(r))))
    || (zone !== null && c.from.zones.includes(zone));
  const viaPerson = (c: Conduit) => person !== undefined && matchesWho(c, person, personZone);
  const fromOk = (c: Conduit) => viaPerson(c) || matchesWho(c, device, deviceZone);
  // an allow names whoever the conduit matched through, the person first
  const namedBy = (c: Conduit) => (viaPerson(c) ? person!.id : baseId);
  const toOk = (c: Conduit) => (asset !== undefined && c.to.assets.includes(asset.id)) || (dstZone !== null && c.to.zones.includes(dstZone));
  const portOk = (c: Conduit) => {
    if (port === null) return false;
    if (c.ports) return c.ports.includes(port);
    return asset !== undefined && asset.services.some((s) => s.protocol === protocol && s.port === port);
  };
  const matching = doc.conduits.filter((c) => c.protocol === protocol && fromOk(c) && toOk(c));
  const candidates = matching.filter(portOk);
  if (candidates.length === 0) return deny(matching.length > 0 ? 'port-not-allowed' : 'no-conduit', identityId);

  // 6. checks in order
  const grants = req.session?.grant;
  const results: { c: Conduit; stage: number; reason: DenyReason }[] = [];
  for (const c of candidates) {
    let fail: [number, DenyReason] | null = null;
    if (!scheduleOpen(c, at)) fail = [0, 'outside-schedule'];
    else if (c.requires.edgeAuth && req.session?.edgeAuth !== true) fail = [1, 'edge-auth-required'];
    else if (c.requires.grant && !(grants === true || (Array.isArray(grants) && grants.includes(c.id)))) fail = [2, 'grant-required'];
    else if (op && c.allow) {
      const allow = c.allow;
      if (!allow.functions.includes(fnCode)) fail = [3, 'function-not-allowed'];
      else if (allow.units && !allow.units.includes(unit)) fail = [4, 'unit-not-allowed'];
      else if (shape !== 'none' && allow.addresses) {
        // merge touching/overlapping ranges first: "inside one range" means one merged interval
        const merged: [number, number][] = [];
        for (const r of [...allow.addresses].sort((a, b) => a.start - b.start)) {
          const last = merged[merged.length - 1];
          if (last && r.start <= last[1] + 1) last[1] = Math.max(last[1], r.end);
          else merged.push([r.start, r.end]);
        }
        const inside = ranges.every(([lo, hi]) => merged.some(([s, e]) => s <= lo && hi <= e));
        if (!inside) fail = [5, 'address-out-of-range'];
      }
    }
    if (!fail) return { decision: 'allow', conduit: c.id, reason: null, identity: namedBy(c) };
    results.push({ c, stage: fail[0], reason: fail[1] });
  }

  // 7. furthest failure; monitor softens
  const furthest = (rs: typeof results) => rs.reduce((b, r) => (r.stage > b.stage ? r : b));
  const monitors = results.filter((r) => r.c.mode === 'monitor');
  if (monitors.length > 0) {
    const m = furthest(monitors);
    return { decision: 'allow', conduit: m.c.id, reason: m.reason, identity: namedBy(m.c), monitor: true };
  }
  return deny(furthest(results).reason, identityId);
}
