// The collector over a REAL PostgreSQL (initdb in a temp folder): the same ordering contract as
// the file store (holes wait, overlaps and duplicates store each seq once), acks only after
// COMMIT, two collectors writing one device through one database (the row lock and the chain
// check serialize them), refused batches kept in audit_refused, and every chain re-verified from
// the database alone (including a payload edited in the database: caught).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { Pool } from 'pg';
import { AuditLog, type CursorRecord } from '../../../runtime/audit/log';
import { encodeAuditBatch } from '../../../protocol/audit/upload-batch';
import { decodeRecord } from '../../../protocol/audit/record';
import { deviceTopic } from '../../../protocol/mqtt/topics';
import { createAuditCollector, type CollectorAlert } from '../../../fleet/audit-collect';
import { openPgCollectorStore } from '../../../fleet/store/pg/collect-store';
import { verifyDeviceInDb } from '../../../fleet/store/pg/verify';
import { SCHEMA_SQL } from '../../../fleet/store/pg/schema';
import { decisionEvent, makeKey, tempDir } from '../../audit/helpers';
import { applyRetention } from '../../../fleet/store/pg/retention';
import { listPartitions } from '../../../fleet/store/pg/schema';
import { runCli } from '../../../cli/framework';
import { commands } from '../../../cli/commands';
import { formatJsonLine } from '../../../fleet/siem';
import { exportRecords } from '../../../fleet/store/pg/export';
import { readFileSync } from 'node:fs';
import { feed, SITE as RSITE } from './read-store.contract';
import { skipReason, startPostgres, type Postgres } from '../../helpers/postgres';

const SITE = 's1';
const DEV = 'gw-o';
const skip = skipReason();
const t = tempDir('zg-pg-collect-');
const key = makeKey();
const topic = deviceTopic({ site: SITE, device: DEV, kind: 'audit' });
let records: CursorRecord[] = [];
/** Another log of the same device under the same key: a fork, valid on its own, that does not continue `records`. */
let fork: CursorRecord[] = [];
let pg: Postgres;

const batch = (from: number, to: number, o: { device?: string; from?: CursorRecord[] } = {}) =>
  encodeAuditBatch({ device: o.device ?? DEV, site: SITE, fromSeq: from, records: (o.from ?? records).slice(from, to + 1).map((r) => r.payload) });

/** A pool whose idle clients may see the server stop at the end (their error is expected). */
function mkPool(url: string): Pool {
  const p = new Pool({ connectionString: url, max: 2 });
  p.on('error', () => undefined);
  return p;
}

async function collector(url: string, alerts: CollectorAlert[] = []) {
  const acks: { through: number; committed: number }[] = [];
  const pool = mkPool(url);
  const store = await openPgCollectorStore({ pool, site: SITE });
  const c = createAuditCollector({
    store, site: SITE, onAlert: (a) => alerts.push(a),
    // At each ack, what a separate connection sees committed: never less than the ack.
    ack: (d, through) => { if (d === DEV) acks.push({ through, committed: -2 }); },
  });
  return { c, acks, pool };
}

async function committedThrough(url: string): Promise<number> {
  const p = mkPool(url);
  try {
    const r = await p.query<{ n: string }>('SELECT coalesce(max(seq), -1) AS n FROM audit_record WHERE device = $1', [DEV]);
    return Number(r.rows[0].n);
  } finally { await p.end(); }
}

test.before(async () => {
  if (skip) return;
  pg = await startPostgres();
  const log = await AuditLog.open({ dir: join(t.dir, 'dev'), device: DEV, key, checkpointEvery: 15, flushDelayMs: 1, batchMax: 10, flood: false });
  for (let i = 0; i < 59; i++) { log.record(decisionEvent(i, { decision: i % 3 === 0 ? 'deny' : 'allow' })); if (i % 10 === 9) await log.flush(); }
  await log.close();
  records = (await log.readFrom(0, 1000)).records;
  assert.ok(records.length >= 60);
  const other = await AuditLog.open({ dir: join(t.dir, 'fork'), device: DEV, key, checkpointEvery: 15, flushDelayMs: 1, batchMax: 10, flood: false });
  for (let i = 0; i < 59; i++) { other.record(decisionEvent(i + 1000, { decision: 'allow' })); if (i % 10 === 9) await other.flush(); }
  await other.close();
  fork = (await other.readFrom(0, 1000)).records;
});
test.after(async () => { await pg?.close(); t.cleanup(); });

