/**
 * The pending payloads of one inbound kind, waiting for that kind's handler (one at a time).
 * Bounded: at most `depth` entries. For retained kinds the newest payload of a topic replaces a
 * pending older one of the same topic (the broker keeps only the newest too); when full the
 * oldest entry is dropped. Every replaced or dropped entry is counted.
 */

export interface QueueEntry<T> {
  topic: string;
  key: string;
  value: T;
}

export class KindQueue<T> {
  private readonly items: QueueEntry<T>[] = [];
  /** Entries replaced by a newer payload of the same topic, or dropped because the queue was full. */
  dropped = 0;

  constructor(private readonly depth: number, private readonly latestPerTopic: boolean) {
    if (!Number.isInteger(depth) || depth < 1) throw new TypeError('KindQueue: depth must be an integer >= 1');
  }

  get length(): number { return this.items.length; }

  /** True when an entry with this key is pending. */
  has(key: string): boolean { return this.items.some((e) => e.key === key); }

  push(entry: QueueEntry<T>): void {
    if (this.latestPerTopic) {
      const i = this.items.findIndex((e) => e.topic === entry.topic);
      if (i >= 0) { this.items.splice(i, 1); this.dropped += 1; }
    }
    if (this.items.length >= this.depth) { this.items.shift(); this.dropped += 1; }
    this.items.push(entry);
  }

  shift(): QueueEntry<T> | undefined { return this.items.shift(); }
}

/** A bounded set of recently seen keys, oldest forgotten first. */
export class SeenCache {
  private readonly keys = new Map<string, true>();
  constructor(private readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new TypeError('SeenCache: size must be an integer >= 1');
  }
  has(key: string): boolean { return this.keys.has(key); }
  add(key: string): void {
    this.keys.delete(key);
    this.keys.set(key, true);
    if (this.keys.size > this.size) this.keys.delete(this.keys.keys().next().value as string);
  }
}
