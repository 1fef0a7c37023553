/**
 * The transactions of one client connection that wait for an answer, oldest first: those
 * forwarded upstream, and those the proxy answers itself at their deadline (a unit the policy
 * hides, see connection.ts). Fixed typed arrays sized by maxOutstanding: no allocation per request.
 */
export class OutstandingTable {
  readonly tids: Uint16Array;
  readonly fns: Uint8Array;
  readonly units: Uint8Array;
  /** 1 when the proxy answers the entry itself (never forwarded), 0 when it went upstream. */
  readonly local: Uint8Array;
  readonly sentAt: Float64Array;
  size = 0;

  constructor(readonly capacity: number) {
    this.tids = new Uint16Array(capacity);
    this.fns = new Uint8Array(capacity);
    this.units = new Uint8Array(capacity);
    this.local = new Uint8Array(capacity);
    this.sentAt = new Float64Array(capacity);
  }

  get full(): boolean {
    return this.size >= this.capacity;
  }

  /** Appends an entry (the caller checked `full`). */
  push(tid: number, unit: number, fn: number, local: boolean, at: number): void {
    const i = this.size++;
    this.tids[i] = tid;
    this.units[i] = unit;
    this.fns[i] = fn;
    this.local[i] = local ? 1 : 0;
    this.sentAt[i] = at;
  }

  /**
   * The index of the forwarded entry an upstream response answers (same transaction id, unit and
   * function code, MBAP 3.1.3 and section 7), or -1. Local entries are never matched.
   */
  match(tid: number, unit: number, fn: number): number {
    const n = this.size;
    const tids = this.tids;
    for (let i = 0; i < n; i++) {
      if (tids[i] === tid && this.local[i] === 0) return this.fns[i] === fn && this.units[i] === unit ? i : -1;
    }
    return -1;
  }

  /** Removes entry i, keeping the others in send order (the sweep expires from the front). */
  removeAt(i: number): void {
    const n = this.size - 1;
    for (let j = i; j < n; j++) {
      this.tids[j] = this.tids[j + 1];
      this.fns[j] = this.fns[j + 1];
      this.units[j] = this.units[j + 1];
      this.local[j] = this.local[j + 1];
      this.sentAt[j] = this.sentAt[j + 1];
    }
    this.size = n;
  }
}
