/**
 * What the console published (already-signed bundles and command files, never signed here) and
 * how far each went: a gateway counts as done when its status carries the sha256 of the exact
 * bytes published (fleet/publish.ts statusHas), so a forged label cannot fake progress. Kept in
 * memory, newest 100.
 */
import type { StatusDocument } from '../../protocol/mqtt/status';
import type { InboundKind } from '../../protocol/mqtt/topics';
import { statusHas } from '../publish';

export interface Rollout {
  id: number;
  site: string;
  /** One device, or null for the site-wide topic. */
  device: string | null;
  kind: InboundKind;
  version: number | null;
  /** Device ids the bundle names, when it names some ('*' or unreadable: every gateway of the site). */
  targets: string[] | null;
  hash: string;
  bytes: number;
  by: string;
  at: number;
}

export interface RolloutRow { device: string; done: boolean; online: boolean; policyVersion: number | null; lastError: string | null }
export interface RolloutProgress { wanted: number; matched: number; rows: RolloutRow[] }

export class Rollouts {
  private readonly list: Rollout[] = [];
  private next = 1;

  add(r: Omit<Rollout, 'id'>): Rollout {
    const full = { ...r, id: this.next++ };
    this.list.unshift(full);
    if (this.list.length > 100) this.list.pop();
    return full;
  }

  all(): readonly Rollout[] { return this.list; }

  get(id: number): Rollout | undefined { return this.list.find((r) => r.id === id); }

  /** Progress of `r` across the gateways it targets, from their statuses (`gateways` of its site). */
  static progress(r: Rollout, gateways: readonly StatusDocument[]): RolloutProgress {
    const bySite = gateways.filter((g) => g.site === r.site);
    const wantedIds = r.device !== null ? [r.device]
      : r.targets && r.targets.length > 0 && !r.targets.includes('*') ? r.targets : bySite.map((g) => g.device);
    const rows = wantedIds.map((device): RolloutRow => {
      const g = bySite.find((x) => x.device === device);
      return {
        device, done: g ? statusHas(g, r.kind, r.hash) : false, online: g?.online ?? false,
        policyVersion: g?.policyVersion ?? null, lastError: g?.lastError ? `${g.lastError.code}: ${g.lastError.message}` : null,
      };
    });
    return { wanted: rows.length, matched: rows.filter((x) => x.done).length, rows };
  }
}

/** Telemetry CPU load per gateway, the last 30 samples, from the JSON telemetry topic. */
export class TelemetryBook {
  private readonly cpu = new Map<string, number[]>();

  /** Takes one telemetry payload of `site`/`device`; ignores what it cannot read. */
  take(site: string, device: string, payload: Buffer): void {
    if (payload.length > 64 * 1024) return;
    let v: unknown;
    try { v = (JSON.parse(payload.toString('utf8')) as { cpu?: { loadPercent?: unknown } }).cpu?.loadPercent; } catch { return; }
    if (typeof v !== 'number' || !Number.isFinite(v)) return;
    const key = `${site}\u0000${device}`;
    const list = this.cpu.get(key) ?? [];
    list.push(v);
    if (list.length > 30) list.shift();
    if (!this.cpu.has(key)) {
      if (this.cpu.size >= 50_000) this.cpu.delete(this.cpu.keys().next().value as string);
      this.cpu.set(key, list);
    }
  }

  of(site: string, device: string): readonly number[] { return this.cpu.get(`${site}\u0000${device}`) ?? []; }
}
