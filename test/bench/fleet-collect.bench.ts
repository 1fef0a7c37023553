// Fleet collection at scale, with REAL peers: mosquitto, PostgreSQL (fsync on) and real
// `zonegate fleet audit collect` processes (the bundle). Records/s collected end to end (gateway
// uploaders → broker → collector: verify, store, COMMIT/fsync, ack → uploader) with 1, 2 and 4
// collectors in one shared-subscription group into PostgreSQL, beside one collector into the file
// store and beside a subscriber that only counts the same batches (the broker's limit), all in this
// run; CPU per record of the collectors (and of PostgreSQL). Then the console's audit search over
// ZG_FLEET_SEARCH_ROWS (default 10,000,000) records made with generate_series, each query beside the
// same query with index scans turned off (sequential scan).
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, readFileSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { AuditLog } from '../../runtime/audit/log';
import { encodeAuditBatch } from '../../protocol/audit/upload-batch';
import { deviceTopic } from '../../protocol/mqtt/topics';
import { startMosquitto, skipReason as mqSkip, type Mosquitto } from '../helpers/mosquitto';
import { startPostgres, skipReason as pgSkip, type Postgres } from '../helpers/postgres';
import { startAuditGateway } from '../helpers/audit-gateway';
import { observer, waitFor } from '../sync/helpers';
import { decisionEvent, makeKey, tempDir } from '../audit/helpers';
import { bundleCli } from '../e2e/helpers';
import { benchSearch } from './fleet-search';
import { printTable, type BenchRow } from './report';

const DEVICES = 8;
const PER_DEVICE = Number(process.env.ZG_FLEET_RECORDS ?? 4000);
const BATCH = 256;
const SITE = 'bench';
const TICK = 100; // clock ticks per second (/proc/PID/stat utime, stime)

/** CPU seconds (user + sys) of a process and its children listed in /proc (postgres backends). */
function cpuOf(pid: number, withChildren = false): number {
  const one = (p: number) => { try { const f = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1].split(' '); return (Number(f[11]) + Number(f[12])) / TICK; } catch { return 0; } };
  let s = one(pid);
  if (withChildren) {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try { for (const c of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) s += one(Number(c)); } catch { /* gone */ }
    }
  }
  return s;
}

async function prepareLogs(dir: string, key: ReturnType<typeof makeKey>): Promise<void> {
  for (let d = 0; d < DEVICES; d++) {
    const log = await AuditLog.open({ dir: join(dir, `gw-${d}`), device: `gw-${d}`, key, flood: false, flushDelayMs: 1, checkpointEvery: 1000 });
    for (let i = 0; i < PER_DEVICE; i++) log.record(decisionEvent(i, { decision: i % 5 ? 'allow' : 'deny', at: Date.now() }));
    await log.close();
  }
}

/** The same batches, QoS 1, to a subscriber that counts records: the broker's limit here. */
async function peerRate(mq: Mosquitto, dir: string, key: ReturnType<typeof makeKey>): Promise<number> {
  const batches: Buffer[] = [];
  for (let d = 0; d < DEVICES; d++) {
    const log = await AuditLog.open({ dir: join(dir, `gw-${d}`), device: `gw-${d}`, key, flood: false });
    const { records } = await log.readFrom(0, PER_DEVICE + 100);
    for (let i = 0; i < records.length; i += BATCH) batches.push(encodeAuditBatch({ device: `gw-${d}`, site: SITE, fromSeq: i, records: records.slice(i, i + BATCH).map((r) => r.payload) }));
    await log.close();
  }
  const sub = await observer(mq.url);
  let seen = 0;
  const topic = deviceTopic({ site: 'peer', device: 'x', kind: 'audit' });
  await sub.subscribeAsync(topic, { qos: 1 });
  sub.on('message', () => { seen++; });
  const pub = await observer(mq.url);
  const t0 = performance.now();
  await Promise.all(batches.map((b) => pub.publishAsync(topic, b, { qos: 1 })));
  await waitFor(() => seen >= batches.length, 'the counting subscriber', 300_000);
  const rate = (DEVICES * PER_DEVICE) / ((performance.now() - t0) / 1000);
  await pub.endAsync(); await sub.endAsync();
  return rate;
}

interface Run { rate: number; cpuPerRecordUs: number; pgCpuPerRecordUs: number | null; batches: string }

