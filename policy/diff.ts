/**
 * A semantic diff of two policy documents: what a change means for requests, not which lines
 * moved. Entries are matched by id; each change says whether it widens (something denied before
 * is now allowed), narrows (something allowed before is now denied) or only changes (both, or
 * neither can be told without traffic: schedules, security levels), and which requests it affects.
 * Pure: documents in, plain data out; diff-render.ts turns it into Markdown.
 */
import type { AddressRange, Asset, Conduit, Identity, PolicyDocument, PolicyTest, Schedule, Zone } from './types';
import { MODBUS_FUNCTIONS, modbusFunctionName } from './modbus';
import { formatRanges, subtractRanges } from './ranges';
import { diffDnp3Allow, dnp3Summary } from './diff-dnp3';
import { diffIec104Allow, iec104Summary } from './diff-iec104';
import { diffModbusRestrictions } from './diff-values';

export type ChangeEffect = 'widens' | 'narrows' | 'changes';
export type ChangeArea = 'site' | 'zone' | 'asset' | 'identity' | 'conduit' | 'quarantine' | 'settings' | 'tests';

/** One semantic change. */
export interface PolicyChange {
  area: ChangeArea;
  /** The entry's id ('' for site, settings, tests). */
  id: string;
  /** What changed: `added`, `removed`, `functions`, `addresses`, `units`, `from`, `to`, `ports`, `schedule`, ... */
  what: string;
  effect: ChangeEffect;
  /** The change itself, e.g. `+ write-single-register; - read-coils`. */
  detail: string;
  /** Which requests it affects, and how. */
  affects: string;
}

export interface PolicyDiff {
  site: { old: string; new: string };
  changes: PolicyChange[];
  counts: Record<ChangeEffect, number>;
}

const ALL_FUNCTIONS = MODBUS_FUNCTIONS.map((f) => f.code);
const ALL_UNITS = Array.from({ length: 256 }, (_, i) => i);
const ALL_ADDRESSES: AddressRange[] = [{ start: 0, end: 65535 }];

/** Elements of `a` not in `b` (kept in `a`'s order). */
function minus<T>(a: readonly T[], b: readonly T[]): T[] {
  const set = new Set(b);
  return a.filter((x) => !set.has(x));
}

const list = (xs: readonly (string | number)[]): string => xs.join(', ');

function plusMinus(added: readonly string[], removed: readonly string[]): string {
  return [added.length ? `+ ${list(added)}` : '', removed.length ? `- ${list(removed)}` : ''].filter(Boolean).join('; ');
}

/** `hmi-1, role operator, zone station`. */
export function describeFrom(c: Conduit): string {
  const parts = [...c.from.identities, ...c.from.roles.map((r) => `role ${r}`), ...c.from.zones.map((z) => `zone ${z}`)];
  return parts.length ? list(parts) : 'nobody';
}

/** `plc-feeder-1, zone control`. */
export function describeTo(c: Conduit): string {
  const parts = [...c.to.assets, ...c.to.zones.map((z) => `zone ${z}`)];
  return parts.length ? list(parts) : 'nothing';
}

function scopeOf(c: Conduit): string {
  return `${c.protocol} requests from ${describeFrom(c)} to ${describeTo(c)}`;
}

