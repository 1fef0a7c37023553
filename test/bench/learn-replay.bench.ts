/**
 * Replay and learning over a recorded log (issue 18): N recorded decisions (default 1,000,000;
 * ZG_BENCH_RECORDS) written through the real audit log (hash chain, frames, 4 MiB segments)
 * under a 10,000-conduit Modbus policy, then, each in its own process so its peak RSS is its own:
 *  - reading and decoding the log alone (frames, CBOR), the floor both tools stand on;
 *  - `policy replay NEW` (10% of the conduits narrowed): wall time, peak RSS, and the decision
 *    part alone (records held in memory, re-decided by the ReplayEngine);
 *  - `policy learn --from OLD`: wall time and peak RSS (goal: < 30 s, < 200 MiB);
 *  - the naive peer: re-deciding through the CLI one request at a time (`policy explain NEW
 *    --request JSON`, one process per request, as a script would), timed over a sample and
 *    extrapolated to N.
 * Run: node build/run-bench.mjs learn-replay
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { compile } from '../../policy/compile';
import { ScopeState, decideModbus, resolveScope } from '../../policy/decide';
import type { Conduit, PolicyDocument } from '../../policy/types';
import { emitPolicyYaml } from '../../policy/learn/emit';
import { ReplayEngine } from '../../policy/learn/replay';
import { AuditLog } from '../../runtime/audit/log';
import { rawFromPublicKey } from '../../protocol/audit/checkpoint';
import { streamAuditRecords } from '../../protocol/audit/query';
import { forEachAuditRecord, replayAuditFolders } from '../../cli/replay-audit';
import { runCli } from '../../cli/framework';
import { commands } from '../../cli/commands';
import { loadPolicyFile } from '../../runtime/policy-file';
import type { AuditRecord } from '../../protocol/audit/record';
import { printTable, type BenchRow } from './report';
import { mulberry32 } from '../helpers/prng';

const N = Number(process.env.ZG_BENCH_RECORDS ?? 1_000_000);
const CONDUITS = 10_000;
const NAIVE_SAMPLE = 6;
const FUNCTIONS = [1, 2, 3, 4, 5, 6, 15, 16];
const T0 = Date.UTC(2026, 10, 23, 6, 0);

function generate(seed: number, nConduits = CONDUITS): PolicyDocument {
  const r = mulberry32(seed);
  const int = (lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));
  const nZones = 20, nAssets = Math.max(10, nConduits / 10), nDevices = Math.max(5, nConduits / 20);
  const zones = Array.from({ length: nZones }, (_, i) => ({ id: `zone-${i}`, networks: [`10.${i}.0.0/16`], interfaces: [], securityLevel: 2 }));
  const assets = Array.from({ length: nAssets }, (_, i) => ({
    id: `plc-${i}`, zone: `zone-${i % nZones}`, addresses: [`10.${i % nZones}.${1 + (i >> 8)}.${i & 255}`], kind: 'plc',
    services: [{ protocol: 'modbus' as const, port: 502 }],
  }));
  const identities = Array.from({ length: nDevices }, (_, i) => ({ id: `hmi-${i}`, kind: 'device' as const, zone: `zone-${i % nZones}`, addresses: [`10.${i % nZones}.200.${i & 255}`], roles: [] as string[] }));
  const conduits: Conduit[] = [];
  for (let c = 0; c < nConduits; c++) {
    const fns = [...new Set(Array.from({ length: int(1, 3) }, () => FUNCTIONS[int(0, FUNCTIONS.length - 1)]))].sort((a, b) => a - b);
    const addresses = [];
    let at = int(0, 500);
    for (let k = int(1, 4); k > 0; k--) { const end = at + int(5, 200); addresses.push({ start: at, end }); at = end + int(2, 500); }
    conduits.push({
      id: `conduit-${c}`, from: { identities: [`hmi-${int(0, nDevices - 1)}`], roles: [], zones: [] }, to: { assets: [`plc-${int(0, nAssets - 1)}`], zones: [] },
      protocol: 'modbus', allow: { functions: fns, units: [1], addresses }, requires: { edgeAuth: false, grant: false }, mode: 'enforce',
    });
  }
  return { site: 'bench', zones, assets, identities, conduits, quarantine: [], settings: { onExpiry: 'keep-enforcing' }, tests: [] };
}

/** The new policy: every tenth conduit loses the top half of its last address range. */
function narrowed(doc: PolicyDocument): PolicyDocument {
  return { ...doc, conduits: doc.conduits.map((c, i) => {
    if (i % 10 !== 0 || !c.allow?.addresses) return c;
    const rs = c.allow.addresses.slice();
    const last = rs[rs.length - 1];
    rs[rs.length - 1] = { start: last.start, end: last.start + Math.floor((last.end - last.start) / 2) };
    return { ...c, allow: { ...c.allow, addresses: rs } };
  }) };
}

