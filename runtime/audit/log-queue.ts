/**
 * The audit log's bounded queue of records waiting for the writer. Taking a batch moves the head
 * instead of copying the rest; what a full queue refused is counted (with the denials it stood
 * for) for the gap record of the next batch. `runQueuedAt` holds when the first record of each
 * batch-sized run was queued, oldest first: the oldest waiting record's batch is due
 * flushDelayMs after runQueuedAt[0].
 */
import type { RecordBody } from '../../protocol/audit/record';

export class RecordQueue {
  private items: RecordBody[] = [];
  private head = 0;
  runQueuedAt: number[] = [];
  /** Lost before they got a seq, for the next gap record; queueFullDenials: the denials they stood for (a summary counts its denials). */
  readonly lost = { queueFull: 0, writeFailed: 0, queueFullDenials: 0 };

  constructor(private readonly o: { capacity: number; batchMax: number; now: () => number }) {}

  get depth(): number {
    return this.items.length - this.head;
  }

  /** Queues `body`; false (and counted in `lost`) when the queue is full. */
  push(body: RecordBody): boolean {
    if (this.depth >= this.o.capacity) {
      this.lost.queueFull++;
      this.lost.queueFullDenials += deniesIn(body);
      return false;
    }
    this.items.push(body);
    if ((this.depth - 1) % this.o.batchMax === 0) this.runQueuedAt.push(this.o.now());
    return true;
  }

  /** The next batch (batchMax at most), oldest first. */
  take(): RecordBody[] {
    const { batchMax } = this.o;
    if (this.head === 0 && this.items.length <= batchMax) {
      const b = this.items;
      this.items = [];
      this.runQueuedAt.length = 0;
      return b;
    }
    const end = Math.min(this.items.length, this.head + batchMax);
    const b = this.items.slice(this.head, end);
    this.head = end;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
      this.runQueuedAt.length = 0;
      return b;
    }
    this.runQueuedAt.shift();
    if (this.head >= 65_536) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return b;
  }

  /** Puts a batch that failed back at the head of the queue, in order, queued at `due` (due at once). */
  requeue(events: RecordBody[], due: number): void {
    if (events.length === 0) return;
    this.items = events.concat(this.items.slice(this.head));
    this.head = 0;
    this.runQueuedAt = new Array<number>(Math.ceil(this.items.length / this.o.batchMax)).fill(due);
  }

  /** Empties the queue; returns how many records it held. */
  dropAll(): number {
    const left = this.depth;
    this.items = [];
    this.head = 0;
    this.runQueuedAt.length = 0;
    return left;
  }
}

/** How many denials a record stands for: a summary its count, a denied decision 1. */
function deniesIn(b: RecordBody): number {
  if (b.kind === 'summary') return b.summary?.count ?? 0;
  return b.kind === 'decision' && b.decision?.decision === 'deny' ? 1 : 0;
}
