/**
 * The IEC 104 links of the compliance report: each iec104 listener's `listening on` audit record
 * carries the link settings both sides of its connections kept (drivers/iec104/proxy.ts: k, w,
 * t1/t2/t3 with the standard's defaults filled in), so the report shows what ran, not what a
 * config file says today. Pure: records in, rows out.
 */
import type { AuditRecord } from '../../protocol/audit/record';
import type { Iec104Link } from '../../drivers/iec104/window';

/** One listener start with its link settings. */
export interface Iec104LinkEvent extends Iec104Link { at: number; seq: number; listener: string; asset: string; port: number }

const CAP = 200;
const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** The starts of iec104 listeners in `records` (the first 200), oldest first. */
export function iec104LinksOf(records: readonly AuditRecord[]): Iec104LinkEvent[] {
  const out: Iec104LinkEvent[] = [];
  for (const r of records) {
    if (out.length >= CAP) break;
    if (r.kind !== 'driver' || r.protocol !== 'iec104' || !r.message?.startsWith('listening on ')) continue;
    const l = (r.detail as { iec104?: Partial<Iec104Link> } | undefined)?.iec104;
    if (l === undefined || !num(l.k) || !num(l.w) || !num(l.t1Ms) || !num(l.t2Ms) || !num(l.t3Ms)) continue;
    out.push({
      at: r.at, seq: r.seq, listener: r.message.slice('listening on '.length).split(',')[0], asset: r.asset ?? '', port: r.port ?? 0,
      k: l.k, w: l.w, t1Ms: l.t1Ms, t2Ms: l.t2Ms, t3Ms: l.t3Ms,
    });
  }
  return out;
}
