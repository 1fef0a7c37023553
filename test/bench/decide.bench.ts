/**
 * Policy decision cost at 100, 1,000 and 10,000 conduits, beside its peers in the same run:
 *  - the floor: an Int32Array lookup of a precomputed integer key;
 *  - a plain linear scan over the conduit objects (strings and Array.includes);
 *  - npm casbin enforcing the same allow-list as policy lines (RBAC with roles, one line per
 *    conduit × function × unit × address range), enforceSync.
 * Measured: the hot path (IndexDecider.modbus on a connected scope), full decide(index, request)
 * (resolving names each time), and compile time. ns per decision = batch time / batch size,
 * median and p99 over batches. Run: node build/run-bench.mjs decide
 */
import { cpus, loadavg } from 'node:os';
import { newEnforcer, newModelFromString, StringAdapter } from 'casbin';
import { compile, type PolicyIndex } from '../../policy/compile';
import { decide } from '../../policy/decide';
import { IndexDecider } from '../../policy/decider';
import type { Conduit, DecisionRequest, ModbusOperation, PolicyDocument, Scope } from '../../policy/types';
import { printTable, percentiles, type BenchRow } from './report';
import { mulberry32 } from '../helpers/prng';


const FUNCTIONS = [1, 2, 3, 4, 5, 6, 15, 16];
const NOW = Date.UTC(2026, 2, 3, 15, 0);

