/**
 * What auditing costs the Modbus proxy: the same proxy (real IndexDecider, every request parsed
 * and decided) with the durable audit log (CBOR, CRC, SHA-256 chain, group commit with fsync, in
 * a temp folder) beside a no-op sink, in the same run. One process holds the Modbus server, the
 * proxy and a closed-loop load of 8 connections, so the figure is the relative cost on one event
 * loop, not an absolute rate (test/bench/modbus-proxy.bench.ts has those, beside HAProxy).
 * The two proxies take turns, ROUNDS short rounds each, and each figure is the median of its
 * rounds: the machine is shared, and a burst of someone else's work in one long round would decide
 * the ratio. The log keeps its defaults (flushDelayMs 50, batchMax 512), as the gateway opens it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compile } from '../../policy/compile';
import { IndexDecider } from '../../policy/decider';
import { createModbusProxy } from '../../drivers/modbus-tcp';
import type { AuditSink } from '../../drivers/types';
import { AuditLog } from '../../runtime/audit/log';
import { loadOrCreateDeviceKey } from '../../runtime/device-key';
import { RawClient, adu, pdus, startNodeModbusServer } from '../helpers/modbus';
import { asset, conduit, doc, identity, zone } from '../policy/engine-doc';
import { printTable } from './report';

const SECONDS = Number(process.env.ZG_BENCH_SECONDS ?? 3);
const CONNECTIONS = 8;
const ROUNDS = 5;

async function load(port: number, ms: number): Promise<number> {
  const clients = await Promise.all(Array.from({ length: CONNECTIONS }, () => RawClient.open(port)));
  let done = 0;
  const end = Date.now() + ms;
  await Promise.all(clients.map(async (c, k) => {
    let tid = k * 1000;
    while (Date.now() < end) {
      const r = await c.request(adu(++tid & 0xffff, 1, pdus.read(3, 10, 1)));
      if (!r || r.exception !== undefined) throw new Error(`unexpected answer ${JSON.stringify(r)}`);
      done += 1;
    }
  }));
  for (const c of clients) c.close();
  return done / (ms / 1000);
}

async function main(): Promise<void> {
  const server = await startNodeModbusServer();
  const policy = doc({
    zones: [zone('station', ['127.0.0.0/8']), zone('control', ['10.10.1.0/24'])],
    assets: [asset('plc-1', 'control', ['10.10.1.20'])],
    identities: [identity('hmi-1', { zone: 'station', addresses: ['127.0.0.1'] })],
    conduits: [conduit({ id: 'hmi-reads', from: { identities: ['hmi-1'] }, to: { assets: ['plc-1'] }, allow: { functions: [3], units: [1], addresses: [{ start: 0, end: 99 }] } })],
  });
  const decider = new IndexDecider(compile(policy, { version: 'bench' }));
  const dir = mkdtempSync(join(tmpdir(), 'zg-audit-proxy-'));
  const key = await loadOrCreateDeviceKey({ stateDir: dir });
  const log = await AuditLog.open({ dir: join(dir, 'audit'), device: 'gw-bench', key, flood: false });
  const noop: AuditSink = { record: () => undefined };
  const proxies = await Promise.all([noop, log].map(async (audit) => {
    const p = createModbusProxy({ listen: { host: '127.0.0.1', port: 0 }, upstream: { host: '127.0.0.1', port: server.port }, asset: 'plc-1', servicePort: 502, decider, audit, now: Date.now });
    await p.start(new AbortController().signal);
    return p;
  }));
  const rates: [number[], number[]] = [[], []];
  await load(proxies[0].address().port, 500); // warm-up
  await load(proxies[1].address().port, 500);
  await log.flush();
  const s0 = log.status();
  let loggedMs = 0;
  for (let round = 0; round < ROUNDS; round++) {
    for (const i of [0, 1] as const) {
      const t0 = Date.now();
      rates[i].push(await load(proxies[i].address().port, (SECONDS * 1000) / ROUNDS));
      if (i === 1) loggedMs += Date.now() - t0;
    }
  }
  await log.flush();
  const st = log.status();
  const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1];
  const records = st.records - s0.records;
  const fsyncs = st.fsyncs - s0.fsyncs;
  const round = (a: number[]) => a.map((x) => Math.round(x / 100) / 10).join(' ');
  printTable('Auditing on the Modbus proxy: the durable audit log beside a no-op sink', [
    { what: `proxy req/s, ${CONNECTIONS} connections, every request audited to disk (median of ${ROUNDS})`, value: median(rates[1]), unit: 'req/s', peer: 'same proxy, no-op audit sink', peerValue: median(rates[0]), better: 'higher', goal: 'enforcement never waits on the disk' },
  ], [
    `rounds (k req/s): audited ${round(rates[1])}; no-op ${round(rates[0])}`,
    `audit log while measured: ${records} records in ${fsyncs} write + fsync (${Math.round(records / Math.max(1, fsyncs))} records each, ${Math.round(fsyncs / (loggedMs / 1000))}/s), ${st.dropped.queueFull} dropped for a full queue; server, proxy and load in one process (relative cost on one event loop)`,
  ]);
  for (const p of proxies) await p.stop();
  await log.close();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
