/**
 * The audit search over many records (issue 19: 10 million under 500 ms): rows made in the
 * database with generate_series (not through MQTT), the real schema and indexes (built after the
 * fill, as a restore would), then the console's queries through the PostgreSQL FleetReadStore,
 * each beside the same query with index scans off (a sequential scan), in the same run.
 */
import { performance } from 'node:perf_hooks';
import { Pool } from 'pg';
import { encodeRecord, GENESIS_PREV } from '../../protocol/audit/record';
import { SCHEMA_SQL, monthOf } from '../../fleet/store/pg/schema';
import { createPgReadStore } from '../../fleet/store/pg/read';
import type { AuditSearch } from '../../fleet/store/types';
import type { Postgres } from '../helpers/postgres';
import { printTable, type BenchRow } from './report';
import { decisionEvent } from '../audit/helpers';

const BASE = Date.UTC(2026, 0, 1);

async function fill(pool: Pool, rows: number): Promise<void> {
  for (const sql of SCHEMA_SQL.filter((s) => !s.startsWith('CREATE INDEX'))) await pool.query(sql);
  // One record a second from BASE: 10 M rows span about four months (four partitions).
  for (let m = monthOf(BASE); m.from < BASE + rows * 1000; m = monthOf(m.to)) {
    await pool.query(`CREATE TABLE IF NOT EXISTS ${m.name} PARTITION OF audit_record FOR VALUES FROM (${m.from}) TO (${m.to})`);
  }
  const payload = encodeRecord(decisionEvent(0, { decision: 'deny' }), 0, GENESIS_PREV);
  const step = 1_000_000;
  for (let lo = 0; lo < rows; lo += step) {
    await pool.query(`INSERT INTO audit_record (device, seq, site, at, kind, identity, src, asset, operation, decision, reason, weight, hash, prev, payload)
      SELECT 'gw-' || (i % 1000), i / 1000, 'site-' || (i % 1000 / 100), $1::bigint + i * 1000, 'decision',
        CASE WHEN i % 3 = 0 THEN NULL ELSE 'user-' || (i % 5000) END, '10.' || (i % 200) || '.0.' || (i % 250), 'plc-' || (i % 200),
        'modbus:' || (1 + i % 16), CASE WHEN i % 7 = 0 THEN 'deny' ELSE 'allow' END, CASE WHEN i % 7 = 0 THEN 'function-not-allowed' END, 1,
        sha256(int8send(i)), sha256(int8send(i - 1)), $2
      FROM generate_series($3::bigint, $4::bigint) AS i`, [BASE, payload, lo, Math.min(rows, lo + step) - 1]);
  }
  for (const sql of SCHEMA_SQL.filter((s) => s.startsWith('CREATE INDEX'))) await pool.query(sql);
  await pool.query('ANALYZE audit_record');
}

async function timeIt(f: () => Promise<unknown>, runs = 5): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) { const t0 = performance.now(); await f(); ms.push(performance.now() - t0); }
  return ms.sort((a, b) => a - b)[Math.floor(runs / 2)];
}

/** Fills a database with `rows` records and prints the search times beside sequential scans. */
export async function benchSearch(pg: Postgres, rows: number, load: string): Promise<void> {
  const url = await pg.createDatabase('search');
  const idx = new Pool({ connectionString: url, max: 1 });
  const seq = new Pool({ connectionString: url, max: 1 });
  for (const p of [idx, seq]) p.on('error', () => undefined);
  const t0 = performance.now();
  await fill(idx, rows);
  const fillS = (performance.now() - t0) / 1000;
  await seq.query('SET enable_indexscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off');
  const fast = createPgReadStore({ pool: idx });
  const slow = createPgReadStore({ pool: seq });
  const end = BASE + rows * 1000;
  const day = 86_400_000;
  const queries: [string, AuditSearch][] = [
    ['newest 50, no filter', { limit: 50 }],
    ['identity user-42, newest 50', { limit: 50, identity: 'user-42' }],
    ['asset plc-7, denials, last 7 days', { limit: 50, asset: 'plc-7', decision: 'deny', from: end - 7 * day }],
    ['operation modbus:16, newest 50', { limit: 50, operation: 'modbus:16' }],
    ['device gw-5, one day a month ago, newest 50', { limit: 50, device: 'gw-5', from: end - 31 * day, to: end - 30 * day }],
  ];
  const table: BenchRow[] = [];
  for (const [what, q] of queries) {
    const page = await fast.search(q);
    const next = page.length ? { ...q, before: { at: page[page.length - 1].at, device: page[page.length - 1].device, seq: page[page.length - 1].seq } } : q;
    table.push({ what: `search: ${what}`, value: await timeIt(() => fast.search(q)), unit: 'ms', peer: 'same query, sequential scan', peerValue: await timeIt(() => slow.search(q), 1), better: 'lower', goal: '< 500 ms' });
    table.push({ what: `  … its next page (keyset)`, value: await timeIt(() => fast.search(next)), unit: 'ms', better: 'lower', goal: '< 500 ms' });
  }
  const dq = { from: end - day, to: end, bucketMs: 3_600_000 };
  table.push({ what: 'denials: last day, hourly buckets', value: await timeIt(() => fast.denials(dq)), unit: 'ms', peer: 'sequential scan', peerValue: await timeIt(() => slow.denials(dq), 1), better: 'lower' });
  const size = (await idx.query<{ s: string }>("SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid))) AS s FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'audit_record'::regclass")).rows[0].s;
  printTable(`audit search over ${rows.toLocaleString('en-US')} records (PostgreSQL FleetReadStore, median of 5)`, table, [
    `filled with generate_series in ${fillS.toFixed(0)} s, indexes built after the fill; ${size} with indexes; load average at start ${load} on 2 cores.`,
  ]);
  await idx.end(); await seq.end();
}
