// The collector core without a broker: out-of-order batches wait for the hole, overlapping and
// duplicate batches store each seq once, a collector restart continues from its folder (torn
// tail cut, key still pinned), bad headers and unknown topics are refused or ignored.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { appendFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { AuditLog, type CursorRecord } from '../../runtime/audit/log';
import { encodeAuditBatch } from '../../protocol/audit/upload-batch';
import { verifyAuditDir } from '../../protocol/audit/verify';
import { deviceTopic } from '../../protocol/mqtt/topics';
import { createAuditCollector, type CollectorAlert } from '../../fleet/audit-collect';
import { decisionEvent, makeKey, tempDir } from '../audit/helpers';

const SITE = 's1';
const DEV = 'gw-o';
const t = tempDir('zg-collect-order-');
const key = makeKey();
const topic = deviceTopic({ site: SITE, device: DEV, kind: 'audit' });
let records: CursorRecord[] = [];

const batch = (from: number, to: number, o: { device?: string; site?: string } = {}) =>
  encodeAuditBatch({ device: o.device ?? DEV, site: o.site ?? SITE, fromSeq: from, records: records.slice(from, to + 1).map((r) => r.payload) });

function collector(out: string, alerts: CollectorAlert[] = [], extra: { allowMidChainStart?: boolean } = {}) {
  const acks: number[] = [];
  const c = createAuditCollector({ out, site: SITE, ack: (d, through) => { if (d === DEV) acks.push(through); }, onAlert: (a) => alerts.push(a), ...extra });
  return { c, acks };
}

test.before(async () => {
  const log = await AuditLog.open({ dir: join(t.dir, 'dev'), device: DEV, key, checkpointEvery: 15, flushDelayMs: 1, batchMax: 10, flood: false });
  for (let i = 0; i < 59; i++) { log.record(decisionEvent(i)); if (i % 10 === 9) await log.flush(); }
  await log.close();
  records = (await log.readFrom(0, 1000)).records;
  assert.ok(records.length >= 60);
});
test.after(() => t.cleanup());

test('batches after a hole wait until it is filled; acks stay at the contiguous end', async () => {
  const out = join(t.dir, 'o1');
  const { c, acks } = collector(out);
  let r = await c.handle(topic, batch(20, 29));
  assert.is(r.outcome, 'pending', 'a new device must start at seq 0');
  r = await c.handle(topic, batch(0, 9));
  assert.equal([r.outcome, r.through], ['stored', 9]);
  r = await c.handle(topic, batch(30, 39));
  assert.equal([r.outcome, r.through], ['pending', 9]);
  assert.equal(acks, [9, 9]);
  r = await c.handle(topic, batch(10, 19)); // fills the hole: 20..39 follow from pending
  assert.equal([r.outcome, r.stored, r.through], ['stored', 30, 39]);
  assert.is(c.status().devices[0].pending, 0);
  // Overlap: 35..44 stores only 40..44; a full duplicate stores nothing and re-acks.
  r = await c.handle(topic, batch(35, 44));
  assert.equal([r.outcome, r.stored, r.through], ['stored', 5, 44]);
  r = await c.handle(topic, batch(0, 9));
  assert.equal([r.outcome, r.through], ['duplicate', 44]);
  assert.is(acks[acks.length - 1], 44);
  await c.close();
  const rep = await verifyAuditDir(join(out, DEV), { devicePublicKey: key.publicRaw });
  assert.ok(rep.ok, JSON.stringify(rep.error));
  assert.equal([rep.firstSeq, rep.lastSeq, rep.records], [0, 44, 45]);
});

test('a restarted collector continues from its folder: torn tail cut, key still pinned', async () => {
  const out = join(t.dir, 'o1');
  // A crash mid-write left half a frame at the end of the last segment.
  const segs = readdirSync(join(out, DEV)).filter((n) => n.endsWith('.seg')).sort();
  appendFileSync(join(out, DEV, segs[segs.length - 1]), Buffer.from([0, 0, 1, 0, 9, 9]));
  const alerts: CollectorAlert[] = [];
  const { c } = collector(out, alerts);
  let r = await c.handle(topic, batch(40, 49));
  assert.equal([r.outcome, r.stored, r.through], ['stored', 5, 49]);
  assert.is(c.status().devices[0].key, 'pinned');
  // The rest of the log.
  r = await c.handle(topic, batch(50, records.length - 1));
  assert.is(r.through, records.length - 1);
  await c.close();
  const rep = await verifyAuditDir(join(out, DEV), { devicePublicKey: key.publicRaw });
  assert.ok(rep.ok, JSON.stringify(rep.error));
  assert.is(rep.records, records.length);
  assert.is(alerts.length, 0);
});

test('headers that lie, garbage, other sites and a mid-chain start', async () => {
  const out = join(t.dir, 'o2');
  const alerts: CollectorAlert[] = [];
  const { c, acks } = collector(out, alerts);
  let r = await c.handle(topic, batch(0, 4, { device: 'gw-x' }));
  assert.is(r.outcome, 'refused');
  assert.match(r.reason!, `batch on ${topic} says device gw-x, site ${SITE}`);
  r = await c.handle(topic, Buffer.from('not cbor at all'));
  assert.is(r.outcome, 'refused');
  assert.match(r.reason!, 'is not an audit batch');
  // Seqs that disagree with the header: records 0..4 announced as 1..5 (after storing seq 0).
  await c.handle(topic, batch(0, 0));
  r = await c.handle(topic, encodeAuditBatch({ device: DEV, site: SITE, fromSeq: 1, records: records.slice(2, 6).map((x) => x.payload) }));
  assert.is(r.outcome, 'refused');
  assert.match(r.reason!, 'fails verification (seq)');
  r = await c.handle(deviceTopic({ site: 'other', device: DEV, kind: 'audit' }), batch(1, 5));
  assert.is(r.outcome, 'ignored');
  r = await c.handle(`zonegate/v1/${SITE}/../audit`, batch(0, 5, { device: '..' }));
  assert.is(r.outcome, 'ignored', 'a device id that would leave the output folder');
  assert.match(r.reason!, 'cannot name a folder');
  assert.equal(acks, [0]);
  assert.is(alerts.filter((a) => a.code === 'batch-invalid').length, 3);
  assert.is(c.status().devices[0].refused, 3);
  assert.is(readdirSync(join(out, DEV, 'refused')).filter((n) => n.endsWith('.batch')).length, 3);
  await c.close();
  // Allowed mid-chain start: a device collected from seq 30 on.
  const o3 = collector(join(t.dir, 'o3'), [], { allowMidChainStart: true });
  r = await o3.c.handle(topic, batch(30, 44));
  assert.equal([r.outcome, r.through], ['stored', 44]);
  await o3.c.close();
  const rep = await verifyAuditDir(join(t.dir, 'o3', DEV), { devicePublicKey: key.publicRaw });
  assert.ok(rep.ok);
  assert.is(rep.startsMidChain, true);
});

test.run();
