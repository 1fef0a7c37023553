/**
 * Per-conduit request rate limits, one token bucket per (conduit, client source address). The
 * buckets outlive connections so that reconnecting does not refill them; idle full buckets are
 * pruned, and the store is capped (it counts what it had to evict).
 */

/** A token bucket: `burst` tokens, refilled at `perSecond`; time in milliseconds from `now()`. */
export class TokenBucket {
  tokens: number;
  last: number;
  /** Connections currently holding this bucket (pruning skips held buckets). */
  holders = 0;

  constructor(readonly perSecond: number, readonly burst: number, nowMs: number) {
    this.tokens = burst;
    this.last = nowMs;
  }

  /** Takes one token if there is one; true when the request may go. */
  take(nowMs: number): boolean {
    const elapsed = nowMs - this.last;
    if (elapsed > 0) {
      const t = this.tokens + (elapsed * this.perSecond) / 1000;
      this.tokens = t > this.burst ? this.burst : t;
      this.last = nowMs;
    }
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    return false;
  }

  /** Whether the bucket would be full at nowMs (forgetting it changes nothing). */
  fullAt(nowMs: number): boolean {
    return this.tokens + ((nowMs - this.last) * this.perSecond) / 1000 >= this.burst;
  }
}

/** Buckets keyed by conduit id then source address. Looked up once per (connection, conduit). */
export class RateLimitStore {
  private readonly byConduit = new Map<string, Map<string, TokenBucket>>();
  private size = 0;
  /** Buckets evicted while still not full because the store was at its cap. */
  evicted = 0;

  constructor(private readonly maxBuckets: number) {}

  /** The bucket of (conduit, source) with this limit, created full when new or when the limit changed. */
  bucket(conduit: string, source: string, limit: { perSecond: number; burst: number }, nowMs: number): TokenBucket {
    let bySource = this.byConduit.get(conduit);
    if (bySource === undefined) {
      bySource = new Map();
      this.byConduit.set(conduit, bySource);
    }
    const existing = bySource.get(source);
    if (existing !== undefined && existing.perSecond === limit.perSecond && existing.burst === limit.burst) return existing;
    if (existing === undefined) {
      if (this.size >= this.maxBuckets) this.prune(nowMs, true);
      this.size += 1;
    }
    const b = new TokenBucket(limit.perSecond, limit.burst, nowMs);
    if (existing !== undefined) b.holders = existing.holders;
    bySource.set(source, b);
    return b;
  }

  /** Forgets unheld buckets that are full again; with `force`, also unheld ones that are not. */
  prune(nowMs: number, force = false): void {
    for (const [conduit, bySource] of this.byConduit) {
      for (const [source, b] of bySource) {
        if (b.holders > 0) continue;
        if (b.fullAt(nowMs) || force) {
          if (!b.fullAt(nowMs)) this.evicted += 1;
          bySource.delete(source);
          this.size -= 1;
        }
      }
      if (bySource.size === 0) this.byConduit.delete(conduit);
    }
  }

  get buckets(): number {
    return this.size;
  }
}

/**
 * One connection's bucket: the one of the conduit that last allowed its request, looked up in
 * the store again only when the conduit or the policy version changes (not per request), and
 * held while kept (pruning skips it) until release().
 */
export class HeldBucket {
  private conduit: string | null = null;
  private version: string | null = null;
  private bucket: TokenBucket | null = null;
  constructor(private readonly store: RateLimitStore, private readonly source: string) {}

  /** The bucket of (conduit, source) under `limit(conduit)` for this policy version; null without a limit. */
  of(conduit: string, version: string, limit: (conduit: string) => { perSecond: number; burst: number } | undefined, nowMs: number): TokenBucket | null {
    if (conduit === this.conduit && version === this.version) return this.bucket;
    const l = limit(conduit);
    this.release();
    const bucket = l === undefined ? null : this.store.bucket(conduit, this.source, l, nowMs);
    if (bucket !== null) bucket.holders++;
    this.conduit = conduit;
    this.version = version;
    this.bucket = bucket;
    return bucket;
  }

  /** Lets the bucket go (the connection closed). */
  release(): void {
    if (this.bucket !== null) this.bucket.holders--;
    this.bucket = null;
    this.conduit = null;
  }
}