test('holes wait, overlaps store once, acks follow COMMIT, the chain verifies from the database', async () => {
  if (skip) { console.log(`SKIP: ${skip}`); return; }
  const url = await pg.createDatabase('c1');
  const { c, acks, pool } = await collector(url);
  let r = await c.handle(topic, batch(20, 29));
  assert.is(r.outcome, 'pending');
  r = await c.handle(topic, batch(0, 9));
  assert.equal([r.outcome, r.through], ['stored', 9]);
  assert.is(await committedThrough(url), 9, 'acked 9: seq 9 is committed');
  r = await c.handle(topic, batch(10, 19));
  assert.equal([r.outcome, r.stored, r.through], ['stored', 20, 29]);
  r = await c.handle(topic, batch(25, 44));
  assert.equal([r.outcome, r.stored, r.through], ['stored', 15, 44]);
  r = await c.handle(topic, batch(0, 9));
  assert.equal([r.outcome, r.through], ['duplicate', 44]);
  assert.equal(acks.map((a) => a.through), [9, 29, 44, 44]);
  const n = await pool.query<{ n: string; d: string }>('SELECT count(*) AS n, count(DISTINCT seq) AS d FROM audit_record WHERE device = $1', [DEV]);
  assert.equal([Number(n.rows[0].n), Number(n.rows[0].d)], [45, 45]);
  const rep = await verifyDeviceInDb(pool, DEV);
  assert.ok(rep.ok, JSON.stringify(rep.error));
  assert.equal([rep.firstSeq, rep.lastSeq, rep.records, rep.key?.source], [0, 44, 45, 'pinned']);
  assert.ok(rep.checkpoints >= 2);
  // An edited payload in the database is caught by the chain.
  await pool.query("UPDATE audit_record SET payload = overlay(payload placing '\\x00'::bytea from 20 for 1) WHERE device = $1 AND seq = 30", [DEV]);
  const bad = await verifyDeviceInDb(pool, DEV);
  assert.is(bad.ok, false);
  assert.ok(bad.error!.seq === 30 || bad.error!.seq === 31, JSON.stringify(bad.error));
  await c.close();
  await pool.end();
});

test('two collectors on one database: interleaved and racing batches, every seq once, in order', async () => {
  if (skip) { console.log(`SKIP: ${skip}`); return; }
  const url = await pg.createDatabase('c2');
  const a = await collector(url);
  const b = await collector(url);
  // Both get every batch (a broker redelivering), at the same time: one stores, the other finds it stored.
  const parts: [number, number][] = [[0, 9], [10, 19], [20, 29], [30, 39], [40, 49], [50, records.length - 1]];
  for (const [from, to] of parts) {
    const [ra, rb] = await Promise.all([a.c.handle(topic, batch(from, to)), b.c.handle(topic, batch(from, to))]);
    assert.ok([ra.outcome, rb.outcome].includes('stored'), `${from}: ${ra.outcome}/${rb.outcome}`);
    assert.ok(['duplicate', 'stored'].includes(ra.outcome) && ['duplicate', 'stored'].includes(rb.outcome));
  }
  // b saw a hole once (a batch a stored first) and still holds nothing pending.
  await b.c.retryPending();
  const n = await a.pool.query<{ n: string; d: string; m: string }>('SELECT count(*) AS n, count(DISTINCT seq) AS d, max(seq) AS m FROM audit_record WHERE device = $1', [DEV]);
  assert.equal([Number(n.rows[0].n), Number(n.rows[0].d), Number(n.rows[0].m)], [records.length, records.length, records.length - 1]);
  const rep = await verifyDeviceInDb(a.pool, DEV);
  assert.ok(rep.ok, JSON.stringify(rep.error));
  // Out of order across collectors: y parks 10..19 in the database (no checkpoint in it: it can be
  // checked alone before a key is pinned); x stores 0..9 and, in the same transaction, moves the
  // parked run in: x's ack covers 19. y holds nothing in memory.
  const url3 = await pg.createDatabase('c3');
  const x = await collector(url3);
  const y = await collector(url3);
  assert.ok(records.slice(10, 20).every((r) => decodeRecord(r.payload).kind !== 'checkpoint'), 'no checkpoint in 10..19');
  assert.is((await y.c.handle(topic, batch(10, 19))).outcome, 'pending');
  assert.is(y.c.status().devices[0].pending, 0, 'parked in the database, not held');
  assert.equal(await x.pool.query('SELECT from_seq, to_seq FROM audit_ahead').then((r) => r.rows.map((q) => [Number(q.from_seq), Number(q.to_seq)])), [[10, 19]]);
  const rx = await x.c.handle(topic, batch(0, 9));
  assert.equal([rx.outcome, rx.stored, rx.through], ['stored', 20, 19]);
  assert.equal(x.acks.map((q) => q.through), [19]);
  assert.is(await committedThrough(url3), 19);
  assert.is(Number((await x.pool.query('SELECT count(*) AS n FROM audit_ahead')).rows[0].n), 0, 'the moved-in run left audit_ahead');
  assert.ok((await verifyDeviceInDb(y.pool, DEV)).ok);
  for (const k of [a, b, x, y]) { await k.c.close(); await k.pool.end(); }
});

