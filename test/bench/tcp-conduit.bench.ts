/**
 * TCP conduit throughput and memory, beside its peers in the same run:
 *   direct     client → sink
 *   HAProxy    client → haproxy (Debian, mode tcp, nbthread 1, 127.0.0.1) → sink
 *   zonegate   client → `node dist/zonegate.js run` (the real daemon, one tcp listener) → sink
 * Bulk: 256 MiB through one connection, and 8 connections × 32 MiB in parallel; MB/s is bytes
 * over the time from the first write to the sink's reply after the client's FIN, best of
 * ROUNDS. Download: 256 MiB from the sink to the client through one connection (the upstream's
 * read path, which zonegate reads into a reused buffer), to the sink's FIN. Memory: resident set of the daemon (and of HAProxy) with 500 idle connections.
 * The sink runs in its own process (`--role sink`). Run: node build/run-bench.mjs tcp-conduit
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, connect, type Socket } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { printTable, type BenchRow } from './report';
import { freePort } from '../helpers/ports';

const MIB = 1024 * 1024;
const ROUNDS = Number(process.env.ZG_BENCH_ROUNDS ?? 3);
const SINGLE_BYTES = 256 * MIB;
const PARALLEL = 8;
const PARALLEL_BYTES = 32 * MIB;
const IDLE = 500;

// ---- the sink process: reads everything, answers with the byte count after the client's FIN ----
function runSink(): void {
  const server = createServer({ allowHalfOpen: true }, (s) => {
    let n = 0;
    s.on('error', () => undefined);
    s.once('data', (d: Buffer) => {
      // `D<bytes>\n` asks for a download: the sink sends that many bytes, then its FIN.
      if (d[0] === 0x44) return download(s, Number(d.subarray(1, d.indexOf(0x0a)).toString()));
      n += d.length;
      s.on('data', (more: Buffer) => { n += more.length; });
    });
    s.on('end', () => s.end(String(n)));
  });
  const chunk = Buffer.alloc(256 * 1024, 0xa5);
  const download = (s: Socket, bytes: number): void => {
    s.removeAllListeners('end');
    s.resume();
    let left = bytes;
    const more = (): void => {
      while (left > 0) {
        const n = Math.min(chunk.length, left);
        left -= n;
        if (!s.write(n === chunk.length ? chunk : chunk.subarray(0, n))) { s.once('drain', more); return; }
      }
      s.end();
    };
    more();
  };
  server.listen(0, '127.0.0.1', () => { process.stdout.write(`READY ${(server.address() as { port: number }).port}\n`); });
}

function spawnSink(): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [process.argv[1], '--role', 'sink'], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => { out += d; const m = /READY (\d+)/.exec(out); if (m) resolve({ child, port: Number(m[1]) }); });
    child.once('exit', (c) => reject(new Error(`sink exited ${c}`)));
  });
}

/** Sends `bytes` through one connection; resolves when the sink confirmed them all. */
async function push(port: number, bytes: number, chunk: Buffer): Promise<void> {
  const s = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  await once(s, 'connect');
  let reply = '';
  s.on('data', (d) => { reply += d; });
  const closed = once(s, 'end');
  let sent = 0;
  while (sent < bytes) {
    const n = Math.min(chunk.length, bytes - sent);
    sent += n;
    if (!s.write(n === chunk.length ? chunk : chunk.subarray(0, n))) await once(s, 'drain');
  }
  s.end();
  await closed;
  s.destroy();
  if (Number(reply) !== bytes) throw new Error(`sink got ${reply} bytes, sent ${bytes}`);
}

/** MiB/s of one download of `bytes` from the sink through one connection (to the sink's FIN). */
async function pull(port: number, bytes: number): Promise<number> {
  const s = connect({ host: '127.0.0.1', port });
  await once(s, 'connect');
  const t0 = process.hrtime.bigint();
  s.write(`D${bytes}\n`);
  let got = 0;
  s.on('data', (d: Buffer) => { got += d.length; });
  await once(s, 'end');
  const sec = Number(process.hrtime.bigint() - t0) / 1e9;
  s.destroy();
  if (got !== bytes) throw new Error(`download got ${got} bytes, expected ${bytes}`);
  return bytes / MIB / sec;
}

/** MiB/s of one round: `conns` connections each pushing `bytesEach`. */
async function bulk(port: number, conns: number, bytesEach: number): Promise<number> {
  const chunk = Buffer.alloc(256 * 1024, 0x5a);
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: conns }, () => push(port, bytesEach, chunk)));
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return (conns * bytesEach) / MIB / s;
}

