/**
 * Modbus/TCP proxy benchmark: request rate and p50/p99 round-trip latency of 12-byte FC 3 reads
 * (one register) with 1 and 32 connections, each connection one request outstanding (closed
 * loop), for three paths measured in the same run:
 *   direct    load → Node Modbus server                       (the limit)
 *   HAProxy   load → haproxy (mode tcp, nbthread 1) → server  (inspects nothing)
 *   zonegate  load → createModbusProxy (real IndexDecider, 1,001 conduits; the audit sink builds
 *             every event and drops it, or with ZG_BENCH_AUDIT=ring keeps the last 4,096) → server
 * Server, load generator, zonegate and HAProxy each run in their own process. Also: resident
 * memory of the zonegate proxy and of HAProxy with 500 idle client connections, and the system
 * calls per request of each proxy (strace -c -f attached to it over one more 1-connection load,
 * after the timed rounds: ptrace slows the traced process, so no timing is taken then).
 * Run: node build/run-bench.mjs modbus-proxy   (ZG_BENCH_SECONDS overrides 3 s per case)
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createModbusProxy } from '../../drivers/modbus-tcp';
import type { AuditEvent } from '../../drivers/types';
import { compile } from '../../policy/compile';
import { IndexDecider } from '../../policy/decider';
import type { Conduit, PolicyDocument } from '../../policy/types';
import { printTable, type BenchRow } from './report';
import { spawnReady, startHaproxy } from './peers';
import { runBenchServer, runLoad, type LoadResult } from './modbus-server';

/** Seconds per case, measured as ROUNDS interleaved rounds. */
const SECONDS = Number(process.env.ZG_BENCH_SECONDS ?? 3);
const ROUNDS = 3;
const WARMUP_MS = 300;

function benchPolicy(n: number): PolicyDocument {
  const conduit = (id: string, from: string, to: string): Conduit => ({
    id, from: { identities: [from], roles: [], zones: [] }, to: { assets: [to], zones: [] }, protocol: 'modbus',
    allow: { functions: [3, 4], units: [1], addresses: [{ start: 0, end: 99 }] }, requires: { edgeAuth: false, grant: false }, mode: 'enforce',
  });
  const ids = Array.from({ length: n }, (_, i) => i);
  return {
    site: 'bench',
    zones: [{ id: 'control', networks: ['127.0.0.0/8', '10.1.0.0/16'], interfaces: [], securityLevel: 3 }],
    assets: [
      { id: 'plc-bench', zone: 'control', addresses: ['127.0.1.1'], kind: 'plc', services: [{ protocol: 'modbus', port: 502 }] },
      ...ids.map((i) => ({ id: `plc-${i}`, zone: 'control', addresses: [`10.1.${i >> 8}.${i & 255}`], kind: 'plc', services: [{ protocol: 'modbus' as const, port: 502 }] })),
    ],
    identities: [
      { id: 'bench-hmi', kind: 'device', zone: 'control', addresses: ['127.0.0.1'], roles: [] },
      ...ids.map((i) => ({ id: `hmi-${i}`, kind: 'device' as const, zone: 'control', addresses: [`10.1.${(i >> 8) + 100}.${i & 255}`], roles: [] })),
    ],
    conduits: [...ids.map((i) => conduit(`c-${i}`, `hmi-${i}`, `plc-${i}`)), conduit('bench', 'bench-hmi', 'plc-bench')],
    quarantine: [], settings: { onExpiry: 'keep-enforcing' }, tests: [],
  };
}

/** The zonegate proxy as it runs in production: its own process, real decider, an audit sink. */
async function runProxyRole(upstreamPort: number): Promise<void> {
  const decider = new IndexDecider(compile(benchPolicy(1000), { version: '1' }));
  const ring: (AuditEvent | undefined)[] = new Array(4096);
  let count = 0;
  const proxy = createModbusProxy({
    listen: { host: '127.0.0.1', port: 0 }, upstream: { host: '127.0.0.1', port: upstreamPort },
    asset: 'plc-bench', servicePort: 502, decider,
    // Default: every event is built and looked at, then dropped (the audit log encodes and frames
    // it at once). ZG_BENCH_AUDIT=ring keeps the last 4,096 events alive instead, which promotes
    // them to V8's old space and shows up in p99 as old-generation GC.
    audit: process.env.ZG_BENCH_AUDIT === 'ring'
      ? { record: (e) => { ring[count++ & 4095] = e; } }
      : { record: (e) => { count += e.at > 0 ? 1 : 0; } },
    limits: (id) => decider.conduit(id)?.rateLimit,
    now: Date.now, maxConnections: 2000, maxConnectionsPerSource: 2000,
  });
  await proxy.start(new AbortController().signal);
  console.log(`READY ${proxy.address().port}`);
  process.on('SIGTERM', () => { void proxy.stop().then(() => process.exit(0)); });
}