test('a parked run that does not continue the chain (a fork signed by the same key) is never moved in', async () => {
  if (skip) { console.log(`SKIP: ${skip}`); return; }
  const url = await pg.createDatabase('fork');
  const x = await collector(url);
  const y = await collector(url);
  assert.is((await x.c.handle(topic, batch(0, 29))).through, 29);
  assert.is(x.c.status().devices[0].key, 'first-checkpoint', 'a checkpoint in 0..29 pinned the key');
  assert.ok(fork.slice(40, 50).some((r) => decodeRecord(r.payload).kind === 'checkpoint'), 'the fork run holds a signed checkpoint');
  // y's view is older (it never saw this device): it parks the fork's 40..49, checked on its own under the pinned key.
  assert.is((await y.c.handle(topic, batch(40, 49, { from: fork }))).outcome, 'pending');
  assert.is(Number((await x.pool.query('SELECT count(*) AS n FROM audit_ahead')).rows[0].n), 1);
  // The real 30..39 does not connect to the fork: the end stays at 39 and the fork stays parked.
  assert.equal(await x.c.handle(topic, batch(30, 39)).then((r) => [r.outcome, r.stored, r.through]), ['stored', 10, 39]);
  // The real 40..49 is stored; the fork, now behind the end, is deleted.
  assert.equal(await y.c.handle(topic, batch(40, 49)).then((r) => [r.outcome, r.stored, r.through]), ['stored', 10, 49]);
  assert.is(Number((await x.pool.query('SELECT count(*) AS n FROM audit_ahead')).rows[0].n), 0);
  const n = await x.pool.query<{ n: string; d: string }>('SELECT count(*) AS n, count(DISTINCT seq) AS d FROM audit_record WHERE device = $1', [DEV]);
  assert.equal([Number(n.rows[0].n), Number(n.rows[0].d)], [50, 50]);
  const stored = await x.pool.query<{ payload: Buffer }>('SELECT payload FROM audit_record WHERE device = $1 AND seq = 42', [DEV]);
  assert.ok(stored.rows[0].payload.equals(records[42].payload), 'the real record, not the fork');
  assert.ok((await verifyDeviceInDb(x.pool, DEV)).ok);
  for (const k of [x, y]) { await k.c.close(); await k.pool.end(); }
});

test('refused batches go to audit_refused and mark the chain; bad input never reaches SQL as text', async () => {
  if (skip) { console.log(`SKIP: ${skip}`); return; }
  const url = await pg.createDatabase('c4');
  const alerts: CollectorAlert[] = [];
  const { c, pool } = await collector(url, alerts);
  await c.handle(topic, batch(0, 4));
  // Records 5..9 with one payload swapped for another record's: refused.
  const forged = encodeAuditBatch({ device: DEV, site: SITE, fromSeq: 5, records: [records[5], records[7], records[6]].map((r) => r.payload) });
  const r = await c.handle(topic, forged);
  assert.is(r.outcome, 'refused');
  assert.match(alerts[0].evidence!, /^database table audit_refused, id \d+$/);
  const ref = await pool.query<{ reason: { code: string }; bytes: Buffer }>('SELECT reason, bytes FROM audit_refused');
  assert.is(ref.rows.length, 1);
  assert.is(ref.rows[0].reason.code, 'verify-failed');
  assert.ok(ref.rows[0].bytes.equals(Buffer.from(forged)), 'the exact refused bytes are kept');
  const ch = await pool.query<{ problem: string; through: string }>('SELECT problem, through FROM audit_chain WHERE device = $1', [DEV]);
  assert.match(ch.rows[0].problem, 'fails verification');
  assert.is(Number(ch.rows[0].through), 4);
  // A device id full of SQL metacharacters is only ever a parameter.
  const evil = "gw';DROP-TABLE-audit_record;--";
  const er = await c.handle(deviceTopic({ site: SITE, device: evil, kind: 'audit' }).replace(/[^/]*\/audit$/, `${evil}/audit`), batch(0, 2, { device: evil }));
  assert.equal([er.outcome, er.through], ['stored', 2], JSON.stringify(er));
  const rows = await pool.query<{ device: string; n: string }>('SELECT device, count(*) AS n FROM audit_record GROUP BY device ORDER BY device');
  assert.equal(rows.rows.map((x) => [x.device, Number(x.n)]), [[evil, 3], [DEV, 5]]);
  await c.close();
  await pool.end();
});

