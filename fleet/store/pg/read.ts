/**
 * FleetReadStore over PostgreSQL (fleet/store/types.ts): the console's audit search, denial
 * buckets, chain marks and gateway list. Every value from a filter is a bound parameter ($n);
 * only fixed column names and the row limit (an integer, checked) are written into the SQL.
 * The search is newest first with keyset pagination on (at, device, seq), which the indexes of
 * schema.ts serve from their end without sorting.
 */
import type { Pool } from 'pg';
import { decodeRecord } from '../../../protocol/audit/record';
import type { StatusDocument } from '../../../protocol/mqtt/status';
import type { AuditFilter, AuditRow, AuditSearch, ChainState, Decision, DenialBucket, FleetReadStore } from '../types';
import { openPool } from './pool';

export const MAX_SEARCH_ROWS = 1000;
export const MAX_BUCKETS = 10_000;

/** WHERE clauses and parameters for a filter; `p` is appended to. */
export function filterSql(f: AuditFilter, p: unknown[]): string[] {
  const w: string[] = [];
  const eq = (col: string, v: string | undefined) => { if (v !== undefined) { p.push(v); w.push(`${col} = $${p.length}`); } };
  eq('site', f.site);
  eq('device', f.device);
  if (f.identity !== undefined) { p.push(f.identity); w.push(`(identity = $${p.length} OR src = $${p.length})`); }
  eq('asset', f.asset);
  eq('operation', f.operation);
  eq('decision', f.decision);
  if (f.from !== undefined) { p.push(f.from); w.push(`at >= $${p.length}`); }
  if (f.to !== undefined) { p.push(f.to); w.push(`at < $${p.length}`); }
  return w;
}

interface RecordRow { site: string; device: string; seq: string; at: string; kind: string; identity: string | null; src: string | null; asset: string | null; operation: string | null; decision: string | null; reason: string | null; payload: Buffer }

function time(v: number | undefined, what: string): void {
  if (v !== undefined && !Number.isSafeInteger(v)) throw new TypeError(`${what} must be an integer (epoch ms)`);
}

/** The read side over a pool (owned when opened from a URL). */
export function createPgReadStore(o: { url?: string; pool?: Pool }): FleetReadStore {
  const pool = o.pool ?? openPool(o.url as string);
  return {
    async search(q: AuditSearch): Promise<AuditRow[]> {
      if (!Number.isInteger(q.limit) || q.limit < 1) throw new TypeError('search limit must be a positive integer');
      time(q.from, 'from'); time(q.to, 'to'); time(q.before?.at, 'before.at');
      const p: unknown[] = [];
      const w = filterSql(q, p);
      if (q.before) {
        p.push(q.before.at, q.before.device, q.before.seq);
        w.push(`(at, device, seq) < ($${p.length - 2}, $${p.length - 1}, $${p.length})`);
      }
      const limit = Math.min(q.limit, MAX_SEARCH_ROWS);
      const r = await pool.query<RecordRow>(
        `SELECT site, device, seq, at, kind, identity, src, asset, operation, decision, reason, payload FROM audit_record
         ${w.length ? `WHERE ${w.join(' AND ')}` : ''} ORDER BY at DESC, device DESC, seq DESC LIMIT ${limit}`, p);
      return r.rows.map((x) => ({
        site: x.site, device: x.device, seq: Number(x.seq), at: Number(x.at), kind: x.kind, identity: x.identity, src: x.src, asset: x.asset,
        operation: x.operation, decision: x.decision as Decision | null, reason: x.reason, record: decodeRecord(x.payload),
      }));
    },

    async denials(q): Promise<DenialBucket[]> {
      time(q.from, 'from'); time(q.to, 'to');
      if (!Number.isSafeInteger(q.bucketMs) || q.bucketMs < 1) throw new TypeError('bucketMs must be a positive integer');
      if ((q.to - q.from) / q.bucketMs > MAX_BUCKETS) throw new RangeError(`more than ${MAX_BUCKETS} buckets: widen bucketMs`);
      const p: unknown[] = [q.from, q.bucketMs];
      const w = filterSql({ ...q, decision: undefined }, p);
      w.push(`decision = 'deny'`);
      const r = await pool.query<{ start: string; site: string; asset: string | null; reason: string | null; n: string }>(
        `SELECT $1::bigint + floor((at - $1::bigint) / $2::bigint)::bigint * $2::bigint AS start, site, asset, reason, sum(weight) AS n
         FROM audit_record WHERE ${w.join(' AND ')} GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3 NULLS FIRST, 4 NULLS FIRST`, p);
      return r.rows.map((x) => ({ start: Number(x.start), site: x.site, asset: x.asset, reason: x.reason, count: Number(x.n) }));
    },

    async chains(site?: string): Promise<ChainState[]> {
      const r = await pool.query<{ site: string; device: string; first_seq: string; through: string; checkpoint_seq: string | null; problem: string | null; last_at: string | null }>(
        'SELECT site, device, first_seq, through, checkpoint_seq, problem, last_at FROM audit_chain WHERE ($1::text IS NULL OR site = $1) ORDER BY site, device', [site ?? null]);
      return r.rows.map((x) => ({
        site: x.site, device: x.device, firstSeq: Number(x.first_seq), through: Number(x.through),
        verified: x.problem === null && Number(x.through) >= 0, checkpointSeq: x.checkpoint_seq === null ? null : Number(x.checkpoint_seq),
        problem: x.problem, lastAt: x.last_at === null ? null : Number(x.last_at),
      }));
    },

    async gateways(site?: string): Promise<StatusDocument[]> {
      const r = await pool.query<{ doc: StatusDocument }>('SELECT doc FROM gateway_status WHERE ($1::text IS NULL OR site = $1) ORDER BY site, device', [site ?? null]);
      return r.rows.map((x) => x.doc);
    },

    async close() { if (!o.pool) await pool.end(); },
  };
}
