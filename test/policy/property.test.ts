/**
 * Property test: for thousands of random policies × random requests, decide(compile(doc)) gives
 * exactly what the plain reference evaluator gives (decision, conduit, reason, identity, monitor).
 * The seed is printed on failure; rerun one with ZG_SEED=<seed>.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compile } from '../../policy/compile';
import { decide } from '../../policy/decide';
import { IndexDecider } from '../../policy/decider';
import { explain } from '../../policy/explain';
import type { AddressRange, Conduit, Decision, DecisionRequest, PolicyDocument, Weekday } from '../../policy/types';
import { referenceDecide } from './reference';
import { asset, conduit, doc, identity, zone } from './engine-doc';
import { mulberry32 } from '../helpers/prng';


type Rng = () => number;
const int = (r: Rng, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
const pick = <T>(r: Rng, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
const some = <T>(r: Rng, xs: readonly T[], p: number): T[] => xs.filter(() => r() < p);
const DAYS: Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const TZS = ['UTC', 'America/Chicago', 'Europe/Berlin', 'Asia/Kolkata'];
const FUNCTIONS = [1, 2, 3, 4, 5, 6, 7, 8, 15, 16, 17, 20, 22, 23, 24, 43];
const ROLES = ['operator', 'engineer', 'vendor', 'auditor'];

/** Zones z0..: v4 10.<i>.0.0/16 with a nested /24 sometimes its own zone, and v6 fd00:<i>::/32. */
function randomDoc(r: Rng): PolicyDocument {
  const nz = int(r, 1, 4);
  const zones = [];
  for (let i = 0; i < nz; i++) zones.push(zone(`z${i}`, [`10.${i}.0.0/16`, `fd00:${i}::/32`]));
  if (r() < 0.5) zones.push(zone('inner', ['10.0.5.0/24', 'fd00:0:5::/48']));
  const zoneIds = zones.map((z) => z.id);
  const assets = [];
  const na = int(r, 1, 5);
  for (let i = 0; i < na; i++) {
    const zi = int(r, 0, nz - 1);
    const services = [];
    if (r() < 0.85) services.push({ protocol: 'modbus' as const, port: 502 });
    if (r() < 0.3) services.push({ protocol: 'modbus' as const, port: 1502 });
    if (r() < 0.4) services.push({ protocol: 'tcp' as const, port: pick(r, [22, 443, 5432]) });
    assets.push(asset(`a${i}`, zoneIds[zi], [`10.${zi}.1.${i + 1}`, ...(r() < 0.5 ? [`fd00:${zi}::a:${i + 1}`] : [])], { services }));
  }
  const identities = [];
  const ni = int(r, 0, 6);
  for (let i = 0; i < ni; i++) {
    const zi = int(r, 0, nz - 1);
    const kind = pick(r, ['device', 'user', 'service', 'vendor'] as const);
    const bound = kind === 'device' || kind === 'service';
    identities.push(identity(`i${i}`, {
      kind,
      zone: bound && r() < 0.8 ? pick(r, zoneIds) : undefined,
      addresses: bound ? [`10.${zi}.2.${int(r, 1, 4)}`, ...(r() < 0.4 ? [`fd00:${zi}::b:${int(r, 1, 4)}`] : [])] : [],
      roles: some(r, ROLES, 0.3),
    }));
  }
  const identityIds = identities.map((x) => x.id);
  const conduits: Conduit[] = [];
  const nc = int(r, 0, 8);
  for (let i = 0; i < nc; i++) {
    const protocol = r() < 0.8 ? 'modbus' as const : 'tcp' as const;
    let allow;
    if (protocol === 'modbus' && r() < 0.85) {
      let addresses: AddressRange[] | undefined;
      if (r() < 0.75) {
        addresses = [];
        const n = int(r, 1, r() < 0.2 ? 14 : 3);
        let at = int(r, 0, 50);
        for (let k = 0; k < n && at <= 65535; k++) {
          const end = Math.min(65535, at + int(r, 0, 60));
          addresses.push({ start: at, end });
          at = end + int(r, 1, 40); // separate (a gap of at least one), sometimes adjacent+1
        }
        if (r() < 0.1) addresses.push({ start: 65500, end: 65535 });
      }
      allow = {
        functions: [...new Set(some(r, FUNCTIONS, 0.4))].sort((a, b) => a - b),
        units: r() < 0.6 ? [...new Set([int(r, 0, 3), int(r, 0, 3)])].sort((a, b) => a - b) : undefined,
        addresses,
      };
    }
    const from = { identities: some(r, identityIds, 0.3), roles: some(r, ROLES, 0.2), zones: some(r, zoneIds, 0.25) };
    const to = { assets: some(r, assets.map((a) => a.id), 0.4), zones: some(r, zoneIds, 0.2) };
    let schedule;
    if (r() < 0.3) {
      const from_ = int(r, 0, 47) * 30;
      const to_ = r() < 0.5 ? (from_ + int(r, 1, 20) * 30) % 1440 : int(r, 0, 47) * 30;
      schedule = { days: some(r, DAYS, 0.5), from: from_, to: to_, tz: pick(r, TZS) };
    }
    conduits.push(conduit({
      id: `c${i}`, protocol, from, to,
      ports: r() < 0.3 ? [pick(r, [502, 1502, 22, 443])] : undefined,
      allow, schedule,
      requires: { edgeAuth: r() < 0.2, grant: r() < 0.2 },
      mode: r() < 0.2 ? 'monitor' : 'enforce',
    }));
  }
  const quarantine = some(r, [...identityIds, ...assets.map((a) => a.id)], 0.08);
  return doc({ zones, assets, identities, conduits, quarantine });
}

