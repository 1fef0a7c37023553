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
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { compile } from '../../policy/compile';
import type { PolicyDocument } from '../../policy/types';
import { emitPolicyYaml } from '../../policy/learn/emit';
import { ReplayEngine } from '../../policy/learn/replay';
import { streamAuditRecords } from '../../protocol/audit/query';
import { forEachAuditRecord, replayAuditFolders } from '../../cli/replay-audit';
import { runCli } from '../../cli/framework';
import { commands } from '../../cli/commands';
import { loadPolicyFile } from '../../runtime/policy-file';
import type { AuditRecord } from '../../protocol/audit/record';
import { printTable, type BenchRow } from './report';
import { generateSite, recordSite, siteRequests } from '../helpers/learn-site';

const N = Number(process.env.ZG_BENCH_RECORDS ?? 1_000_000);
const CONDUITS = 10_000;
const NAIVE_SAMPLE = 6;

const generate = (seed: number, nConduits = CONDUITS): PolicyDocument => generateSite(seed, nConduits);
const requests = siteRequests;
const record = (dir: string, doc: PolicyDocument): Promise<void> => recordSite(dir, doc, N);

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
    // What the command prints goes to a file, as the CLI's goes to its stdout (its summary carries
    // the diff of every added conduit: held here as strings, it would count in the command's RSS).
    const printed = `${args[2]}.out`;
    const fd = openSync(printed, 'w');
    const code = await runCli(['policy', 'learn', '--audit', args[0], '--from', args[1], '--out', args[2], '--json'], commands,
      { out: (x) => writeSync(fd, `${x}\n`), err: (x) => writeSync(fd, `${x}\n`) }, new AbortController().signal);
    closeSync(fd);
    // Measured before this harness reads and parses the printed summary.
    const secs = now() - t, cpu = cpuSecs() - c, rss = rssMiB();
    const text = readFileSync(printed, 'utf8');
    if (code !== 0) throw new Error(`learn failed: ${text.slice(0, 2000)}`);
    const j = JSON.parse(text) as { learnt: number; conduits: number };
    return { secs, cpu, rss, learnt: j.learnt, conduits: j.conduits };
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
    // ZG_BENCH_LEARN_ONLY=1: the learn rows only (no replay, no naive peer), for work on learning.
    const learnOnly = process.env.ZG_BENCH_LEARN_ONLY === '1';
    const replay = learnOnly ? undefined : runChild('replay', [dir, newFile]);
    const learn = runChild('learn', [dir, oldFile, join(root, 'learnt.yaml')]);
    const first = runChild('learn', [dir, inventoryFile, join(root, 'first.yaml')]);
    const plantLearn = runChild('learn', [plantDir, plantInventory, join(root, 'plant.yaml')]);

    // The naive peer: one CLI process per request.
    const sample = learnOnly ? [] : [...requests(old, NAIVE_SAMPLE, 7)];
    t = now();
    for (const q of sample) {
      const req = JSON.stringify({ from: { ip: q.src }, to: q.asset, modbus: { function: q.fn, unit: 1, address: q.address, count: q.count } });
      const r = spawnSync(process.execPath, [process.argv[1], 'cli', 'policy', 'explain', newFile, '--request', req, '--json'], { encoding: 'utf8' });
      if (r.status !== 0 && r.status !== 1) throw new Error(`explain failed: ${r.stderr}`);
    }
    const naivePer = (now() - t) / Math.max(1, sample.length);

    const replayRows: BenchRow[] = replay === undefined ? [] : [
      { what: `replay of ${N.toLocaleString('en-US')} recorded decisions, ${CONDUITS.toLocaleString('en-US')} conduits (wall)`, value: replay.secs, unit: 's', peer: `CLI one request at a time (${NAIVE_SAMPLE} timed, ×N)`, peerValue: naivePer * N, better: 'lower', goal: '< 10 s' },
      { what: 'replay: reading and decoding the log alone', value: read.secs, unit: 's', goal: '(the floor)' },
      { what: 'replay: re-deciding one record held in memory (CPU)', value: replay.decideNs, unit: 'ns', peer: 'CLI explain, one process per request', peerValue: naivePer * 1e9, better: 'lower' },
      { what: 'replay: peak RSS', value: replay.rss, unit: 'MiB', peer: 'reading the log alone', peerValue: read.rss, better: 'lower' },
      { what: 'replay: CPU (user + system)', value: replay.cpu, unit: 's', peer: 'reading the log alone', peerValue: read.cpu, better: 'lower' },
    ];
    const rows: BenchRow[] = [
      ...replayRows,
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
      `log: ${N.toLocaleString('en-US')} decisions in ${du} MiB of 4 MiB segments (${writeSecs > 0.1 ? `written in ${writeSecs.toFixed(1)} s` : 'reused'})${replay ? `; replay re-decided ${replay.replayed.toLocaleString('en-US')}, ${replay.breaks.toLocaleString('en-US')} would break; policy load+compile ${replay.compileSecs.toFixed(2)} s of the replay` : ''}`,
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
