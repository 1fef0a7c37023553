/**
 * The fleet's PostgreSQL schema, created and migrated by every collector at start (idempotent,
 * under an advisory lock so collectors starting together do not race), and the monthly
 * partitions of the audit records, created as records arrive and dropped by retention.
 *
 * audit_record is partitioned by RANGE on `at` (record time, epoch ms), one partition per UTC
 * month (audit_record_pYYYYMM). PostgreSQL requires the partition key in every unique constraint
 * on a partitioned table, so the primary key is (device, seq, at); `at` is part of the signed
 * payload of (device, seq), so this is the (device, seq) key in effect, and the collector's row
 * lock on audit_chain (collect-store.ts) makes sure a seq is written once, in order.
 */
import type { Pool } from 'pg';
import { APPEND_SQL } from './append-sql';

export const SCHEMA_VERSION = 2;
const LOCK_KEY = 0x7a67_0019; // pg_advisory_xact_lock key of the migration ("zg", issue 19)

/** The DDL, in order; every statement may run again. */
export const SCHEMA_SQL: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS zg_meta (key text PRIMARY KEY, value text NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS audit_record (
     device text NOT NULL, seq bigint NOT NULL, site text NOT NULL, at bigint NOT NULL,
     kind text NOT NULL, identity text, src text, asset text, operation text, decision text, reason text,
     weight integer NOT NULL DEFAULT 1,
     hash bytea NOT NULL, prev bytea NOT NULL, payload bytea NOT NULL,
     PRIMARY KEY (device, seq, at)
   ) PARTITION BY RANGE (at)`,
  // The console's search: newest first, keyset pagination on (at, device, seq), one index per filter.
  `CREATE INDEX IF NOT EXISTS audit_record_time ON audit_record (at, device, seq)`,
  `CREATE INDEX IF NOT EXISTS audit_record_identity ON audit_record (identity, at, device, seq)`,
  `CREATE INDEX IF NOT EXISTS audit_record_src ON audit_record (src, at, device, seq)`,
  `CREATE INDEX IF NOT EXISTS audit_record_asset ON audit_record (asset, at, device, seq)`,
  `CREATE INDEX IF NOT EXISTS audit_record_operation ON audit_record (operation, at, device, seq)`,
  `CREATE INDEX IF NOT EXISTS audit_record_decision ON audit_record (decision, at, device, seq)`,
  `CREATE INDEX IF NOT EXISTS audit_record_device ON audit_record (device, at, seq)`,
  `CREATE TABLE IF NOT EXISTS audit_chain (
     device text PRIMARY KEY, site text NOT NULL,
     first_seq bigint NOT NULL DEFAULT -1, through bigint NOT NULL DEFAULT -1, last_hash bytea,
     pinned_key bytea, checkpoint_seq bigint, checkpoint bytea, problem text, last_at bigint, updated_at bigint
   )`,
  `CREATE TABLE IF NOT EXISTS audit_refused (
     id bigserial PRIMARY KEY, device text NOT NULL, site text NOT NULL, at bigint NOT NULL,
     from_seq bigint, reason jsonb NOT NULL, bytes bytea NOT NULL
   )`,
  `CREATE TABLE IF NOT EXISTS gateway_status (
     device text PRIMARY KEY, site text NOT NULL, last_seen bigint NOT NULL, doc jsonb NOT NULL
   )`,
  // Version 2: runs parked ahead of a hole, and the one-round-trip append.
  ...APPEND_SQL,
];

/** Creates or updates the schema; safe to run from several collectors at once. */
export async function migrate(pool: Pool): Promise<void> {
  const c = await pool.connect();
  try {
    await c.query('BEGIN');
    await c.query('SELECT pg_advisory_xact_lock($1)', [LOCK_KEY]);
    for (const sql of SCHEMA_SQL) await c.query(sql);
    await c.query(`INSERT INTO zg_meta (key, value) VALUES ('schema', $1) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`, [String(SCHEMA_VERSION)]);
    await c.query('COMMIT');
  } catch (e) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw e;
  } finally {
    c.release();
  }
}

/** Start of the UTC month holding `at` (epoch ms), and of the next one. */
export function monthOf(at: number): { from: number; to: number; name: string } {
  const d = new Date(at);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  return { from: Date.UTC(y, m, 1), to: Date.UTC(y, m + 1, 1), name: `audit_record_p${String(y).padStart(4, '0')}${String(m + 1).padStart(2, '0')}` };
}

/** Record times a partition can hold: year 1970 to 9999 (other values are stored as 0). */
export function partitionTime(at: unknown): number {
  return typeof at === 'number' && Number.isSafeInteger(at) && at >= 0 && at < 253_402_300_800_000 ? at : 0;
}

/** Creates the monthly partitions for these record times that do not exist yet (`known` caches them). */
export async function ensurePartitions(pool: Pool, ats: Iterable<number>, known: Set<string>): Promise<void> {
  const want = new Map<string, { from: number; to: number }>();
  for (const at of ats) {
    const m = monthOf(at);
    if (!known.has(m.name)) want.set(m.name, m);
  }
  if (want.size === 0) return;
  const c = await pool.connect();
  try {
    for (const [name, m] of want) {
      // Serialized with the other collectors (IF NOT EXISTS alone races on the catalog). The name
      // is built from digits only and the bounds are integers: DDL takes no parameters.
      await c.query('BEGIN');
      await c.query('SELECT pg_advisory_xact_lock($1)', [LOCK_KEY + 1]);
      await c.query(`CREATE TABLE IF NOT EXISTS ${name} PARTITION OF audit_record FOR VALUES FROM (${m.from}) TO (${m.to})`);
      await c.query('COMMIT');
      known.add(name);
    }
  } catch (e) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw e;
  } finally {
    c.release();
  }
}

/** The audit_record partitions, oldest first, with their bounds. */
export async function listPartitions(pool: Pool): Promise<{ name: string; from: number; to: number }[]> {
  const r = await pool.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
     WHERE p.relname = 'audit_record' ORDER BY c.relname`);
  const out: { name: string; from: number; to: number }[] = [];
  for (const { name } of r.rows) {
    const m = /^audit_record_p(\d{4})(\d{2})$/.exec(name);
    if (!m) continue;
    const from = Date.UTC(Number(m[1]), Number(m[2]) - 1, 1);
    out.push({ name, from, to: Date.UTC(Number(m[1]), Number(m[2]), 1) });
  }
  return out;
}