/** CPU seconds (user + system) a process has used, from /proc/PID/stat (clock ticks of 1/100 s). */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function rssWithIdle(port: number, pid: number, n: number): Promise<{ before: number; after: number }> {
  const before = rssMiB(pid);
  const socks: Socket[] = [];
  for (let i = 0; i < n; i++) {
    const s = connect({ host: '127.0.0.1', port });
    s.on('error', () => undefined);
    socks.push(s);
    if (i % 50 === 49) await once(s, 'connect');
  }
  await Promise.all(socks.map((s) => (s.connecting ? once(s, 'connect') : undefined)));
  // One byte each way through every connection, so both legs are really established.
  await Promise.all(socks.map(async (s) => { s.write('x'); }));
  await new Promise((r) => setTimeout(r, 1000));
  const after = rssMiB(pid);
  for (const s of socks) s.destroy();
  await new Promise((r) => setTimeout(r, 300));
  return { before, after };
}

function startHaproxy(upstream: number, dir: string): Promise<{ child: ChildProcess; port: number } | null> {
  if (spawnSync('haproxy', ['-v']).error) return Promise.resolve(null);
  return freePort().then(async (port) => {
    const cfg = join(dir, 'haproxy.cfg');
    writeFileSync(cfg, [
      'global', '  nbthread 1', '  maxconn 4000',
      'defaults', '  mode tcp', '  timeout connect 5s', '  timeout client 120s', '  timeout server 120s',
      'frontend fe', `  bind 127.0.0.1:${port}`, '  default_backend be',
      'backend be', `  server s1 127.0.0.1:${upstream}`, '',
    ].join('\n'));
    const child = spawn('haproxy', ['-db', '-f', cfg], { stdio: ['ignore', 'ignore', 'inherit'] });
    await waitPort(port);
    return { child, port };
  });
}

async function waitPort(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((r) => { const s = connect({ host: '127.0.0.1', port }); s.once('connect', () => { s.destroy(); r(true); }); s.once('error', () => r(false)); });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`nothing listens on ${port}`);
}