/** K collector processes (file store when db is null), gateways uploading from fresh copies of the logs. */
async function collectRun(o: { bundle: string; mq: Mosquitto; pg: Postgres; logs: string; work: string; k: number; db: string | null; key: ReturnType<typeof makeKey> }): Promise<Run> {
  const children: ChildProcess[] = [];
  let run: Run = { rate: 0, cpuPerRecordUs: 0, pgCpuPerRecordUs: null, batches: '' };
  const errs: string[] = [];
  const outs: string[] = [];
  for (let i = 0; i < o.k; i++) {
    // Group members without --client-id: clean sessions, as a group is meant to run. A member with a
    // fixed client id keeps a persistent session; once it is gone the broker still hands it its
    // share of the group's batches (queued for it), and the gateways get those through only by
    // resending after their ack timeout: reused ids across runs made earlier figures of this
    // bench stall (and one plain subscription left by the file-store run doubled every batch).
    const store = o.db ? ['--db', o.db, '--group', 'bench'] : ['--out', join(o.work, 'fleet'), '--client-id', `bench-${basename(o.work)}-${process.pid}`];
    const prof = process.env.ZG_BENCH_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.ZG_BENCH_PROF}/${basename(o.work)}`] : [];
    const c = spawn(process.execPath, [...prof, o.bundle, 'fleet', 'audit', 'collect', '--broker', o.mq.url, '--site', SITE, ...store, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    errs.push('');
    outs.push('');
    c.stdout!.on('data', (d) => { outs[i] += d; });
    c.stderr!.on('data', (d) => { errs[i] += d; });
    children.push(c);
  }
  try {
    await waitFor(() => errs.every((e) => e.includes('collecting audit logs')), 'the collectors', 60_000);
    cpSync(o.logs, join(o.work, 'logs'), { recursive: true });
    const gws = await Promise.all(Array.from({ length: DEVICES }, (_, d) => startAuditGateway({ broker: o.mq.url, site: SITE, device: `gw-${d}`, dir: join(o.work, 'logs'), key: o.key, maxRecords: BATCH, window: 4, ackTimeoutMs: 10_000 })));
    const cpu0 = children.reduce((s, c) => s + cpuOf(c.pid as number), 0);
    const pg0 = cpuOf(o.pg.pid, true);
    const t0 = performance.now();
    for (const g of gws) g.uploader.kick();
    await waitFor(() => gws.every((g) => g.uploader.status().ackedThrough === g.lastSeq()), 'every record acknowledged', 600_000).catch((e) => { console.error(errs.join('\n').slice(-3000), gws.map((g) => [g.lastSeq(), g.uploader.status()])); throw e; });
    const secs = (performance.now() - t0) / 1000;
    const n = gws.reduce((s, g) => s + g.lastSeq() + 1, 0);
    const cpu = children.reduce((s, c) => s + cpuOf(c.pid as number), 0) - cpu0;
    const pgCpu = cpuOf(o.pg.pid, true) - pg0;
    for (const g of gws) await g.close();
    run = { rate: n / secs, cpuPerRecordUs: (cpu / n) * 1e6, pgCpuPerRecordUs: o.db ? (pgCpu / n) * 1e6 : null, batches: '' };
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)))));
  }
  if (process.env.ZG_BENCH_VERBOSE) console.error(errs.join('\n'));
  // What the collectors did with the batches (their --json summaries at SIGTERM).
  const sum = { batches: 0, stored: 0, duplicates: 0, parked: 0, held: 0, conflicts: 0 };
  for (const out of outs) {
    try { const j = JSON.parse(out) as typeof sum; for (const k of Object.keys(sum) as (keyof typeof sum)[]) sum[k] += j[k] ?? 0; } catch { /* no summary */ }
  }
  run.batches = `${sum.batches} batches: ${sum.duplicates} duplicate, ${sum.parked} parked ahead of a hole, ${sum.held} held in memory, ${sum.conflicts} conflicts`;
  return run;
}

async function main(): Promise<void> {
  const skip = pgSkip() ?? mqSkip();
  if (skip) { console.log(`SKIP: ${skip}`); return; }
  const t = tempDir('zg-fleet-bench-');
  const [mq, pg, bundle] = await Promise.all([startMosquitto(), startPostgres({ durable: true, settings: { max_wal_size: '2GB', maintenance_work_mem: '512MB', shared_buffers: '256MB' } }), bundleCli()]);
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  try {
    const key = makeKey();
    await prepareLogs(join(t.dir, 'logs'), key);
    const peer = await peerRate(mq, join(t.dir, "logs"), key);
    const runs: [string, Run][] = [];
    const base = { bundle: bundle.file, mq, pg, logs: join(t.dir, 'logs'), key };
    runs.push(['1 collector, file store (fsync per batch)', await collectRun({ ...base, work: join(t.dir, 'file'), k: 1, db: null })]);
    // ZG_FLEET_K: the group sizes, in this order (default 1,2,4; a size may repeat).
    const ks = (process.env.ZG_FLEET_K ?? '1,2,4').split(',').map(Number);
    for (const [j, k] of ks.entries()) runs.push([`${k} collector(s), PostgreSQL (COMMIT per batch)`, await collectRun({ ...base, work: join(t.dir, `pg${j}`), k, db: await pg.createDatabase(`c${j}`) })]);
    const rows: BenchRow[] = runs.map(([what, r]) => ({ what: `${what}, end to end`, value: r.rate, unit: 'records/s', peer: 'counting subscriber, same batches', peerValue: peer, better: 'higher' }));
    const notes = [
      `${DEVICES} gateways × ${PER_DEVICE.toLocaleString('en-US')} records (real AuditLog + uploader, batches of ${BATCH}, window 4), mosquitto and PostgreSQL ${pg.version} (fsync on) on loopback; load average at start ${load} on 2 cores.`,
      ...runs.map(([what, r]) => `CPU per record, ${what}: collectors ${r.cpuPerRecordUs.toFixed(1)} µs${r.pgCpuPerRecordUs === null ? '' : `, PostgreSQL ${r.pgCpuPerRecordUs.toFixed(1)} µs`}; ${r.batches}`),
    ];
    printTable('fleet collection: records/s end to end, 1/2/4 collectors in a shared-subscription group', rows, notes);
    await benchSearch(pg, Number(process.env.ZG_FLEET_SEARCH_ROWS ?? 10_000_000), load);
  } finally {
    await mq.close(); await pg.close(); bundle.remove(); t.cleanup();
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
