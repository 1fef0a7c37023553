/**
 * Fair admission to one listener's connection pool (issue 20 item 6). With one pool per listener,
 * the allowed hosts of one conduit (a whole zone, say) could fill `maxConnections` and lock out
 * another identity's HMI until they went idle. So the last `reserve` slots of the pool (default a
 * quarter) go only to conduits that hold fewer than `share` connections (default a quarter of the
 * reserve, at least 1): one conduit can take at most max - reserve, and every other conduit still
 * gets `share` connections in the worst case.
 *
 * Keyed by the conduit that allowed the connection: a zone conduit's many hosts count as one,
 * whatever their addresses (the per-source cap still bounds each address).
 */
export class ConduitShares {
  private readonly held = new Map<string, number>();
  readonly reserve: number;
  readonly share: number;

  constructor(readonly max: number, reserve?: number, share?: number) {
    this.reserve = Math.min(max - 1, Math.max(0, Math.floor(reserve ?? Math.ceil(max / 4))));
    this.share = Math.max(1, Math.floor(share ?? this.reserve / 4));
  }

  /** Connections the conduit holds now. */
  holds(conduit: string): number {
    return this.held.get(conduit) ?? 0;
  }

  /**
   * Admits one more connection for `conduit` when `open` connections (this one not counted) are
   * open on the listener: returns null and counts it, or the refusal message (nothing counted).
   */
  take(conduit: string, open: number): string | null {
    const held = this.held.get(conduit) ?? 0;
    if (open >= this.max - this.reserve && held >= this.share) {
      return `refused: conduit ${conduit} holds ${held} connection(s); the last ${this.reserve} of ${this.max} are kept for conduits holding fewer than ${this.share}`;
    }
    this.held.set(conduit, held + 1);
    return null;
  }

  /** Gives back a slot taken by take(). */
  give(conduit: string): void {
    const n = (this.held.get(conduit) ?? 1) - 1;
    if (n <= 0) this.held.delete(conduit); else this.held.set(conduit, n);
  }
}