test('the schema migration runs again without change (idempotent)', async () => {
  if (skip) { console.log(`SKIP: ${skip}`); return; }
  const url = await pg.createDatabase('c5');
  const p1 = mkPool(url);
  await Promise.all([openPgCollectorStore({ pool: p1, site: SITE }), openPgCollectorStore({ pool: p1, site: SITE })]);
  await openPgCollectorStore({ pool: p1, site: SITE });
  const idx = await p1.query<{ indexname: string }>("SELECT indexname FROM pg_indexes WHERE tablename = 'audit_record' ORDER BY 1");
  assert.is(idx.rows.length, SCHEMA_SQL.filter((s) => s.startsWith('CREATE INDEX')).length + 1, 'the indexes and the primary key');
  await p1.end();
});

test('monthly partitions; retention drops whole old months; the chain then verifies mid-chain; export reads back in time order', async () => {
  if (skip) { console.log(`SKIP: ${skip}`); return; }
  const url = await pg.createDatabase('c6');
  const pool = mkPool(url);
  const c = createAuditCollector({ store: await openPgCollectorStore({ pool, site: RSITE }), site: RSITE, ack: () => undefined });
  await feed((topic, bytes) => c.handle(topic, bytes)); // 100 records a minute apart from 2026-11-30T23:00Z, two devices
  await c.close();
  assert.equal((await listPartitions(pool)).map((p) => p.name), ['audit_record_p202611', 'audit_record_p202612']);
  // Export: all 200 records oldest first, exactly the collector's JSON lines, through the CLI.
  const file = join(t.dir, 'export.jsonl');
  const io = { out: () => undefined, err: () => undefined };
  assert.is(await runCli(['fleet', 'audit', 'export', '--db', url, '--format', 'jsonl', '--out', file, '--device', 'gw-a'], commands, io, new AbortController().signal), 0);
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  const want: string[] = [];
  for await (const f of exportRecords(pool, { device: 'gw-a' })) want.push(formatJsonLine(f));
  assert.is(lines.length, 100);
  assert.equal(lines, want);
  assert.equal(lines.map((l) => (JSON.parse(l) as { seq: number }).seq), [...Array(100).keys()]);
  // Retention of 2 months in February 2027: November 2026 goes, December stays.
  assert.equal(await applyRetention(pool, { months: 3, now: Date.UTC(2027, 1, 10) }), []);
  assert.equal(await applyRetention(pool, { months: 2, now: Date.UTC(2027, 1, 10) }), ['audit_record_p202611']);
  assert.equal((await listPartitions(pool)).map((p) => p.name), ['audit_record_p202612']);
  const left = await pool.query<{ lo: string; n: string }>("SELECT min(seq) AS lo, count(*) AS n FROM audit_record WHERE device = 'gw-a'");
  assert.equal([Number(left.rows[0].lo), Number(left.rows[0].n)], [60, 40]);
  const rep = await verifyDeviceInDb(pool, 'gw-a');
  assert.ok(rep.ok, JSON.stringify(rep.error));
  assert.equal([rep.startsMidChain, rep.firstSeq, rep.lastSeq], [true, 60, 99]);
  const ch = await pool.query<{ first_seq: string }>("SELECT first_seq FROM audit_chain WHERE device = 'gw-a'");
  assert.is(Number(ch.rows[0].first_seq), 60);
  await pool.end();
});

test.run();