function describeSchedule(s: Schedule | undefined): string {
  if (!s) return 'always';
  const hm = (m: number): string => `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
  return `${s.days.join(',')} ${hm(s.from)}-${hm(s.to)} ${s.tz}`;
}

function sameSchedule(a: Schedule | undefined, b: Schedule | undefined): boolean {
  return describeSchedule(a) === describeSchedule(b);
}

const fnNames = (codes: readonly number[]): string[] => codes.map(modbusFunctionName);

/** Conduit-level comparisons for one id present in both documents. */
function diffConduit(o: Conduit, n: Conduit, out: PolicyChange[]): void {
  const add = (what: string, effect: ChangeEffect, detail: string, affects: string): void => {
    out.push({ area: 'conduit', id: n.id, what, effect, detail, affects });
  };
  const scope = scopeOf(n);
  if (o.protocol !== n.protocol) add('protocol', 'changes', `${o.protocol} → ${n.protocol}`, `${o.protocol} requests it allowed are no longer allowed by it; ${scope} now are`);
  // from / to: sources or destinations added widen, removed narrow.
  const fromOld = [...o.from.identities, ...o.from.roles.map((r) => `role ${r}`), ...o.from.zones.map((z) => `zone ${z}`)];
  const fromNew = [...n.from.identities, ...n.from.roles.map((r) => `role ${r}`), ...n.from.zones.map((z) => `zone ${z}`)];
  const fa = minus(fromNew, fromOld), fr = minus(fromOld, fromNew);
  if (fa.length) add('from', 'widens', `+ ${list(fa)}`, `${n.protocol} requests from ${list(fa)} to ${describeTo(n)} now allowed`);
  if (fr.length) add('from', 'narrows', `- ${list(fr)}`, `${o.protocol} requests from ${list(fr)} to ${describeTo(o)} no longer allowed by it`);
  const toOld = [...o.to.assets, ...o.to.zones.map((z) => `zone ${z}`)];
  const toNew = [...n.to.assets, ...n.to.zones.map((z) => `zone ${z}`)];
  const ta = minus(toNew, toOld), tr = minus(toOld, toNew);
  if (ta.length) add('to', 'widens', `+ ${list(ta)}`, `${n.protocol} requests from ${describeFrom(n)} to ${list(ta)} now allowed`);
  if (tr.length) add('to', 'narrows', `- ${list(tr)}`, `${o.protocol} requests from ${describeFrom(o)} to ${list(tr)} no longer allowed by it`);
  if ((o.ports === undefined) !== (n.ports === undefined)) {
    add('ports', 'changes', `${o.ports ? list(o.ports) : "the assets' service ports"} → ${n.ports ? list(n.ports) : "the assets' service ports"}`, `${scope} on those ports`);
  } else if (o.ports && n.ports) {
    const pa = minus(n.ports, o.ports), pr = minus(o.ports, n.ports);
    if (pa.length) add('ports', 'widens', `+ ${list(pa)}`, `${scope} on port ${list(pa)} now allowed`);
    if (pr.length) add('ports', 'narrows', `- ${list(pr)}`, `${scope} on port ${list(pr)} no longer allowed`);
  }
  if (o.protocol === 'modbus' && n.protocol === 'modbus') { diffAllow(o, n, add, scope); diffModbusRestrictions(o, n, add, scope); }
  if (o.protocol === 'dnp3' && n.protocol === 'dnp3') diffDnp3Allow(o.dnp3, n.dnp3, add, scope);
  if (o.protocol === 'iec104' && n.protocol === 'iec104') diffIec104Allow(o.iec104, n.iec104, add, scope);
  const req = (r: Conduit['requires']): string[] => [r.edgeAuth ? 'edgeAuth' : '', r.grant ? 'grant' : ''].filter(Boolean);
  const ra = minus(req(n.requires), req(o.requires)), rr = minus(req(o.requires), req(n.requires));
  if (ra.length) add('requires', 'narrows', `+ ${list(ra)}`, `${scope} without ${ra.map((x) => (x === 'grant' ? 'a grant' : 'a login at the edge')).join(' and ')} no longer allowed`);
  if (rr.length) add('requires', 'widens', `- ${list(rr)}`, `${scope} now allowed without ${rr.map((x) => (x === 'grant' ? 'a grant' : 'a login at the edge')).join(' or ')}`);
  if (!sameSchedule(o.schedule, n.schedule)) {
    const effect: ChangeEffect = o.schedule === undefined ? 'narrows' : n.schedule === undefined ? 'widens' : 'changes';
    const affects = effect === 'narrows' ? `${scope} outside ${describeSchedule(n.schedule)} no longer allowed`
      : effect === 'widens' ? `${scope} outside ${describeSchedule(o.schedule)} now allowed`
        : `${scope} at times inside one window and not the other`;
    add('schedule', effect, `${describeSchedule(o.schedule)} → ${describeSchedule(n.schedule)}`, affects);
  }
  if (o.mode !== n.mode) {
    add('mode', n.mode === 'monitor' ? 'widens' : 'narrows', `${o.mode} → ${n.mode}`, n.mode === 'monitor'
      ? `${scope} that it would deny are now let through (and recorded)`
      : `${scope} that monitor mode let through while it would deny them are now denied`);
  }
  const rl = (c: Conduit): string => (c.rateLimit ? `${c.rateLimit.perSecond}/s burst ${c.rateLimit.burst}` : 'none');
  if (rl(o) !== rl(n)) add('rateLimit', 'changes', `${rl(o)} → ${rl(n)}`, `${scope} above the rate are denied (rate-limited)`);
}

function diffAllow(o: Conduit, n: Conduit, add: (what: string, effect: ChangeEffect, detail: string, affects: string) => void, scope: string): void {
  const fo = o.allow?.functions ?? ALL_FUNCTIONS, fn = n.allow?.functions ?? ALL_FUNCTIONS;
  const fa = minus(fn, fo), fr = minus(fo, fn);
  if (fa.length) add('functions', 'widens', `+ ${list(fnNames(fa))}`, `${scope}: ${list(fnNames(fa))} now allowed`);
  if (fr.length) add('functions', 'narrows', `- ${list(fnNames(fr))}`, `${scope}: ${list(fnNames(fr))} no longer allowed`);
  const uo = o.allow ? o.allow.units ?? ALL_UNITS : ALL_UNITS, un = n.allow ? n.allow.units ?? ALL_UNITS : ALL_UNITS;
  const ua = minus(un, uo), ur = minus(uo, un);
  const units = (u: number[]): string => (u.length > 16 ? `${u.length} unit ids` : `unit ${list(u)}`);
  if (ua.length) add('units', 'widens', `+ ${units(ua)}`, `${scope}: ${units(ua)} now allowed`);
  if (ur.length) add('units', 'narrows', `- ${units(ur)}`, `${scope}: ${units(ur)} no longer allowed`);
  const ao = o.allow?.addresses ?? ALL_ADDRESSES, an = n.allow?.addresses ?? ALL_ADDRESSES;
  const aa = subtractRanges(an, ao), ar = subtractRanges(ao, an);
  if (aa.length) add('addresses', 'widens', `+ ${formatRanges(aa)}`, `${scope} at addresses ${formatRanges(aa)} now allowed`);
  if (ar.length) add('addresses', 'narrows', `- ${formatRanges(ar)}`, `${scope} at addresses ${formatRanges(ar)} no longer allowed`);
}

/** Which conduits name an identity, a role, a zone or an asset (for `affects`). */
function conduitsNaming(doc: PolicyDocument, test: (c: Conduit) => boolean): string {
  const ids = doc.conduits.filter(test).map((c) => c.id);
  return ids.length === 0 ? 'no conduit names it' : `conduit${ids.length === 1 ? '' : 's'} ${list(ids)}`;
}

function diffIdentity(o: Identity, n: Identity, docOld: PolicyDocument, docNew: PolicyDocument, out: PolicyChange[]): void {
  const add = (what: string, effect: ChangeEffect, detail: string, affects: string): void => {
    out.push({ area: 'identity', id: n.id, what, effect, detail, affects });
  };
  const aa = minus(n.addresses, o.addresses), ar = minus(o.addresses, n.addresses);
  const naming = (doc: PolicyDocument): string => conduitsNaming(doc, (c) => c.from.identities.includes(n.id) || c.from.roles.some((r) => n.roles.includes(r)));
  if (aa.length) add('addresses', 'widens', `+ ${list(aa)}`, `requests from ${list(aa)} now count as ${n.id} (${naming(docNew)})`);
  if (ar.length) add('addresses', 'narrows', `- ${list(ar)}`, `requests from ${list(ar)} no longer count as ${n.id} (${naming(docOld)})`);
  const ra = minus(n.roles, o.roles), rr = minus(o.roles, n.roles);
  if (ra.length) add('roles', 'widens', `+ ${list(ra)}`, `${n.id} now matches ${conduitsNaming(docNew, (c) => c.from.roles.some((r) => ra.includes(r)))}`);
  if (rr.length) add('roles', 'narrows', `- ${list(rr)}`, `${n.id} no longer matches ${conduitsNaming(docOld, (c) => c.from.roles.some((r) => rr.includes(r)))}`);
  if (o.kind !== n.kind) add('kind', 'changes', `${o.kind} → ${n.kind}`, `how ${n.id} is recognised (address or login at the edge)`);
  if (o.zone !== n.zone) add('zone', 'changes', `${o.zone ?? '(by address)'} → ${n.zone ?? '(by address)'}`, `zone conduits matching requests from ${n.id}`);
}

function diffZone(o: Zone, n: Zone, doc: PolicyDocument, out: PolicyChange[]): void {
  const add = (what: string, effect: ChangeEffect, detail: string, affects: string): void => {
    out.push({ area: 'zone', id: n.id, what, effect, detail, affects });
  };
  // Which conduits name it: looked up only for a change that says so (a scan of every conduit).
  const naming = (): string => conduitsNaming(doc, (c) => c.from.zones.includes(n.id) || c.to.zones.includes(n.id));
  const na = minus(n.networks, o.networks), nr = minus(o.networks, n.networks);
  if (na.length) add('networks', 'widens', `+ ${list(na)}`, `requests from or to ${list(na)} now in zone ${n.id} (${naming()})`);
  if (nr.length) add('networks', 'narrows', `- ${list(nr)}`, `requests from or to ${list(nr)} no longer in zone ${n.id} (${naming()})`);
  if (o.securityLevel !== n.securityLevel) add('securityLevel', 'changes', `${o.securityLevel} → ${n.securityLevel}`, 'no decision (reports and evidence only)');
  const ia = minus(n.interfaces, o.interfaces), ir = minus(o.interfaces, n.interfaces);
  if (ia.length || ir.length) add('interfaces', 'changes', plusMinus(ia, ir), 'the nftables ruleset (which interface the zone is on)');
}

function diffAsset(o: Asset, n: Asset, doc: PolicyDocument, out: PolicyChange[]): void {
  const add = (what: string, effect: ChangeEffect, detail: string, affects: string): void => {
    out.push({ area: 'asset', id: n.id, what, effect, detail, affects });
  };
  // Which conduits name it: looked up only for a change that says so (a scan of every conduit:
  // for each of the 1,000 assets of a 10,000-conduit site, diffing a learnt policy took seconds).
  const naming = (): string => conduitsNaming(doc, (c) => c.to.assets.includes(n.id));
  const aa = minus(n.addresses, o.addresses), ar = minus(o.addresses, n.addresses);
  if (aa.length) add('addresses', 'widens', `+ ${list(aa)}`, `requests to ${list(aa)} now go to ${n.id} (${naming()})`);
  if (ar.length) add('addresses', 'narrows', `- ${list(ar)}`, `requests to ${list(ar)} no longer go to ${n.id} (${naming()})`);
  const svc = (a: Asset): string[] => a.services.map((s) => `${s.protocol}/${s.port}`);
  const sa = minus(svc(n), svc(o)), sr = minus(svc(o), svc(n));
  if (sa.length) add('services', 'widens', `+ ${list(sa)}`, `conduits to ${n.id} without ports now also cover ${list(sa)}`);
  if (sr.length) add('services', 'narrows', `- ${list(sr)}`, `conduits to ${n.id} without ports no longer cover ${list(sr)}`);
  if (o.zone !== n.zone) add('zone', 'changes', `${o.zone} → ${n.zone}`, `zone conduits to ${n.id}`);
}

/** What `out` holds, taken out of it (the changes one entry's comparison made). */
const taken = (out: PolicyChange[]): PolicyChange[] => out.splice(0, out.length);

/** Added and removed entries of one list, then per-id comparisons: each entry's changes (pushed to `out`) yielded as they are made. */
function* byId<T extends { id: string }>(a: readonly T[], b: readonly T[], out: PolicyChange[], each: (o: T, n: T) => void, added: (n: T) => void, removed: (o: T) => void): Generator<PolicyChange, void, void> {
  const old = new Map(a.map((x) => [x.id, x] as const));
  const now = new Map(b.map((x) => [x.id, x] as const));
  for (const x of a) if (!now.has(x.id)) { removed(x); yield* taken(out); }
  for (const x of b) { const o = old.get(x.id); if (o) each(o, x); else added(x); yield* taken(out); }
}

/**
 * How many of b's tests a does not have (added) and of a's tests b does not have (removed), each
 * test compared whole as JSON; only a's texts are held (b is a learnt policy's 80,000 tests, which
 * policy learn shows this one at a time as it writes them).
 */
export class TestChanges {
  private readonly keys: string[];
  private readonly inB: Map<string, boolean>;
  private added = 0;

  constructor(a: readonly PolicyTest[]) {
    this.keys = a.map((t) => JSON.stringify(t));
    this.inB = new Map(this.keys.map((k) => [k, false]));
  }

  /** One of b's tests. */
  see(t: PolicyTest): void {
    const k = JSON.stringify(t);
    if (this.inB.has(k)) this.inB.set(k, true); else this.added++;
  }

  counts(): { added: number; removed: number } {
    return { added: this.added, removed: this.keys.filter((k) => this.inB.get(k) !== true).length };
  }
}

function testChanges(a: PolicyDocument, b: PolicyDocument): { added: number; removed: number } {
  const c = new TestChanges(a.tests);
  for (const t of b.tests) c.see(t);
  return c.counts();
}

/**
 * The semantic diff from `a` (old) to `b` (new); `tests` gives how b's tests differ from a's when
 * b is held without them (policy learn).
 */
export function diffPolicies(a: PolicyDocument, b: PolicyDocument, tests?: TestChanges): PolicyDiff {
  const changes = [...diffChanges(a, b, tests)];
  const counts: Record<ChangeEffect, number> = { widens: 0, narrows: 0, changes: 0 };
  for (const c of changes) counts[c.effect]++;
  return { site: { old: a.site, new: b.site }, changes, counts };
}

/**
 * diffPolicies' changes one entry at a time, in its order, none held once given (policy learn
 * --json prints the 26,000 changes of a 10,000-conduit site as they come: 17 MiB held whole).
 */
export function* diffChanges(a: PolicyDocument, b: PolicyDocument, tests?: TestChanges): Generator<PolicyChange, void, void> {
  const changes: PolicyChange[] = [];
  const push = (area: ChangeArea, id: string, what: string, effect: ChangeEffect, detail: string, affects: string): void => {
    changes.push({ area, id, what, effect, detail, affects });
  };
  if (a.site !== b.site) push('site', '', 'site', 'changes', `${a.site} → ${b.site}`, 'which gateways accept the bundle');
  yield* taken(changes);
  yield* byId(a.zones, b.zones, changes, (o, n) => diffZone(o, n, b, changes),
    (n) => push('zone', n.id, 'added', 'changes', list(n.networks), `requests from or to ${list(n.networks)} now in zone ${n.id}`),
    (o) => push('zone', o.id, 'removed', 'changes', list(o.networks), `requests from or to ${list(o.networks)} no longer in zone ${o.id}`));
  yield* byId(a.assets, b.assets, changes, (o, n) => diffAsset(o, n, b, changes),
    (n) => push('asset', n.id, 'added', 'changes', list(n.addresses), `requests to ${list(n.addresses)} now go to ${n.id} (${conduitsNaming(b, (c) => c.to.assets.includes(n.id))})`),
    (o) => push('asset', o.id, 'removed', 'narrows', list(o.addresses), `requests to ${list(o.addresses)} no longer go to ${o.id} (${conduitsNaming(a, (c) => c.to.assets.includes(o.id))})`));
  yield* byId(a.identities, b.identities, changes, (o, n) => diffIdentity(o, n, a, b, changes),
    (n) => push('identity', n.id, 'added', 'widens', `${n.kind}${n.addresses.length ? ` at ${list(n.addresses)}` : ''}`, `requests from ${n.id} (${conduitsNaming(b, (c) => c.from.identities.includes(n.id) || c.from.roles.some((r) => n.roles.includes(r)))})`),
    (o) => push('identity', o.id, 'removed', 'narrows', `${o.kind}${o.addresses.length ? ` at ${list(o.addresses)}` : ''}`, `requests from ${o.id} (${conduitsNaming(a, (c) => c.from.identities.includes(o.id) || c.from.roles.some((r) => o.roles.includes(r)))})`));
  yield* byId(a.conduits, b.conduits, changes, (o, n) => diffConduit(o, n, changes),
    (n) => push('conduit', n.id, 'added', 'widens', conduitSummary(n), `${scopeOf(n)} now allowed`),
    (o) => push('conduit', o.id, 'removed', 'narrows', conduitSummary(o), `${scopeOf(o)} no longer allowed by it`));
  const qa = minus(b.quarantine, a.quarantine), qr = minus(a.quarantine, b.quarantine);
  if (qa.length) push('quarantine', '', 'quarantine', 'narrows', `+ ${list(qa)}`, `every request from or to ${list(qa)} now denied (quarantined)`);
  if (qr.length) push('quarantine', '', 'quarantine', 'widens', `- ${list(qr)}`, `requests from or to ${list(qr)} decided by the conduits again`);
  if (a.settings.onExpiry !== b.settings.onExpiry) {
    push('settings', '', 'onExpiry', b.settings.onExpiry === 'deny-all' ? 'narrows' : 'widens', `${a.settings.onExpiry} → ${b.settings.onExpiry}`, 'every request once the bundle expires offline');
  }
  const { added: tAdded, removed: tRemoved } = tests ? tests.counts() : testChanges(a, b);
  if (tAdded || tRemoved) push('tests', '', 'tests', 'changes', `${tAdded} added, ${tRemoved} removed`, 'no decision (what policy test, fleet sign and the gateway check)');
  yield* taken(changes);
}

/** `modbus read-coils, read-holding-registers unit 1 at 0-99` / `tcp ports 443`. */
export function conduitSummary(c: Conduit): string {
  const parts: string[] = [c.protocol];
  if (c.protocol === 'modbus') {
    if (!c.allow) parts.push('any operation');
    else {
      parts.push(c.allow.functions.length ? list(fnNames(c.allow.functions)) : 'no operation (connect only)');
      if (c.allow.units) parts.push(`unit ${list(c.allow.units)}`);
      if (c.allow.addresses) parts.push(`at ${formatRanges(c.allow.addresses)}`);
    }
  }
  if (c.protocol === 'dnp3') parts.push(dnp3Summary(c.dnp3));
  if (c.protocol === 'iec104') parts.push(iec104Summary(c.iec104));
  if (c.ports) parts.push(`port ${list(c.ports)}`);
  else if (c.protocol === 'tcp') parts.push("on the assets' service ports");
  if (c.schedule) parts.push(describeSchedule(c.schedule));
  if (c.requires.edgeAuth || c.requires.grant) parts.push(`requires ${[c.requires.edgeAuth ? 'edgeAuth' : '', c.requires.grant ? 'grant' : ''].filter(Boolean).join(' + ')}`);
  if (c.mode === 'monitor') parts.push('(monitor)');
  return parts.join(' ');
}
