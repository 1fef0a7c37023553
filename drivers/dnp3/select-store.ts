/**
 * Select-before-operate (IEEE 1815-2012 section 4.4.4): the SELECTs each identity made, so that
 * an OPERATE is forwarded only when its objects equal, byte for byte, a SELECT the same identity
 * (and the same link addresses) made within the select timeout. An OPERATE consumes its SELECT.
 * Bounded: the oldest entries go first when it is full.
 */
export class SelectStore {
  private readonly entries = new Map<string, { objects: Buffer; at: number }>();
  constructor(private readonly timeoutMs: number, private readonly max = 1024) {}

  private static key(identity: string, source: number, destination: number): string {
    return `${identity}\u0000${source}\u0000${destination}`;
  }

  /** Remembers a forwarded SELECT's objects (buf[off .. off + len), copied). */
  select(identity: string, source: number, destination: number, buf: Uint8Array, off: number, len: number, nowMs: number): void {
    const key = SelectStore.key(identity, source, destination);
    this.entries.delete(key);
    if (this.entries.size >= this.max) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(key, { objects: Buffer.from(buf.subarray(off, off + len)), at: nowMs });
  }

  /** Whether an OPERATE's objects match a live SELECT of this identity; a match is consumed. */
  operate(identity: string, source: number, destination: number, buf: Uint8Array, off: number, len: number, nowMs: number): boolean {
    const key = SelectStore.key(identity, source, destination);
    const e = this.entries.get(key);
    if (e === undefined) return false;
    if (nowMs - e.at > this.timeoutMs) { this.entries.delete(key); return false; }
    if (e.objects.length !== len || e.objects.compare(buf, off, off + len) !== 0) return false;
    this.entries.delete(key);
    return true;
  }

  /** Forgets expired selects. */
  prune(nowMs: number): void {
    for (const [k, e] of this.entries) if (nowMs - e.at > this.timeoutMs) this.entries.delete(k);
  }

  get size(): number { return this.entries.size; }
}