/** A realistic site: nConduits conduits, nConduits/10 assets, nConduits/20 device identities, people with roles. */
function generate(nConduits: number, seed: number): PolicyDocument {
  const r = mulberry32(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
  const nZones = 20;
  const zones = Array.from({ length: nZones }, (_, i) => ({ id: `zone-${i}`, networks: [`10.${i}.0.0/16`], interfaces: [], securityLevel: 2 }));
  const nAssets = Math.max(10, nConduits / 10);
  const assets = Array.from({ length: nAssets }, (_, i) => ({
    id: `plc-${i}`, zone: `zone-${i % nZones}`, addresses: [`10.${i % nZones}.${1 + (i >> 8)}.${i & 255}`], kind: 'plc',
    services: [{ protocol: 'modbus' as const, port: 502 }],
  }));
  const nDevices = Math.max(5, nConduits / 20);
  const roles = Array.from({ length: 10 }, (_, i) => `role-${i}`);
  const identities = [
    ...Array.from({ length: nDevices }, (_, i) => ({ id: `hmi-${i}`, kind: 'device' as const, zone: `zone-${i % nZones}`, addresses: [`10.${i % nZones}.200.${i & 255}`, `10.${i % nZones}.${201 + (i >> 8)}.${i & 255}`], roles: [] as string[] })),
    ...Array.from({ length: 50 }, (_, i) => ({ id: `user-${i}`, kind: 'user' as const, addresses: [], roles: [roles[i % 10], roles[(i * 7) % 10]] })),
  ];
  const conduits: Conduit[] = [];
  for (let c = 0; c < nConduits; c++) {
    const byRole = r() < 0.15;
    const fns = [...new Set(Array.from({ length: int(1, 3) }, () => FUNCTIONS[int(0, FUNCTIONS.length - 1)]))].sort((a, b) => a - b);
    const nRanges = int(1, 4);
    const addresses = [];
    let at = int(0, 500);
    for (let k = 0; k < nRanges; k++) { const end = at + int(5, 200); addresses.push({ start: at, end }); at = end + int(2, 500); }
    conduits.push({
      id: `conduit-${c}`,
      from: { identities: byRole ? [] : [`hmi-${int(0, nDevices - 1)}`], roles: byRole ? [roles[int(0, 9)]] : [], zones: [] },
      to: { assets: Array.from(new Set([`plc-${int(0, nAssets - 1)}`, ...(r() < 0.3 ? [`plc-${int(0, nAssets - 1)}`] : [])])), zones: [] },
      protocol: 'modbus',
      allow: { functions: fns, units: r() < 0.7 ? [1] : undefined, addresses },
      requires: { edgeAuth: byRole, grant: false },
      schedule: r() < 0.1 ? { days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: 7 * 60, to: 17 * 60, tz: 'America/Chicago' } : undefined,
      mode: 'enforce',
    });
  }
  return { site: 'bench', zones, assets, identities, conduits, quarantine: [], settings: { onExpiry: 'keep-enforcing' }, tests: [] };
}

/** identity: the person logged in (user) or the device; device: the device bound to `ip` when a person is logged in there (both match `from`). */
interface Req { ip: string; identity: string; device: string | null; user: string | null; asset: string; fn: number; unit: number; address: number; count: number }

/** K requests: 60% aimed inside some conduit, the rest near misses (function, unit, range, asset). */
function requests(d: PolicyDocument, k: number, seed: number): Req[] {
  const r = mulberry32(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
  const out: Req[] = [];
  const ipOf = new Map(d.identities.map((x) => [x.id, x.addresses[0]]));
  const roleUser = new Map<string, string>();
  for (const x of d.identities) for (const ro of x.roles) if (!roleUser.has(ro)) roleUser.set(ro, x.id);
  while (out.length < k) {
    const c = d.conduits[int(0, d.conduits.length - 1)];
    const allow = c.allow!;
    const range = allow.addresses![int(0, allow.addresses!.length - 1)];
    const byRole = c.from.roles.length > 0;
    const identity = byRole ? roleUser.get(c.from.roles[0])! : c.from.identities[0];
    const ip = byRole ? d.identities[0].addresses[0] : ipOf.get(identity)!;
    const req: Req = { ip, identity, device: byRole ? d.identities[0].id : null, user: byRole ? identity : null, asset: c.to.assets[0], fn: allow.functions[0], unit: 1, address: range.start + int(0, range.end - range.start), count: 1 };
    const miss = r();
    if (miss < 0.1) req.fn = 16 + 7; // not allowed anywhere
    else if (miss < 0.2) req.address = range.end + 1;
    else if (miss < 0.3) req.unit = 9;
    else if (miss < 0.4) req.asset = d.assets[int(0, d.assets.length - 1)].id;
    else req.count = Math.max(1, Math.min(range.end - req.address + 1, 10));
    if (req.fn === 23) req.fn = 3;
    out.push(req);
  }
  return out;
}

function sample(batches: number, batch: number, body: () => void): { p50: number; p99: number } {
  const ns: number[] = [];
  for (let b = 0; b < batches; b++) {
    const t0 = process.hrtime.bigint();
    body();
    ns.push(Number(process.hrtime.bigint() - t0) / batch);
  }
  return percentiles(ns);
}

/** The plain loop: every conduit, strings and Array.includes, no index. */
function linearScan(d: PolicyDocument, roleOf: Map<string, string[]>, q: Req): boolean {
  const roles = roleOf.get(q.identity) ?? [];
  const deviceRoles = q.device === null ? [] : roleOf.get(q.device) ?? [];
  for (const c of d.conduits) {
    if (!c.to.assets.includes(q.asset)) continue;
    if (!c.from.identities.includes(q.identity) && !c.from.roles.some((ro) => roles.includes(ro))
      && (q.device === null || (!c.from.identities.includes(q.device) && !c.from.roles.some((ro) => deviceRoles.includes(ro))))) continue;
    const a = c.allow!;
    if (!a.functions.includes(q.fn)) continue;
    if (a.units && !a.units.includes(q.unit)) continue;
    if (a.addresses && !a.addresses.some((x) => x.start <= q.address && q.address + q.count - 1 <= x.end)) continue;
    return true;
  }
  return false;
}

const CASBIN_MODEL = `
[request_definition]
r = sub, obj, fn, unit, addr
[policy_definition]
p = sub, obj, fn, unit, lo, hi
[role_definition]
g = _, _
[policy_effect]
e = some(where (p.eft == allow))
[matchers]
m = g(r.sub, p.sub) && r.obj == p.obj && r.fn == p.fn && (p.unit == "*" || r.unit == p.unit) && r.addr >= p.lo && r.addr <= p.hi
`;

async function casbinFor(d: PolicyDocument): Promise<{ enforce: (q: Req) => boolean; lines: number }> {
  const lines: string[] = [];
  for (const c of d.conduits) {
    const subs = [...c.from.identities, ...c.from.roles];
    for (const s of subs) for (const o of c.to.assets) for (const f of c.allow!.functions) for (const u of c.allow!.units ?? ['*']) {
      for (const r of c.allow!.addresses!) lines.push(`p, ${s}, ${o}, ${f}, ${u}, ${r.start}, ${r.end}`);
    }
  }
  for (const x of d.identities) for (const ro of x.roles) lines.push(`g, ${x.id}, ${ro}`);
  const e = await newEnforcer(newModelFromString(CASBIN_MODEL), new StringAdapter(lines.join('\n')));
  // Policy fields are strings: compare numbers as numbers through the request values' types.
  return {
    enforce: (q) => e.enforceSync(q.identity, q.asset, String(q.fn), String(q.unit), q.address)
      || (q.device !== null && e.enforceSync(q.device, q.asset, String(q.fn), String(q.unit), q.address)),
    lines: lines.length,
  };
}

async function main(): Promise<void> {
  const rows: BenchRow[] = [];
  const notes: string[] = [];
  const K = 1024;
  for (const n of [100, 1_000, 10_000]) {
    const d = generate(n, 12_345 + n);
    // compile time (median of 5)
    const ct: number[] = [];
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    const heap0 = process.memoryUsage().heapUsed;
    const t0 = process.hrtime.bigint();
    const cpu0 = process.cpuUsage();
    let index: PolicyIndex = compile(d);
    const cpu1 = process.cpuUsage(cpu0);
    const firstCompileMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const firstCompileCpuMs = (cpu1.user + cpu1.system) / 1000;
    gc?.();
    const indexMiB = (process.memoryUsage().heapUsed - heap0) / 2 ** 20;
    const cpuT: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t1 = process.hrtime.bigint(), c1 = process.cpuUsage();
      index = compile(d, { version: String(i) });
      const c2 = process.cpuUsage(c1);
      ct.push(Number(process.hrtime.bigint() - t1) / 1e6);
      cpuT.push((c2.user + c2.system) / 1000);
    }
    const qs = requests(d, K, n);
    const decider = new IndexDecider(index);
    const scopes: Scope[] = qs.map((q) => decider.connect({
      sourceIp: q.ip, asset: q.asset, port: 502, protocol: 'modbus',
      session: q.user ? { identity: q.user, edgeAuth: true } : undefined,
    }, NOW).scope);
    const fn = Int32Array.from(qs, (q) => q.fn), unit = Int32Array.from(qs, (q) => q.unit);
    const addr = Int32Array.from(qs, (q) => q.address), count = Int32Array.from(qs, (q) => q.count);
    const fullReqs: DecisionRequest[] = qs.map((q) => ({
      from: { ip: q.ip }, to: q.asset, modbus: { function: q.fn, unit: q.unit, address: q.address, count: q.count },
      ...(q.user ? { session: { identity: q.user, edgeAuth: true } } : {}),
    }));
    // sanity: hot path == full decide == linear scan (decision only; the linear scan ignores schedules)
    const roleOf = new Map(d.identities.map((x) => [x.id, x.roles]));
    let agree = 0, allows = 0;
    for (let i = 0; i < K; i++) {
      const a = decider.modbus(scopes[i], fn[i], unit[i], addr[i], count[i], NOW);
      const b = decide(index, fullReqs[i], NOW);
      if (a !== b) throw new Error(`hot path and decide() disagree on request ${i}`);
      if (a.decision === 'allow') allows++;
      if ((a.decision === 'allow') === linearScan(d, roleOf, qs[i]) || a.reason === 'outside-schedule') agree++;
    }
    if (agree !== K) throw new Error(`linear scan disagrees on ${K - agree} of ${K}`);

    // floor: Int32Array lookup of a precomputed integer key
    const table = new Int32Array(1 << 16).map((_, i) => i & 1);
    const keys = Int32Array.from(qs, (q, i) => (q.address * 31 + i) & 0xffff);
    let sink = 0;
    const B = 1000;
    const floor = sample(400, B, () => { for (let i = 0; i < B; i++) sink += table[keys[i & 1023]]; });
    const hot = sample(400, B, () => {
      for (let i = 0; i < B; i++) { const j = i & 1023; if (decider.modbus(scopes[j], fn[j], unit[j], addr[j], count[j], NOW).decision === 'allow') sink++; }
    });
    const FB = 200;
    const full = sample(60, FB, () => { for (let i = 0; i < FB; i++) if (decide(index, fullReqs[(i * 7) & 1023], NOW).decision === 'allow') sink++; });
    const LB = n >= 10_000 ? 20 : 200;
    const linear = sample(n >= 10_000 ? 30 : 60, LB, () => { for (let i = 0; i < LB; i++) if (linearScan(d, roleOf, qs[(i * 13) & 1023])) sink++; });
    const cas = await casbinFor(d);
    for (let i = 0; i < 64; i++) if (cas.enforce(qs[i]) !== (decider.modbus(scopes[i], fn[i], unit[i], addr[i], count[i], NOW).decision === 'allow') && decider.modbus(scopes[i], fn[i], unit[i], addr[i], count[i], NOW).reason !== 'outside-schedule') {
      throw new Error(`casbin disagrees on request ${i}`);
    }
    const CB = n >= 10_000 ? 2 : n >= 1_000 ? 10 : 50;
    const casbin = sample(n >= 10_000 ? 8 : 20, CB, () => { for (let i = 0; i < CB; i++) if (cas.enforce(qs[(i * 17) & 1023])) sink++; });
    if (sink === -1) console.log(sink);

    const label = n.toLocaleString('en-US');
    const cmp = percentiles(ct);
    rows.push(
      { what: `hot path (decider.modbus), ${label} conduits, median`, value: hot.p50, unit: 'ns', peer: 'Int32Array lookup', peerValue: floor.p50, better: 'lower', goal: n === 10_000 ? '≤ 200 ns' : undefined },
      { what: `hot path, ${label} conduits, p99`, value: hot.p99, unit: 'ns', peer: 'Int32Array lookup p99', peerValue: floor.p99, better: 'lower' },
      { what: `hot path, ${label} conduits, median`, value: hot.p50, unit: 'ns', peer: 'linear scan', peerValue: linear.p50, better: 'lower' },
      { what: `hot path, ${label} conduits, median`, value: hot.p50, unit: 'ns', peer: `casbin (${cas.lines.toLocaleString('en-US')} lines)`, peerValue: casbin.p50, better: 'lower' },
      { what: `full decide(index, request), ${label} conduits, median`, value: full.p50, unit: 'ns', peer: 'linear scan', peerValue: linear.p50, better: 'lower' },
      { what: `full decide(), ${label} conduits, p99`, value: full.p99, unit: 'ns', peer: `casbin p99`, peerValue: casbin.p99, better: 'lower' },
      { what: `compile, ${label} conduits, first call`, value: firstCompileMs, unit: 'ms', better: 'lower' },
      { what: `compile, ${label} conduits, median of next 5`, value: cmp.p50, unit: 'ms', better: 'lower', goal: n === 10_000 ? 'part of ≤ 250 ms activation' : undefined },
    );
    notes.push(`${label} conduits: ${d.assets.length} assets, ${d.identities.length} identities, ${cas.lines.toLocaleString('en-US')} casbin lines, ${index.counts.candidateLists} candidate lists, index ≈ ${gc ? `${indexMiB.toFixed(1)} MiB heap` : '? (run with --expose-gc)'}; ${allows}/${K} requests allowed; compile wall ${firstCompileMs.toFixed(1)} ms first, ${cmp.p50.toFixed(1)} ms median; CPU ${firstCompileCpuMs.toFixed(1)} ms first, ${percentiles(cpuT).p50.toFixed(1)} ms median (CPU time includes GC and JIT threads)`);
  }
  rows.push(...depthChecks(notes));
  notes.push(`load average at the end: ${loadavg().map((x) => x.toFixed(1)).join(' ')} on ${cpus().length} cores (other work shares the machine)`);
  notes.push('hot path = IndexDecider.modbus on a scope made by connect(); full decide() parses addresses and resolves the scope per request.');
  notes.push('linear scan and casbin check only identity/role, asset, function, unit and range (no schedule, port or zone logic); casbin uses enforceSync.');
  printTable('policy decision (ns per decision)', rows, notes);
}

/**
 * Issue 14: the sub-function and write-bound checks on the hot path. The 10,000-conduit site plus
 * one conduit that allows diagnostics/return-query-data and bounds 20 registers (uint16) and two
 * float32 pairs; the same requests through operation() (with the PDU) and through modbus() on a
 * conduit without those rules (the peer: what the request costs without the checks).
 */
function depthChecks(notes: string[]): BenchRow[] {
  const d = generate(10_000, 99);
  const base = d.conduits[0];
  const rules: Conduit = {
    ...base, id: 'depth', allow: {
      functions: [16], subFunctions: [{ fn: 8, sub: 0 }], units: [1], addresses: [{ start: 1000, end: 1099 }],
      values: [{ start: 1000, end: 1019, type: 'uint16', order: 'big', min: 0, max: 500 }, { start: 1020, end: 1023, type: 'float32', order: 'big', min: 0, max: 60.5 }],
    },
  };
  const plain: Conduit = { ...base, id: 'plain', allow: { functions: [8, 16], units: [1], addresses: [{ start: 1000, end: 1099 }] } };
  const site = (c: Conduit): IndexDecider => new IndexDecider(compile({ ...d, conduits: [c, ...d.conduits.slice(1)] }));
  const withRules = site(rules), without = site(plain);
  const asset = base.to.assets[0];
  const ip = d.identities.find((x) => x.id === base.from.identities[0])?.addresses[0] ?? '10.0.200.0';
  const scopeOf = (dec: IndexDecider): Scope => dec.connect({ sourceIp: ip, asset, port: 502, protocol: 'modbus' }, NOW).scope;
  const s1 = scopeOf(withRules), s0 = scopeOf(without);
  const f = Buffer.alloc(4); f.writeFloatBE(42.5);
  const regs = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, f.readUInt16BE(0), f.readUInt16BE(2), 0, 0];
  const write = Buffer.from([16, 0x03, 0xe8, 0, regs.length, 2 * regs.length, ...regs.flatMap((w) => [w >> 8, w & 0xff])]);
  const diag = Buffer.from([8, 0, 0, 0x12, 0x34]);
  const op = (pdu: Buffer, count: number): ModbusOperation => ({ fn: pdu[0], unit: 1, address: pdu[0] === 16 ? 1000 : 0, count, writeAddress: 0, writeCount: 0, pdu, pduOffset: 0, pduLength: pdu.length });
  const ops = [op(write, regs.length), op(diag, 0)];
  for (const o of ops) {
    const a = withRules.operation(s1, o, NOW), b = without.modbus(s0, o.fn, 1, o.address, o.count, NOW);
    if (a.decision !== 'allow' || b.decision !== 'allow') throw new Error(`depth bench: ${a.reason} / ${b.reason}`);
  }
  let sink = 0;
  const B = 1000;
  const checked = sample(400, B, () => { for (let i = 0; i < B; i++) if (withRules.operation(s1, ops[i & 1], NOW).decision === 'allow') sink++; });
  const bare = sample(400, B, () => { for (let i = 0; i < B; i++) { const o = ops[i & 1]; if (without.modbus(s0, o.fn, 1, o.address, o.count, NOW).decision === 'allow') sink++; } });
  if (sink === -1) console.log(sink);
  notes.push(`sub-function + value checks: half FC 16 writes of 24 registers (20 uint16 bounds, 2 float32 pairs), half FC 08/0000; added cost ${(checked.p50 - bare.p50).toFixed(0)} ns median.`);
  return [{ what: 'hot path with sub-function + value checks (operation()), 10,000 conduits, median', value: checked.p50, unit: 'ns', peer: 'same requests without the checks (modbus())', peerValue: bare.p50, better: 'lower', goal: 'checks add < 100 ns' }];
}

main().catch((e) => { console.error(e); process.exit(1); });
