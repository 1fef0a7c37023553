/**
 * The collector's PostgreSQL store: every device's verified chain in audit_record, its stored end
 * in audit_chain, refused batches in audit_refused (schema.ts). Several collectors of one
 * shared-subscription group may write the same device: each append is one call of
 * zg_audit_append (append-sql.ts), one round trip and one transaction, which takes the device's
 * audit_chain row lock and stores the run only when it continues the stored end (through =
 * firstSeq - 1 and last_hash = the run's first prev); a run that starts after a hole is parked in
 * audit_ahead and moved in by whichever collector fills the hole; anything else writes nothing
 * ('conflict', with the end as it is now: the collector decides again). The inserts also say
 * ON CONFLICT DO NOTHING, so even a logic slip cannot store a record twice. append() resolves
 * after COMMIT; the collector acknowledges only then. Each COMMIT that moved an end NOTIFYs
 * zg_audit_chain, so collectors holding batches for that device look again at once (onAdvance).
 */
import type { Pool } from 'pg';
import type { ChainEnd, AppendOptions, AppendOutcome, CollectorDeviceStore, CollectorStore, VerifiedRun } from '../../audit-store';
import { columnsOf } from './row';
import { APPEND_CALL, packBytes } from './append-sql';
import { ensurePartitions, migrate } from './schema';
import { openPool } from './pool';

interface ChainRow { first_seq: string; through: string; last_hash: Buffer | null; pinned_key: Buffer | null }

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
      append: (run, ao) => append(device, state, run, ao),
      async keepRefused(r) {
        const res = await pool.query<{ id: string }>('INSERT INTO audit_refused (device, site, at, from_seq, reason, bytes) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id',
          [device, o.site, r.at, r.fromSeq, JSON.stringify(r.reason), Buffer.from(r.bytes)]);
        await pool.query('UPDATE audit_chain SET problem = $2, updated_at = $3 WHERE device = $1', [device, r.reason.message.slice(0, 2000), now()]);
        return `database table audit_refused, id ${res.rows[0].id}`;
      },
      close: async () => undefined,
    };
  }

  /** One round trip: zg_audit_append (append-sql.ts) decides, writes and COMMITs. */
  async function append(device: string, state: ChainEnd, run: VerifiedRun, ao: AppendOptions = {}): Promise<AppendOutcome> {
    const cols = run.records.map(columnsOf);
    await ensurePartitions(pool, cols.map((c) => c.at), partitions);
    const cp = run.checkpoint ? run.firstSeq + lastIndexOfKind(run, 'checkpoint') : null;
    const r = await pool.query<ChainRow & { outcome: AppendOutcome }>(APPEND_CALL, [
      device, o.site, run.firstSeq, ao.start ?? run.firstSeq === 0, ao.park === true, ao.maxParked ?? 64, now(), cp, run.checkpoint ?? null,
      cols.map((x) => x.at), cols.map((x) => x.kind), cols.map((x) => x.identity), cols.map((x) => x.src), cols.map((x) => x.asset),
      cols.map((x) => x.operation), cols.map((x) => x.decision), cols.map((x) => x.reason), cols.map((x) => x.weight),
      ...packBytes(run.hashes, run.records.map((x) => x.prev), run.payloads),
    ]);
    const row = r.rows[0];
    setEnd(state, row.through === null ? undefined : row);
    return row.outcome;
  }

  /** A dedicated connection LISTENing on zg_audit_chain (NOTIFY at every COMMIT that moved an end). */
  async function onAdvance(cb: (device: string) => void): Promise<() => Promise<void>> {
    const c = await pool.connect();
    c.on('notification', (m) => { if (m.channel === 'zg_audit_chain' && m.payload) cb(m.payload); });
    await c.query('LISTEN zg_audit_chain');
    return async () => {
      try { await c.query('UNLISTEN zg_audit_chain'); c.release(); } catch (e) { c.release(e as Error); }
    };
  }

  return {
    shared: true,
    parks: true,
    onAdvance,
    open: openDevice,
    async countDevices() {
      const r = await pool.query<{ n: string }>('SELECT count(*) AS n FROM audit_chain WHERE site = $1', [o.site]);
      return Number(r.rows[0].n);
    },
    async close() { if (!o.pool) await pool.end(); },
  };
}

function lastIndexOfKind(run: VerifiedRun, kind: string): number {
  for (let i = run.records.length - 1; i >= 0; i--) if (run.records[i].kind === kind) return i;
  return -1;
}
