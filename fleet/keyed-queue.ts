/**
 * Runs each job after everything queued under the same key, jobs of different keys side by side.
 * The audit collector (audit-collect.ts) keys by device: one device's batches are handled one at a
 * time in arrival order, different devices' writes and fsyncs or COMMITs overlap.
 */
export class KeyedQueue {
  private readonly tails = new Map<string, Promise<void>>();

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const p = (this.tails.get(key) ?? Promise.resolve()).then(fn);
    const tail = p.then(() => undefined, () => undefined);
    this.tails.set(key, tail);
    void tail.then(() => { if (this.tails.get(key) === tail) this.tails.delete(key); });
    return p;
  }

  /** Resolves once every job queued so far (and any queued meanwhile) is done. */
  async idle(): Promise<void> {
    while (this.tails.size > 0) await Promise.all(this.tails.values());
  }
}
