import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cpSync, readdirSync, readFileSync, writeFileSync, renameSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { AuditLog } from '../../runtime/audit/log';
import { verifyAuditDir, type VerifyReport } from '../../protocol/audit/verify';
import { crc32 } from '../../protocol/audit/crc32';
import { encodeFrame } from '../../protocol/audit/frame';
import { decodeRecord, encodeRecord, hashPayload, GENESIS_PREV, type RecordBody } from '../../protocol/audit/record';
import { signCheckpoint } from '../../protocol/audit/checkpoint';
import { segmentName } from '../../protocol/audit/segment';
import { decisionEvent, makeKey, tempDir } from './helpers';

const device = makeKey();
const attacker = makeKey();
const root = tempDir('zg-tamper-');
const base = join(root.dir, 'base');
const other = join(root.dir, 'other');
let n = 0;

async function build(dir: string, key: ReturnType<typeof makeKey>): Promise<void> {
  const log = await AuditLog.open({ dir, device: 'gw-7', key, segmentBytes: 2048, checkpointEvery: 20, now: () => 1_760_000_000_000 });
  for (let i = 0; i < 120; i++) { log.record(decisionEvent(i)); if (i % 10 === 9) await log.flush(); }
  await log.close();
}

/** A fresh copy of the base log. */
function copy(): string {
  const d = join(root.dir, `case-${n++}`);
  cpSync(base, d, { recursive: true });
  return d;
}
const segs = (d: string): string[] => readdirSync(d).filter((x) => x.endsWith('.seg')).sort();
interface Frame { offset: number; end: number; payload: Buffer }
function frames(file: string): Frame[] {
  const b = readFileSync(file);
  const out: Frame[] = [];
  for (let o = 0; o < b.length;) { const len = b.readUInt32BE(o); out.push({ offset: o, end: o + 8 + len, payload: b.subarray(o + 8, o + 8 + len) }); o += 8 + len; }
  return out;
}
const verify = (d: string, pin = true): Promise<VerifyReport> => verifyAuditDir(d, pin ? { devicePublicKey: device.publicRaw } : {});
function expectError(r: VerifyReport, code: string, seq: number | null, message: string | RegExp, segment?: string): void {
  assert.is(r.ok, false, 'tampering went unnoticed');
  assert.is(r.error?.code, code, JSON.stringify(r.error));
  assert.is(r.error?.seq, seq, JSON.stringify(r.error));
  assert.match(r.error?.message ?? '', message);
  if (segment !== undefined) assert.is(r.error?.segment, segment);
}

/** Rewrites the whole log into one segment from records transformed by `edit`, re-chained and re-signed by `signer`. */
function rechain(d: string, edit: (bodies: RecordBody[]) => RecordBody[], signer: { privateKey: import('node:crypto').KeyObject; publicRaw: Uint8Array }, keyField?: Uint8Array, verbatim?: number[]): void {
  const bodies: RecordBody[] = [];
  for (const s of segs(d)) for (const f of frames(join(d, s))) {
    const { v: _v, seq: _s, prev: _p, ...body } = decodeRecord(f.payload);
    bodies.push(body as RecordBody);
  }
  const out: Buffer[] = [];
  let prev: Buffer = GENESIS_PREV;
  let latest: Buffer | null = null;
  edit(bodies).forEach((b, seq) => {
    let body = b;
    if (b.kind === 'checkpoint' && b.checkpoint && !(verbatim && verbatim.length > 1 && seq === verbatim[1])) {
      const c = signCheckpoint({ device: b.checkpoint.device, seq: seq - 1, head: prev, at: b.checkpoint.at }, signer);
      body = { ...b, checkpoint: keyField ? { ...c, key: keyField } : c };
    }
    const p = encodeRecord(body, seq, prev);
    if (b.kind === 'checkpoint') latest = p;
    out.push(encodeFrame(p));
    prev = hashPayload(p);
  });
  for (const s of segs(d)) unlinkSync(join(d, s));
  writeFileSync(join(d, segmentName(0)), Buffer.concat(out));
  if (latest) writeFileSync(join(d, 'checkpoint.latest'), latest);
}

test.before(async () => {
  await build(base, device);
  await build(other, attacker);
});
test.after(() => root.cleanup());

test('the untouched log verifies', async () => {
  const r = await verify(base);
  assert.is(r.ok, true, JSON.stringify(r.error));
  assert.ok(segs(base).length >= 4);
  assert.ok(r.checkpoints >= 6);
  assert.is(r.key?.source, 'pinned');
});

test('a flipped payload byte: the CRC catches it, naming segment, offset and seq', async () => {
  const d = copy();
  const s = segs(d)[1];
  const f = frames(join(d, s))[2];
  const b = readFileSync(join(d, s));
  b[f.offset + 8 + 20] ^= 0x40;
  writeFileSync(join(d, s), b);
  const first = decodeRecord(frames(join(d, s))[0].payload).seq;
  const r = await verify(d);
  expectError(r, 'crc', first + 2, 'CRC mismatch', s);
  assert.is(r.error?.offset, f.offset);
});

