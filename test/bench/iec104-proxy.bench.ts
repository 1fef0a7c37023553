/**
 * IEC 104 proxy benchmark: round trips through the proxy against direct and HAProxy (issue 17).
 *
 * Closed loop, 1 and 32 connections, each with one exchange outstanding, three paths in the same
 * run (proxy-paths.ts): direct (load → bench station), HAProxy (mode tcp, nbthread 1), zonegate
 * (createIec104Proxy with the real IndexDecider, 1,001 iec104 conduits: APCI windows kept on both
 * sides, each ASDU parsed and decided; the audit sink builds every event and drops it). Two
 * exchanges:
 *   command        C_SC_NA_1 act (direct execute) → its activation confirmation
 *   interrogation  C_IC_NA_1 act → con, single points and measured values (cause 20), term
 * The station and the load generator speak through the driver's own APCI window (side.ts):
 * sequence numbers checked, S-frames at w.
 * Run: node build/run-bench.mjs iec104-proxy   (ZG_BENCH_SECONDS overrides 3 s per case; ZG_IEC104_EXCHANGES=interrogation runs one)
 */
import type { ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  Cause, TypeId, UFunction, answerAsdu, createIec104Proxy, encodeAsdu, measuredFloat, qoi, sco, siq,
} from '../../drivers/iec104';
import { Side } from '../../drivers/iec104/side';
import { compile } from '../../policy/compile';
import { IndexDecider } from '../../policy/decider';
import type { Conduit, PolicyDocument } from '../../policy/types';
import { printTable } from './report';
import { spawnReady, startHaproxy } from './peers';
import { closedLoop, measurePaths } from './proxy-paths';
import type { LoadResult } from './modbus-server';

const SECONDS = Number(process.env.ZG_BENCH_SECONDS ?? 3);
const ROUNDS = 3;
const WARMUP_MS = 300;
const CA = 1;

function benchPolicy(n: number): PolicyDocument {
  const conduit = (id: string, from: string, to: string): Conduit => ({
    id, from: { identities: [from], roles: [], zones: [] }, to: { assets: [to], zones: [] }, protocol: 'iec104',
    iec104: { types: [45, 46, 100], commonAddresses: [CA], ioas: [{ start: 0, end: 299 }] }, // the station's points: 7, 100..107, 200..203
    requires: { edgeAuth: false, grant: false }, mode: 'enforce',
  });
  const ids = Array.from({ length: n }, (_, i) => i);
  return {
    site: 'bench',
    zones: [{ id: 'control', networks: ['127.0.0.0/8', '10.1.0.0/16'], interfaces: [], securityLevel: 3 }],
    assets: [
      { id: 'rtu-bench', zone: 'control', addresses: ['127.0.1.1'], kind: 'rtu', services: [{ protocol: 'iec104', port: 2404 }] },
      ...ids.map((i) => ({ id: `rtu-${i}`, zone: 'control', addresses: [`10.1.${i >> 8}.${i & 255}`], kind: 'rtu', services: [{ protocol: 'iec104' as const, port: 2404 }] })),
    ],
    identities: [
      { id: 'bench-master', kind: 'device', zone: 'control', addresses: ['127.0.0.1'], roles: [] },
      ...ids.map((i) => ({ id: `master-${i}`, kind: 'device' as const, zone: 'control', addresses: [`10.1.${(i >> 8) + 100}.${i & 255}`], roles: [] })),
    ],
    conduits: [...ids.map((i) => conduit(`c-${i}`, `master-${i}`, `rtu-${i}`)), conduit('bench', 'bench-master', 'rtu-bench')],
    quarantine: [], settings: { onExpiry: 'keep-enforcing' }, tests: [],
  };
}

// ---- roles (each its own process) ----------------------------------------------------------