/** The real daemon with one tcp listener in front of the sink. */
async function startZonegate(upstream: number, dir: string): Promise<{ child: ChildProcess; port: number }> {
  writeFileSync(join(dir, 'policy.yaml'), `site: bench
zones:
  - { id: station, networks: [127.0.0.0/8], securityLevel: 3 }
  - { id: dmz, networks: [10.30.0.0/24], securityLevel: 2 }
assets:
  - { id: historian, zone: dmz, address: 10.30.0.10, kind: historian, services: [{ protocol: tcp, port: 443 }] }
identities:
  - { id: client, kind: device, zone: station, addresses: [127.0.0.1] }
conduits:
  - { id: client-to-historian, from: { identities: [client] }, to: { assets: [historian] }, protocol: tcp }
`);
  writeFileSync(join(dir, 'gateway.yaml'), `device: bench
site: bench
stateDir: ./state
policyFile: policy.yaml
listeners:
  - { listen: 127.0.0.1:0, asset: historian, service: tcp, upstream: 127.0.0.1:${upstream} }
log: { level: info, decisions: none }
limits: { maxConnections: 4000, perSourceMax: 4000 }
`);
  // With the V8 flags the package's bin/zonegate runs the daemon with (build/node-flags).
  const nodeFlags = readFileSync('build/node-flags', 'utf8').trim().split(/\s+/);
  const child = spawn(process.execPath, [...nodeFlags, 'dist/zonegate.js', 'run', '--config', join(dir, 'gateway.yaml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  return new Promise((resolve, reject) => {
    child.stderr!.on('data', (d) => { err += d; const m = /listening on 127\.0\.0\.1:(\d+)/.exec(err); if (m && /running/.test(err)) resolve({ child, port: Number(m[1]) }); });
    child.once('exit', (c) => reject(new Error(`zonegate exited ${c}: ${err}`)));
  });
}

async function main(): Promise<void> {
  const built = spawnSync(process.execPath, ['build/bundle.mjs'], { encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`bundle failed: ${built.stderr}`);
  const dir = mkdtempSync(join(tmpdir(), 'zg-bench-conduit-'));
  const children: ChildProcess[] = [];
  try {
    const sink = await spawnSink(); children.push(sink.child);
    const haproxy = await startHaproxy(sink.port, dir); if (haproxy) children.push(haproxy.child);
    const zg = await startZonegate(sink.port, dir); children.push(zg.child);

    const peers: [string, number][] = [['direct', sink.port], ...(haproxy ? [['haproxy', haproxy.port] as [string, number]] : []), ['zonegate', zg.port]];
    const res: Record<string, { single: number; parallel: number; down: number }> = {};
    for (const [name, port] of peers) { await push(port, 16 * MIB, Buffer.alloc(256 * 1024)); res[name] = { single: 0, parallel: 0, down: 0 }; }
    // Rounds interleave the peers, so that load from other work hits them alike; best round counts.
    // Proxy CPU per GiB is the steadier figure on a loaded machine: it does not count waiting.
    const pids: Record<string, number | undefined> = { haproxy: haproxy?.child.pid, zonegate: zg.child.pid };
    const cpu: Record<string, number> = { haproxy: 0, zonegate: 0 };
    const cpuDown: Record<string, number> = { haproxy: 0, zonegate: 0 };
    let moved = 0;
    for (let r = 0; r < ROUNDS; r++) {
      for (const [name, port] of peers) {
        const pid = pids[name];
        const c0 = pid ? cpuSeconds(pid) : 0;
        res[name].single = Math.max(res[name].single, await bulk(port, 1, SINGLE_BYTES));
        res[name].parallel = Math.max(res[name].parallel, await bulk(port, PARALLEL, PARALLEL_BYTES));
        if (pid) cpu[name] += cpuSeconds(pid) - c0;
        const c1 = pid ? cpuSeconds(pid) : 0;
        res[name].down = Math.max(res[name].down, await pull(port, SINGLE_BYTES));
        if (pid) cpuDown[name] += cpuSeconds(pid) - c1;
      }
      moved += SINGLE_BYTES + PARALLEL * PARALLEL_BYTES;
    }
    const perGiB = (name: string) => cpu[name] / (moved / (1024 * MIB));
    const perGiBDown = (name: string) => cpuDown[name] / ((ROUNDS * SINGLE_BYTES) / (1024 * MIB));
    for (const [name] of peers) console.log(`  ${name}: ${res[name].single.toFixed(0)} MiB/s one connection, ${res[name].parallel.toFixed(0)} MiB/s ${PARALLEL} parallel, ${res[name].down.toFixed(0)} MiB/s download`);
    // Memory on a fresh daemon: the bulk runs above leave the heap grown.
    zg.child.kill('SIGTERM');
    const fresh = await startZonegate(sink.port, dir); children.push(fresh.child);
    await new Promise((r) => setTimeout(r, 500));
    const zMem = await rssWithIdle(fresh.port, fresh.child.pid!, IDLE);
    const hMem = haproxy ? await rssWithIdle(haproxy.port, haproxy.child.pid!, IDLE) : undefined;

    const rows: BenchRow[] = [];
    const h = res.haproxy, d = res.direct, z = res.zonegate;
    rows.push({ what: 'bulk, 256 MiB through 1 connection', value: z.single, unit: 'MiB/s', peer: 'HAProxy', peerValue: h?.single, better: 'higher', goal: '≥ HAProxy' });
    rows.push({ what: `bulk, ${PARALLEL} × 32 MiB in parallel`, value: z.parallel, unit: 'MiB/s', peer: 'HAProxy', peerValue: h?.parallel, better: 'higher', goal: '≥ HAProxy' });
    rows.push({ what: 'proxy CPU (user+sys) per GiB moved', value: perGiB('zonegate'), unit: 's', peer: 'HAProxy', peerValue: haproxy ? perGiB('haproxy') : undefined, better: 'lower', goal: '≤ HAProxy' });
    rows.push({ what: 'download, 256 MiB from upstream, 1 connection', value: z.down, unit: 'MiB/s', peer: 'HAProxy', peerValue: h?.down, better: 'higher', goal: '≥ HAProxy' });
    rows.push({ what: 'proxy CPU (user+sys) per GiB downloaded', value: perGiBDown('zonegate'), unit: 's', peer: 'HAProxy', peerValue: haproxy ? perGiBDown('haproxy') : undefined, better: 'lower', goal: '≤ HAProxy' });
    rows.push({ what: 'bulk, 1 connection, vs no proxy', value: z.single, unit: 'MiB/s', peer: 'direct', peerValue: d.single, better: 'higher' });
    rows.push({ what: `bulk, ${PARALLEL} parallel, vs no proxy`, value: z.parallel, unit: 'MiB/s', peer: 'direct', peerValue: d.parallel, better: 'higher' });
    rows.push({ what: `gateway RSS, ${IDLE} idle connections`, value: zMem.after, unit: 'MiB', peer: 'HAProxy', peerValue: hMem?.after, better: 'lower', goal: '< 80 MiB' });
    rows.push({ what: 'gateway RSS, no connections', value: zMem.before, unit: 'MiB', peer: 'HAProxy', peerValue: hMem?.before, better: 'lower' });
    printTable('TCP conduit: bulk throughput and memory (zonegate run, one tcp listener)', rows, [
      `HAProxy ${haproxy ? '2.x, mode tcp, nbthread 1' : 'not installed: its column is empty'}; zonegate is the bundled daemon (dist/zonegate.js run, with build/node-flags as the package runs it) in its own process; the sink is a Node process.`,
      `best of ${ROUNDS} rounds; ${cpus().length} cores shared with other work (load ${loadavg()[0].toFixed(2)}): figures are noisy.`,
    ]);
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

const roleAt = process.argv.indexOf('--role');
if (roleAt > 0 && process.argv[roleAt + 1] === 'sink') runSink();
else main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
