// Audit upload throughput through a REAL mosquitto on loopback: the whole chain (AuditLog cursor →
// uploader → broker → collector: verify, store with fsync, ack → uploader) beside a peer that
// publishes the same batches QoS 1 to a subscriber that only counts them; and the collector's
// verify+store step alone beside verifyAuditDir over the same records (verification only).
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { AuditLog } from '../../runtime/audit/log';
import { createAuditUploader } from '../../runtime/audit/upload';
import { encodeAuditBatch } from '../../protocol/audit/upload-batch';
import { verifyAuditDir } from '../../protocol/audit/verify';
import { createMqttSync } from '../../runtime/sync/mqtt-sync';
import { deviceTopic } from '../../protocol/mqtt/topics';
import { createAuditCollector } from '../../fleet/audit-collect';
import { startCollector } from '../../fleet/audit-collect-mqtt';
import { startMosquitto, skipReason } from '../helpers/mosquitto';
import { fakeHandlers, observer, waitFor } from '../sync/helpers';
import { decisionEvent, makeKey, tempDir } from '../audit/helpers';
import { printTable } from './report';

const N = 20_000;
const BATCH = 256;

async function main(): Promise<void> {
  const skip = skipReason();
  if (skip) { console.log(`SKIP: ${skip}`); return; }
  const t = tempDir('zg-upload-bench-');
  const broker = await startMosquitto();
  const key = makeKey();
  try {
    const log = await AuditLog.open({ dir: join(t.dir, 'audit'), device: 'gw-b', key, flood: false, flushDelayMs: 1 });
    for (let i = 0; i < N; i++) log.record(decisionEvent(i));
    await log.flush();
    const total = log.status().nextSeq;
    const { records } = await log.readFrom(0, total);
    const batches: Buffer[] = [];
    for (let i = 0; i < records.length; i += BATCH) batches.push(encodeAuditBatch({ device: 'gw-b', site: 's', fromSeq: i, records: records.slice(i, i + BATCH).map((r) => r.payload) }));

    // Peer: the same batches, QoS 1, to a subscriber that counts records.
    const sub = await observer(broker.url);
    let seen = 0;
    await sub.subscribeAsync(deviceTopic({ site: 's', device: 'peer', kind: 'audit' }), { qos: 1 });
    sub.on('message', (_t, p) => { seen += Math.min(BATCH, total - seen); void p; });
    const pub = await observer(broker.url);
    let t0 = performance.now();
    await Promise.all(batches.map((b) => pub.publishAsync(deviceTopic({ site: 's', device: 'peer', kind: 'audit' }), b, { qos: 1 })));
    await waitFor(() => seen >= total, 'the peer subscriber', 120_000);
    const peerRate = total / ((performance.now() - t0) / 1000);
    await pub.endAsync();
    await sub.endAsync();

    // zonegate: uploader → broker → collector (verify, store + fsync, ack) → uploader.
    const coll = await startCollector({ broker: { url: broker.url }, site: 's', out: join(t.dir, 'fleet') });
    const sync = createMqttSync({ site: 's', device: 'gw-b', url: broker.url, handlers: fakeHandlers().handlers, runtimeVersion: 'bench' });
    await sync.start();
    await waitFor(() => sync.status().connected, 'sync');
    const up = createAuditUploader({ log, device: 'gw-b', site: 's', publish: (b) => sync.publishAuditBatch(b), onAck: (cb) => sync.onAuditAck(cb), maxRecords: BATCH, window: 4, pollMs: 20 });
    t0 = performance.now();
    up.start();
    await waitFor(() => up.status().ackedThrough === total - 1, 'everything acked', 300_000);
    const fullRate = total / ((performance.now() - t0) / 1000);
    up.stop();
    await sync.stop();
    await coll.close();

    // The collector step alone (verify + store + fsync per batch), beside verification alone.
    const c = createAuditCollector({ out: join(t.dir, 'fleet2'), site: 's', ack: () => undefined });
    t0 = performance.now();
    for (const b of batches) await c.handle(deviceTopic({ site: 's', device: 'gw-b', kind: 'audit' }), b);
    const storeRate = total / ((performance.now() - t0) / 1000);
    await c.close();
    t0 = performance.now();
    const rep = await verifyAuditDir(join(t.dir, 'audit'));
    const verifyRate = rep.records / ((performance.now() - t0) / 1000);
    await log.close();

    printTable(`audit upload, ${total.toLocaleString('en-US')} records (~${Math.round(records.reduce((a, r) => a + r.payload.length, 0) / total)} B each), batches of ${BATCH}, loopback mosquitto`, [
      { what: 'upload → verify → store (fsync) → ack, end to end', value: fullRate, unit: 'records/s', peer: 'same batches QoS 1 to a counting subscriber', peerValue: peerRate, better: 'higher' },
      { what: 'collector: verify + store (fsync per batch)', value: storeRate, unit: 'records/s', peer: 'verifyAuditDir (verify only)', peerValue: verifyRate, better: 'higher' },
    ], ['2 shared cores, other helpers running: figures are noisy.']);
  } finally {
    await broker.close();
    t.cleanup();
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
