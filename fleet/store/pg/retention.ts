/**
 * Retention: whole monthly partitions of audit_record are dropped once all their records are older
 * than `months` whole months before the current UTC month (so at least `months` full months stay,
 * plus the current one). Dropping a partition is instant and leaves no dead rows to vacuum. A
 * device's chain then starts mid-chain: audit_chain.first_seq moves to its oldest kept record, and
 * `fleet audit verify --db` reports the chain as starting mid-chain.
 */
import type { Pool } from 'pg';
import { listPartitions } from './schema';

/** Start of the oldest month kept: the current UTC month minus `months`. */
export function retentionCutoff(now: number, months: number): number {
  const d = new Date(now);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - months, 1);
}

/** Drops the partitions entirely before the cutoff; returns their names. */
export async function applyRetention(pool: Pool, o: { months: number; now?: number }): Promise<string[]> {
  if (!Number.isInteger(o.months) || o.months < 1) throw new TypeError('retention months must be an integer ≥ 1');
  const cutoff = retentionCutoff(o.now ?? Date.now(), o.months);
  const old = (await listPartitions(pool)).filter((p) => p.to <= cutoff);
  for (const p of old) {
    // Names come from the catalog and match audit_record_pYYYYMM (listPartitions); DDL takes no parameters.
    await pool.query(`DROP TABLE IF EXISTS ${p.name}`);
  }
  if (old.length > 0) {
    await pool.query(`UPDATE audit_chain c SET first_seq = m.first FROM (SELECT device, min(seq) AS first FROM audit_record GROUP BY device) m
      WHERE c.device = m.device AND c.first_seq <> m.first`);
  }
  return old.map((p) => p.name);
}
