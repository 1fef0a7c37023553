/**
 * The collector's PostgreSQL store: every device's verified chain in audit_record, its stored end
 * in audit_chain, refused batches in audit_refused (schema.ts). Several collectors of one
 * shared-subscription group may write the same device: each append runs in one transaction that
 * first takes the device's audit_chain row lock (SELECT ... FOR UPDATE) and checks that the run
 * continues the stored end (through = firstSeq - 1 and last_hash = the run's first prev). If it
 * does not, nothing is written ('conflict'): the collector re-reads the end and decides again.
 * The insert also says ON CONFLICT DO NOTHING, so even a logic slip cannot store a record twice.
 * append() resolves after COMMIT; the collector acknowledges only then.
 */
import type { Pool } from 'pg';
import type { ChainEnd, CollectorDeviceStore, CollectorStore, VerifiedRun } from '../../audit-store';
import { columnsOf } from './row';
import { ensurePartitions, migrate } from './schema';
import { openPool } from './pool';

interface ChainRow { first_seq: string; through: string; last_hash: Buffer | null; pinned_key: Buffer | null }

const INSERT_RECORDS = `
  INSERT INTO audit_record (device, seq, site, at, kind, identity, src, asset, operation, decision, reason, weight, hash, prev, payload)
  SELECT $1, u.seq, $2, u.at, u.kind, u.identity, u.src, u.asset, u.operation, u.decision, u.reason, u.weight, u.hash, u.prev, u.payload
  FROM unnest($3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::int[], $13::bytea[], $14::bytea[], $15::bytea[])
    AS u(seq, at, kind, identity, src, asset, operation, decision, reason, weight, hash, prev, payload)
  ON CONFLICT DO NOTHING`;

function setEnd(state: ChainEnd, row: ChainRow | undefined): void {
  state.firstSeq = row ? Number(row.first_seq) : -1;
  state.lastSeq = row ? Number(row.through) : -1;
  state.lastHash = row?.last_hash ?? null;
  state.key = row?.pinned_key ?? null;
}

/** Connects, migrates the schema and returns the store (it owns the pool unless one is given). */
export async function openPgCollectorStore(o: { url?: string; pool?: Pool; site: string; now?: () => number }): Promise<CollectorStore> {
  const pool = o.pool ?? openPool(o.url as string);
  const now = o.now ?? Date.now;
  await migrate(pool);
  const partitions = new Set<string>();

  async function openDevice(device: string): Promise<CollectorDeviceStore> {
    await pool.query('INSERT INTO audit_chain (device, site, updated_at) VALUES ($1, $2, $3) ON CONFLICT (device) DO NOTHING', [device, o.site, now()]);
    const state: ChainEnd = { firstSeq: -1, lastSeq: -1, lastHash: null, key: null };
    const refresh = async () => {
      const r = await pool.query<ChainRow>('SELECT first_seq, through, last_hash, pinned_key FROM audit_chain WHERE device = $1', [device]);
      setEnd(state, r.rows[0]);
    };
    await refresh();
    return {
      state,
      where: `audit_chain ${device}`,
      refresh,
      async pinKey(raw) {
        await pool.query('UPDATE audit_chain SET pinned_key = $2 WHERE device = $1 AND pinned_key IS NULL', [device, Buffer.from(raw)]);
        await refresh();
        if (!state.key || !state.key.equals(Buffer.from(raw))) throw new Error(`device ${device}: another key is already pinned in the database`);
      },
      append: (run) => append(device, state, run),
      async keepRefused(r) {
        const res = await pool.query<{ id: string }>('INSERT INTO audit_refused (device, site, at, from_seq, reason, bytes) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id',
          [device, o.site, r.at, r.fromSeq, JSON.stringify(r.reason), Buffer.from(r.bytes)]);
        await pool.query('UPDATE audit_chain SET problem = $2, updated_at = $3 WHERE device = $1', [device, r.reason.message.slice(0, 2000), now()]);
        return `database table audit_refused, id ${res.rows[0].id}`;
      },
      close: async () => undefined,
    };
  }

  async function append(device: string, state: ChainEnd, run: VerifiedRun): Promise<'stored' | 'conflict'> {
    const cols = run.records.map(columnsOf);
    await ensurePartitions(pool, cols.map((c) => c.at), partitions);
    const c = await pool.connect();
    try {
      await c.query('BEGIN');
      const cur = await c.query<ChainRow>('SELECT first_seq, through, last_hash, pinned_key FROM audit_chain WHERE device = $1 FOR UPDATE', [device]);
      const row = cur.rows[0];
      const through = row ? Number(row.through) : -1;
      const prev = Buffer.from(run.records[0].prev);
      if (!row || through !== run.firstSeq - 1 || (through >= 0 && !(row.last_hash && row.last_hash.equals(prev)))) {
        await c.query('ROLLBACK');
        setEnd(state, row);
        return 'conflict';
      }
      const n = run.payloads.length;
      await c.query(INSERT_RECORDS, [
        device, o.site,
        run.records.map((_, i) => run.firstSeq + i), cols.map((x) => x.at), cols.map((x) => x.kind), cols.map((x) => x.identity),
        cols.map((x) => x.src), cols.map((x) => x.asset), cols.map((x) => x.operation), cols.map((x) => x.decision), cols.map((x) => x.reason),
        cols.map((x) => x.weight), run.hashes, run.records.map((r) => Buffer.from(r.prev)), run.payloads,
      ]);
      const cp = run.checkpoint ? run.firstSeq + lastIndexOfKind(run, 'checkpoint') : null;
      await c.query(`UPDATE audit_chain SET through = $2, last_hash = $3, first_seq = CASE WHEN first_seq < 0 THEN $4 ELSE first_seq END,
          checkpoint_seq = COALESCE($5, checkpoint_seq), checkpoint = COALESCE($6, checkpoint), last_at = $7, updated_at = $8, problem = NULL
        WHERE device = $1`, [device, run.firstSeq + n - 1, run.lastHash, run.firstSeq, cp, run.checkpoint ?? null, cols[n - 1].at, now()]);
      await c.query('COMMIT');
      if (state.firstSeq < 0) state.firstSeq = run.firstSeq;
      state.lastSeq = run.firstSeq + n - 1;
      state.lastHash = run.lastHash;
      return 'stored';
    } catch (e) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      c.release();
    }
  }

  return {
    shared: true,
    open: openDevice,
    async close() { if (!o.pool) await pool.end(); },
  };
}

function lastIndexOfKind(run: VerifiedRun, kind: string): number {
  for (let i = run.records.length - 1; i >= 0; i--) if (run.records[i].kind === kind) return i;
  return -1;
}
