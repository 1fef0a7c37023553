// Store-and-forward upload of the audit log through a REAL mosquitto: the gateway side
// (AuditLog + MqttSync + AuditUploader) against the fleet's collector, with the broker restarted
// mid-stream, re-sent duplicates, a tampered batch, and an uploader restart that resumes from the
// cursor on disk. The collector's stored copy must hold every seq exactly once and pass
// verifyAuditDir with the device key pinned.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AuditLog } from '../../runtime/audit/log';
import { createAuditUploader, type AuditUploader } from '../../runtime/audit/upload';
import { decodeAuditBatch, encodeAuditBatch } from '../../protocol/audit/upload-batch';
import { decodeRecord, encodeRecord } from '../../protocol/audit/record';
import { verifyAuditDir } from '../../protocol/audit/verify';
import { scanSegment } from '../../protocol/audit/scan';
import { sortSegments } from '../../protocol/audit/segment';
import { createMqttSync, type MqttSync } from '../../runtime/sync/mqtt-sync';
import { deviceTopic } from '../../protocol/mqtt/topics';
import { startCollector, type CollectorConnection } from '../../fleet/audit-collect-mqtt';
import type { CollectorAlert } from '../../fleet/audit-collect';
import { startMosquitto, skipReason, type Mosquitto } from '../helpers/mosquitto';
import { fakeHandlers, observer, waitFor } from '../sync/helpers';
import { decisionEvent, makeKey, tempDir } from '../audit/helpers';

const SITE = 'substation-12';
const DEVICE = 'gw-upload-1';
const skip = skipReason();
const t = tempDir('zg-upload-');
const key = makeKey();
const auditDir = join(t.dir, 'state', 'audit');
const out = join(t.dir, 'fleet');
let broker: Mosquitto;
let log: AuditLog;
let sync: MqttSync;
let uploader: AuditUploader;
let coll: CollectorConnection;
const alerts: CollectorAlert[] = [];
let n = 0;

function writeRecords(count: number): void {
  for (let i = 0; i < count; i++, n++) log.record(decisionEvent(n, { decision: n % 7 === 0 ? 'deny' : 'allow', at: 1_767_000_000_000 + n * 1000 }));
}

function newUploader(): AuditUploader {
  return createAuditUploader({
    log, device: DEVICE, site: SITE,
    publish: (b) => sync.publishAuditBatch(b), onAck: (cb) => sync.onAuditAck(cb),
    maxRecords: 32, window: 3, pollMs: 50, ackTimeoutMs: 1500, backoff: { initialMs: 50, maxMs: 300 },
  });
}

async function storedSeqs(): Promise<number[]> {
  const dir = join(out, DEVICE);
  const seqs: number[] = [];
  for (const s of sortSegments(dir, readdirSync(dir))) for (const r of scanSegment(readFileSync(s.path), s.firstSeq).records) seqs.push(r.seq);
  return seqs;
}

test.before(async () => {
  if (skip) return;
  broker = await startMosquitto();
  log = await AuditLog.open({ dir: auditDir, device: DEVICE, key, checkpointEvery: 40, flushDelayMs: 5, flood: false });
  sync = createMqttSync({ site: SITE, device: DEVICE, url: broker.url, handlers: fakeHandlers().handlers, runtimeVersion: 'test', backoff: { initialMs: 50, maxMs: 300 }, clientOptions: { connectTimeout: 2000 } });
  await sync.start();
  coll = await startCollector({ broker: { url: broker.url }, site: SITE, out, onAlert: (a) => alerts.push(a) });
});

test.after(async () => {
  if (skip) return;
  uploader?.stop();
  await sync?.stop().catch(() => undefined);
  await coll?.close().catch(() => undefined);
  await log?.close().catch(() => undefined);
  await broker?.close();
  t.cleanup();
});

