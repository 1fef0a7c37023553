/** Reads stored records back in time order for the SIEM export, in pages (keyset on at, device, seq). */
import type { Pool } from 'pg';
import { decodeRecord } from '../../../protocol/audit/record';
import type { ForwardedRecord } from '../../audit-collect';

export interface ExportQuery { site?: string; device?: string; since?: number; until?: number }

const PAGE = 2000;

/** Every stored record matching `q`, oldest first, as the collector forwarded it; stops when `signal` aborts. */
export async function* exportRecords(pool: Pool, q: ExportQuery, signal?: AbortSignal): AsyncGenerator<ForwardedRecord> {
  let after: [number, string, number] = [(q.since ?? 0) - 1, '', 0];
  for (;;) {
    if (signal?.aborted) return;
    const r = await pool.query<{ device: string; site: string; seq: string; at: string; hash: Buffer; prev: Buffer; payload: Buffer }>(
      `SELECT device, site, seq, at, hash, prev, payload FROM audit_record
       WHERE (at, device, seq) > ($1, $2, $3) AND at < $4 AND ($5::text IS NULL OR site = $5) AND ($6::text IS NULL OR device = $6)
       ORDER BY at, device, seq LIMIT ${PAGE}`,
      [after[0], after[1], after[2], q.until ?? Number.MAX_SAFE_INTEGER, q.site ?? null, q.device ?? null]);
    for (const row of r.rows) {
      yield { device: row.device, site: row.site, seq: Number(row.seq), hash: row.hash.toString('hex'), prev: row.prev.toString('hex'), payload: row.payload.toString('base64'), record: decodeRecord(row.payload) };
    }
    if (r.rows.length < PAGE) return;
    const last = r.rows[r.rows.length - 1];
    after = [Number(last.at), last.device, Number(last.seq)];
  }
}