interface Req { src: string; asset: string; fn: number; address: number; count: number }

function* requests(doc: PolicyDocument, n: number, seed: number): Generator<Req> {
  const r = mulberry32(seed);
  const int = (lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));
  const ipOf = new Map(doc.identities.map((x) => [x.id, x.addresses[0]]));
  for (let i = 0; i < n; i++) {
    const c = doc.conduits[int(0, doc.conduits.length - 1)];
    const range = c.allow!.addresses![int(0, c.allow!.addresses!.length - 1)];
    const miss = r();
    const fn = miss < 0.05 ? 6 : c.allow!.functions[int(0, c.allow!.functions.length - 1)];
    const count = fn === 5 || fn === 6 ? 1 : int(1, 10);
    const address = miss > 0.9 ? range.end + int(1, 50) : int(range.start, Math.max(range.start, range.end - count + 1));
    yield { src: ipOf.get(c.from.identities[0])!, asset: c.to.assets[0], fn, address, count };
  }
}

const tick = (): Promise<void> => new Promise((res) => setImmediate(res));

/** Writes N decisions (made by OLD) through the real audit log. */
async function record(dir: string, doc: PolicyDocument): Promise<void> {
  const index = compile(doc);
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const log = await AuditLog.open({ dir, device: 'bench', key: { privateKey, publicRaw: rawFromPublicKey(publicKey) }, flood: false, queueCapacity: 65_536, segmentBytes: 4 << 20, maxBytes: 4 * 1024 ** 3 });
  const scopes = new Map<string, ScopeState>();
  let i = 0;
  for (const q of requests(doc, N, 7)) {
    const key = `${q.src}|${q.asset}`;
    let s = scopes.get(key);
    if (!s) { s = resolveScope(new ScopeState(), index, { ip: q.src, fromIdentity: undefined, session: undefined }, { asset: q.asset, ip: undefined, port: 502, protocol: 'modbus', hasOp: false }); scopes.set(key, s); }
    const at = T0 + i * 500;
    const d = decideModbus(s, q.fn, 1, q.address, q.count, at);
    log.record({ kind: 'decision', at, source: 'modbus-tcp', decision: { ...d }, policyVersion: '1', src: q.src, srcPort: 40000 + (i % 20000), asset: q.asset, port: 502, protocol: 'modbus', modbus: { function: q.fn, unit: 1, address: q.address, count: q.count } });
    if ((++i & 1023) === 0) { await tick(); if (log.status().queueDepth > 32_768) await log.flush(); }
  }
  await log.close();
}

// ---- child modes: each measurement in its own process --------------------------------------

const rssMiB = (): number => process.resourceUsage().maxRSS / 1024;
const now = (): number => Number(process.hrtime.bigint()) / 1e9;
const cpuSecs = (): number => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };

async function child(mode: string, args: string[]): Promise<Record<string, number>> {
  if (mode === 'prepare') { mkdirSync(args[0], { recursive: true }); return { secs: (await prepare(args[0])).writeSecs }; }
  if (mode === 'read') {
    const t = now(), c = cpuSecs();
    let n = 0;
    await forEachAuditRecord(args[0], () => { n++; });
    return { secs: now() - t, cpu: cpuSecs() - c, records: n, rss: rssMiB() };
  }
  if (mode === 'replay') {
    const t = now(), c = cpuSecs();
    const { doc } = await loadPolicyFile(args[1]);
    const index = compile(doc);
    const tc = now() - t;
    const { report } = await replayAuditFolders(index, [args[0]]);
    const secs = now() - t, cpu = cpuSecs() - c;
    const rss = rssMiB();
    // The decision part alone: the first 200,000 records held in memory, re-decided by a fresh engine.
    const held: AuditRecord[] = [];
    for await (const batch of streamAuditRecords(args[0])) { for (const x of batch) held.push(x); if (held.length >= 200_000) break; }
    const e = new ReplayEngine(index);
    const c2 = cpuSecs();
    for (const x of held) e.add(x);
    const decideNs = ((cpuSecs() - c2) * 1e9) / held.length;
    return { secs, cpu, compileSecs: tc, rss, breaks: report.breaks, replayed: report.replayed, decideNs };
  }
  if (mode === 'learn') {
    const t = now(), c = cpuSecs();
    const out: string[] = [];
    const code = await runCli(['policy', 'learn', '--audit', args[0], '--from', args[1], '--out', args[2], '--json'], commands,
      { out: (x) => out.push(x), err: (x) => out.push(x) }, new AbortController().signal);
    if (code !== 0) throw new Error(`learn failed: ${out.join('\n').slice(0, 2000)}`);
    const j = JSON.parse(out.join('\n')) as { learnt: number; conduits: number };
    return { secs: now() - t, cpu: cpuSecs() - c, rss: rssMiB(), learnt: j.learnt, conduits: j.conduits };
  }
  throw new Error(`unknown mode ${mode}`);
}

