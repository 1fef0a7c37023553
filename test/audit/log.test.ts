import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { join, sep } from 'node:path';
import { AuditLog, type AuditAlarm } from '../../runtime/audit/log';
import { verifyAuditDir, ChainVerifier } from '../../protocol/audit/verify';
import { decodeRecord, type AuditRecord } from '../../protocol/audit/record';
import { readAuditRecords } from '../../protocol/audit/query';
import { decisionEvent, makeKey, tempDir, testFs } from './helpers';
import { nodeAuditFs, type AuditFs } from '../../runtime/audit/fs';

const key = makeKey();
const open = (dir: string, o: Partial<Parameters<typeof AuditLog.open>[0]> = {}) =>
  AuditLog.open({ dir, device: 'gw-test', key, ...o });
const all = async (dir: string): Promise<AuditRecord[]> => (await readAuditRecords(dir)).records;

test('append, flush, read back through the cursor; reopen continues the chain', async () => {
  const t = tempDir();
  try {
    const dir = join(t.dir, 'audit');
    const log = await open(dir);
    for (let i = 0; i < 10; i++) log.record(decisionEvent(i));
    await log.flush();
    const { records, next } = await log.readFrom(0, 100);
    assert.is(records.length, 11); // 'created' + 10 decisions
    assert.is(next, 11);
    const decoded = records.map((r) => decodeRecord(r.payload));
    assert.equal(decoded.map((r) => r.seq), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.is(decoded[0].kind, 'log');
    assert.is(decoded[0].message, 'created');
    assert.equal(decoded[3].decision, decisionEvent(2).decision);
    assert.equal(decoded[3].modbus, decisionEvent(2).modbus);
    const part = await log.readFrom(4, 3);
    assert.equal(part.records.map((r) => r.seq), [4, 5, 6]);
    assert.is(part.next, 7);
    await log.close();
    let rep = await verifyAuditDir(dir, { devicePublicKey: key.publicRaw });
    assert.is(rep.ok, true, JSON.stringify(rep.error));
    assert.is(rep.records, 12);
    assert.is(rep.checkpoints, 1);
    assert.is(rep.lastCheckpoint?.seq, 10);
    assert.is(rep.recordsAfterLastCheckpoint, 0);
    assert.equal(rep.anchors, [{ source: 'checkpoint.latest', recordSeq: 11, status: 'reached' }]);

    const again = await open(dir);
    assert.is(again.status().nextSeq, 12);
    again.record(decisionEvent(99));
    await again.close();
    rep = await verifyAuditDir(dir, { devicePublicKey: key.publicRaw });
    assert.is(rep.ok, true, JSON.stringify(rep.error));
    assert.is(rep.lastSeq, 14);
    const recs = await all(dir);
    const opened = recs.find((r) => r.message === 'opened');
    assert.equal(opened?.detail, { clean: true, truncatedBytes: 0 });
  } finally { t.cleanup(); }
});

test('the upload cursor hands out payloads the fleet verifies batch by batch with ChainVerifier', async () => {
  const t = tempDir();
  try {
    const log = await open(t.dir, { segmentBytes: 2048, checkpointEvery: 25 });
    for (let i = 0; i < 200; i++) { log.record(decisionEvent(i)); if (i % 9 === 0) await log.flush(); }
    await log.flush();
    let after: { seq: number; hash: Uint8Array } | undefined;
    let next = 0;
    let total = 0;
    for (;;) {
      const batch = await log.readFrom(next, 64);
      if (batch.records.length === 0) break;
      const v = new ChainVerifier({ devicePublicKey: key.publicRaw, after });
      for (const r of batch.records) assert.ok(v.addPayload(r.payload), JSON.stringify(v.report.error));
      total += batch.records.length;
      after = { seq: v.report.lastSeq as number, hash: Buffer.from(v.report.head as string, 'hex') };
      log.uploadedThrough(after.seq);
      next = batch.next;
    }
    assert.is(total, log.status().nextSeq);
    assert.is(log.status().uploadedThrough, total - 1);
    // A batch that does not continue from the acknowledged head is refused.
    const first = await log.readFrom(10, 2);
    const v = new ChainVerifier({ after: { seq: 8, hash: Buffer.alloc(32) } });
    assert.not.ok(v.addPayload(first.records[0].payload));
    assert.is(v.report.error?.code, 'seq');
    await log.close();
  } finally { t.cleanup(); }
});

test('the chain runs across segment rolls; segment names match their first seq', async () => {
  const t = tempDir();
  try {
    const log = await open(t.dir, { segmentBytes: 2048, checkpointEvery: 50 });
    for (let i = 0; i < 300; i++) {
      log.record(decisionEvent(i));
      if (i % 7 === 0) await log.flush();
    }
    await log.close();
    const segs = readdirSync(t.dir).filter((n) => n.endsWith('.seg')).sort();
    assert.ok(segs.length >= 5, `only ${segs.length} segments`);
    for (const s of segs) {
      const first = decodeRecord(readFileSync(join(t.dir, s)).subarray(8, 8 + readFileSync(join(t.dir, s)).readUInt32BE(0)));
      assert.is(s, `audit-${first.seq.toString(16).padStart(16, '0')}.seg`);
    }
    const rep = await verifyAuditDir(t.dir, { devicePublicKey: key.publicRaw });
    assert.is(rep.ok, true, JSON.stringify(rep.error));
    assert.is(rep.segments, segs.length);
    assert.ok(rep.checkpoints >= 6);
    assert.is(rep.records, (rep.lastSeq as number) + 1);
    const st = await open(t.dir);
    const cur = await st.readFrom(0, 10_000);
    assert.is(cur.records.length, rep.records);
    await st.close();
  } finally { t.cleanup(); }
});

test('group commit: 1,000 records take 2 writes and 2 fsyncs; batchMax 1 takes one fsync each', async () => {
  const t = tempDir();
  try {
    const fs = testFs();
    const log = await open(join(t.dir, 'a'), { fs, checkpointEvery: 1e9 });
    for (let i = 0; i < 1000; i++) log.record(decisionEvent(i));
    await log.flush();
    assert.is(fs.counts.fsync, 2);
    assert.is(fs.counts.write, 2);
    assert.is(log.status().records, 1001);
    assert.is(log.status().fsyncs, 2);
    await log.close();

    const fs1 = testFs();
    const one = await open(join(t.dir, 'b'), { fs: fs1, checkpointEvery: 1e9, batchMax: 1 });
    for (let i = 0; i < 100; i++) one.record(decisionEvent(i));
    await one.flush();
    assert.is(fs1.counts.fsync, 101);
    await one.close();
  } finally { t.cleanup(); }
});

test('pacing: records queued during a write wait for their deadline (flushDelayMs, coalesceMs under load) or a full batch', async () => {
  const t = tempDir();
  try {
    let now = 1_760_000_000_000;
    const pending = new Set<{ fn: () => void; due: number }>();
    const timers = {
      setTimeout: (fn: () => void, ms: number) => { const h = { fn, due: now + ms }; pending.add(h); return h; },
      clearTimeout: (h: unknown) => { pending.delete(h as { fn: () => void; due: number }); },
    };
    const fire = (): number => {
      let n = 0;
      for (const h of [...pending]) if (h.due <= now) { pending.delete(h); h.fn(); n++; }
      return n;
    };
    // Waits (real time, for the real disk) until the writer has begun `fsyncs` fsyncs and its write
    // has ended, deadlines armed. It waited 10 ms after the fsync count instead, and a side-by-side
    // round's slow disk was still writing when the test moved the clock on: the drain then found
    // the next batch due itself and no timer was left to fire (expected 1 due, got 0).
    const settle = async (fsyncs: number): Promise<void> => {
      for (let i = 0; i < 5000 && fs.counts.fsync < fsyncs; i++) await new Promise((r) => setTimeout(r, 2));
      await log.idle();
    };
    const fs = testFs();
    const log = await open(t.dir, { fs, now: () => now, timers, flushDelayMs: 50, batchMax: 100, checkpointEvery: 1e9 });
    for (let i = 0; i < 10; i++) log.record(decisionEvent(i));
    assert.is(fire(), 0, 'nothing is due before flushDelayMs');
    now += 50;
    assert.is(fire(), 1);
    // The first batch ('created' + 10) is being written; 5 more arrive meanwhile.
    for (let i = 10; i < 15; i++) log.record(decisionEvent(i));
    await settle(1);
    assert.is(fs.counts.fsync, 1);
    assert.is(log.status().queueDepth, 5, 'the 5 wait for their own deadline');
    now += 49;
    assert.is(fire(), 0);
    await settle(1);
    assert.is(fs.counts.fsync, 1);
    now += 1;
    assert.is(fire(), 1, 'due 50 ms after the first of them was queued');
    await settle(2);
    assert.is(fs.counts.fsync, 2);
    assert.is(log.status().queueDepth, 0);
    // A full batch goes at once; what is left after it is due 50 ms after its own first record.
    for (let i = 0; i < 100; i++) log.record(decisionEvent(i));
    now += 30;
    for (let i = 0; i < 50; i++) log.record(decisionEvent(i));
    assert.is(fire(), 1);
    await settle(3);
    assert.is(log.status().queueDepth, 50);
    now += 20;
    assert.is(fire(), 0, 'not due 50 ms after the first batch began');
    await settle(3);
    assert.is(fs.counts.fsync, 3);
    now += 30;
    assert.is(fire(), 1);
    await settle(4);
    assert.is(log.status().queueDepth, 0);
    // Under load (coalesceRecords, 64, waiting) a batch goes coalesceMs (10 ms) after its first record.
    for (let i = 0; i < 70; i++) log.record(decisionEvent(i));
    now += 9;
    assert.is(fire(), 0);
    now += 1;
    assert.is(fire(), 1);
    await settle(5);
    assert.is(log.status().queueDepth, 0);
    // Whatever a flush() waits for goes at once.
    for (let i = 0; i < 3; i++) log.record(decisionEvent(i));
    await log.flush();
    assert.is(fs.counts.fsync, 6);
    assert.is(log.status().records, 1 + 15 + 150 + 70 + 3);
    await log.close();
    assert.is((await verifyAuditDir(t.dir, { devicePublicKey: key.publicRaw })).ok, true);
  } finally { t.cleanup(); }
});

test('recovery: a cut at every byte of the last record keeps every earlier record and continues the chain', async () => {
  const t = tempDir();
  try {
    const src = join(t.dir, 'src');
    const log = await open(src, { checkpointEvery: 1e9 });
    for (let i = 0; i < 5; i++) log.record(decisionEvent(i));
    await log.flush();
    const seg = readdirSync(src).find((n) => n.endsWith('.seg')) as string;
    const bytes = readFileSync(join(src, seg));
    await log.close();
    // frame offsets
    const offsets: number[] = [];
    for (let o = 0; o < bytes.length; o += 8 + bytes.readUInt32BE(o)) offsets.push(o);
    assert.is(offsets.length, 6);
    const lastStart = offsets[5];
    for (let cut = lastStart; cut < bytes.length; cut++) {
      const d = join(t.dir, `cut-${cut}`);
      mkdirSync(d);
      writeFileSync(join(d, seg), bytes.subarray(0, cut));
      const before = await verifyAuditDir(d);
      assert.is(before.ok, true);
      if (cut > lastStart) assert.equal(before.tornTail, { segment: seg, offset: lastStart, bytes: cut - lastStart });
      const r = await open(d);
      const st = r.status();
      assert.is(st.nextSeq, 5, `cut ${cut}`);
      assert.is(st.recoveredBytes, cut - lastStart);
      assert.is(st.alarms.some((a) => a.code === 'audit-recovered'), cut > lastStart);
      if (cut > lastStart) assert.equal(readFileSync(join(d, `recovered-${seg}-${lastStart}.tail`)), bytes.subarray(lastStart, cut));
      r.record(decisionEvent(100));
      await r.close();
      const rep = await verifyAuditDir(d, { devicePublicKey: key.publicRaw });
      assert.is(rep.ok, true, `cut ${cut}: ${JSON.stringify(rep.error)}`);
      assert.is(rep.tornTail, null);
      assert.is(rep.lastSeq, 7); // opened, event, checkpoint
      const recs = await all(d);
      assert.equal(recs.slice(0, 5).map((x) => x.seq), [0, 1, 2, 3, 4]);
      assert.equal(recs[5].detail, { clean: false, truncatedBytes: cut - lastStart });
    }
    // A segment holding only a torn first record is removed and the chain goes on from the one before.
    const d = join(t.dir, 'torn-roll');
    mkdirSync(d);
    writeFileSync(join(d, seg), bytes.subarray(0, lastStart));
    writeFileSync(join(d, 'audit-0000000000000005.seg'), bytes.subarray(lastStart, lastStart + 5));
    const r = await open(d);
    assert.is(r.status().nextSeq, 5);
    assert.is(r.status().segments, 1);
    await r.close();
    assert.is((await verifyAuditDir(d)).ok, true);
  } finally { t.cleanup(); }
});

test('disk bound: uploaded segments go silently, unuploaded ones leave a gap record with the range', async () => {
  const t = tempDir();
  try {
    const alarms: AuditAlarm[] = [];
    const log = await open(t.dir, { segmentBytes: 2048, maxBytes: 8192, checkpointEvery: 1e9, onAlarm: (a) => alarms.push(a) });
    for (let i = 0; i < 20; i++) { log.record(decisionEvent(i)); if (i % 5 === 4) await log.flush(); }
    const s1 = log.status();
    assert.is(s1.dropped.evictedUnuploaded, 0);
    assert.ok(s1.bytes <= 8192, `${s1.bytes}`);
    log.uploadedThrough(s1.nextSeq - 1);
    for (let i = 0; i < 25; i++) { log.record(decisionEvent(i)); if (i % 5 === 4) await log.flush(); }
    let st = log.status();
    assert.not.ok(existsSync(join(t.dir, 'audit-0000000000000000.seg')), 'the oldest (uploaded) segment was evicted');
    assert.is(st.dropped.evictedUnuploaded, 0);
    assert.is(alarms.length, 0);
    assert.ok(st.bytes <= 8192);
    // now without upload: evictions lose records and say so
    for (let i = 0; i < 80; i++) { log.record(decisionEvent(i)); if (i % 5 === 4) await log.flush(); }
    await log.close();
    st = log.status();
    assert.ok(st.dropped.evictedUnuploaded > 0);
    assert.is(alarms[0].code, 'audit-evicted-unuploaded');
    assert.match(alarms[0].message, 'deleted before upload');
    const recs = await all(t.dir);
    const gaps = recs.filter((r) => r.kind === 'gap');
    assert.ok(gaps.length >= 1);
    // Older gap records may themselves have been evicted since; those still here are consistent.
    const lost = gaps.reduce((n, g) => n + (g.gap?.count ?? 0), 0);
    assert.ok(lost > 0 && lost <= st.dropped.evictedUnuploaded);
    for (const g of gaps) {
      assert.is(g.gap?.reason, 'evicted');
      assert.ok((g.gap?.fromSeq as number) > s1.nextSeq - 1, 'uploaded records are not counted as lost');
      assert.is(g.gap?.count, (g.gap?.toSeq as number) - (g.gap?.fromSeq as number) + 1);
    }
    const rep = await verifyAuditDir(t.dir, { devicePublicKey: key.publicRaw });
    assert.is(gaps[gaps.length - 1].gap?.toSeq, (rep.firstSeq as number) - 1);
    assert.is(rep.ok, true, JSON.stringify(rep.error));
    assert.is(rep.startsMidChain, true);
    assert.is(rep.startExplained, true);
    assert.is(readFileSync(join(t.dir, 'uploaded'), 'utf8').trim(), String(s1.nextSeq - 1));
    const reopened = await open(t.dir);
    assert.is(reopened.status().uploadedThrough, s1.nextSeq - 1);
    await reopened.close();
  } finally { t.cleanup(); }
});

test('deny flood: the first denials kept verbatim, the rest summarised per (src, asset, reason) with each group commit; allows all kept', async () => {
  const t = tempDir();
  try {
    let now = 1_760_000_000_000;
    const log = await open(t.dir, { now: () => now, flood: { windowMs: 10_000, verbatim: 2 }, checkpointEvery: 1e9 });
    for (let i = 0; i < 1000; i++) {
      log.record(decisionEvent(i, { decision: 'deny', at: now + i, src: '10.9.9.9' }));
      if (i % 100 === 0) log.record(decisionEvent(i, { decision: 'allow', at: now + i }));
    }
    for (let i = 0; i < 5; i++) log.record(decisionEvent(i, { decision: 'deny', at: now + i, src: '10.9.9.9', reason: 'no-conduit' }));
    await log.flush();
    assert.is(log.status().summarised, 998 + 3);
    // flush() committed the counts as summaries while the windows are still open.
    let recs = await all(t.dir);
    assert.equal(recs.filter((r) => r.kind === 'summary').map((r) => r.summary?.count).sort((a, b) => (a as number) - (b as number)), [3, 998]);
    now += 20_000;
    await log.flush();
    await log.close();
    recs = await all(t.dir);
    const denies = recs.filter((r) => r.kind === 'decision' && r.decision?.decision === 'deny');
    const fna = denies.filter((r) => r.decision?.reason === 'function-not-allowed');
    assert.equal(fna.map((r) => r.at - 1_760_000_000_000), [0, 1], 'the last denial was already counted in a summary');
    assert.equal(denies.filter((r) => r.decision?.reason === 'no-conduit').map((r) => r.at - 1_760_000_000_000), [0, 1]);
    const sums = recs.filter((r) => r.kind === 'summary');
    assert.is(sums.length, 2);
    const s = sums.find((r) => r.decision?.reason === 'function-not-allowed') as AuditRecord;
    assert.equal(s.summary, { count: 998, total: 1000, from: 1_760_000_000_002, to: 1_760_000_000_999, windowMs: 10_000 });
    assert.is(s.src, '10.9.9.9');
    assert.is(s.asset, 'plc-feeder-1');
    assert.is(recs.filter((r) => r.decision?.decision === 'allow').length, 10);
    assert.is(log.status().summarised, 998 + 3);
    assert.is((await verifyAuditDir(t.dir)).ok, true);
  } finally { t.cleanup(); }
});

test('deny flood without flush(): the window closes with a summary and the last denial verbatim', async () => {
  const t = tempDir();
  try {
    let now = 1_760_000_000_000;
    const log = await open(t.dir, { now: () => now, flood: { windowMs: 10_000, verbatim: 2 }, checkpointEvery: 1e9, flushDelayMs: 60_000, timers: { setTimeout: () => 0, clearTimeout: () => undefined } });
    for (let i = 0; i < 100; i++) log.record(decisionEvent(i, { decision: 'deny', at: now + i, src: '10.9.9.9' }));
    now += 20_000;
    await log.close();
    const recs = await all(t.dir);
    assert.equal(recs.filter((r) => r.kind === 'decision').map((r) => r.at - 1_760_000_000_000), [0, 1, 99]);
    assert.equal(recs.find((r) => r.kind === 'summary')?.summary, { count: 97, total: 100, from: 1_760_000_000_002, to: 1_760_000_000_099, windowMs: 10_000 });
  } finally { t.cleanup(); }
});

test('a failing write (ENOSPC, partly written) raises an alarm, keeps the batch for the retry, and clears when writes resume', async () => {
  const t = tempDir();
  try {
    const fs = testFs();
    const alarms: AuditAlarm[] = [];
    const log = await open(t.dir, { fs, onAlarm: (a) => alarms.push(a), checkpointEvery: 1e9, retryMs: 5 });
    for (let i = 0; i < 10; i++) log.record(decisionEvent(i));
    await log.flush();
    fs.failWrites(2, 'ENOSPC', true);
    for (let i = 10; i < 17; i++) log.record(decisionEvent(i));
    await log.flush();
    let st = log.status();
    assert.is(st.dropped.writeFailed, 0, 'nothing is dropped: the batch waits for the retry');
    assert.is(alarms[0].code, 'audit-write-failed');
    assert.is(alarms[0].active, true);
    assert.match(alarms[0].message, 'audit write failed (ENOSPC: ENOSPC: injected failure, write); 7 record(s) waiting to be retried');
    assert.is(st.alarms.find((a) => a.code === 'audit-write-failed')?.active, true);
    assert.is(st.nextSeq, 11);
    // the disk is back
    for (let i = 17; i < 20; i++) log.record(decisionEvent(i));
    for (let k = 0; k < 100 && log.status().nextSeq < 21; k++) await log.flush();
    st = log.status();
    const w = st.alarms.find((a) => a.code === 'audit-write-failed');
    assert.is(w?.active, false);
    assert.is(w?.count, 2, 'raised once per failed attempt, the count kept up to date');
    // Every change reached the callback: raised, raised again (count 2), cleared.
    assert.equal(alarms.map((a) => [a.code, a.active, a.count]), [['audit-write-failed', true, 1], ['audit-write-failed', true, 2], ['audit-write-failed', false, 2]]);
    await log.close();
    const recs = await all(t.dir);
    assert.is(recs.find((r) => r.kind === 'gap'), undefined);
    assert.equal(recs.filter((r) => r.kind === 'decision').map((r) => r.modbus?.address), Array.from({ length: 20 }, (_, i) => i));
    const rep = await verifyAuditDir(t.dir, { devicePublicKey: key.publicRaw });
    assert.is(rep.ok, true, JSON.stringify(rep.error));
  } finally { t.cleanup(); }
});

test('a full disk frees space from uploaded segments only', async () => {
  const t = tempDir();
  try {
    const fs = testFs();
    const log = await open(t.dir, { fs, segmentBytes: 2048, checkpointEvery: 1e9, retryMs: 5 });
    for (let i = 0; i < 60; i++) { log.record(decisionEvent(i)); if (i % 5 === 4) await log.flush(); }
    const before = log.status();
    assert.ok(before.segments >= 4);
    const second = (await log.readFrom(0, 1000)).records.length;
    log.uploadedThrough(20);
    fs.failWrites(1, 'ENOSPC');
    log.record(decisionEvent(100));
    await log.flush();
    const after = log.status();
    assert.ok(after.segments < before.segments, 'uploaded segments were deleted');
    assert.is(after.dropped.evictedUnuploaded, 0);
    const first = (await log.readFrom(0, 1000)).records[0].seq;
    assert.ok(first <= 21 && first > 0, `oldest kept seq ${first}`);
    assert.ok(second > 0);
    await log.close();
    const rep = await verifyAuditDir(t.dir, { devicePublicKey: key.publicRaw });
    assert.is(rep.ok, true, JSON.stringify(rep.error));
    assert.is(rep.startsMidChain, true);
  } finally { t.cleanup(); }
});

test('a bounded queue drops and counts; the next batch says how many', async () => {
  const t = tempDir();
  try {
    const alarms: AuditAlarm[] = [];
    const log = await open(t.dir, { queueCapacity: 10, batchMax: 1000, flushDelayMs: 1000, onAlarm: (a) => alarms.push(a) });
    for (let i = 0; i < 25; i++) log.record(decisionEvent(i));
    assert.is(log.status().queueDepth, 10);
    assert.is(log.status().dropped.queueFull, 16);
    assert.equal(alarms.map((a) => a.code), ['audit-queue-full']);
    await log.close();
    const recs = await all(t.dir);
    assert.equal(recs.find((r) => r.kind === 'gap')?.gap, { reason: 'queue-full', count: 16 });
    assert.is(recs.filter((r) => r.kind === 'decision').length, 9);
    assert.is((await verifyAuditDir(t.dir)).ok, true);
  } finally { t.cleanup(); }
});

test('a gap counts the denials its lost records stood for: a lost flood summary as all its denials (issue 20 item 5)', async () => {
  const t = tempDir();
  try {
    const log = await open(t.dir, { queueCapacity: 6, batchMax: 1000, flushDelayMs: 1e6, flood: { verbatim: 1 } }); // 'created' + 5
    log.record(decisionEvent(0, { decision: 'deny', src: '10.9.9.9' }));
    for (let i = 1; i < 5; i++) log.record(decisionEvent(i));
    assert.is(log.status().queueDepth, 6);
    for (let i = 1; i < 50; i++) log.record(decisionEvent(i, { decision: 'deny', src: '10.9.9.9' }));
    log.record(decisionEvent(99, { decision: 'deny', src: '10.7.7.7' })); // verbatim, but the queue is full
    await log.flush(); // the flood's summary (49 denials) finds the queue full too
    await log.close();
    const gap = (await all(t.dir)).find((r) => r.kind === 'gap');
    assert.equal(gap?.gap, { reason: 'queue-full', count: 2, denials: 50 });
    assert.is(gap?.message, '2 record(s) lost, standing for 50 denial(s): queue-full');
  } finally { t.cleanup(); }
});

test('open() on a folder it cannot use rejects with ERR_AUDIT naming it', async () => {
  const t = tempDir();
  try {
    const file = join(t.dir, 'not-a-dir');
    writeFileSync(file, 'x');
    try { await open(join(file, 'audit')); assert.unreachable(); } catch (e) {
      assert.is((e as { code?: string }).code, 'ERR_AUDIT');
      assert.match((e as Error).message, `cannot open the audit log in ${join(file, 'audit')}: ENOTDIR`);
    }
  } finally { t.cleanup(); }
});

test('record() never throws: unencodable events become a note, records after close are counted', async () => {
  const t = tempDir();
  try {
    const log = await open(t.dir);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    log.record({ kind: 'config', at: 1, source: 'test', detail: cyclic });
    log.record(null as unknown as never);
    await log.flush();
    await log.close();
    log.record(decisionEvent(1));
    assert.is(log.status().dropped.closed, 1);
    const recs = await all(t.dir);
    assert.ok(recs.some((r) => r.kind === 'config' && /unencodable event/.test(r.message ?? '')), JSON.stringify(recs.map((r) => r.kind)));
    assert.is((await verifyAuditDir(t.dir)).ok, true);
    assert.ok(existsSync(join(t.dir, 'checkpoint.latest')));
  } finally { t.cleanup(); }
});

test('an ack that arrives while the previous uploaded mark is being written still reaches the disk, with no record after it', async () => {
  const t = tempDir();
  try {
    const real = nodeAuditFs();
    let hold: (() => void) | null = null;
    let holding = false;
    const uploadedFds = new Set<number>();
    const fs: AuditFs = {
      ...real,
      async open(path, flags) { const fd = await real.open(path, flags); if (path.endsWith(`${sep}uploaded.tmp`)) uploadedFds.add(fd); return fd; },
      async write(fd, data, position) {
        if (uploadedFds.has(fd) && holding) await new Promise<void>((r) => { hold = r; });
        return real.write(fd, data, position);
      },
    };
    const dir = join(t.dir, 'audit');
    const log = await open(dir, { fs, flushDelayMs: 1 });
    for (let i = 0; i < 20; i++) log.record(decisionEvent(i));
    await log.flush();
    holding = true;
    log.uploadedThrough(5);
    for (let i = 0; i < 500 && hold === null; i++) await new Promise((r) => setTimeout(r, 5));
    assert.ok(hold, 'the mark for 5 is being written');
    log.uploadedThrough(9); // its timer fires while the writer is busy with 5
    await new Promise((r) => setTimeout(r, 20));
    holding = false;
    (hold as unknown as () => void)();
    const onDisk = () => { try { return readFileSync(join(dir, 'uploaded'), 'utf8').trim(); } catch { return ''; } };
    for (let i = 0; i < 1000 && onDisk() !== '9'; i++) await new Promise((r) => setTimeout(r, 5));
    assert.is(onDisk(), '9', 'the later ack is on disk without waiting for another record');
    await log.close();
  } finally { t.cleanup(); }
});

test.run();
