// Issue 13 item 8: a restart must not hide damage. Recovery may only cut a torn tail that no
// checkpoint covers; a committed record that was flipped is kept, alarmed and reported by verify
// with its range, and the log goes on after the highest seq seen (seqs are never reused).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, writeFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { AuditLog, type AuditAlarm } from '../../runtime/audit/log';
import { verifyAuditDir } from '../../protocol/audit/verify';
import { decodeRecord } from '../../protocol/audit/record';
import { scanSegment } from '../../protocol/audit/scan';
import { segmentName } from '../../protocol/audit/segment';
import { decisionEvent, makeKey, tempDir } from './helpers';

const key = makeKey();
const open = (dir: string, alarms: AuditAlarm[] = []) => AuditLog.open({ dir, device: 'gw-9', key, checkpointEvery: 20, onAlarm: (a) => alarms.push(a) });
const segs = (d: string): string[] => readdirSync(d).filter((x) => x.endsWith('.seg')).sort();
function frameOffsets(b: Buffer): number[] {
  const out: number[] = [];
  for (let o = 0; o < b.length; o += 8 + b.readUInt32BE(o)) out.push(o);
  return out;
}

/** A log of 60 events in one segment, closed cleanly (checkpoints every 20 records and at close). */
async function build(dir: string): Promise<{ seg: string; lastSeq: number }> {
  const log = await open(dir);
  for (let i = 0; i < 60; i++) { log.record(decisionEvent(i)); if (i % 10 === 9) await log.flush(); }
  await log.close();
  const rep = await verifyAuditDir(dir, { devicePublicKey: key.publicRaw });
  assert.is(rep.ok, true, JSON.stringify(rep.error));
  assert.is(segs(dir).length, 1);
  return { seg: segs(dir)[0], lastSeq: rep.lastSeq as number };
}

async function restartTwice(dir: string): Promise<AuditAlarm[]> {
  const alarms: AuditAlarm[] = [];
  for (let k = 0; k < 2; k++) {
    const log = await open(dir, alarms);
    log.record(decisionEvent(1000 + k));
    await log.close();
  }
  return alarms;
}

test('a flipped bit in a committed record: kept through restarts, alarmed, reported with its range; no seq reused', async () => {
  const t = tempDir();
  try {
    const { seg, lastSeq } = await build(t.dir);
    const file = join(t.dir, seg);
    const bytes = readFileSync(file);
    const offs = frameOffsets(bytes);
    const victim = 12;
    bytes[offs[victim] + 8 + 20] ^= 0x04;
    writeFileSync(file, bytes);
    const before = await verifyAuditDir(t.dir, { devicePublicKey: key.publicRaw });
    assert.is(before.error?.code, 'crc');
    assert.equal(before.error?.range, { fromSeq: victim, toSeq: victim, offset: offs[victim], endOffset: offs[victim + 1] });

    const alarms = await restartTwice(t.dir);
    const damaged = alarms.find((a) => a.code === 'audit-damaged');
    assert.ok(damaged?.active, JSON.stringify(alarms));
    assert.match(damaged!.message, `${seg} from offset ${offs[victim]} (seq ${victim}..${victim})`);

    // Every byte of the damaged segment is still there, the records after the flip included.
    assert.equal(readFileSync(file), bytes);
    const after = await verifyAuditDir(t.dir, { devicePublicKey: key.publicRaw });
    assert.is(after.ok, false, 'a restart must not turn a damaged log into a verified one');
    assert.is(after.error?.code, 'crc');
    assert.is(after.error?.seq, victim);
    assert.equal(after.error?.range, before.error?.range);
    assert.match(after.error?.message ?? '', `damaged: bytes ${offs[victim]}..${offs[victim + 1]} of ${seg} (seq ${victim}..${victim})`);

    // The log went on in a new segment after the highest seq it had seen, never reusing one.
    const names = segs(t.dir);
    assert.equal(names.slice(0, 2), [seg, segmentName(lastSeq + 1)]);
    const next = scanSegment(readFileSync(join(t.dir, names[1])), lastSeq + 1);
    assert.is(next.problem, null);
    assert.is(next.records[0].seq, lastSeq + 1);
    assert.is(next.records[0].record.message, 'opened');
    assert.equal((next.records[0].record.detail as { damaged: unknown }).damaged, { segment: seg, offset: offs[victim], fromSeq: victim, toSeq: victim, bytes: offs[victim + 1] - offs[victim] });
  } finally { t.cleanup(); }
});