test('uploads through a broker restarted mid-stream; every seq stored exactly once', async () => {
  if (skip) { console.log(`SKIP: ${skip}`); return; }
  writeRecords(300);
  await log.flush();
  uploader = newUploader();
  uploader.start();
  await waitFor(() => uploader.status().ackedThrough >= 64, 'first acks', 20_000);
  await broker.stop();
  writeRecords(200); // while the broker is down: stays on disk
  await log.flush();
  // Batches sent while the broker is down get no ack: the uploader rewinds (a failed publish or
  // its ack timeout). Waiting for that, not for a time, makes the restart land after it.
  await waitFor(() => uploader.status().rewinds >= 1, 'a rewind while the broker is down', 30_000);
  await broker.start();
  await waitFor(() => uploader.status().ackedThrough === log.status().nextSeq - 1, 'everything acked after the restart', 60_000);
  const s = uploader.status();
  assert.ok(s.rewinds >= 1, `a rewind after the broker restart (status ${JSON.stringify(s)})`);
  assert.is(s.backlog, 0);
  // The log persists the acked point (on its own flush timer; log.flush() does not wait for it).
  const onDisk = () => Number(readFileSync(join(auditDir, 'uploaded'), 'utf8').trim());
  await waitFor(() => onDisk() === s.ackedThrough, `uploaded = ${s.ackedThrough} on disk`);
  const seqs = await storedSeqs();
  assert.is(seqs.length, log.status().nextSeq);
  for (let i = 0; i < seqs.length; i++) if (seqs[i] !== i) assert.unreachable(`seq ${i} stored as ${seqs[i]}`);
  assert.is(alerts.length, 0, JSON.stringify(alerts));
});

test('a re-sent batch is a harmless duplicate', async () => {
  if (skip) return;
  const c = await observer(broker.url);
  const { records } = await log.readFrom(10, 20);
  const before = coll.collector.status();
  await c.publishAsync(deviceTopic({ site: SITE, device: DEVICE, kind: 'audit' }), encodeAuditBatch({ device: DEVICE, site: SITE, fromSeq: 10, records: records.map((r) => r.payload) }), { qos: 1 });
  await waitFor(() => coll.collector.status().duplicates > before.duplicates, 'the duplicate counted');
  await coll.collector.idle();
  const after = coll.collector.status();
  assert.is(after.stored, before.stored);
  assert.is(after.devices[0].through, before.devices[0].through);
  await c.endAsync();
});

test('a tampered batch is refused, kept aside and not acked; the genuine one then goes through', async () => {
  if (skip) return;
  uploader.stop();
  const through = coll.collector.status().devices[0].through;
  writeRecords(10);
  await log.flush();
  const { records } = await log.readFrom(through + 1, 10);
  assert.is(records[0].seq, through + 1);
  // Edit record 3 of the batch (its message) and re-encode it with its own seq and prev: its CRC
  // and decoding are fine, but record 4's prev no longer matches.
  const r3 = decodeRecord(records[3].payload);
  const edited = encodeRecord({ ...r3, message: 'nothing to see here' } as never, r3.seq, r3.prev);
  const payloads = records.map((r, i) => (i === 3 ? edited : r.payload));
  const c = await observer(broker.url);
  const acks: number[] = [];
  await c.subscribeAsync(deviceTopic({ site: SITE, device: DEVICE, kind: 'audit/ack' }), { qos: 1 });
  c.on('message', (_t, p) => acks.push(JSON.parse(p.toString()).through));
  const refusedBefore = coll.collector.status().refused;
  await c.publishAsync(deviceTopic({ site: SITE, device: DEVICE, kind: 'audit' }), encodeAuditBatch({ device: DEVICE, site: SITE, fromSeq: records[0].seq, records: payloads }), { qos: 1 });
  await waitFor(() => coll.collector.status().refused > refusedBefore, 'the refusal');
  await coll.collector.idle();
  assert.is(coll.collector.status().devices[0].through, through, 'nothing of the tampered batch stored');
  assert.ok(acks.every((a) => a <= through), `no ack beyond ${through}: ${acks}`);
  const alert = alerts[alerts.length - 1];
  assert.is(alert.code, 'verify-failed');
  assert.match(alert.message, `record seq ${records[4].seq} of ${DEVICE} fails verification (chain)`);
  assert.ok(alert.evidence && existsSync(alert.evidence), 'the refused batch is kept');
  const kept = decodeAuditBatch(readFileSync(alert.evidence!));
  assert.equal(Buffer.from(kept.batch!.records[3]), edited, 'the evidence holds the exact edited bytes');
  assert.ok(existsSync(alert.evidence!.replace(/\.batch$/, '.json')));
  await c.endAsync();
  // The genuine records from a new uploader (which starts from the cursor on disk).
  uploader = newUploader();
  uploader.start();
  await waitFor(() => uploader.status().ackedThrough === log.status().nextSeq - 1, 'the genuine records acked', 30_000);
});

