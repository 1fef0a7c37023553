// The audit-upload resync through a REAL mosquitto (persistence off, as the demo's): the gateway
// side is the daemon's own wiring (AuditLog + MqttSync + AuditUploader with onResync), the fleet
// side the collector with its file store. The uploader's ack timeout is 10 minutes, so only the
// collector's `audit-resync` announcement can bring it to send again what went to nobody.
//   1. The collector stops, the broker restarts (its session is gone), the gateway writes and
//      publishes (the broker acks the batches and drops them: nobody subscribes), the collector
//      comes back: its announcement makes the gateway resend; every seq stored once, the copy
//      verifies.
//   2. Malformed announcements (not JSON, wrong version, another site, over the size cap, a
//      spread above 60 s) are refused, counted, written to the gateway's own audit log, and
//      change nothing; a good one after them still works.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AuditLog } from '../../runtime/audit/log';
import { createAuditUploader, type AuditUploader } from '../../runtime/audit/upload';
import { decodeRecord } from '../../protocol/audit/record';
import { encodeAuditResync } from '../../protocol/audit/upload-batch';
import { verifyAuditDir } from '../../protocol/audit/verify';
import { scanSegment } from '../../protocol/audit/scan';
import { sortSegments } from '../../protocol/audit/segment';
import { createMqttSync, type MqttSync } from '../../runtime/sync/mqtt-sync';
import { auditResyncTopic } from '../../protocol/mqtt/topics';
import { startCollector, type CollectorConnection } from '../../fleet/audit-collect-mqtt';
import { startMosquitto, skipReason, type Mosquitto } from '../helpers/mosquitto';
import { fakeHandlers, observer, waitFor } from '../sync/helpers';
import { decisionEvent, makeKey, tempDir } from '../audit/helpers';

const SITE = 'substation-12';
const DEVICE = 'gw-resync-1';
const skip = skipReason();
const t = tempDir('zg-resync-');
const key = makeKey();
const out = join(t.dir, 'fleet');
let broker: Mosquitto;
let log: AuditLog;
let sync: MqttSync;
let uploader: AuditUploader;
let coll: CollectorConnection | null = null;
const announced: number[] = [];
/** What each side saw, printed when a wait gives up (a flake must say why). */
const seen: string[] = [];
const mark = (what: string) => { seen.push(`${new Date().toISOString().slice(11, 23)} ${what}`); };
let published = 0;
let n = 0;

/** waitFor, and on giving up: the announcements both sides saw, the uploader's, the sync's and the collector's state, the broker's log. */
async function waitOrExplain(cond: () => boolean, what: string, limitMs: number): Promise<void> {
  try {
    await waitFor(cond, what, limitMs);
  } catch (e) {
    const sy = sync.status();
    const lines = [
      (e as Error).message,
      `log: last seq ${lastSeq()}, uploaded mark ${log.status().uploadedThrough}; publishes resolved ${published}`,
      `uploader: ${JSON.stringify(uploader.status())}`,
      `gateway sync: connected ${sy.connected}, last connect ${sy.lastConnectAt}, last disconnect ${sy.lastDisconnectAt}, attempts ${sy.reconnectAttempts}, received ${sy.messagesReceived}, refused ${sy.messagesRefused}, last error ${JSON.stringify(sy.lastError)}, last connect error ${JSON.stringify(sy.lastConnectError)}`,
      `collector: ${coll === null ? 'not running' : JSON.stringify(coll.collector.status())}`,
      `announcements the collector had acknowledged by the broker: ${JSON.stringify(announced)}`,
      'events:', ...seen.map((l) => `  ${l}`),
      'broker log (tail):', broker.log().split('\n').slice(-25).join('\n'),
    ];
    throw new Error(lines.join('\n'));
  }
}

async function writeRecords(count: number): Promise<void> {
  for (let i = 0; i < count; i++, n++) log.record(decisionEvent(n, { decision: n % 5 === 0 ? 'deny' : 'allow', at: 1_767_000_000_000 + n * 1000 }));
  await log.flush();
  uploader.kick();
}

const lastSeq = () => log.status().nextSeq - 1;
const collect = () => startCollector({
  broker: { url: broker.url }, site: SITE, out,
  onResync: (ms) => { announced.push(ms); mark(`collector: announcement (spread ${ms} ms) acknowledged by the broker`); },
  onBatch: (r) => mark(`collector: batch ${r.outcome}${r.through !== undefined ? ` through ${r.through}` : ''}${r.stored ? `, ${r.stored} stored` : ''}${r.reason ? ` (${r.reason})` : ''}`),
  onError: (m) => mark(`collector: error ${m}`),
});
const brief = () => { const u = uploader.status(); return `acked ${u.ackedThrough}, sent ${u.sentThrough}, in flight ${u.inFlight}, resyncs ${u.resyncs}, resync resends ${u.resyncResends}, rewinds ${u.rewinds}, batches ${u.batchesSent}`; };


function storedSeqs(): number[] {
  const dir = join(out, DEVICE);
  const seqs: number[] = [];
  for (const s of sortSegments(dir, readdirSync(dir))) for (const r of scanSegment(readFileSync(s.path), s.firstSeq).records) seqs.push(r.seq);
  return seqs;
}

