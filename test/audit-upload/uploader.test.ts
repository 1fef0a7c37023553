// The uploader's flow control against a real AuditLog with injected timers and a publish
// function the test controls: the window of unacked batches, batch limits, go-back-N after a
// failed publish (with backoff) and after an ack timeout, foreign acks ignored, the acked mark
// handed to the log.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { AuditLog } from '../../runtime/audit/log';
import { createAuditUploader, type AuditUploader } from '../../runtime/audit/upload';
import { decodeAuditBatch, encodeAuditAck, type AuditBatch, type AuditResync } from '../../protocol/audit/upload-batch';
import { manualTimers } from '../sync/helpers';
import { decisionEvent, makeKey, tempDir } from '../audit/helpers';

const t = tempDir('zg-uploader-');
const key = makeKey();
let log: AuditLog;

// Lets the log's reads (libuv thread pool) and the promise callbacks finish: waits until the
// current harness's uploader has no read-and-send pass running, a few turns of the loop over (the
// timers that matter to the uploader are the manual ones). A fixed 60 ms sleep failed under load.
let current: AuditUploader | null = null;
const turn = () => new Promise((r) => setImmediate(r));
const settle = async () => { for (let i = 0; i < 3; i++) { await turn(); await current?.idle(); } };

test.before(async () => {
  log = await AuditLog.open({ dir: join(t.dir, 'audit'), device: 'gw-u', key, checkpointEvery: 100_000, flushDelayMs: 1, flood: false });
  for (let i = 0; i < 99; i++) log.record(decisionEvent(i)); // + the `created` record = seqs 0..99
  await log.flush();
});
test.after(async () => { await log.close(); t.cleanup(); });

function harness(o: { maxRecords?: number; window?: number; maxBytes?: number; onLog?: (level: string, m: string) => void; random?: number } = {}) {
  const timers = manualTimers();
  const sent: AuditBatch[] = [];
  const pending: { resolve: () => void; reject: (e: Error) => void }[] = [];
  let ackCb: ((b: Uint8Array) => void) | null = null;
  let resyncCb: ((r: AuditResync) => void) | null = null;
  let clock = 1_000;
  const u: AuditUploader = createAuditUploader({
    log, device: 'gw-u', site: 's1',
    publish: (bytes) => { sent.push(decodeAuditBatch(bytes).batch!); return new Promise((resolve, reject) => pending.push({ resolve, reject })); },
    onAck: (cb) => { ackCb = cb; return () => { ackCb = null; }; },
    onResync: (cb) => { resyncCb = cb; return () => { resyncCb = null; }; },
    timers, now: () => clock, random: () => o.random ?? 0, backoff: { initialMs: 100, maxMs: 1000, jitter: 0 },
    maxRecords: o.maxRecords ?? 10, window: o.window ?? 3, maxBytes: o.maxBytes, pollMs: 5000, ackTimeoutMs: 30_000, onLog: o.onLog,
  });
  current = u;
  return {
    u, timers, sent, pending, ack: (through: number, device = 'gw-u') => ackCb?.(encodeAuditAck({ device, through })), advance: (ms: number) => { clock += ms; }, hasAck: () => ackCb !== null,
    resync: (spreadMs: number) => resyncCb?.({ site: 's1', collector: 'c1', spreadMs }), hasResync: () => resyncCb !== null,
  };
}

test('sends at most `window` unacked batches of at most maxRecords, exact payloads', async () => {
  const h = harness();
  h.u.start();
  await settle();
  assert.is(h.sent.length, 3);
  assert.equal(h.sent.map((b) => [b.fromSeq, b.records.length]), [[0, 10], [10, 10], [20, 10]]);
  const { records } = await log.readFrom(10, 10);
  assert.equal(h.sent[1].records.map((r) => Buffer.from(r)), records.map((r) => r.payload));
  assert.is(h.sent[0].device, 'gw-u');
  assert.is(h.sent[0].site, 's1');
  // An ack through 14 frees one slot (the first batch), not the second.
  h.ack(14);
  await settle();
  assert.is(h.sent.length, 4);
  assert.is(h.sent[3].fromSeq, 30);
  assert.is(h.u.status().ackedThrough, 14);
  assert.is(h.u.status().inFlight, 3);
  assert.is(log.status().uploadedThrough, 14);
  h.u.stop();
  assert.is(h.hasAck(), false, 'unsubscribed');
});