// 2026: both DST changes of Chicago (Mar 8, Nov 1) and Berlin (Mar 29, Oct 25) inside.
const YEAR_START = Date.UTC(2026, 0, 1);
const DST_DAYS = [Date.UTC(2026, 2, 8), Date.UTC(2026, 10, 1), Date.UTC(2026, 2, 29), Date.UTC(2026, 9, 25)];

function randomRequest(r: Rng, d: PolicyDocument): DecisionRequest {
  const nz = d.zones.length;
  const srcIp = () => pick(r, [
    () => `10.${int(r, 0, nz)}.2.${int(r, 1, 4)}`,
    () => `10.${int(r, 0, nz)}.${pick(r, [1, 5, 9])}.${int(r, 1, 6)}`,
    () => `fd00:${int(r, 0, nz)}::b:${int(r, 1, 4)}`,
    () => `fd00:0:5::${int(r, 1, 9)}`,
    () => '192.0.2.7',
  ])();
  let from: DecisionRequest['from'] = r() < 0.4 && d.identities.length > 0 ? pick(r, [...d.identities.map((x) => x.id), 'ghost']) : { ip: srcIp() };
  let to: DecisionRequest['to'] | undefined;
  // Half the time aim at a conduit, so that candidates are common.
  if (d.conduits.length > 0 && r() < 0.5) {
    const c = pick(r, d.conduits);
    const holders = d.identities.filter((x) => c.from.identities.includes(x.id) || x.roles.some((ro) => c.from.roles.includes(ro)));
    if (holders.length > 0 && r() < 0.7) {
      const h = pick(r, holders);
      from = h.addresses.length > 0 && r() < 0.5 ? { ip: pick(r, h.addresses) } : h.id;
    } else if (c.from.zones.length > 0) {
      const want = pick(r, c.from.zones);
      const zi = d.zones.findIndex((z) => z.id === want);
      from = { ip: d.zones[zi].id === 'inner' ? '10.0.5.77' : `10.${zi}.${pick(r, [1, 9])}.${int(r, 20, 30)}` };
    }
    const targets = d.assets.filter((a) => c.to.assets.includes(a.id) || c.to.zones.includes(a.zone));
    if (targets.length > 0) to = pick(r, targets).id;
  }
  const tr = r();
  if (to !== undefined) { /* aimed */ } else if (tr < 0.5) to = pick(r, [...d.assets.map((a) => a.id), ...(r() < 0.1 ? ['nope'] : [])]);
  else {
    const ip = tr < 0.75 ? `10.${int(r, 0, nz)}.1.${int(r, 1, 6)}` : tr < 0.85 ? `fd00:${int(r, 0, nz)}::a:${int(r, 1, 6)}` : `10.${int(r, 0, nz)}.7.7`;
    to = r() < 0.6 ? { ip, port: pick(r, [502, 1502, 22, 443, 5432]) } : { ip };
  }
  const req: DecisionRequest = { from, to };
  if (r() < 0.2) req.port = pick(r, [502, 1502, 22]);
  if (r() < 0.8) {
    const fn = r() < 0.05 ? pick(r, [0, 9, 99, 255]) : pick(r, FUNCTIONS);
    const count = r() < 0.05 ? pick(r, [0, 126, 2001]) : int(r, 1, r() < 0.5 ? 8 : 125);
    const address = r() < 0.05 ? pick(r, [65535, 65530]) : int(r, 0, r() < 0.5 ? 200 : 2000);
    req.modbus = { function: fn, unit: r() < 0.1 ? pick(r, [200, 255]) : int(r, 0, 3), address, count };
    if (fn === 23 && r() < 0.9) { req.modbus.writeAddress = int(r, 0, 300); req.modbus.writeCount = r() < 0.05 ? 122 : int(r, 1, 20); }
    if (r() < 0.1) req.protocol = 'tcp';
  } else if (r() < 0.5) req.protocol = pick(r, ['modbus', 'tcp'] as const);
  if (r() < 0.5) {
    req.session = {};
    if (r() < 0.6) req.session.edgeAuth = r() < 0.7;
    if (r() < 0.4 && d.identities.length > 0) req.session.identity = pick(r, [...d.identities.map((x) => x.id), 'ghost']);
    if (r() < 0.6) req.session.grant = r() < 0.4 ? r() < 0.7 : some(r, d.conduits.map((c) => c.id), 0.5);
  }
  req.at = r() < 0.3 ? pick(r, DST_DAYS) + int(r, 0, 36 * 60) * 60_000 : YEAR_START + int(r, 0, 365 * 1440) * 60_000;
  return req;
}

