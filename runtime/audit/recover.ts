/**
 * Recovery of an audit folder when the log opens (FORMAT.md "Recovery"). Only the last segment
 * can hold a write cut by power loss or kill -9, so only it is scanned. What recovery may cut is a
 * torn tail: bytes after the last intact frame that nothing vouches for. Anything else is damage
 * to records that were committed, and damage is evidence:
 *
 *  - the bytes after the first bad frame are a torn tail only when no intact record follows them
 *    and `checkpoint.latest` (written after a checkpoint was fsynced) does not name a record past
 *    the good part. A torn tail is moved to `recovered-<segment>-<offset>.tail` and cut.
 *  - otherwise the segment is kept byte for byte, the damaged range is reported (alarm, the
 *    `opened` record, `audit verify`), and the log goes on in a new segment after the highest seq
 *    seen anywhere (intact records after the damage, checkpoint.latest): seqs are never reused.
 */
import { join } from 'node:path';
import { GENESIS_PREV, decodeRecord, hashPayload } from '../../protocol/audit/record';
import { sortSegments } from '../../protocol/audit/segment';
import { scanAfterDamage, scanSegment, findNextRecord } from '../../protocol/audit/scan';
import type { AuditFs } from './fs';

export interface RecoveredSegment {
  name: string;
  path: string;
  firstSeq: number;
  size: number;
}

/** Committed records recovery found damaged and kept. */
export interface AuditDamage {
  segment: string;
  /** Byte offset of the first bad frame. */
  offset: number;
  /** The seqs the damaged bytes held (toSeq null when nothing after the damage says how far it goes). */
  fromSeq: number;
  toSeq: number | null;
  bytes: number;
}

export interface Recovered {
  segments: RecoveredSegment[];
  uploaded: number;
  nextSeq: number;
  head: Buffer;
  lastKind: string | null;
  /** The time of the last record recovered (null without one): the clock check's floor. */
  lastAt: number | null;
  /** Records after the last checkpoint in the last segment (at least 1 when it does not end with one). */
  sinceCheckpoint: number;
  /** An open read-write fd on the last segment when the log can append to it; null starts a new segment. */
  fd: number | null;
  recoveredBytes: number;
  damage: AuditDamage | null;
  clean: boolean;
}

/** Reads `checkpoint.latest`: the seq and hash of the newest checkpoint known to be on disk. */
async function readLatest(fs: AuditFs, dir: string, names: string[]): Promise<{ seq: number; hash: Buffer } | null> {
  if (!names.includes('checkpoint.latest')) return null;
  try {
    const payload = await fs.readFile(join(dir, 'checkpoint.latest'));
    return { seq: decodeRecord(payload).seq, hash: hashPayload(payload) };
  } catch {
    return null;
  }
}

async function keepTail(fs: AuditFs, path: string, bytes: Buffer): Promise<void> {
  const fd = await fs.open(path, 'wx').catch(() => null);
  if (fd === null) return;
  try {
    await fs.write(fd, bytes, 0);
    await fs.fsync(fd);
  } finally {
    await fs.close(fd);
  }
}

/** Recovers `dir` (created if missing). Rejects only on file system errors. */
export async function recoverAuditDir(fs: AuditFs, dir: string): Promise<Recovered> {
  await fs.mkdirp(dir);
  const names = await fs.readdir(dir);
  const out: Recovered = { segments: [], uploaded: -1, nextSeq: 0, head: GENESIS_PREV, lastKind: null, lastAt: null, sinceCheckpoint: 0, fd: null, recoveredBytes: 0, damage: null, clean: true };
  if (names.includes('uploaded')) {
    const n = Number((await fs.readFile(join(dir, 'uploaded'))).toString('utf8').trim());
    if (Number.isSafeInteger(n) && n >= -1) out.uploaded = n;
  }
  const latest = await readLatest(fs, dir, names);
  for (const r of sortSegments(dir, names)) out.segments.push({ ...r, size: await fs.statSize(r.path) });
  while (out.segments.length > 0) {
    const last = out.segments[out.segments.length - 1];
    const bytes = await fs.readFile(last.path);
    const scan = scanSegment(bytes, last.firstSeq);
    const good = scan.records;
    const lastGoodSeq = good.length > 0 ? good[good.length - 1].seq : last.firstSeq - 1;
    if (scan.problem !== null) {
      const after = findNextRecord(bytes, scan.goodEnd + 1);
      const covered = latest !== null && latest.seq > lastGoodSeq;
      if (after !== null || covered) {
        // Damage to committed records: keep every byte, go on after the highest seq seen.
        const later = scanAfterDamage(bytes, scan.goodEnd + 1);
        let top = good.length > 0 ? { seq: lastGoodSeq, hash: good[good.length - 1].hash, kind: good[good.length - 1].record.kind as string } : null;
        for (const r of later) if (top === null || r.seq > top.seq) top = { seq: r.seq, hash: r.hash, kind: r.record.kind };
        if (latest !== null && (top === null || latest.seq > top.seq)) top = { seq: latest.seq, hash: latest.hash, kind: 'checkpoint' };
        out.damage = { segment: last.name, offset: scan.goodEnd, fromSeq: lastGoodSeq + 1, toSeq: after !== null ? after.seq - 1 : latest !== null ? latest.seq : null, bytes: (after?.offset ?? bytes.length) - scan.goodEnd };
        last.size = bytes.length;
        out.nextSeq = (top?.seq ?? lastGoodSeq) + 1;
        out.head = top?.hash ?? (good.length > 0 ? good[good.length - 1].hash : GENESIS_PREV);
        out.lastKind = top?.kind ?? null;
        out.lastAt = good.length > 0 ? recordAt(good[good.length - 1].record) : null;
        out.sinceCheckpoint = out.lastKind === 'checkpoint' ? 0 : 1;
        out.clean = false;
        return out;
      }
      // A torn tail: power loss only tears what was never fsynced. Keep the cut bytes anyway.
      const tail = bytes.subarray(scan.goodEnd);
      await keepTail(fs, join(dir, `recovered-${last.name}-${scan.goodEnd}.tail`), tail);
      out.recoveredBytes += tail.length;
      out.clean = false;
      if (good.length === 0) {
        // Nothing committed in it (created just before a crash, or its first write was torn).
        await fs.unlink(last.path);
        await fs.fsyncDir(dir);
        out.segments.pop();
        continue;
      }
      const fd = await fs.open(last.path, 'r+');
      await fs.ftruncate(fd, scan.goodEnd);
      await fs.fsync(fd);
      out.fd = fd;
    } else if (good.length === 0) {
      // An empty segment (created, nothing written yet).
      await fs.unlink(last.path);
      await fs.fsyncDir(dir);
      out.segments.pop();
      continue;
    } else {
      out.fd = await fs.open(last.path, 'r+');
    }
    const tail = good[good.length - 1];
    last.size = scan.goodEnd;
    out.nextSeq = tail.seq + 1;
    out.head = tail.hash;
    out.lastKind = tail.record.kind;
    out.lastAt = recordAt(tail.record);
    let since = 0;
    for (let i = good.length - 1; i >= 0 && good[i].record.kind !== 'checkpoint'; i--) since++;
    out.sinceCheckpoint = since;
    break;
  }
  return out;
}

/** A record's time when it has a usable one. */
function recordAt(record: { at?: unknown }): number | null {
  return typeof record.at === 'number' && Number.isFinite(record.at) ? record.at : null;
}