test('maxBytes splits batches; a foreign or malformed ack is ignored', async () => {
  const h = harness({ maxRecords: 100, window: 1, maxBytes: 1024 });
  h.u.start();
  await settle();
  assert.is(h.sent.length, 1);
  const bytes = h.sent[0].records.reduce((a, r) => a + r.length, 0);
  assert.ok(bytes <= 1024 && h.sent[0].records.length > 1 && h.sent[0].records.length < 100, `${h.sent[0].records.length} records, ${bytes} bytes`);
  h.ack(50, 'gw-other');
  await settle();
  assert.is(h.u.status().acksIgnored, 1);
  assert.is(h.u.status().ackedThrough, 14, 'the acked mark from the log, unchanged');
  h.u.stop();
});

test('a failed publish rewinds to the acked point after a backoff', async () => {
  const h = harness();
  h.u.start();
  await settle();
  assert.equal(h.sent.map((b) => b.fromSeq), [15, 25, 35]);
  h.pending[1].reject(new Error('not connected to the broker'));
  await settle();
  const s = h.u.status();
  assert.is(s.publishFailures, 1);
  assert.is(s.rewinds, 1);
  assert.is(s.sentThrough, 14);
  assert.match(s.lastError!.message, 'not connected to the broker');
  // The other batches' late outcomes belong to an old generation and change nothing.
  h.pending[0].reject(new Error('late'));
  await settle();
  assert.is(h.u.status().publishFailures, 1);
  assert.ok(h.timers.pending.some((p) => p.ms === 100), `backoff of 100 ms armed: ${JSON.stringify(h.timers.pending.map((p) => p.ms))}`);
  assert.is(h.sent.length, 3, 'nothing sent during the backoff');
  h.timers.fire(100);
  await settle();
  assert.equal(h.sent.slice(3).map((b) => b.fromSeq), [15, 25, 35], 'sent again from the acked point');
  h.u.stop();
});

test('the link coming back ends the failure backoff: the uploader sends at once, not after it', async () => {
  const h = harness();
  h.u.start();
  await settle();
  // Three failed attempts in a row: the backoff has grown to 400 ms (100, 200, 400; up to 60 s by default).
  for (let i = 0; i < 3; i++) {
    h.pending[h.pending.length - 1].reject(new Error('not connected to the broker'));
    await settle();
    const due = Math.max(...h.timers.pending.map((p) => p.ms).filter((ms) => ms < 5000));
    if (i < 2) { h.timers.fire(due); await settle(); }
  }
  assert.ok(h.u.status().nextAttemptAt !== null, 'waiting out a backoff');
  const before = h.sent.length;
  h.u.linkUp();
  await settle();
  assert.ok(h.sent.length > before, 'sent as soon as the link was up');
  assert.equal(h.sent[before].fromSeq, 15, 'from the acked point');
  assert.is(h.u.status().nextAttemptAt, null);
  // linkUp while nothing waits changes nothing.
  const n = h.sent.length;
  h.u.linkUp();
  await settle();
  assert.is(h.sent.length, n);
  h.u.stop();
});

test('no ack within ackTimeoutMs: everything after the acked point is sent again', async () => {
  const h = harness({ window: 2 });
  h.u.start();
  await settle();
  assert.is(h.sent.length, 2);
  for (const p of h.pending) p.resolve();
  await settle();
  h.advance(30_000);
  h.timers.fire(30_000);
  await settle();
  assert.is(h.u.status().rewinds, 1);
  assert.equal(h.sent.map((b) => b.fromSeq), [15, 25, 15, 25]);
  // An ack beyond the end of the log is clamped to it (never skips unsent records).
  h.ack(1_000_000);
  await settle();
  assert.is(h.u.status().ackedThrough, 99);
  // Then the fleet acks everything: the backlog empties.
  h.ack(99);
  await settle();
  assert.is(h.u.status().ackedThrough, 99);
  assert.is(h.u.status().backlog, 0);
  h.u.stop();
});

