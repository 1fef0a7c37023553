/**
 * When the audit log signs a checkpoint of its chain head (record.ts kind `checkpoint`): after
 * checkpointEvery records, or at the end of a batch written checkpointIntervalMs or more after
 * the last one (so no record after the last checkpoint is dated more than that after it: verify.ts
 * checks it), and at close(). The newest checkpoint's payload goes to `checkpoint.latest` once
 * its record is on disk.
 */
import type { KeyObject } from 'node:crypto';
import { signCheckpoint } from '../../protocol/audit/checkpoint';
import type { CheckpointBody } from '../../protocol/audit/record';

export class Checkpoints {
  /** Records written since the last checkpoint. */
  since = 0;
  lastAt: number;
  /** close() asked for one (written with the last batch even when nothing else calls for it). */
  force = false;
  lastSeq: number | null = null;

  constructor(private readonly o: { every: number; intervalMs: number; now: () => number; device: string; key: { privateKey: KeyObject; publicRaw: Uint8Array } }) {
    this.lastAt = o.now();
  }

  /** Whether a batch ending `since` records after the last checkpoint ends with one. */
  due(now: number, since: number): boolean {
    return since > 0 && (this.force || since >= this.o.every || now - this.lastAt >= this.o.intervalMs);
  }

  /** A checkpoint is owed even with no record waiting (close()). */
  pending(): boolean {
    return this.force && this.since > 0;
  }

  /** The first batch after a restart ends with a checkpoint. */
  afterRestart(): void {
    this.lastAt = -Infinity;
  }

  sign(seq: number, head: Buffer, at: number): CheckpointBody {
    return signCheckpoint({ device: this.o.device, seq, head, at }, this.o.key);
  }

  /** A batch was committed: `since` records after the last checkpoint, `seq` of the checkpoint it carried, if any. */
  committed(since: number, checkpoint: { seq: number; at: number } | null): void {
    this.since = since;
    if (checkpoint === null) return;
    this.lastAt = checkpoint.at;
    this.lastSeq = checkpoint.seq;
    this.force = false;
  }
}