const norm = (x: Decision) => ({ decision: x.decision, conduit: x.conduit, reason: x.reason, identity: x.identity, monitor: x.monitor === true });

test('decide(index) agrees with the reference evaluator on random policies and requests', () => {
  const seed = Number(process.env.ZG_SEED ?? Math.floor(Math.random() * 2 ** 31));
  const r = mulberry32(seed);
  const policies = Number(process.env.ZG_POLICIES ?? 1000);
  let decisions = 0;
  const reasons = new Map<string, number>();
  for (let p = 0; p < policies; p++) {
    const d = randomDoc(r);
    const index = compile(d, { version: `v${p}` });
    for (let q = 0; q < 40; q++) {
      const req = randomRequest(r, d);
      const got = norm(decide(index, req, 0));
      const want = norm(referenceDecide(d, req, 0));
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        console.log(`property failure: ZG_SEED=${seed} policy #${p} request #${q}\nrequest: ${JSON.stringify(req)}\npolicy: ${JSON.stringify(d)}`);
        assert.equal(got, want, `seed ${seed}`);
      }
      decisions++;
      const k = got.monitor ? `monitor:${got.reason}` : got.decision === 'allow' ? 'allow' : got.reason!;
      reasons.set(k, (reasons.get(k) ?? 0) + 1);
    }
  }
  console.log(`seed ${seed}: ${decisions} decisions agree; outcomes ${JSON.stringify(Object.fromEntries([...reasons].sort()))}`);
  // the generator must reach every outcome the semantics can produce
  for (const k of ['allow', 'no-conduit', 'port-not-allowed', 'function-not-allowed', 'unit-not-allowed', 'address-out-of-range',
    'outside-schedule', 'edge-auth-required', 'grant-required', 'quarantined', 'malformed', 'unknown-destination']) {
    assert.ok((reasons.get(k) ?? 0) > 0, `outcome ${k} never produced (seed ${seed})`);
  }
  assert.ok([...reasons.keys()].some((k) => k.startsWith('monitor:')), 'monitor never produced');
});