test('no collector: the resend is said once, not at every ack timeout; said again when acks resume (issue 12)', async () => {
  for (let i = 0; i < 20; i++) log.record(decisionEvent(i));
  await log.flush();
  const lines: string[] = [];
  const h = harness({ window: 1, onLog: (_l, m) => lines.push(m) });
  h.u.start();
  await settle();
  for (let k = 0; k < 4; k++) {
    for (const p of h.pending.splice(0)) p.resolve();
    await settle();
    h.advance(30_000);
    h.timers.fire(30_000);
    await settle();
  }
  assert.is(h.u.status().rewinds, 4);
  const said = lines.filter((l) => /no acknowledgement/.test(l));
  assert.is(said.length, 1, lines.join('\n'));
  assert.match(said[0], 'no acknowledgement within 30000 ms; is `zonegate fleet audit collect` running for this site? Records from seq 100 stay on disk and are resent until acknowledged');
  const last = log.status().nextSeq - 1;
  h.ack(last);
  await settle();
  assert.ok(lines.some((l) => l === `acknowledged through seq ${last} again after 4 resend(s)`), lines.join('\n'));
  h.u.stop();
});

test('a collector\'s resync: one resend of what was sent before it, after a random share of its spread; merged; nothing when all came after', async () => {
  for (let i = 0; i < 40; i++) log.record(decisionEvent(i));
  await log.flush();
  const lines: string[] = [];
  const h = harness({ window: 2, random: 0.5, onLog: (_l, m) => lines.push(m) });
  h.u.start();
  await settle();
  const acked = h.u.status().ackedThrough;
  assert.equal(h.sent.map((b) => b.fromSeq), [acked + 1, acked + 11]);
  for (const p of h.pending.splice(0)) p.resolve();
  h.advance(10);
  // Two announcements (two members of a group connecting): one pending resend, half the spread away.
  h.resync(4000);
  h.resync(4000);
  assert.is(h.u.status().resyncs, 2);
  assert.equal(h.timers.pending.filter((p) => p.ms === 2000).length, 1, 'merged into one pending resend');
  assert.is(h.sent.length, 2, 'nothing sent before the delay');
  h.advance(2000);
  h.timers.fire(2000);
  await settle();
  assert.equal(h.sent.map((b) => b.fromSeq), [acked + 1, acked + 11, acked + 1, acked + 11], 'sent again from the acked point');
  assert.is(h.u.status().resyncResends, 1);
  assert.is(h.u.status().rewinds, 1);
  assert.ok(lines.some((l) => l.startsWith(`collector "c1" (re)connected without a session at the broker; batches sent before it subscribed reached nobody. Records from seq ${acked + 1}`)), lines.join('\n'));
  // Everything acked, then an announcement; what is sent before its delay ends came after it: no resend.
  const last = log.status().nextSeq - 1;
  h.ack(last);
  await settle();
  h.advance(10);
  h.resync(4000);
  h.advance(10);
  log.record(decisionEvent(0));
  await log.flush();
  h.u.kick();
  await settle();
  const n = h.sent.length;
  assert.is(h.sent[n - 1].fromSeq, last + 1);
  h.timers.fire(2000);
  await settle();
  assert.is(h.sent.length, n, 'not sent again');
  assert.is(h.u.status().resyncResends, 1);
  // stop() drops a pending resend and the subscription.
  h.resync(4000);
  h.u.stop();
  assert.is(h.timers.pending.filter((p) => p.ms === 2000).length, 0);
  assert.not.ok(h.hasResync());
});

test('an announcement merged into a pending resend still covers what was sent before it (a second collector subscribing after a batch went out)', async () => {
  const h = harness({ window: 3, random: 0.5 });
  h.u.start();
  await settle();
  h.ack(log.status().nextSeq - 1); // nothing unacked
  await settle();
  const acked = h.u.status().ackedThrough;
  // Collector A announces: a resend is due in 2 s, nothing was sent before A.
  h.advance(10);
  h.resync(4000);
  // New records go out after A's announcement (A gets them) ...
  h.advance(10);
  for (let i = 0; i < 5; i++) log.record(decisionEvent(i));
  await log.flush();
  h.u.kick();
  await settle();
  const n = h.sent.length;
  assert.is(h.sent[n - 1].fromSeq, acked + 1);
  for (const p of h.pending.splice(0)) p.resolve();
  // ... then collector B connects without a session (its batches went to nobody before its
  // subscription) and announces while A's resend is pending: merged, but it must count.
  h.advance(10);
  h.resync(4000);
  assert.equal(h.timers.pending.filter((p) => p.ms === 2000).length, 1, 'merged into the pending resend');
  h.advance(2000);
  h.timers.fire(2000);
  await settle();
  assert.is(h.u.status().resyncResends, 1, `the batch sent between the announcements is sent again: ${JSON.stringify(h.u.status())}`);
  assert.is(h.sent.length, n + 1);
  assert.is(h.sent[n].fromSeq, acked + 1);
  h.u.stop();
});

test.run();
