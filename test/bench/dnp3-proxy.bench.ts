/**
 * DNP3 proxy benchmark.
 *
 * 1. Integrity-poll round trips (READ g60v2, g60v3, g60v4, g60v1: 17-byte link frame; a 140-byte
 *    response of binary inputs, outputs, counters, analog inputs and outputs) with 1 and 32
 *    connections, each one request outstanding (closed loop), three paths in the same run:
 *      direct    load → bench outstation                        (the limit)
 *      HAProxy   load → haproxy (mode tcp, nbthread 1) → outstation  (inspects nothing)
 *      zonegate  load → createDnp3Proxy (real IndexDecider, 1,001 dnp3 conduits; link CRCs,
 *                transport, application parse and a decision per request, responses checked;
 *                the audit sink builds every event and drops it) → outstation
 *    req/s, p50/p99 and proxy CPU per request (user + system from /proc). Outstation, load
 *    generator, zonegate and HAProxy each run in their own process.
 * 2. In process: parsing and deciding a 2 KiB fragment (a DIRECT_OPERATE of 150 CROBs, every
 *    point checked; and a 2 KiB unsolicited response), with and without the link layer (CRC of
 *    every 16-byte block) and transport reassembly in front. Goal: parse + decide < 5 µs.
 * Run: node build/run-bench.mjs dnp3   (ZG_BENCH_SECONDS overrides 3 s per case; ZG_BENCH_MICRO_ONLY=1: part 2 only)
 */
import type { ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  AppControl, AppFragment, createDnp3Proxy, crob, encodeFragment, encodeFrames, FC, LinkSplitter, parseFragment, Reassembler,
  type HeaderSpec, type LinkFrame,
} from '../../drivers/dnp3';
import { compile } from '../../policy/compile';
import { IndexDecider } from '../../policy/decider';
import type { Conduit, PolicyDocument } from '../../policy/types';
import { Dnp3Stream } from '../../runtime/lab/dnp3-stream';
import { percentiles, printTable, type BenchRow } from './report';
import { spawnReady, startHaproxy } from './peers';
import { closedLoop, measurePaths } from './proxy-paths';
import type { LoadResult } from './modbus-server';

const SECONDS = Number(process.env.ZG_BENCH_SECONDS ?? 3);
const ROUNDS = 3;
const WARMUP_MS = 300;
const MASTER = 1, OUTSTATION = 10;

function benchPolicy(n: number): PolicyDocument {
  const conduit = (id: string, from: string, to: string): Conduit => ({
    id, from: { identities: [from], roles: [], zones: [] }, to: { assets: [to], zones: [] }, protocol: 'dnp3',
    dnp3: {
      functions: [FC.READ, FC.SELECT, FC.OPERATE, FC.DIRECT_OPERATE], masters: [MASTER], outstations: [OUTSTATION],
      objects: [{ group: 60, variation: 0 }, { group: 1, variation: 0 }, { group: 30, variation: 0 }, { group: 12, variation: 1 }],
      points: { g12: [{ start: 0, end: 199 }] }, controls: [0x01, 0x03, 0x04, 0x41, 0x81], unsolicited: true,
    },
    requires: { edgeAuth: false, grant: false }, mode: 'enforce',
  });
  const ids = Array.from({ length: n }, (_, i) => i);
  return {
    site: 'bench',
    zones: [{ id: 'control', networks: ['127.0.0.0/8', '10.1.0.0/16'], interfaces: [], securityLevel: 3 }],
    assets: [
      { id: 'rtu-bench', zone: 'control', addresses: ['127.0.1.1'], kind: 'rtu', services: [{ protocol: 'dnp3', port: 20000 }] },
      ...ids.map((i) => ({ id: `rtu-${i}`, zone: 'control', addresses: [`10.1.${i >> 8}.${i & 255}`], kind: 'rtu', services: [{ protocol: 'dnp3' as const, port: 20000 }] })),
    ],
    identities: [
      { id: 'bench-master', kind: 'device', zone: 'control', addresses: ['127.0.0.1'], roles: [] },
      ...ids.map((i) => ({ id: `master-${i}`, kind: 'device' as const, zone: 'control', addresses: [`10.1.${(i >> 8) + 100}.${i & 255}`], roles: [] })),
    ],
    conduits: [...ids.map((i) => conduit(`c-${i}`, `master-${i}`, `rtu-${i}`)), conduit('bench', 'bench-master', 'rtu-bench')],
    quarantine: [], settings: { onExpiry: 'keep-enforcing' }, tests: [],
  };
}