test('explain() agrees with the decision it explains', () => {
  const seed = Number(process.env.ZG_SEED ?? Math.floor(Math.random() * 2 ** 31));
  const r = mulberry32(seed ^ 0xe4);
  let checked = 0;
  for (let p = 0; p < 300; p++) {
    const d = randomDoc(r);
    const index = compile(d);
    for (let q = 0; q < 20; q++) {
      const req = randomRequest(r, d);
      const ex = explain(index, req, 0);
      const dec = ex.decision;
      const ctx = `seed ${seed}: ${JSON.stringify(req)} -> ${JSON.stringify(dec)} / ${JSON.stringify(ex.conduits)}`;
      const firstAllow = ex.conduits.find((c) => c.result === 'allow');
      if (dec.decision === 'allow' && !dec.monitor) assert.is(firstAllow?.conduit, dec.conduit, ctx);
      else if (dec.monitor || ['outside-schedule', 'edge-auth-required', 'grant-required', 'function-not-allowed', 'unit-not-allowed', 'address-out-of-range'].includes(dec.reason!)) {
        assert.is(firstAllow, undefined, ctx);
        assert.ok(ex.conduits.some((c) => c.result === 'fail' && c.reason === dec.reason && (!dec.monitor || c.conduit === dec.conduit)), ctx);
      } else if (dec.reason === 'no-conduit' || dec.reason === 'port-not-allowed') {
        assert.ok(ex.conduits.every((c) => c.result === 'not-candidate'), ctx);
        assert.is(ex.conduits.some((c) => c.why === 'port'), dec.reason === 'port-not-allowed', ctx);
      }
      checked++;
    }
  }
  assert.ok(checked === 6000);
});

test('the hot path (IndexDecider.modbus on a connected scope) agrees with decide()', () => {
  const seed = Number(process.env.ZG_SEED ?? Math.floor(Math.random() * 2 ** 31));
  const r = mulberry32(seed ^ 0x5eed);
  let checked = 0;
  for (let p = 0; p < 200; p++) {
    const d = randomDoc(r);
    const decider = new IndexDecider(compile(d));
    for (let q = 0; q < 20; q++) {
      const req = randomRequest(r, d);
      if (typeof req.from === 'string' || typeof req.to !== 'string' || !req.modbus || req.protocol === 'tcp') continue;
      const a = d.assets.find((x) => x.id === req.to);
      const port = req.port ?? a?.services.find((s) => s.protocol === 'modbus')?.port ?? 502;
      const { scope } = decider.connect({ sourceIp: req.from.ip, asset: req.to, port, protocol: 'modbus', session: req.session }, req.at as number);
      const m = req.modbus;
      const hot = decider.modbus(scope, m.function as number, m.unit!, m.address!, m.count!, req.at as number, m.writeAddress, m.writeCount);
      const full = decide(decider.active!, { ...req, port, protocol: 'modbus' }, 0);
      if (JSON.stringify(norm(hot)) !== JSON.stringify(norm(full))) {
        console.log(`hot-path failure: ZG_SEED=${seed} request ${JSON.stringify(req)} port ${port}\npolicy: ${JSON.stringify(d)}`);
        assert.equal(norm(hot), norm(full));
      }
      checked++;
    }
  }
  assert.ok(checked > 500, `only ${checked} hot-path requests checked`);
});

test.run();