test('resumes after an uploader and log restart from the acked point on disk', async () => {
  if (skip) return;
  uploader.stop();
  await log.close(); // writes a final checkpoint and the `uploaded` mark
  const acked = Number(readFileSync(join(auditDir, 'uploaded'), 'utf8').trim());
  log = await AuditLog.open({ dir: auditDir, device: DEVICE, key, checkpointEvery: 40, flushDelayMs: 5, flood: false });
  assert.is(log.status().uploadedThrough, acked);
  writeRecords(50);
  await log.flush();
  uploader = newUploader();
  uploader.start();
  await waitFor(() => uploader.status().ackedThrough === log.status().nextSeq - 1, 'the new records acked', 30_000);
  const s = uploader.status();
  // It started from the cursor: it sent only what came after the acked point (plus any rewinds).
  assert.ok(s.recordsSent >= log.status().nextSeq - 1 - acked, JSON.stringify(s));
  assert.ok(s.recordsSent <= (log.status().nextSeq - 1 - acked) * (s.rewinds + 1), `no re-upload from seq 0: ${JSON.stringify(s)}`);
  const seqs = await storedSeqs();
  assert.is(seqs.length, log.status().nextSeq);
  assert.is(seqs[seqs.length - 1], log.status().nextSeq - 1);
});

test("the collector's stored log passes verifyAuditDir with the device key pinned", async () => {
  if (skip) return;
  uploader.stop();
  await log.close();
  log = await AuditLog.open({ dir: auditDir, device: DEVICE, key, checkpointEvery: 40, flushDelayMs: 5, flood: false });
  // The reopened log's "opened" record takes its seq only once written: wait for it, so that
  // "everything acked" below means through that record too.
  await log.flush();
  const last = log.status().nextSeq - 1;
  uploader = newUploader();
  uploader.start();
  await waitFor(() => uploader.status().ackedThrough >= last, `acked through ${last}`, 30_000);
  await coll.collector.idle();
  const report = await verifyAuditDir(join(out, DEVICE), { devicePublicKey: key.publicRaw });
  assert.ok(report.ok, JSON.stringify(report.error));
  assert.is(report.firstSeq, 0);
  assert.ok(report.lastSeq! >= last, `stored through ${report.lastSeq}, log through ${last}`);
  assert.is(report.records, report.lastSeq! + 1);
  assert.ok(report.checkpoints >= 3, `checkpoints ${report.checkpoints}`);
  assert.ok(report.anchors.some((a) => a.source === 'checkpoint.latest' && a.status === 'reached'));
  // The key the collector pinned from the first checkpoint is the device's.
  const dev = coll.collector.status().devices[0];
  assert.is(dev.key, 'first-checkpoint');
  assert.ok(readFileSync(join(out, DEVICE, 'pinned-key.pub'), 'utf8').includes('BEGIN PUBLIC KEY'));
  // A wrong pinned key fails.
  const bad = await verifyAuditDir(join(out, DEVICE), { devicePublicKey: makeKey().publicRaw });
  assert.is(bad.ok, false);
  assert.is(bad.error?.code, 'checkpoint-key');
});

test.run();
