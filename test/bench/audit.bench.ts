/**
 * Audit log throughput and hot-path cost, each beside its peer in the same run:
 *  - hash-chained, CBOR-framed appends with group commit (one write + one fsync per batch of up
 *    to 512, 50 ms) vs the same log with one fsync per record (batchMax 1);
 *  - record() as the caller pays it (ns per call) vs a no-op AuditSink, for allowed decisions
 *    (always queued verbatim) and for a deny flood (counted by the summariser).
 * Realistic Modbus decision events; real files with real fsync in the OS temp folder.
 * Run: node build/run-bench.mjs audit
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, loadavg, cpus } from 'node:os';
import { join } from 'node:path';
import type { AuditEvent, AuditSink } from '../../drivers/types';
import { AuditLog } from '../../runtime/audit/log';
import { rawFromPublicKey } from '../../runtime/audit/checkpoint';
import { verifyAuditDir } from '../../runtime/audit/verify';
import { printTable, percentiles, type BenchRow } from './report';

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const key = { privateKey, publicRaw: rawFromPublicKey(publicKey) };
const root = mkdtempSync(join(tmpdir(), 'zg-audit-bench-'));
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

function event(i: number, deny: boolean): AuditEvent {
  return {
    kind: 'decision', at: 1_760_000_000_000 + i, source: 'modbus-tcp',
    decision: deny
      ? { decision: 'deny', conduit: null, reason: 'function-not-allowed', identity: 'hmi-1' }
      : { decision: 'allow', conduit: `conduit-${i % 200}`, reason: null, identity: `hmi-${i % 50}` },
    policyVersion: '1042', src: `10.10.1.${i % 250}`, srcPort: 40000 + (i % 20000), asset: `plc-feeder-${i % 40}`, port: 502,
    protocol: 'modbus', modbus: { function: deny ? 6 : 3, unit: 1, address: i % 1000, count: deny ? 1 : 10 },
  };
}
const allows = Array.from({ length: 4096 }, (_, i) => event(i, false));
const denies = Array.from({ length: 4096 }, (_, i) => event(i, true));

/** Appends n events in caller-sized chunks (the writer runs between chunks); records/s to durable. */
async function throughput(name: string, n: number, batchMax: number): Promise<{ perSec: number; fsyncs: number }> {
  const dir = join(root, name);
  const log = await AuditLog.open({ dir, device: 'bench', key, batchMax, queueCapacity: n + 16, flood: false, segmentBytes: 4 << 20, maxBytes: 1 << 30 });
  await log.flush();
  const f0 = log.status().fsyncs;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    log.record(allows[i & 4095]);
    if ((i & 255) === 255) await tick();
  }
  await log.flush();
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const fsyncs = log.status().fsyncs - f0;
  await log.close();
  const rep = await verifyAuditDir(dir, { devicePublicKey: key.publicRaw });
  if (!rep.ok) throw new Error(`bench log does not verify: ${JSON.stringify(rep.error)}`);
  return { perSec: n / secs, fsyncs };
}

/** ns per record() call, median and p99 over chunks of 512 calls; the writer runs between chunks. */
async function callerCost(sink: AuditSink, events: AuditEvent[], chunks: number): Promise<{ p50: number; p99: number }> {
  const samples: number[] = [];
  for (let c = 0; c < chunks; c++) {
    const base = (c * 512) & 4095;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 512; i++) sink.record(events[base + i]);
    samples.push(Number(process.hrtime.bigint() - t0) / 512);
    if ((c & 7) === 7) await tick();
  }
  return percentiles(samples);
}

async function main(): Promise<void> {
  const rows: BenchRow[] = [];
  const group = await throughput('group', 200_000, 512);
  const single = await throughput('single', 3_000, 1);
  rows.push({ what: 'hash-chained appends to disk, group commit', value: group.perSec, unit: 'rec/s', peer: 'fsync per record', peerValue: single.perSec, better: 'higher', goal: '≈ 80–110k/s (design ref.)' });
  rows.push({ what: 'records per fsync, group commit', value: 200_000 / group.fsyncs, unit: 'rec', peer: 'fsync per record', peerValue: 3_000 / single.fsyncs, better: 'higher' });

  const noop: AuditSink = { record() { /* peer */ } };
  const sinkLog = await AuditLog.open({ dir: join(root, 'caller'), device: 'bench', key, queueCapacity: 1 << 20, maxBytes: 1 << 30, flood: { windowMs: 10_000, verbatim: 3 } });
  // warm-up
  await callerCost(noop, allows, 100);
  await callerCost(sinkLog, allows, 100);
  await sinkLog.flush();
  const peerAllow = await callerCost(noop, allows, 600);
  const allow = await callerCost(sinkLog, allows, 600);
  await sinkLog.flush();
  const deny = await callerCost(sinkLog, denies, 600);
  const st = sinkLog.status();
  await sinkLog.close();
  rows.push({ what: 'record() on the caller, allowed decision (median)', value: allow.p50, unit: 'ns', peer: 'no-op sink', peerValue: peerAllow.p50, better: 'lower' });
  rows.push({ what: 'record() on the caller, allowed decision (p99)', value: allow.p99, unit: 'ns', peer: 'no-op sink', peerValue: peerAllow.p99, better: 'lower' });
  rows.push({ what: 'record() on the caller, deny flood (median)', value: deny.p50, unit: 'ns', peer: 'no-op sink', peerValue: peerAllow.p50, better: 'lower' });
  printTable('audit log: group commit and caller cost', rows, [
    `${cpus().length} cores, load ${loadavg().map((x) => x.toFixed(2)).join(' ')}; files in ${tmpdir()} with real fsync; 200,000 records (group) vs 3,000 (fsync each)`,
    `group commit: ${group.fsyncs} fsyncs for 200,000 records; caller-cost log: ${st.records} records written, ${st.summarised} denials summarised, ${st.dropped.queueFull} dropped`,
  ]);
}

main().then(() => rmSync(root, { recursive: true, force: true }), (e) => { rmSync(root, { recursive: true, force: true }); console.error(e); process.exitCode = 1; });