test('a garbled length word that looks like a torn frame is damage, not a tail to cut, when records follow', async () => {
  const t = tempDir();
  try {
    const { seg, lastSeq } = await build(t.dir);
    const file = join(t.dir, seg);
    const bytes = readFileSync(file);
    const offs = frameOffsets(bytes);
    bytes.writeUInt32BE(bytes.length, offs[40]); // longer than what is left: reads as a frame cut short
    writeFileSync(file, bytes);
    await restartTwice(t.dir);
    assert.equal(readFileSync(file), bytes);
    assert.is(readdirSync(t.dir).filter((n) => n.endsWith('.tail')).length, 0);
    const r = await verifyAuditDir(t.dir, { devicePublicKey: key.publicRaw });
    assert.is(r.error?.code, 'frame-truncated');
    assert.equal(r.error?.range, { fromSeq: 40, toSeq: 40, offset: offs[40], endOffset: offs[41] });
    assert.is(decodeRecord(scanSegment(readFileSync(join(t.dir, segmentName(lastSeq + 1))), lastSeq + 1).records[0].payload).seq, lastSeq + 1);
  } finally { t.cleanup(); }
});

test('the last record (the closing checkpoint) flipped: checkpoint.latest covers it, so it is kept and its seq not reused', async () => {
  const t = tempDir();
  try {
    const { seg, lastSeq } = await build(t.dir);
    const file = join(t.dir, seg);
    const bytes = readFileSync(file);
    const offs = frameOffsets(bytes);
    bytes[offs[offs.length - 1] + 30] ^= 0x01;
    writeFileSync(file, bytes);
    const alarms = await restartTwice(t.dir);
    assert.ok(alarms.some((a) => a.code === 'audit-damaged' && a.active));
    assert.equal(readFileSync(file), bytes);
    assert.is(segs(t.dir)[1], segmentName(lastSeq + 1));
    const r = await verifyAuditDir(t.dir, { devicePublicKey: key.publicRaw });
    assert.is(r.error?.code, 'crc');
    assert.is(r.error?.seq, lastSeq);
  } finally { t.cleanup(); }
});

test('a torn tail nothing covers is still cut (power loss), and the chain goes on', async () => {
  const t = tempDir();
  try {
    const log = await AuditLog.open({ dir: t.dir, device: 'gw-9', key, checkpointEvery: 1e9, checkpointIntervalMs: 1e9 });
    for (let i = 0; i < 5; i++) log.record(decisionEvent(i));
    await log.flush();
    const seg = segs(t.dir)[0];
    // A kill -9 would leave no final checkpoint: copy the segment as it is, then cut into the last frame.
    const bytes = readFileSync(join(t.dir, seg));
    await log.close();
    const offs = frameOffsets(bytes);
    writeFileSync(join(t.dir, seg), bytes.subarray(0, offs[offs.length - 1] + 5));
    unlinkSync(join(t.dir, 'checkpoint.latest')); // written by close(), which a kill -9 never reached
    const alarms = await restartTwice(t.dir);
    assert.ok(alarms.some((a) => a.code === 'audit-recovered'));
    assert.not.ok(alarms.some((a) => a.code === 'audit-damaged'));
    const r = await verifyAuditDir(t.dir, { devicePublicKey: key.publicRaw });
    assert.is(r.ok, true, JSON.stringify(r.error));
  } finally { t.cleanup(); }
});

test.run();
