/**
 * What the protocol proxy benches (DNP3, IEC 104) share: closed-loop rounds over three paths in
 * the same run (direct to the station, through HAProxy, through zonegate) at 1 and 32
 * connections, each load generator a child process of the bench file itself (`--role load PORT
 * CONNECTIONS MS WARMUP ...extra`, printing `RESULT {json}`), proxy CPU per request from /proc,
 * and resident memory with 500 idle connections; the rows in the table's shape.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { percentiles, type BenchRow } from './report';
import type { LoadResult } from './modbus-server';

export interface PathsOptions {
  /** The bench's own script (its `--role load` is the load generator). */
  self: string;
  /** Extra arguments for the load role (e.g. the exchange). */
  loadArgs?: string[];
  serverPort: number;
  zonegate: { child: ChildProcess; port: number };
  haproxy: { child: ChildProcess; port: number } | null;
  /** A proxy process started fresh, for its memory with idle connections. */
  freshProxy(): Promise<{ child: ChildProcess; port: number }>;
  seconds: number;
  rounds: number;
  warmupMs: number;
  /** Printed per round, e.g. `req/s`. */
  log?: (line: string) => void;
}

async function load(o: PathsOptions, port: number, connections: number): Promise<LoadResult> {
  const child = spawn(process.execPath, [o.self, '--role', 'load', String(port), String(connections), String((o.seconds * 1000) / o.rounds), String(o.warmupMs), ...(o.loadArgs ?? [])], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  await new Promise((r) => child.on('exit', r));
  const m = /RESULT (.*)/.exec(out);
  if (!m) throw new Error(`load generator failed: ${out}`);
  return JSON.parse(m[1]) as LoadResult;
}

function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** Resident MiB of a process while n idle client connections are open to `port`. */
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

/** Runs the rounds and returns the table rows (rate, p50, p99, CPU per request per connection count; memory) and the response errors seen. */
export async function measurePaths(o: PathsOptions): Promise<{ rows: BenchRow[]; errors: number }> {
  const { zonegate, haproxy } = o;
  const results: Record<string, Record<number, LoadResult>> = { direct: {}, haproxy: {}, zonegate: {} };
  const cpu: Record<string, Record<number, number>> = { haproxy: {}, zonegate: {} };
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  let errors = 0;
  for (const conns of [1, 32]) {
    const rounds: Record<string, LoadResult[]> = { direct: [], haproxy: [], zonegate: [] };
    for (let round = 0; round < o.rounds; round++) {
      for (const [name, port, pid] of [['direct', o.serverPort, undefined], ['haproxy', haproxy?.port, haproxy?.child.pid], ['zonegate', zonegate.port, zonegate.child.pid]] as const) {
        if (port === undefined) continue;
        const cpu0 = pid === undefined ? 0 : cpuMs(pid);
        const r = await load(o, port, conns);
        if (pid !== undefined) cpu[name][conns] = (cpu[name][conns] ?? 0) + (cpuMs(pid) - cpu0) * 1000;
        rounds[name].push(r);
        errors += r.errors;
        (o.log ?? console.log)(`${name.padEnd(8)} ${String(conns).padStart(2)} conn, round ${round + 1}: ${Math.round(r.rate)} req/s, p50 ${r.p50.toFixed(0)} µs, p99 ${r.p99.toFixed(0)} µs${r.errors ? `, ${r.errors} errors` : ''}`);
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
  const fresh = await o.freshProxy();
  await new Promise((r) => setTimeout(r, 500));
  const zBase = rssKiB(fresh.child.pid!) / 1024;
  const zRss = await rssWithIdle(fresh.port, fresh.child.pid!, 500);
  const hRss = haproxy ? await rssWithIdle(haproxy.port, haproxy.child.pid!, 500) : undefined;
  const rows: BenchRow[] = [];
  for (const conns of [1, 32]) {
    const d = results.direct[conns], h = results.haproxy[conns], z = results.zonegate[conns];
    rows.push({ what: `req/s, ${conns} conn (direct = limit: ${Math.round(d.rate).toLocaleString('en-US')})`, value: z.rate, unit: 'req/s', peer: h ? 'HAProxy' : undefined, peerValue: h?.rate, better: 'higher', goal: 'Modbus proxy\'s ratio to HAProxy' });
    rows.push({ what: `p50 latency, ${conns} conn (direct ${d.p50.toFixed(0)} µs)`, value: z.p50, unit: 'µs', peer: h ? 'HAProxy' : undefined, peerValue: h?.p50, better: 'lower' });
    rows.push({ what: `p99 latency, ${conns} conn (direct ${d.p99.toFixed(0)} µs)`, value: z.p99, unit: 'µs', peer: h ? 'HAProxy' : undefined, peerValue: h?.p99, better: 'lower' });
    if (h) {
      const served = (r: LoadResult): number => r.requests * (1 + (o.warmupMs * o.rounds) / 1000 / r.seconds);
      rows.push({ what: `proxy CPU per request (user+sys), ${conns} conn`, value: cpu.zonegate[conns] / served(z), unit: 'µs', peer: 'HAProxy', peerValue: cpu.haproxy[conns] / served(h), better: 'lower' });
    }
  }
  rows.push({ what: `resident memory, 500 idle connections (fresh proxy; ${zBase.toFixed(1)} MiB with none)`, value: zRss, unit: 'MiB', peer: hRss !== undefined ? 'HAProxy' : undefined, peerValue: hRss, better: 'lower' });
  return { rows, errors };
}

/** What a closed-loop connection tells the loop (closedLoop). */
export interface LoopHooks {
  /** The connection can send (connected, or its link started). */
  ready(): void;
  /** Its exchange completed: timed, counted, and the next one sent. */
  answered(): void;
  /** Something was wrong (a bad answer, a socket error): counted. */
  error(): void;
}

/**
 * The load generator's loop: `connections` sockets to 127.0.0.1:port, each with one exchange
 * outstanding; `wire` sets one socket up and returns its send(). Timing starts once every
 * connection is ready, after warmupMs, for durationMs.
 */
export function closedLoop(o: { port: number; connections: number; durationMs: number; warmupMs: number }, wire: (s: Socket, index: number, hooks: LoopHooks) => () => void): Promise<LoadResult> {
  const samples = new Float64Array(4_000_000);
  let n = 0, requests = 0, errors = 0, total = 0;
  const t0 = process.hrtime.bigint();
  const nowUs = (): number => Number(process.hrtime.bigint() - t0) / 1000;
  let warmUs = Infinity, endUs = Infinity, stopped = false, open = 0, started = false;
  const kicks: (() => void)[] = [];
  const sockets: Socket[] = [];
  return new Promise((resolve) => {
    const start = (): void => {
      if (started) return;
      started = true;
      warmUs = nowUs() + o.warmupMs * 1000;
      endUs = warmUs + o.durationMs * 1000;
      for (const k of kicks) k();
      setTimeout(() => {
        stopped = true;
        for (const s of sockets) s.destroy();
        const p = percentiles(samples.subarray(0, n));
        resolve({ connections: o.connections, requests, seconds: o.durationMs / 1000, rate: requests / (o.durationMs / 1000), p50: p.p50, p99: p.p99, errors, total });
      }, o.warmupMs + o.durationMs + 20);
    };
    for (let i = 0; i < o.connections; i++) {
      const s = connect({ host: '127.0.0.1', port: o.port });
      s.setNoDelay(true);
      sockets.push(s);
      let sentAt = 0;
      const send = wire(s, i, {
        ready: () => { open++; if (open === o.connections) start(); },
        answered: () => {
          const t = nowUs();
          total++;
          if (t >= warmUs && t < endUs) { if (n < samples.length) samples[n++] = t - sentAt; requests++; }
          if (!stopped) { sentAt = nowUs(); send(); }
        },
        error: () => { errors++; },
      });
      s.on('error', () => { errors++; });
      kicks.push(() => { sentAt = nowUs(); send(); });
    }
  });
}
