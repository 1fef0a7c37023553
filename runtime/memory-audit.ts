/**
 * The audit sink the gateway uses until the durable audit log is wired in: a bounded ring of the
 * most recent events (counting what it overwrote) and one JSON line per decision written out
 * (stdout in the daemon). Lines are queued and written on the next turn of the event loop, in
 * one write, so the hot path never blocks on a pipe; the queue is bounded too and counts drops.
 */
import type { AuditEvent, AuditSink } from '../drivers/types';

export interface MemoryAuditOptions {
  /** Events kept in memory (the most recent). */
  capacity: number;
  /** Where decision lines go (`decisions: 'stdout'`); undefined writes nothing. */
  write?: (chunk: string) => void;
  /** Which kinds are written as lines. Default: decision and malformed. */
  lineKinds?: readonly AuditEvent['kind'][];
  /** Lines queued at most between two writes; more are dropped and counted. Default 10,000. */
  maxQueuedLines?: number;
  /** Schedules the flush; default setImmediate. */
  schedule?: (fn: () => void) => void;
  /** Events to start the ring with (a previous sink's recent ones, on reconfiguration); not written out again. */
  seed?: readonly AuditEvent[];
}

export interface MemoryAuditStats {
  /** Events recorded since start. */
  recorded: number;
  /** Events overwritten in the ring (older than the last `capacity`). */
  overwritten: number;
  /** Lines dropped because the output queue was full. */
  droppedLines: number;
  /** Lines written. */
  written: number;
  byKind: Record<string, number>;
}

export interface MemoryAudit extends AuditSink {
  /** The most recent events, oldest first (at most `limit`). */
  recent(limit?: number): AuditEvent[];
  stats(): MemoryAuditStats;
  /** Writes what is queued now. */
  flush(): void;
}

/** Builds the sink; it never throws from record(). */
export function createMemoryAudit(options: MemoryAuditOptions): MemoryAudit {
  const capacity = Math.max(1, Math.floor(options.capacity));
  const ring: (AuditEvent | undefined)[] = new Array(capacity);
  let next = 0;
  let size = 0;
  const stats: MemoryAuditStats = { recorded: 0, overwritten: 0, droppedLines: 0, written: 0, byKind: Object.create(null) };
  const lineKinds = new Set(options.lineKinds ?? ['decision', 'malformed']);
  const maxQueued = options.maxQueuedLines ?? 10_000;
  const schedule = options.schedule ?? ((fn: () => void) => { setImmediate(fn); });
  // Events, not lines: JSON.stringify runs in the batched flush, off the request's own path.
  let queue: AuditEvent[] = [];
  let scheduled = false;
  for (const e of (options.seed ?? []).slice(-capacity)) { ring[next] = e; next = (next + 1) % capacity; size += 1; }

  const flush = () => {
    scheduled = false;
    if (queue.length === 0 || !options.write) return;
    const events = queue;
    queue = [];
    const lines: string[] = [];
    for (const e of events) {
      try { lines.push(JSON.stringify(e)); } catch { stats.droppedLines += 1; }
    }
    if (lines.length === 0) return;
    try {
      options.write(`${lines.join('\n')}\n`);
      stats.written += lines.length;
    } catch {
      stats.droppedLines += lines.length;
    }
  };

  return {
    record(event: AuditEvent): void {
      stats.recorded += 1;
      stats.byKind[event.kind] = (stats.byKind[event.kind] ?? 0) + 1;
      if (size === capacity) stats.overwritten += 1; else size += 1;
      ring[next] = event;
      next = (next + 1) % capacity;
      if (!options.write || !lineKinds.has(event.kind)) return;
      if (queue.length >= maxQueued) { stats.droppedLines += 1; return; }
      queue.push(event);
      if (!scheduled) { scheduled = true; schedule(flush); }
    },
    recent(limit = capacity): AuditEvent[] {
      const n = Math.min(limit, size);
      const out: AuditEvent[] = [];
      for (let i = n; i > 0; i--) out.push(ring[(next - i + capacity) % capacity]!);
      return out;
    },
    stats: () => ({ ...stats, byKind: { ...stats.byKind } }),
    flush,
  };
}