/** A fast station: commands confirmed, interrogations answered with con, 8 single points, 4 measured values, term. */
async function runStation(): Promise<void> {
  const points = [
    encodeAsdu({ typeId: TypeId.M_SP_NA_1, cause: Cause.INTERROGATED_STATION, ca: CA, objects: Array.from({ length: 8 }, (_, i) => ({ ioa: 100 + i, element: siq((i & 1) as 0 | 1) })) }),
    encodeAsdu({ typeId: TypeId.M_ME_NC_1, cause: Cause.INTERROGATED_STATION, ca: CA, objects: Array.from({ length: 4 }, (_, i) => ({ ioa: 200 + i, element: measuredFloat(230 + i) })) }),
  ];
  const server = createServer({ noDelay: true }, (s: Socket) => {
    const side: Side = new Side(s, {
      role: 'controlled', window: {}, maxQueued: 1024, now: Date.now,
      handler: {
        u: (fn) => { if (fn === UFunction.STARTDT_ACT) side.sendU(UFunction.STARTDT_CON); else if (fn === UFunction.TESTFR_ACT) side.sendU(UFunction.TESTFR_CON); },
        s: () => side.flush(),
        asdu: (a, f) => {
          side.flush();
          side.sendAsdu(answerAsdu(f.asdu(), { cause: Cause.ACTIVATION_CON, negative: false }));
          if (a.typeId === TypeId.C_IC_NA_1) {
            for (const p of points) side.sendAsdu(p);
            side.sendAsdu(answerAsdu(f.asdu(), { cause: Cause.ACTIVATION_TERM, negative: false }));
          }
          side.ackIfDue();
        },
        refused: () => s.destroy(),
        closed: () => s.destroy(),
      },
    });
    s.on('data', (d: Buffer) => side.reader.push(d));
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  console.log(`READY ${(server.address() as AddressInfo).port}`);
}

async function runProxyRole(upstreamPort: number): Promise<void> {
  const decider = new IndexDecider(compile(benchPolicy(1000), { version: '1' }));
  let count = 0;
  const proxy = createIec104Proxy({
    listen: { host: '127.0.0.1', port: 0 }, upstream: { host: '127.0.0.1', port: upstreamPort }, asset: 'rtu-bench', servicePort: 2404, decider,
    audit: { record: (e) => { count += e.at > 0 ? 1 : 0; } },
    limits: (id) => decider.conduit(id)?.rateLimit,
    now: Date.now, maxConnections: 2000, maxConnectionsPerSource: 2000,
  });
  await proxy.start(new AbortController().signal);
  console.log(`READY ${proxy.address().port}`);
  process.on('SIGTERM', () => { void proxy.stop().then(() => process.exit(0)); });
}

/** Closed loop: each connection starts data transfer, sends its exchange, waits for the last answer, sends the next. */
function runLoad(o: { port: number; connections: number; durationMs: number; warmupMs: number; exchange: string }): Promise<LoadResult> {
  const gi = o.exchange === 'interrogation';
  const request = gi
    ? encodeAsdu({ typeId: TypeId.C_IC_NA_1, cause: Cause.ACTIVATION, ca: CA, objects: [{ ioa: 0, element: qoi() }] })
    : encodeAsdu({ typeId: TypeId.C_SC_NA_1, cause: Cause.ACTIVATION, ca: CA, objects: [{ ioa: 7, element: sco(1) }] });
  const lastCause = gi ? Cause.ACTIVATION_TERM : Cause.ACTIVATION_CON;
  return closedLoop(o, (s, _index, loop) => {
    let data = 0; // ASDUs of the interrogation's answer (cause 20): the station sends 2, all must arrive
    const side: Side = new Side(s, {
      role: 'controlling', window: {}, maxQueued: 1024, now: Date.now,
      handler: {
        u: (fn) => { if (fn === UFunction.STARTDT_CON) loop.ready(); else if (fn === UFunction.TESTFR_ACT) side.sendU(UFunction.TESTFR_CON); },
        s: () => side.flush(),
        asdu: (a) => {
          side.flush();
          if (a.negative) loop.error();
          if (a.cause === Cause.INTERROGATED_STATION) data++;
          // The next request's I-frame carries the acknowledgement; between, S-frames at w.
          if (a.typeId === request[0] && a.cause === lastCause) {
            if (gi && data !== 2) loop.error();
            data = 0;
            loop.answered();
          }
          side.ackIfDue();
        },
        refused: () => loop.error(),
        closed: () => loop.error(),
      },
    });
    s.on('connect', () => side.sendU(UFunction.STARTDT_ACT));
    s.on('data', (d: Buffer) => side.reader.push(d));
    return () => { side.sendAsdu(request); };
  });
}

// ---- orchestration --------------------------------------------------------------------------

let self = process.argv[1];
const children: ChildProcess[] = [];

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'zg-iec104-bench-'));
  const copy = join(dirname(dirname(dirname(self))), `iec104-proxy-bench-${process.pid}.js`);
  copyFileSync(self, copy);
  self = copy;
  try {
    const server = await spawnReady(children, process.execPath, [self, '--role', 'server']);
    const zonegate = await spawnReady(children, process.execPath, [self, '--role', 'proxy', String(server.port)]);
    const haproxy = await startHaproxy(children, server.port, dir, 'rtu');
    for (const exchange of (process.env.ZG_IEC104_EXCHANGES ?? 'interrogation,command').split(',')) {
      const { rows, errors } = await measurePaths({
        self, loadArgs: [exchange], serverPort: server.port, zonegate, haproxy, seconds: SECONDS, rounds: ROUNDS, warmupMs: WARMUP_MS,
        freshProxy: () => spawnReady(children, process.execPath, [self, '--role', 'proxy', String(server.port)]),
      });
      printTable(`IEC 104 proxy: ${exchange === 'command' ? 'single command (C_SC_NA_1) to its confirmation' : 'general interrogation (con, 2 data ASDUs, term)'}, closed loop`, rows, [
        `${SECONDS} s per case in ${ROUNDS} interleaved rounds (each after ${WARMUP_MS} ms warm-up; rate over all rounds, p50/p99 the median round); station, load generator, proxy and HAProxy each in their own process on a shared 2-core machine (noisy).`,
        'zonegate: createIec104Proxy with the real IndexDecider (1,001 iec104 conduits): the APCI of each side kept (sequence numbers, k/w, S-frames), every ASDU from the master parsed and decided, the station\'s relayed; audit sink builds each AuditEvent and drops it.',
        `HAProxy 2.6, mode tcp, nbthread 1, no logging.${errors ? ` ${errors} errors seen (negative confirmations, interrogation answers missing data, broken links).` : ' No errors.'}`,
        haproxy ? '' : 'HAProxy not installed: its column is empty.',
      ].filter(Boolean));
    }
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
    rmSync(copy, { force: true });
  }
}

async function role(): Promise<void> {
  const [, , , name, ...args] = process.argv;
  if (name === 'server') return runStation();
  if (name === 'proxy') return runProxyRole(Number(args[0]));
  if (name === 'load') {
    const r = await runLoad({ port: Number(args[0]), connections: Number(args[1]), durationMs: Number(args[2]), warmupMs: Number(args[3]), exchange: args[4] ?? 'command' });
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
