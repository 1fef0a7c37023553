/**
 * Deny-flood summariser. A scanner hammering the gateway must not fill the disk with identical
 * denials, but auditors must still see that it happened. Per (src, asset, reason) and per
 * window (starting at the first denial of that key), the first `verbatim` denials are kept as
 * they are; later ones are counted, and when the window closes the summariser emits a `summary`
 * record (how many were not kept, from when to when) followed by the last denial verbatim.
 * Allowed decisions never pass through here: they are always recorded verbatim.
 *
 * Counts are as durable as records: the log calls flushPartials() before each group commit, which
 * emits a summary of the denials counted since the last one while the window stays open, so a
 * crash loses no more of a flood than of any other record. Each suppressed denial is counted in
 * exactly one summary (or is the verbatim last), so verbatim denials + summary counts = denials.
 *
 * The table of open windows is bounded (maxKeys); past it, denials of new keys share one
 * overflow window whose summary names src, asset and reason '*'.
 */
import type { AuditEvent } from '../../drivers/types';
import type { RecordBody } from '../../protocol/audit/record';

export interface FloodOptions {
  /** Window length in ms (default 10,000). */
  windowMs?: number;
  /** Denials kept verbatim at the start of each window (default 3). */
  verbatim?: number;
  /** Open windows at most (default 4,096). */
  maxKeys?: number;
}

interface Window {
  start: number;
  total: number;
  kept: number;
  suppressed: number;
  /** Suppressed denials already emitted in partial summaries (flushPartials). */
  flushed: number;
  from: number;
  /** When the first suppressed denial not yet flushed came. */
  partFrom: number;
  last: AuditEvent | null;
  overflow: boolean;
}

// Nested maps src → asset → reason: three lookups of strings the event already holds, no key
// string built per denial (design.md performance budget: a string key built per lookup ≈ 500 ns).
type ByReason = Map<string, Window>;
type ByAsset = Map<string, ByReason>;

/** Decides which denials are written verbatim and produces the summaries of the rest. */
export class DenyFloodSummariser {
  readonly windowMs: number;
  readonly verbatim: number;
  readonly maxKeys: number;
  private readonly windows = new Map<string, ByAsset>();
  private open = 0;
  private overflow: Window | null = null;
  private readonly emit: (body: RecordBody) => void;
  /** Denials not written verbatim (summarised) since construction. */
  summarised = 0;

  constructor(options: FloodOptions & { emit: (body: RecordBody) => void }) {
    this.windowMs = options.windowMs ?? 10_000;
    this.verbatim = options.verbatim ?? 3;
    this.maxKeys = options.maxKeys ?? 4096;
    if (!(this.windowMs > 0) || !(this.verbatim >= 1) || !(this.maxKeys >= 1)) throw new TypeError('flood: windowMs, verbatim and maxKeys must be positive');
    this.emit = options.emit;
  }

  /** Hot path: true when this denial should be recorded verbatim now, false when it was counted. */
  admit(ev: AuditEvent): boolean {
    const src = ev.src ?? '';
    const asset = ev.asset ?? '';
    const reason = ev.decision?.reason ?? '';
    let byAsset = this.windows.get(src);
    let byReason = byAsset?.get(asset);
    let w = byReason?.get(reason);
    if (w !== undefined && ev.at - w.start >= this.windowMs) {
      this.close(w);
      byReason!.delete(reason);
      this.open--;
      w = undefined;
    }
    if (w === undefined) {
      if (this.open >= this.maxKeys) {
        if (this.overflow !== null && ev.at - this.overflow.start >= this.windowMs) { this.close(this.overflow); this.overflow = null; }
        if (this.overflow === null) this.overflow = newWindow(ev.at, true);
        w = this.overflow as Window;
      } else {
        w = newWindow(ev.at, false);
        if (byAsset === undefined) this.windows.set(src, (byAsset = new Map()));
        if (byReason === undefined) byAsset.set(asset, (byReason = new Map()));
        byReason.set(reason, w);
        this.open++;
      }
    }
    w.total++;
    if (w.kept < this.verbatim) {
      w.kept++;
      return true;
    }
    if (w.suppressed === 0) w.from = ev.at;
    if (w.suppressed === w.flushed) w.partFrom = ev.at;
    w.suppressed++;
    w.last = ev;
    this.summarised++;
    return false;
  }

  /** Closes the windows that ended by `now` (all of them with now = Infinity), emitting their summaries. */
  sweep(now: number): void {
    for (const [src, byAsset] of this.windows) {
      for (const [asset, byReason] of byAsset) {
        for (const [reason, w] of byReason) {
          if (now - w.start >= this.windowMs) {
            this.close(w);
            byReason.delete(reason);
            this.open--;
          }
        }
        if (byReason.size === 0) byAsset.delete(asset);
      }
      if (byAsset.size === 0) this.windows.delete(src);
    }
    if (this.overflow !== null && now - this.overflow.start >= this.windowMs) {
      this.close(this.overflow);
      this.overflow = null;
    }
  }

  /** Closes every window (shutdown). */
  closeAll(): void {
    this.sweep(Infinity);
  }

  /** Denials counted but not yet in any summary (windows still open). */
  pending(): number {
    let n = this.overflow !== null ? this.overflow.suppressed - this.overflow.flushed : 0;
    for (const byAsset of this.windows.values()) for (const byReason of byAsset.values()) for (const w of byReason.values()) n += w.suppressed - w.flushed;
    return n;
  }

  /** Windows still open (their last denial is emitted when they close). */
  hasOpen(): boolean {
    return this.open > 0 || this.overflow !== null;
  }

  /** Emits a summary of every open window's denials counted since its last one; windows stay open. */
  flushPartials(): void {
    for (const byAsset of this.windows.values()) for (const byReason of byAsset.values()) for (const w of byReason.values()) this.partial(w);
    if (this.overflow !== null) this.partial(this.overflow);
  }

  private partial(w: Window): void {
    const n = w.suppressed - w.flushed;
    if (n <= 0 || w.last === null) return;
    w.flushed = w.suppressed;
    this.emit(this.summaryBody(w, w.last, n, w.partFrom));
  }

  private summaryBody(w: Window, last: AuditEvent, count: number, from: number): RecordBody {
    return {
      kind: 'summary',
      at: last.at,
      source: 'audit',
      src: w.overflow ? '*' : last.src,
      asset: w.overflow ? '*' : last.asset,
      decision: w.overflow ? { decision: 'deny', conduit: null, reason: null, identity: null } : last.decision,
      message: `${count} denials summarised`,
      summary: { count, total: w.total, from, to: last.at, windowMs: this.windowMs },
    };
  }

  private close(w: Window): void {
    const last = w.last;
    if (last === null) return;
    const left = w.suppressed - w.flushed;
    // Everything already went out in partial summaries (the last denial included).
    if (left === 0) return;
    // The last denial goes out verbatim after the summary; the summary counts the others.
    this.summarised--;
    if (left > 1) this.emit(this.summaryBody(w, last, left - 1, w.flushed === 0 ? w.from : w.partFrom));
    this.emit(last as RecordBody);
  }
}

function newWindow(at: number, overflow: boolean): Window {
  return { start: at, total: 0, kept: 0, suppressed: 0, flushed: 0, from: 0, partFrom: 0, last: null, overflow };
}