test('an edited payload with a recomputed CRC: the chain catches it at the next record', async () => {
  const d = copy();
  const s = segs(d)[1];
  const file = join(d, s);
  const f = frames(file)[2];
  const b = readFileSync(file);
  const at = b.indexOf('10.10.1.5', f.offset + 8);
  assert.ok(at > 0 && at < f.end);
  b.write('10.66.6.6', at);
  b.writeUInt32BE(crc32(b, f.offset + 8, f.end), f.offset + 4);
  writeFileSync(file, b);
  const seq = decodeRecord(frames(file)[2].payload).seq;
  const r = await verify(d);
  expectError(r, 'chain', seq + 1, `prev of seq ${seq + 1} is not the hash of seq ${seq}`, s);
  assert.is(r.error?.offset, f.end);
});

test('a deleted record: the seq gap is an error no gap record explains', async () => {
  const d = copy();
  const s = segs(d)[2];
  const file = join(d, s);
  const fs = frames(file);
  const b = readFileSync(file);
  writeFileSync(file, Buffer.concat([b.subarray(0, fs[3].offset), b.subarray(fs[3].end)]));
  const seq = decodeRecord(fs[3].payload).seq;
  expectError(await verify(d), 'seq', seq + 1, `expected seq ${seq}, found ${seq + 1}: records ${seq}..${seq} are missing and no gap record explains them`, s);
});

test('two records swapped', async () => {
  const d = copy();
  const s = segs(d)[1];
  const file = join(d, s);
  const fs = frames(file);
  const b = readFileSync(file);
  writeFileSync(file, Buffer.concat([b.subarray(0, fs[3].offset), b.subarray(fs[4].offset, fs[4].end), b.subarray(fs[3].offset, fs[3].end), b.subarray(fs[4].end)]));
  const seq = decodeRecord(fs[3].payload).seq;
  const r = await verify(d);
  expectError(r, 'seq', seq + 1, `records out of order: expected seq ${seq}, found seq ${seq + 1}; seq ${seq} comes later, at offset ${fs[3].offset + (fs[4].end - fs[4].offset)} of ${s} (records reordered)`, s);
  assert.not.match(r.error?.message ?? '', 'missing', 'swapped records are not missing ones (issue 13 item 11)');
});

test('a deleted middle segment', async () => {
  const d = copy();
  const all = segs(d);
  unlinkSync(join(d, all[1]));
  const seq = decodeRecord(frames(join(d, all[2]))[0].payload).seq;
  expectError(await verify(d), 'seq', seq, 'are missing', all[2]);
});

test('truncation: cut at a frame boundary, or the last segment deleted, is caught by checkpoint.latest', async () => {
  let d = copy();
  const all = segs(d);
  const last = join(d, all[all.length - 1]);
  const fs = frames(last);
  writeFileSync(last, readFileSync(last).subarray(0, fs[fs.length - 2].offset));
  const latestSeq = decodeRecord(readFileSync(join(d, 'checkpoint.latest'))).seq;
  expectError(await verify(d), 'truncated', latestSeq, `checkpoint.latest names record seq ${latestSeq}, but the log ends at seq ${latestSeq - 2}`);

  d = copy();
  unlinkSync(join(d, all[all.length - 1]));
  expectError(await verify(d), 'truncated', latestSeq, 'records were cut from the end');
});

test('truncation with checkpoint.latest removed too: undetectable on the device, caught against the fleet\'s checkpoint', async () => {
  const d = copy();
  const all = segs(d);
  const latest = readFileSync(join(d, 'checkpoint.latest'));
  unlinkSync(join(d, 'checkpoint.latest'));
  unlinkSync(join(d, all[all.length - 1]));
  const r = await verify(d);
  assert.is(r.ok, true, 'a clean cut at a record boundary leaves a valid shorter log (documented limit)');
  const fleet = await verifyAuditDir(d, { devicePublicKey: device.publicRaw, expect: { recordSeq: decodeRecord(latest).seq, hash: hashPayload(latest) } });
  expectError(fleet, 'truncated', decodeRecord(latest).seq, 'expected checkpoint names record seq');
});

test('swapped segment names, and a segment from another device\'s log', async () => {
  let d = copy();
  const all = segs(d);
  renameSync(join(d, all[1]), join(d, 'tmp'));
  renameSync(join(d, all[2]), join(d, all[1]));
  renameSync(join(d, 'tmp'), join(d, all[2]));
  expectError(await verify(d), 'segment-name', decodeRecord(frames(join(d, all[1]))[0].payload).seq, `segment ${all[1]} is named for seq`, all[1]);

  d = copy();
  assert.equal(segs(other), all, 'both logs rolled at the same seqs');
  cpSync(join(other, all[2]), join(d, all[2]));
  const seq = decodeRecord(frames(join(d, all[2]))[0].payload).seq;
  expectError(await verify(d), 'chain', seq, `prev of seq ${seq} is not the hash of seq ${seq - 1}`, all[2]);
});