test.before(async () => {
  if (skip) return;
  broker = await startMosquitto();
  log = await AuditLog.open({ dir: join(t.dir, 'state', 'audit'), device: DEVICE, key, checkpointEvery: 40, flushDelayMs: 5, flood: false });
  sync = createMqttSync({
    site: SITE, device: DEVICE, url: broker.url, handlers: fakeHandlers().handlers, runtimeVersion: 'test', audit: log,
    backoff: { initialMs: 50, maxMs: 300 }, clientOptions: { connectTimeout: 2000 },
    log: (level, m) => mark(`gateway sync ${level}: ${m}`),
  });
  sync.onAuditResync((r) => mark(`gateway: heard announcement of ${r.collector} (spread ${r.spreadMs} ms); uploader ${uploader === undefined ? 'not built' : brief()}`));
  await sync.start();
  uploader = createAuditUploader({
    log, device: DEVICE, site: SITE,
    publish: (b) => sync.publishAuditBatch(b).then(() => { published++; }),
    onAck: (cb) => sync.onAuditAck(cb), onResync: (cb) => sync.onAuditResync(cb),
    maxRecords: 32, window: 3, pollMs: 50, backoff: { initialMs: 50, maxMs: 300 },
    // Only a resync can make it send again: the test is over long before this.
    ackTimeoutMs: 10 * 60_000,
    onLog: (level, m) => mark(`uploader ${level}: ${m}`),
  });
  coll = await collect();
  await waitFor(() => sync.status().connected, 'the gateway connected');
  uploader.start();
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

test('a collector back without a session gets, through its announcement, what went to nobody while it was away', async () => {
  if (skip) { console.log(`SKIP: ${skip}`); return; }
  await writeRecords(100);
  await waitOrExplain(() => uploader.status().ackedThrough === lastSeq(), 'the first records acked', 20_000);
  mark(`test: first records acked (${brief()}); collector closing`);
  await coll!.close();
  coll = null;
  mark('test: broker restarting');
  // The broker restarts without persistence: the collector's persistent session is gone with it.
  await broker.stop();
  await broker.start();
  await waitOrExplain(() => sync.status().connected, 'the gateway reconnected', 20_000);
  const acked = uploader.status().ackedThrough;
  await writeRecords(50); // fewer than the window holds (3 batches of 32): all of them sent
  // Every batch sent and acknowledged by the broker, to nobody: no subscriber, no ack.
  await waitOrExplain(() => { const s = uploader.status(); return s.sentThrough === lastSeq() && published === s.batchesSent; }, 'the new records published', 20_000);
  assert.is(uploader.status().ackedThrough, acked, 'nothing acked while no collector runs');
  assert.ok(uploader.status().inFlight > 0);
  const before = uploader.status();
  mark(`test: new records published to nobody (${brief()}); collector starting`);
  coll = await collect();
  mark('test: collector subscribed');
  // 10 minutes of ack timeout: only the resync can deliver them.
  await waitOrExplain(() => uploader.status().ackedThrough === lastSeq(), 'every record acked after the collector came back', 20_000);
  const s = uploader.status();
  assert.ok(announced.length >= 2, `the collector announced itself at each start (${announced.join(', ')} ms)`);
  assert.ok(announced.every((ms) => ms === 500), 'one device known: the smallest spread');
  assert.is(s.resyncResends, before.resyncResends + 1, JSON.stringify(s));
  assert.is(s.rewinds, before.rewinds + 1, 'one resend, from the acked point');
  await coll.collector.idle();
  const seqs = storedSeqs();
  assert.is(seqs.length, lastSeq() + 1);
  for (let i = 0; i < seqs.length; i++) if (seqs[i] !== i) assert.unreachable(`seq ${i} stored as ${seqs[i]}`);
  const rep = await verifyAuditDir(join(out, DEVICE), { devicePublicKey: key.publicRaw });
  assert.ok(rep.ok, JSON.stringify(rep.error));
});

test('malformed announcements are refused, audit-logged and change nothing', async () => {
  if (skip) return;
  const c = await observer(broker.url);
  const topic = auditResyncTopic(SITE);
  const refusedBefore = sync.status().messagesRefused;
  const heardBefore = uploader.status().resyncs;
  const firstSeq = log.status().nextSeq;
  const bad: Buffer[] = [
    Buffer.from('{"v":1,"site":"substation-12"'),
    Buffer.from(JSON.stringify({ v: 2, site: SITE, collector: 'c', spreadMs: 0 })),
    Buffer.from(JSON.stringify({ v: 1, site: 'other-site', collector: 'c', spreadMs: 0 })),
    Buffer.from(JSON.stringify({ v: 1, site: SITE, collector: 'c'.repeat(1100), spreadMs: 0 })),
    Buffer.from(JSON.stringify({ v: 1, site: SITE, collector: 'c', spreadMs: 3_600_000 })),
  ];
  for (const b of bad) await c.publishAsync(topic, b, { qos: 1 });
  await waitFor(() => sync.status().messagesRefused === refusedBefore + bad.length, 'five refusals');
  assert.is(uploader.status().resyncs, heardBefore, 'none reached the uploader');
  assert.match(sync.status().lastError?.message ?? '', 'audit resync refused: spreadMs is not an integer from 0 to 60000');
  // The refusals are in the gateway's own hash-chained audit log, with their reasons.
  await log.flush();
  const { records } = await log.readFrom(firstSeq, 100);
  const said = records.map((r) => String(decodeRecord(r.payload).message)).filter((m) => /resync/.test(m));
  assert.equal(said, [
    'audit resync refused: not JSON',
    'audit resync refused: unknown resync version 2',
    'audit resync refused: says site "other-site" on a topic of site substation-12',
    // Over the cap: refused on its size, before any decoding.
    `audit-resync payload of ${bad[3].length} bytes exceeds the 1024-byte limit`,
    'audit resync refused: spreadMs is not an integer from 0 to 60000',
  ]);
  // A well-formed one is still heard.
  await c.publishAsync(topic, encodeAuditResync({ site: SITE, collector: 'test', spreadMs: 0 }), { qos: 1 });
  await waitFor(() => uploader.status().resyncs === heardBefore + 1, 'the good announcement heard');
  await c.endAsync();
});

test.run();
