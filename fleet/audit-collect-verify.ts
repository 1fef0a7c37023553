/**
 * Step 5 of the collector (audit-collect.ts): verifies the records of one upload batch after a
 * given point of the device's chain, in order, through ChainVerifier (seq, prev, checkpoints
 * under the key), and checks what the batch header and the topic promise: each record's seq is
 * its place in the batch, a checkpoint names the device it was uploaded as. Pure: nothing is
 * stored; the caller stores the run or refuses the batch with the message.
 */
import { ChainVerifier } from '../protocol/audit/verify';
import { decodeRecord, hashPayload, type AuditRecord } from '../protocol/audit/record';
import type { AuditBatch } from '../protocol/audit/upload-batch';
import type { VerifiedRun } from './audit-store';

export interface BatchCheck {
  deviceId: string;
  batch: AuditBatch;
  /** Records at the start of the batch already stored (not verified again). */
  skip: number;
  /** The pinned key, if any. */
  key: Buffer | null;
  /** The record the run must continue (seq and payload hash); none: the run starts a chain. */
  after?: { seq: number; hash: Uint8Array };
}

export type BatchVerdict =
  | { run: VerifiedRun | null; pinnedFromCheckpoint: string | null }
  | { error: string };

/** Verifies batch.records[skip..]; run null when nothing is left after skip. */
export function verifyBatch(c: BatchCheck): BatchVerdict {
  const { batch, deviceId, skip } = c;
  const fresh = batch.records.slice(skip);
  const v = new ChainVerifier({ devicePublicKey: c.key ?? undefined, after: c.after });
  const payloads: Buffer[] = [];
  const records: AuditRecord[] = [];
  const hashes: Buffer[] = [];
  let checkpoint: Buffer | undefined;
  for (let i = 0; i < fresh.length; i++) {
    const p = Buffer.from(fresh[i]);
    const seq = batch.fromSeq + skip + i;
    if (!v.addPayload(p)) {
      const e = v.report.error!;
      return { error: `record seq ${e.seq ?? seq} of ${deviceId} fails verification (${e.code}): ${e.message}` };
    }
    const rec = decodeRecord(p);
    if (rec.seq !== seq) return { error: `batch from seq ${batch.fromSeq} of ${deviceId} carries seq ${rec.seq} at position ${skip + i}` };
    if (rec.kind === 'checkpoint' && rec.checkpoint?.device !== deviceId) {
      return { error: `checkpoint at seq ${seq} names device ${String(rec.checkpoint?.device)}, uploaded as ${deviceId}` };
    }
    if (rec.kind === 'checkpoint') checkpoint = p;
    payloads.push(p);
    records.push(rec);
    hashes.push(hashPayload(p));
  }
  if (payloads.length === 0) return { run: null, pinnedFromCheckpoint: null };
  const pinned = !c.key && v.report.key?.source === 'checkpoint' ? v.report.key.hex : null;
  return {
    run: { firstSeq: batch.fromSeq + skip, payloads, records, hashes, lastHash: hashes[hashes.length - 1], checkpoint },
    pinnedFromCheckpoint: pinned,
  };
}

/**
 * A batch that starts after a hole, checked on its own so that a store can park it: the chain
 * is taken to continue from the prev its first record names (the store links that prev to the
 * stored end when the hole fills). Null when it cannot be checked alone: no key is pinned yet
 * and it holds a checkpoint (whose key would then go unchecked), or its first record does not decode.
 */
export function verifyAhead(c: Omit<BatchCheck, 'skip' | 'after'>): BatchVerdict | null {
  let first: AuditRecord;
  try { first = decodeRecord(Buffer.from(c.batch.records[0])); } catch { return null; }
  if (!c.key && c.batch.records.some((r) => { try { return decodeRecord(Buffer.from(r)).kind === 'checkpoint'; } catch { return false; } })) return null;
  return verifyBatch({ ...c, skip: 0, after: { seq: c.batch.fromSeq - 1, hash: first.prev } });
}