// ---- orchestration ------------------------------------------------------------------------

// Child processes run a private copy of this bundle: run-bench.mjs of a parallel run may delete
// .out/test/bench while we measure. The copy stays under the project so node_modules resolve.
let self = process.argv[1];
const children: ChildProcess[] = [];

async function load(port: number, connections: number, durationMs = (SECONDS * 1000) / ROUNDS): Promise<LoadResult> {
  const child = spawn(process.execPath, [self, '--role', 'load', String(port), String(connections), String(durationMs), String(WARMUP_MS)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  await new Promise((r) => child.on('exit', r));
  const m = /RESULT (.*)/.exec(out);
  if (!m) throw new Error(`load generator failed: ${out}`);
  return JSON.parse(m[1]) as LoadResult;
}

interface SyscallCount { perRequest: number; top: [string, number][]; requests: number }

/**
 * System calls of process `pid` (all its threads) per request served while `run` loads it:
 * `strace -c -f -p PID` attached before the load and interrupted after it. Null without strace.
 */
async function syscallsPerRequest(pid: number, dir: string, run: () => Promise<LoadResult>): Promise<SyscallCount | null> {
  if (spawnSync('strace', ['-V']).error) return null;
  const file = join(dir, `strace-${pid}.txt`);
  const st = spawn('strace', ['-c', '-f', '-p', String(pid), '-o', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(st);
  let err = '';
  await new Promise<void>((resolve, reject) => {
    st.stderr!.on('data', (d) => { err += d; if (/attached/.test(err)) resolve(); });
    st.on('exit', (code) => reject(new Error(`strace -p ${pid} exited ${code}: ${err}`)));
  });
  await new Promise((r) => setTimeout(r, 100)); // every thread attached
  const r = await run();
  await new Promise((r2) => setTimeout(r2, 100)); // the last closes
  const exited = new Promise((res) => st.once('exit', res));
  st.kill('SIGINT');
  await exited;
  // "% time  seconds  usecs/call  calls  errors  syscall" rows, then a "total" row.
  const calls = new Map<string, number>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const t = line.trim().split(/\s+/);
    if (t.length >= 5 && /^[\d.]+$/.test(t[0]) && /^\d+$/.test(t[3])) calls.set(t[t.length - 1], Number(t[3]));
  }
  const total = calls.get('total');
  if (total === undefined || r.total === 0) throw new Error(`strace -c printed no total: ${readFileSync(file, 'utf8')}`);
  calls.delete('total');
  const top = [...calls].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([name, n]): [string, number] => [name, n / r.total]);
  return { perRequest: total / r.total, top, requests: r.total };
}

/** User + system CPU time of a process in milliseconds (/proc/PID/stat, clock ticks of 10 ms); `sys`: system time alone. */
function cpuMs(pid: number, sys = false): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  return (((sys ? 0 : Number(fields[11])) + Number(fields[12])) * 1000) / 100;
}

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

async function rssWithIdle(port: number, pid: number, n: number): Promise<number> {
  const sockets: Socket[] = [];
  for (let i = 0; i < n; i++) {
    sockets.push(await new Promise<Socket>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port }, () => resolve(s));
      s.on('error', reject);
    }));
  }
  await new Promise((r) => setTimeout(r, 500));
  const rss = rssKiB(pid);
  for (const s of sockets) s.destroy();
  await new Promise((r) => setTimeout(r, 200));
  return rss / 1024;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'zg-modbus-bench-'));
  const copy = join(dirname(dirname(dirname(self))), `modbus-proxy-bench-${process.pid}.js`);
  copyFileSync(self, copy);
  self = copy;
  try {
    const server = await spawnReady(children, process.execPath, [self, '--role', 'server']);
    const zonegate = await spawnReady(children, process.execPath, [self, '--role', 'proxy', String(server.port)]);
    const haproxy = await startHaproxy(children, server.port, dir, 'plc');
    // Interleaved rounds (direct, HAProxy, zonegate, direct, ...) so that the noise of a shared
    // machine falls on all three alike; rate = all requests / all time, p50/p99 = median of rounds.
    const results: Record<string, Record<number, LoadResult>> = { direct: {}, haproxy: {}, zonegate: {} };
    // CPU time the proxy process spent (user + system, µs) during the measured loads: robust to noise.
    const cpu: Record<string, Record<number, number>> = { haproxy: {}, zonegate: {} };
    const sys: Record<string, Record<number, number>> = { haproxy: {}, zonegate: {} }; // the kernel's share
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    for (const conns of [1, 32]) {
      const rounds: Record<string, LoadResult[]> = { direct: [], haproxy: [], zonegate: [] };
      for (let round = 0; round < ROUNDS; round++) {
        for (const [name, port, pid] of [['direct', server.port, undefined], ['haproxy', haproxy?.port, haproxy?.child.pid], ['zonegate', zonegate.port, zonegate.child.pid]] as const) {
          if (port === undefined) continue;
          const cpu0 = pid === undefined ? 0 : cpuMs(pid);
          const sys0 = pid === undefined ? 0 : cpuMs(pid, true);
          const r = await load(port, conns);
          if (pid !== undefined) cpu[name][conns] = (cpu[name][conns] ?? 0) + (cpuMs(pid) - cpu0) * 1000;
          if (pid !== undefined) sys[name][conns] = (sys[name][conns] ?? 0) + (cpuMs(pid, true) - sys0) * 1000;
          rounds[name].push(r);
          console.log(`${name.padEnd(8)} ${String(conns).padStart(2)} conn, round ${round + 1}: ${Math.round(r.rate)} req/s, p50 ${r.p50.toFixed(0)} µs, p99 ${r.p99.toFixed(0)} µs${r.errors ? `, ${r.errors} errors` : ''}`);
        }
      }
      for (const [name, rs] of Object.entries(rounds)) {
        if (rs.length === 0) continue;
        const requests = rs.reduce((a, r) => a + r.requests, 0);
        const seconds = rs.reduce((a, r) => a + r.seconds, 0);
        results[name][conns] = {
          connections: conns, requests, seconds, rate: requests / seconds,
          p50: median(rs.map((r) => r.p50)), p99: median(rs.map((r) => r.p99)), errors: rs.reduce((a, r) => a + r.errors, 0), total: rs.reduce((a, r) => a + r.total, 0),
        };
      }
    }
    // Memory: a fresh proxy process, as a gateway sits between polls (the loaded one keeps heap it grew).
    const fresh = await spawnReady(children, process.execPath, [self, '--role', 'proxy', String(server.port)]);
    await new Promise((r) => setTimeout(r, 500));
    const zBase = rssKiB(fresh.child.pid!) / 1024;
    const zRss = await rssWithIdle(fresh.port, fresh.child.pid!, 500);
    const zLoaded = await rssWithIdle(zonegate.port, zonegate.child.pid!, 500);
    const hRss = haproxy ? await rssWithIdle(haproxy.port, haproxy.child.pid!, 500) : undefined;
    // System calls per request at one connection, each proxy traced alone over the same load.
    const zSys = await syscallsPerRequest(zonegate.child.pid!, dir, () => load(zonegate.port, 1));
    const hSys = haproxy && zSys ? await syscallsPerRequest(haproxy.child.pid!, dir, () => load(haproxy.port, 1)) : null;

    const rows: BenchRow[] = [];
    for (const conns of [1, 32]) {
      const d = results.direct[conns], h = results.haproxy[conns], z = results.zonegate[conns];
      rows.push({ what: `req/s, ${conns} conn (direct = limit: ${Math.round(d.rate).toLocaleString('en-US')})`, value: z.rate, unit: 'req/s', peer: h ? 'HAProxy' : undefined, peerValue: h?.rate, better: 'higher', goal: '≥ 1.0× HAProxy' });
      rows.push({ what: `p50 latency, ${conns} conn (direct ${d.p50.toFixed(0)} µs)`, value: z.p50, unit: 'µs', peer: h ? 'HAProxy' : undefined, peerValue: h?.p50, better: 'lower' });
      rows.push({ what: `p99 latency, ${conns} conn (direct ${d.p99.toFixed(0)} µs)`, value: z.p99, unit: 'µs', peer: h ? 'HAProxy' : undefined, peerValue: h?.p99, better: 'lower' });
      if (h) {
        // The load generator counts requests only inside its measuring window; the CPU counter also
        // covers the warm-up, so divide by every request the proxy served (requests / window share).
        const served = (r: LoadResult): number => r.requests * (1 + (WARMUP_MS * ROUNDS) / 1000 / r.seconds);
        rows.push({ what: `proxy CPU per request (user+sys), ${conns} conn`, value: cpu.zonegate[conns] / served(z), unit: 'µs', peer: 'HAProxy', peerValue: cpu.haproxy[conns] / served(h), better: 'lower', goal: conns === 1 ? '≤ 1.5× HAProxy' : undefined });
        rows.push({ what: `  of which in the kernel (sys), ${conns} conn`, value: sys.zonegate[conns] / served(z), unit: 'µs', peer: 'HAProxy', peerValue: sys.haproxy[conns] / served(h), better: 'lower' });
      }
      if (h) rows.push({ what: `added p99 over direct, ${conns} conn`, value: Math.max(1, z.p99 - d.p99), unit: 'µs', peer: 'HAProxy', peerValue: Math.max(1, h.p99 - d.p99), better: 'lower', goal: '≤ 1.2× HAProxy' });
    }
    if (zSys) rows.push({ what: 'system calls per request (strace -c -f over the same load), 1 conn', value: zSys.perRequest, unit: 'calls', peer: hSys ? 'HAProxy' : undefined, peerValue: hSys?.perRequest, better: 'lower' });
    rows.push({ what: `resident memory, 500 idle connections (fresh proxy; ${zBase.toFixed(1)} MiB with none)`, value: zRss, unit: 'MiB', peer: hRss !== undefined ? 'HAProxy' : undefined, peerValue: hRss, better: 'lower', goal: '< 80 MiB (whole gateway)' });
    rows.push({ what: 'resident memory, 500 idle connections (after the load runs)', value: zLoaded, unit: 'MiB', peer: hRss !== undefined ? 'HAProxy' : undefined, peerValue: hRss, better: 'lower' });
    printTable('Modbus/TCP proxy: FC 3 one-register round trips, closed loop', rows, [
      `${SECONDS} s per case in ${ROUNDS} interleaved rounds (each after ${WARMUP_MS} ms warm-up; rate over all rounds, p50/p99 the median round); server, load generator, proxy and HAProxy each in their own process on a shared 2-core machine (noisy).`,
      `zonegate: createModbusProxy with the real IndexDecider (1,001 conduits), every request parsed, decided and audited; audit sink: ${process.env.ZG_BENCH_AUDIT === 'ring' ? 'builds each AuditEvent and keeps the last 4,096 alive in a ring' : 'builds each AuditEvent, reads it and drops it'} (no serialisation, no disk).`,
      'HAProxy 2.6, mode tcp, nbthread 1, no logging; it opens an upstream connection per client at once, zonegate on the first allowed request (idle connections have none).',
      haproxy ? '' : 'HAProxy not installed: its column is empty.',
      ...[['zonegate', zSys], ['HAProxy', hSys]].filter((x): x is [string, SyscallCount] => x[1] !== null).map(([name, c]) =>
        `${name} system calls per request by kind (${c.requests.toLocaleString('en-US')} requests traced): ${c.top.map(([k, n]) => `${k} ${n.toFixed(2)}`).join(', ')}.`),
      zSys ? '' : 'strace not installed (build/setup-deps.sh installs it): no system-call row.',
    ].filter(Boolean));
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
    rmSync(copy, { force: true });
  }
}

async function role(): Promise<void> {
  const [, , , name, ...args] = process.argv;
  if (name === 'server') return runBenchServer();
  if (name === 'proxy') return runProxyRole(Number(args[0]));
  if (name === 'load') {
    const r = await runLoad({ port: Number(args[0]), connections: Number(args[1]), durationMs: Number(args[2]), warmupMs: Number(args[3]) });
    console.log(`RESULT ${JSON.stringify(r)}`);
    process.exit(0);
  }
  throw new Error(`unknown role ${name}`);
}

if (process.argv[2] === '--role') {
  role().catch((err) => { console.error(err); process.exit(1); });
} else {
  main().then(() => process.exit(0), (err) => { console.error(err); process.exit(1); });
}
