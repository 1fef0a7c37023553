/**
 * Counts, per conduit, the requests monitor mode let through that enforcing would have denied
 * (decisions with `monitor: true`), since the daemon started, for `zonegate status`. Fed from the
 * gateway's audit tee; bounded (conduits beyond `maxConduits` are counted in `other`). The full
 * history is in the audit log: `zonegate policy replay` re-decides it under any policy.
 */
import type { AuditEvent } from '../drivers/types';

export interface MonitorCount {
  /** Requests let through that enforce mode would deny. */
  count: number;
  /** Per deny reason enforce mode would give. */
  reasons: Record<string, number>;
  firstAt: number;
  lastAt: number;
}

export interface MonitorTally {
  record(e: AuditEvent): void;
  /** Per conduit id; `other` counts conduits beyond the bound. */
  snapshot(): { byConduit: Record<string, MonitorCount>; other: number };
}

export function createMonitorTally(maxConduits = 1_000): MonitorTally {
  const by = new Map<string, MonitorCount>();
  let other = 0;
  return {
    record(e) {
      const d = e.decision;
      if (e.kind !== 'decision' || d === undefined || d.monitor !== true || d.conduit === null) return;
      let c = by.get(d.conduit);
      if (c === undefined) {
        if (by.size >= maxConduits) { other++; return; }
        c = { count: 0, reasons: Object.create(null) as Record<string, number>, firstAt: e.at, lastAt: e.at };
        by.set(d.conduit, c);
      }
      c.count++;
      const r = d.reason ?? 'unknown';
      c.reasons[r] = (c.reasons[r] ?? 0) + 1;
      if (e.at > c.lastAt) c.lastAt = e.at;
    },
    snapshot() {
      const byConduit: Record<string, MonitorCount> = {};
      for (const [k, v] of by) byConduit[k] = { count: v.count, reasons: { ...v.reasons }, firstAt: v.firstAt, lastAt: v.lastAt };
      return { byConduit, other };
    },
  };
}

/** Status lines, most let-through first. */
export function formatMonitorLines(m: { byConduit: Record<string, MonitorCount>; other: number } | undefined | null): string[] {
  if (!m) return [];
  const rows = Object.entries(m.byConduit).sort((a, b) => b[1].count - a[1].count || a[0].localeCompare(b[0]));
  if (rows.length === 0) return [];
  const lines = ['  monitor mode let through what enforcing would deny (since start):'];
  for (const [conduit, c] of rows.slice(0, 20)) {
    const reasons = Object.entries(c.reasons).sort((a, b) => b[1] - a[1]).map(([r, n]) => `${r} ${n}`).join(', ');
    lines.push(`    ${String(c.count).padStart(8)} request(s)  ${conduit} (${reasons}), last ${new Date(c.lastAt).toISOString()}`);
  }
  if (m.other > 0) lines.push(`    ${String(m.other).padStart(8)} request(s)  on other conduits`);
  return lines;
}