const integrityPoll = (seq: number): Buffer => encodeFrames({
  fragment: encodeFragment({ seq, fn: FC.READ, headers: [2, 3, 4, 1].map((v) => ({ group: 60, variation: v, qualifier: 0x06 })) }),
  src: MASTER, dest: OUTSTATION, fromMaster: true, transportSeq: seq,
});

/** The static data the lab outstation answers class 0 with (8 BI, 8 BO, 4 counters, 4 AI, 4 AO). */
function staticResponse(seq: number): Buffer {
  const flagged = Buffer.from([0x81]);
  const v32 = (v: number): Buffer => { const b = Buffer.alloc(5); b[0] = 1; b.writeInt32LE(v, 1); return b; };
  const range = (group: number, variation: number, objs: Buffer[]): HeaderSpec => ({ group, variation, qualifier: 0x00, start: 0, stop: objs.length - 1, data: Buffer.concat(objs) });
  const headers = [
    range(1, 2, Array(8).fill(flagged)), range(10, 2, Array(8).fill(flagged)), range(20, 1, [1, 2, 3, 4].map(v32)),
    range(30, 1, [10, 20, 30, 40].map(v32)), range(40, 1, [0, 0, 0, 0].map(v32)),
  ];
  return encodeFrames({ fragment: encodeFragment({ seq, fn: FC.RESPONSE, headers }), src: OUTSTATION, dest: MASTER, fromMaster: false, transportSeq: seq });
}

// ---- roles (each its own process) ----------------------------------------------------------

