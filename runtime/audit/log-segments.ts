/**
 * The audit log's segment files (`audit-<firstSeq>.seg`, segment.ts): the open one is appended
 * to with one positional write and one fsync per batch and rolled at segmentBytes (at batch
 * boundaries); the oldest are deleted to keep disk use under maxBytes (uploaded ones first when
 * the disk is full). Recovery (recover.ts) hands over the list, the open descriptor and any
 * damage it kept.
 */
import { join } from 'node:path';
import type { AuditFs } from './fs';
import { segmentName } from '../../protocol/audit/segment';
import type { AuditDamage } from './recover';
import type { LogCounts } from './log-types';

export interface Segment {
  name: string;
  path: string;
  firstSeq: number;
  size: number;
}

/** What eviction deleted before upload: records fromSeq..toSeq, count of them. */
export interface Evicted { fromSeq: number; toSeq: number; count: number }

export class Segments {
  list: Segment[] = [];
  fd: number | null = null;
  /** Damaged committed records recovery kept; cleared when their segment is evicted. */
  damage: AuditDamage | null = null;
  /** The current segment's size is dirty when a failed write may have left bytes past it. */
  private dirtyTail = false;

  constructor(private readonly o: {
    fs: AuditFs; dir: string; segmentBytes: number; maxBytes: number; counts: LogCounts; now: () => number;
    /** Unuploaded records were deleted to stay under maxBytes. */
    onEvicted(e: Evicted): void;
    /** The segment holding the damage recovery kept was deleted. */
    onDamageGone(): void;
  }) {}

  bytes(): number {
    let total = 0;
    for (const s of this.list) total += s.size;
    return total;
  }

  /** Appends one batch's bytes to the current segment (rolled first when full): one positional write, one fsync. */
  async append(data: Buffer, nextSeq: number): Promise<void> {
    const { fs, counts } = this.o;
    await this.ensure(data.length, nextSeq);
    const seg = this.list[this.list.length - 1];
    if (this.dirtyTail) {
      // A failed write may have left bytes past the committed size: cut them first.
      await fs.ftruncate(this.fd as number, seg.size);
      this.dirtyTail = false;
    }
    this.dirtyTail = true;
    await fs.write(this.fd as number, data, seg.size);
    counts.writes++;
    await fs.fsync(this.fd as number);
    this.dirtyTail = false;
    counts.fsyncs++;
    counts.lastFsyncAt = this.o.now();
    seg.size += data.length;
  }

  /** Makes sure a segment is open for the next write, rolling (at a batch boundary) when the current one is full. */
  private async ensure(incoming: number, nextSeq: number): Promise<void> {
    const { fs, dir } = this.o;
    const cur = this.list[this.list.length - 1];
    if (cur !== undefined && this.fd !== null && (cur.size === 0 || cur.size + incoming <= this.o.segmentBytes)) return;
    const name = segmentName(nextSeq);
    const path = join(dir, name);
    const fd = await fs.open(path, 'wx').catch(async (e: NodeJS.ErrnoException) => {
      // Left over from a failed roll (created, then the write failed): it holds nothing committed.
      if (e.code !== 'EEXIST') throw e;
      const again = await fs.open(path, 'r+');
      await fs.ftruncate(again, 0);
      return again;
    });
    await fs.fsyncDir(dir);
    if (this.fd !== null) await fs.close(this.fd).catch(() => undefined);
    this.fd = fd;
    this.list.push({ name, path, firstSeq: nextSeq, size: 0 });
    this.dirtyTail = false;
  }

  /**
   * Keeps disk use under maxBytes: oldest segments go first; unuploaded records lost are told to
   * onEvicted. With uploadedOnly (the disk is full), deletes every fully uploaded segment and no
   * other. True when it deleted any segment.
   */
  async evict(uploaded: number, uploadedOnly = false): Promise<boolean> {
    const { fs, dir } = this.o;
    let total = this.bytes();
    let removed = false;
    while ((uploadedOnly || total > this.o.maxBytes) && this.list.length > 1) {
      const oldest = this.list[0];
      const lastSeq = this.list[1].firstSeq - 1;
      if (uploadedOnly && lastSeq > uploaded) break;
      try {
        await fs.unlink(oldest.path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') break;
      }
      this.list.shift();
      total -= oldest.size;
      removed = true;
      if (this.damage !== null && this.damage.segment === oldest.name) {
        // The damaged records are gone from the device (the verify report and the gap say so).
        this.damage = null;
        this.o.onDamageGone();
      }
      if (lastSeq > uploaded) {
        const fromSeq = Math.max(oldest.firstSeq, uploaded + 1);
        const count = lastSeq - fromSeq + 1;
        this.o.counts.evicted += count;
        this.o.onEvicted({ fromSeq, toSeq: lastSeq, count });
      }
    }
    if (removed) await fs.fsyncDir(dir).catch(() => undefined);
    return removed;
  }

  async close(): Promise<void> {
    if (this.fd !== null) { await this.o.fs.close(this.fd).catch(() => undefined); this.fd = null; }
  }
}