test('forged checkpoints: re-chained and re-signed by another key, or a checkpoint moved', async () => {
  const editOne = (bodies: RecordBody[]) => bodies.map((b, i) => (i === 30 ? { ...b, src: '10.66.6.6' } : b));
  // The attacker re-chains everything after the edit and signs checkpoints with their own key.
  let d = copy();
  rechain(d, editOne, attacker);
  const firstCheckpointSeq = decodeRecord(frames(join(d, segmentName(0))).find((f) => decodeRecord(f.payload).kind === 'checkpoint')!.payload).seq;
  expectError(await verify(d), 'checkpoint-key', firstCheckpointSeq, 'not the device key');
  const unpinned = await verify(d, false);
  assert.is(unpinned.ok, true, 'without a pinned key the first checkpoint\'s key is believed (documented)');
  assert.is(unpinned.key?.source, 'checkpoint');

  // ... keeping the device's key in the field: the signature fails.
  d = copy();
  rechain(d, editOne, attacker, device.publicRaw);
  expectError(await verify(d), 'checkpoint-signature', firstCheckpointSeq, 'signature does not verify under the device key');
  expectError(await verify(d, false), 'checkpoint-signature', firstCheckpointSeq, 'signature does not verify');

  // A later checkpoint replaced by an earlier one's signed body (replayed signature): the head does not match.
  d = copy();
  const cps: number[] = [];
  rechain(d, (bodies) => {
    cps.push(...bodies.map((b, i) => (b.kind === 'checkpoint' ? i : -1)).filter((i) => i >= 0));
    return bodies.map((b, i) => (i === cps[1] ? bodies[cps[0]] : b));
  }, device, undefined, cps);
  expectError(await verify(d), 'checkpoint-head', cps[1], `checkpoint at seq ${cps[1]} signs seq ${cps[0] - 1} head`, segmentName(0));
});

// Issue 13 item 9: a log stripped of its checkpoints must not verify under a pinned key.
const plain = (b: RecordBody): RecordBody => (b.kind === 'checkpoint' ? { kind: 'config', at: b.at, source: 'audit', message: 'maintenance' } : b);

test('checkpoints stripped (turned into plain records, re-chained, checkpoint.latest deleted): a pinned key fails it', async () => {
  const d = copy();
  rechain(d, (bodies) => bodies.map(plain), device);
  unlinkSync(join(d, 'checkpoint.latest'));
  const r = await verify(d);
  expectError(r, 'unsigned', 0, /^no checkpoint signs any of the \d+ record\(s\) \(seq 0\.\.\d+\): nothing proves they come from the device$/);
  const unpinned = await verify(d, false);
  assert.is(unpinned.ok, true, 'without a key nothing says what the device signed (documented)');
  assert.is(unpinned.key, null);
});

test('checkpoints stripped after the first ones: an unsigned stretch longer than the device ever writes fails', async () => {
  const d = copy();
  let kept = 0;
  rechain(d, (bodies) => bodies.map((b) => (b.kind === 'checkpoint' && kept++ >= 2 ? plain(b) : b)), device);
  const cps = (await verify(d, false));
  assert.is(cps.checkpoints, 2);
  // The base log checkpoints every 20 records; a limit of 25 is what its writer guarantees.
  const r = await verifyAuditDir(d, { devicePublicKey: device.publicRaw, unsignedLimit: { records: 25, ms: 1e12 } });
  expectError(r, 'unsigned', (cps.lastCheckpoint?.recordSeq as number) + 26, /26 records in a row that no checkpoint signs \(the device signs at least every 25\): checkpoints were removed/);
  assert.is((await verifyAuditDir(base, { devicePublicKey: device.publicRaw, unsignedLimit: { records: 25, ms: 1e12 } })).ok, true, 'the untouched log keeps within it');
});

test('the tail stripped of its checkpoints: records dated past the checkpoint interval with no checkpoint after them fail', async () => {
  const d = join(root.dir, 'timed');
  let now = 1_760_000_000_000;
  // One record a second, a checkpoint every 60 s (the device defaults), 300 s in all.
  const log = await AuditLog.open({ dir: d, device: 'gw-7', key: device, now: () => now, checkpointIntervalMs: 60_000, flushDelayMs: 0 });
  for (let i = 0; i < 300; i++) { log.record(decisionEvent(i, { at: now })); await log.flush(); now += 1000; }
  await log.close();
  const good = await verify(d);
  assert.is(good.ok, true, JSON.stringify(good.error));
  assert.ok(good.checkpoints >= 4);
  let kept = 0;
  rechain(d, (bodies) => bodies.map((b) => (b.kind === 'checkpoint' && kept++ >= 1 ? plain(b) : b)), device);
  unlinkSync(join(d, 'checkpoint.latest'));
  const r = await verify(d);
  assert.is(r.error?.code, 'unsigned', JSON.stringify(r.error));
  assert.match(r.error?.message ?? '', /comes \d+ s after the last checkpoint \(seq \d+\) with none after it, though the device signs at least every 75 s: checkpoints were removed/);
  assert.is((await verify(d, false)).ok, true);
});

test.run();