/** A fast outstation: every complete request fragment gets the static response with its sequence. */
async function runOutstation(): Promise<void> {
  const responses = Array.from({ length: 16 }, (_, seq) => staticResponse(seq));
  const server = createServer({ noDelay: true }, (s) => {
    const stream = new Dnp3Stream({
      fragment: (f) => { if (f.fn !== FC.CONFIRM) s.write(responses[f.seq]); },
      service: () => undefined,
      error: () => s.destroy(),
    });
    s.on('data', (d: Buffer) => stream.push(d));
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  console.log(`READY ${(server.address() as AddressInfo).port}`);
}

async function runProxyRole(upstreamPort: number): Promise<void> {
  const decider = new IndexDecider(compile(benchPolicy(1000), { version: '1' }));
  let count = 0;
  const proxy = createDnp3Proxy({
    listen: { host: '127.0.0.1', port: 0 }, upstream: { host: '127.0.0.1', port: upstreamPort }, asset: 'rtu-bench', servicePort: 20000, decider,
    audit: { record: (e) => { count += e.at > 0 ? 1 : 0; } },
    limits: (id) => decider.conduit(id)?.rateLimit,
    now: Date.now, maxConnections: 2000, maxConnectionsPerSource: 2000,
  });
  await proxy.start(new AbortController().signal);
  console.log(`READY ${proxy.address().port}`);
  process.on('SIGTERM', () => { void proxy.stop().then(() => process.exit(0)); });
}

/** Closed loop: each connection sends an integrity poll, waits for the whole response fragment, sends the next. */
function runLoad(o: { port: number; connections: number; durationMs: number; warmupMs: number }): Promise<LoadResult> {
  const polls = Array.from({ length: 16 }, (_, seq) => integrityPoll(seq));
  return closedLoop(o, (s, index, loop) => {
    let seq = index & 15;
    const stream = new Dnp3Stream({
      fragment: (f) => {
        if (f.fn !== FC.RESPONSE || f.seq !== seq || (f.iin & 0xff) !== 0) loop.error();
        if ((f.control & AppControl.FIN) !== 0) loop.answered();
      },
      service: () => undefined,
      error: () => loop.error(),
    });
    s.on('connect', () => loop.ready());
    s.on('data', (d: Buffer) => stream.push(d));
    return () => { seq = (seq + 1) & 15; s.write(polls[seq]); };
  });
}

// ---- parse + decide in process --------------------------------------------------------------

interface Micro { name: string; ns: { p50: number; p99: number } }

function measure(name: string, fn: () => number, batch = 100, batches = 3000): Micro {
  let sink = 0;
  for (let i = 0; i < batch * 20; i++) sink += fn(); // warm-up: JIT
  const per = new Float64Array(batches);
  for (let b = 0; b < batches; b++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) sink += fn();
    per[b] = Number(process.hrtime.bigint() - t0) / batch;
  }
  if (sink === -1) console.log(sink);
  const p = percentiles(per);
  return { name, ns: { p50: p.p50, p99: p.p99 } };
}

function micro(): { rows: BenchRow[]; notes: string[] } {
  const decider = new IndexDecider(compile(benchPolicy(1000), { version: '1' }));
  const { scope } = decider.connect({ sourceIp: '127.0.0.1', asset: 'rtu-bench', port: 20000, protocol: 'dnp3' }, Date.now());
  const now = Date.now();
  // A DIRECT_OPERATE of 150 CROBs (index-prefixed, 2-octet indices): 1,957 bytes, every point decided.
  const codes = [0x01, 0x03, 0x04, 0x41, 0x81];
  const request = encodeFragment({ fn: FC.DIRECT_OPERATE, headers: [{ group: 12, variation: 1, qualifier: 0x28, indices: Array.from({ length: 150 }, (_, i) => i), objects: Array.from({ length: 150 }, (_, i) => crob({ code: codes[i % 5] })) }] });
  // An unsolicited response of 2,0xx bytes: binary input and analog input events and a static range.
  const ev = (n: number, size: number): Buffer[] => Array.from({ length: n }, () => Buffer.alloc(size, 1));
  const response = encodeFragment({
    control: AppControl.FIR | AppControl.FIN | AppControl.UNS | AppControl.CON, fn: FC.UNSOLICITED_RESPONSE, headers: [
      { group: 2, variation: 1, qualifier: 0x28, indices: Array.from({ length: 100 }, (_, i) => i), objects: ev(100, 1) },
      { group: 32, variation: 1, qualifier: 0x28, indices: Array.from({ length: 100 }, (_, i) => i), objects: ev(100, 5) },
      { group: 30, variation: 1, qualifier: 0x01, start: 0, stop: 159, data: Buffer.alloc(800, 1) },
    ],
  });
  const f = new AppFragment(4096);
  f.source = MASTER; f.destination = OUTSTATION;
  const parseDecide = (bytes: Buffer) => (): number => {
    const problem = parseFragment(bytes, 0, bytes.length, f);
    if (problem !== null) throw new Error(problem);
    f.source = MASTER; f.destination = OUTSTATION;
    const d = decider.dnp3(scope, f, now);
    return d.decision === 'allow' ? 1 : 0;
  };
  if (parseDecide(request)() !== 1 || parseDecide(response)() !== 1) throw new Error('bench fragments must be allowed');
  // The whole receive path: link frames (every CRC) → transport reassembly → parse → decide.
  const frames = encodeFrames({ fragment: request, src: MASTER, dest: OUTSTATION, fromMaster: true });
  const reasm = new Reassembler(4096);
  let decided = 0;
  const splitter = new LinkSplitter({
    onLinkFrame(lf: LinkFrame): boolean {
      const r = reasm.push(lf.src, lf.dest, lf.data, lf.dataLength);
      if (r.kind === 'fragment') {
        if (parseFragment(r.data, r.offset, r.length, f) !== null) throw new Error('parse');
        f.source = r.src; f.destination = r.dest;
        if (decider.dnp3!(scope, f, now).decision === 'allow') decided++;
      } else if (r.kind === 'malformed') throw new Error(r.message);
      return true;
    },
    onLinkMalformed(m: string): void { throw new Error(m); },
  });
  const whole = (): number => { splitter.push(frames); return decided; };
  const parseOnly = (bytes: Buffer) => (): number => (parseFragment(bytes, 0, bytes.length, f) === null ? 1 : 0);
  const results = [
    measure(`parse + decide, DIRECT_OPERATE of 150 CROBs (${request.length} B)`, parseDecide(request)),
    measure(`parse + decide, unsolicited response (${response.length} B)`, parseDecide(response)),
    measure(`parse only, DIRECT_OPERATE of 150 CROBs (${request.length} B)`, parseOnly(request)),
    measure(`parse only, unsolicited response (${response.length} B)`, parseOnly(response)),
    measure(`link CRCs + transport + parse + decide, ${frames.length} B in ${Math.ceil(request.length / 249)} link frames`, whole, 20),
  ];
  return {
    rows: results.map((r, i) => ({ what: `${r.name} (median; p99 ${(r.ns.p99 / 1000).toFixed(2)} µs)`, value: r.ns.p50 / 1000, unit: 'µs', better: 'lower' as const, goal: i < 2 ? '< 5 µs' : undefined })),
    notes: ['In process, one thread; time per fragment = batch time / batch size (batches of 100, short enough that a busy machine seldom preempts one), median and p99 over 3,000 batches; the real IndexDecider with 1,001 dnp3 conduits.'],
  };
}

// ---- orchestration --------------------------------------------------------------------------

let self = process.argv[1];
const children: ChildProcess[] = [];

async function main(): Promise<void> {
  const m = micro();
  printTable('DNP3: parse and decide a 2 KiB fragment', m.rows, m.notes);
  if (process.env.ZG_BENCH_MICRO_ONLY === '1') return;

  const dir = mkdtempSync(join(tmpdir(), 'zg-dnp3-bench-'));
  const copy = join(dirname(dirname(dirname(self))), `dnp3-proxy-bench-${process.pid}.js`);
  copyFileSync(self, copy);
  self = copy;
  try {
    const server = await spawnReady(children, process.execPath, [self, '--role', 'server']);
    // ZG_BENCH_PROF=DIR: the proxy process writes a V8 CPU profile there (on SIGTERM at the end).
    const prof = process.env.ZG_BENCH_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.ZG_BENCH_PROF] : [];
    const zonegate = await spawnReady(children, process.execPath, [...prof, self, '--role', 'proxy', String(server.port)]);
    const haproxy = await startHaproxy(children, server.port, dir, 'rtu');
    const { rows, errors } = await measurePaths({
      self, serverPort: server.port, zonegate, haproxy, seconds: SECONDS, rounds: ROUNDS, warmupMs: WARMUP_MS,
      freshProxy: () => spawnReady(children, process.execPath, [self, '--role', 'proxy', String(server.port)]),
    });
    printTable('DNP3 proxy: integrity-poll round trips, closed loop', rows, [
      `${SECONDS} s per case in ${ROUNDS} interleaved rounds (each after ${WARMUP_MS} ms warm-up; rate over all rounds, p50/p99 the median round); outstation, load generator, proxy and HAProxy each in their own process on a shared 2-core machine (noisy).`,
      'Request: READ g60v2 g60v3 g60v4 g60v1 (17-byte link frame); response: 8 BI, 8 BO, 4 counters, 4 AI, 4 AO (one 160-byte link frame). The load generator checks every response (sequence, IIN2).',
      'zonegate: createDnp3Proxy with the real IndexDecider (1,001 dnp3 conduits): link CRCs, transport, parse and decision per request, the response checked; audit sink builds each AuditEvent and drops it.',
      `HAProxy 2.6, mode tcp, nbthread 1, no logging.${errors ? ` ${errors} response errors seen.` : ' No response errors.'}`,
      haproxy ? '' : 'HAProxy not installed: its column is empty.',
    ].filter(Boolean));
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
    rmSync(copy, { force: true });
  }
}

async function role(): Promise<void> {
  const [, , , name, ...args] = process.argv;
  if (name === 'server') return runOutstation();
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