/** The V8 flags the installed `zonegate` runs the CLI with (build/node-flags, as make install and the .deb do). */
const CLI_FLAGS = readFileSync('build/node-flags', 'utf8').trim().split(/\s+/);

function runChild(mode: string, args: string[]): Record<string, number> {
  const r = spawnSync(process.execPath, [...process.execArgv, ...CLI_FLAGS, process.argv[1], mode, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${mode} child failed (${r.status ?? r.signal}): ${r.stderr.slice(-2000)}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() as string) as Record<string, number>;
}

/** The policies and the log in `root` (a log already there is reused). */
/** A plant-sized site for the second learn: 200 conduits' worth of sources and assets. */
const PLANT_CONDUITS = 200;

async function prepare(root: string): Promise<{ old: PolicyDocument; oldFile: string; newFile: string; inventoryFile: string; dir: string; plantInventory: string; plantDir: string; writeSecs: number }> {
  const old = generate(42);
  const oldFile = join(root, 'old.yaml'), newFile = join(root, 'new.yaml'), inventoryFile = join(root, 'inventory.yaml'), dir = join(root, 'audit');
  writeFileSync(inventoryFile, emitPolicyYaml({ ...old, conduits: [] }, { header: ['bench: zones, assets, identities'], conduit: new Map() }));
  writeFileSync(oldFile, emitPolicyYaml(old, { header: ['bench: old'], conduit: new Map() }));
  writeFileSync(newFile, emitPolicyYaml(narrowed(old), { header: ['bench: new'], conduit: new Map() }));
  const plant = generate(43, PLANT_CONDUITS);
  const plantInventory = join(root, 'plant-inventory.yaml'), plantDir = join(root, 'audit-plant');
  writeFileSync(plantInventory, emitPolicyYaml({ ...plant, conduits: [] }, { header: ['bench: a plant'], conduit: new Map() }));
  const t = now();
  if (!existsSync(dir)) await record(dir, old);
  const writeSecs = now() - t;
  if (!existsSync(plantDir)) await record(plantDir, plant);
  return { old, oldFile, newFile, inventoryFile, dir, plantInventory, plantDir, writeSecs };
}

async function main(): Promise<void> {
  // ZG_BENCH_DIR: keep the generated log there and reuse it on the next run (profiling).
  const keep = process.env.ZG_BENCH_DIR;
  const root = keep ?? mkdtempSync(join(tmpdir(), 'zg-learn-bench-'));
  if (keep) mkdirSync(keep, { recursive: true });
  try {
    const { old, oldFile, newFile, inventoryFile, dir, plantInventory, plantDir, writeSecs } = await prepare(root);
    let t: number;
    const du = spawnSync('du', ['-sm', dir], { encoding: 'utf8' }).stdout.split('\t')[0];

    const read = runChild('read', [dir]);
    const replay = runChild('replay', [dir, newFile]);
    const learn = runChild('learn', [dir, oldFile, join(root, 'learnt.yaml')]);
    const first = runChild('learn', [dir, inventoryFile, join(root, 'first.yaml')]);
    const plantLearn = runChild('learn', [plantDir, plantInventory, join(root, 'plant.yaml')]);

    // The naive peer: one CLI process per request.
    const sample = [...requests(old, NAIVE_SAMPLE, 7)];
    t = now();
    for (const q of sample) {
      const req = JSON.stringify({ from: { ip: q.src }, to: q.asset, modbus: { function: q.fn, unit: 1, address: q.address, count: q.count } });
      const r = spawnSync(process.execPath, [process.argv[1], 'cli', 'policy', 'explain', newFile, '--request', req, '--json'], { encoding: 'utf8' });
      if (r.status !== 0 && r.status !== 1) throw new Error(`explain failed: ${r.stderr}`);
    }
    const naivePer = (now() - t) / sample.length;

    const rows: BenchRow[] = [
      { what: `replay of ${N.toLocaleString('en-US')} recorded decisions, ${CONDUITS.toLocaleString('en-US')} conduits (wall)`, value: replay.secs, unit: 's', peer: `CLI one request at a time (${NAIVE_SAMPLE} timed, ×N)`, peerValue: naivePer * N, better: 'lower', goal: '< 10 s' },
      { what: 'replay: reading and decoding the log alone', value: read.secs, unit: 's', goal: '(the floor)' },
      { what: 'replay: re-deciding one record held in memory (CPU)', value: replay.decideNs, unit: 'ns', peer: 'CLI explain, one process per request', peerValue: naivePer * 1e9, better: 'lower' },
      { what: 'replay: peak RSS', value: replay.rss, unit: 'MiB', peer: 'reading the log alone', peerValue: read.rss, better: 'lower' },
      { what: 'replay: CPU (user + system)', value: replay.cpu, unit: 's', peer: 'reading the log alone', peerValue: read.cpu, better: 'lower' },
      { what: 'learn a first policy (--from the inventory) from the same log (wall)', value: first.secs, unit: 's', peer: 'reading the log alone', peerValue: read.secs, better: 'lower', goal: '< 30 s' },
      { what: 'learn a first policy: CPU', value: first.cpu, unit: 's', peer: 'reading the log alone', peerValue: read.cpu, better: 'lower' },
      { what: 'learn a first policy: peak RSS', value: first.rss, unit: 'MiB', peer: 'reading the log alone', peerValue: read.rss, better: 'lower', goal: '< 200 MiB' },
      { what: `learn a first policy for a plant (${PLANT_CONDUITS} conduits' sources and assets) from ${N.toLocaleString('en-US')} decisions (wall)`, value: plantLearn.secs, unit: 's', peer: 'reading the log alone', peerValue: read.secs, better: 'lower', goal: '< 30 s' },
      { what: 'learn a first policy for a plant: peak RSS', value: plantLearn.rss, unit: 'MiB', peer: 'reading the log alone', peerValue: read.rss, better: 'lower', goal: '< 200 MiB' },
      { what: `learn --from the 10,000-conduit policy (narrowing; wall)`, value: learn.secs, unit: 's', peer: 'reading the log alone', peerValue: read.secs, better: 'lower', goal: '< 30 s' },
      { what: 'learn --from: CPU', value: learn.cpu, unit: 's', peer: 'reading the log alone', peerValue: read.cpu, better: 'lower' },
      { what: 'learn --from: peak RSS', value: learn.rss, unit: 'MiB', peer: 'reading the log alone', peerValue: read.rss, better: 'lower', goal: '< 200 MiB' },
    ];
    printTable('Replay and learn over a recorded log (issue 18)', rows, [
      `log: ${N.toLocaleString('en-US')} decisions in ${du} MiB of 4 MiB segments (${writeSecs > 0.1 ? `written in ${writeSecs.toFixed(1)} s` : 'reused'}); replay re-decided ${replay.replayed.toLocaleString('en-US')}, ${replay.breaks.toLocaleString('en-US')} would break; policy load+compile ${replay.compileSecs.toFixed(2)} s of the replay`,
      `the plant's log: ${plantLearn.learnt.toLocaleString('en-US')} requests learnt into ${plantLearn.conduits.toLocaleString('en-US')} conduits`,
      `learn read ${learn.learnt.toLocaleString('en-US')} requests: ${first.conduits.toLocaleString('en-US')} conduits from the inventory, ${learn.conduits.toLocaleString('en-US')} (narrowed and added) from the policy`,
      `each measurement in its own process, with the installed CLI's node flags (${CLI_FLAGS.join(' ')}); ${cpus().length} cores, load average ${loadavg()[0].toFixed(1)} at the end`,
    ]);
  } finally {
    if (!keep) rmSync(root, { recursive: true, force: true });
  }
}

const mode = process.argv[2];
if (mode === 'cli') {
  const out: string[] = [];
  void runCli(process.argv.slice(3), commands, { out: (x) => out.push(x), err: (x) => out.push(x) }, new AbortController().signal)
    .then((code) => { process.stdout.write(`${out.join('\n')}\n`); process.exitCode = code; });
} else if (mode !== undefined) {
  child(mode, process.argv.slice(3)).then((r) => { process.stdout.write(`${JSON.stringify(r)}\n`); }, (e: Error) => { console.error(e.stack); process.exitCode = 1; });
} else {
  main().catch((e: Error) => { console.error(e.stack); process.exitCode = 1; });
}
