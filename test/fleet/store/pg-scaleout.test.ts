// Scale-out, end to end with real processes: three `node zonegate.js fleet audit collect --db
// --group g` collectors (the real bundle) in one MQTT 5 shared-subscription group on a REAL
// mosquitto, writing into a REAL PostgreSQL; four gateways' real audit logs and uploaders. One
// collector is killed with SIGKILL while batches flow. Then: every record is in the database
// exactly once, every device's chain verifies from the database (`fleet audit verify --db`),
// no ack ever ran ahead of what was committed, and the survivors shared the work.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { Pool } from 'pg';
import { makeKey, tempDir } from '../../audit/helpers';
import { bundleCli } from '../../e2e/helpers';
import { skipReason as mqSkip, startMosquitto, type Mosquitto } from '../../helpers/mosquitto';
import { skipReason as pgSkip, startPostgres, type Postgres } from '../../helpers/postgres';
import { startAuditGateway, type AuditGateway } from '../../helpers/audit-gateway';
import { verifyDeviceInDb } from '../../../fleet/store/pg/verify';
import { deviceTopic } from '../../../protocol/mqtt/topics';
import { statusDoc } from './read-store.contract';
import { mqttConnect } from '../../../protocol/mqtt/mqtt-lib';

const SITE = 'plant-7';
const skip = pgSkip() ?? mqSkip();
const t = tempDir('zg-scaleout-');
let pg: Postgres;
let mq: Mosquitto;
let bundle: { file: string; remove(): void };

interface Proc { child: ChildProcess; out: string; err: string; exit: Promise<number | null> }

function collector(db: string, n: number): Proc {
  const child = spawn(process.execPath, [bundle.file, 'fleet', 'audit', 'collect', '--broker', mq.url, '--site', SITE, '--db', db, '--group', 'g', '--client-id', `c${n}-${process.pid}`, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const p: Proc = { child, out: '', err: '', exit: new Promise((r) => child.once('exit', (code) => r(code))) };
  child.stdout!.on('data', (d) => { p.out += d; });
  child.stderr!.on('data', (d) => { p.err += d; });
  return p;
}

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 40_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test.before(async () => {
  if (skip) return;
  const t0 = Date.now();
  [pg, mq, bundle] = await Promise.all([startPostgres(), startMosquitto(), bundleCli()]);
  console.log(`  peers and bundle: ${Date.now() - t0} ms`);
});
test.after(async () => { await mq?.close(); await pg?.close(); bundle?.remove(); t.cleanup(); });

test('three collectors, one killed -9 mid-stream: every record once, every chain verifies, acks after commit', async () => {
  if (skip) { console.log(`SKIP: ${skip}`); return; }
  const db = await pg.createDatabase('scale');
  const pool = new Pool({ connectionString: db, max: 3 });
  pool.on('error', () => undefined);
  // A gateway's retained status, there before the collectors: every member reads it into gateway_status.
  const st = mqttConnect(mq.url, { protocolVersion: 5, clientId: `status-${process.pid}` });
  await new Promise((r) => st.once('connect', r));
  const doc = JSON.parse(statusDoc('gw-1', 1234).toString()) as Record<string, unknown>;
  await st.publishAsync(deviceTopic({ site: SITE, device: 'gw-1', kind: 'status' }), JSON.stringify({ ...doc, site: SITE }), { qos: 1, retain: true });
  await st.endAsync();
  const procs = [0, 1, 2].map((n) => collector(db, n));
  try {
    const t0 = Date.now();
    const phase = (what: string) => console.log(`  ${what}: ${Date.now() - t0} ms`);
    await until('the collectors to subscribe', () => procs.every((p) => /collecting audit logs .* group g/.test(p.err)));
    phase('subscribed');
    const key = makeKey();
    const ackProblems: string[] = [];
    const gws: AuditGateway[] = [];
    for (const d of ['gw-1', 'gw-2', 'gw-3', 'gw-4']) {
      gws.push(await startAuditGateway({
        broker: mq.url, site: SITE, device: d, dir: t.dir, key, ackTimeoutMs: 1500, maxRecords: 20, window: 4, checkpointEvery: 40,
        // An ack says "stored through": a separate connection must already see that seq committed.
        onAck: (through) => {
          pool.query<{ m: string | null }>('SELECT max(seq) AS m FROM audit_record WHERE device = $1', [d]).then((r) => {
            if (Number(r.rows[0].m ?? -1) < through) ackProblems.push(`${d}: ack ${through} before commit (${r.rows[0].m})`);
          }, () => undefined);
        },
      }));
    }
    const count = async () => Number((await pool.query<{ n: string }>('SELECT count(*) AS n FROM audit_record')).rows[0].n);
    // Records keep coming while the first collector is killed.
    let writing = true;
    const writer = (async () => { for (let r = 0; writing && r < 25; r++) { for (const g of gws) await g.write(10); await new Promise((x) => setTimeout(x, 30)); } })();
    await until('a quarter of the stream stored', async () => (await count()) >= 150);
    phase('150 stored');
    procs[0].child.kill('SIGKILL');
    assert.is(await procs[0].exit, null, 'killed by a signal');
    writing = false;
    await writer;
    phase('writer done');
    await until('every gateway acknowledged through its last record', () => gws.every((g) => g.uploader.status().ackedThrough === g.lastSeq()), 45_000);
    phase('all acked');
    const total = gws.reduce((n, g) => n + g.lastSeq() + 1, 0);
    const per = await pool.query<{ device: string; n: string; d: string; lo: string; hi: string }>(
      'SELECT device, count(*) AS n, count(DISTINCT seq) AS d, min(seq) AS lo, max(seq) AS hi FROM audit_record GROUP BY device ORDER BY device');
    assert.equal(per.rows.map((r) => [r.device, Number(r.n), Number(r.d), Number(r.lo), Number(r.hi)]), gws.map((g) => [g.device, g.lastSeq() + 1, g.lastSeq() + 1, 0, g.lastSeq()]));
    assert.is(await count(), total);
    for (const g of gws) {
      const rep = await verifyDeviceInDb(pool, g.device);
      assert.ok(rep.ok, `${g.device}: ${JSON.stringify(rep.error)}`);
      assert.is(rep.key?.source, 'pinned');
    }
    await new Promise((r) => setTimeout(r, 200)); // the last ack checks' queries
    assert.equal(ackProblems, []);
    const gs = await pool.query<{ device: string; last_seen: string }>('SELECT device, last_seen FROM gateway_status');
    assert.equal(gs.rows.map((r) => [r.device, Number(r.last_seen)]), [['gw-1', 1234]]);
    for (const g of gws) await g.close();
    // The survivors stop cleanly and both stored a share (the group spread the batches).
    for (const p of procs.slice(1)) p.child.kill('SIGTERM');
    const codes = await Promise.all(procs.slice(1).map((p) => p.exit));
    assert.equal(codes, [0, 0], procs.map((p) => p.err).join('\n'));
    const stored = procs.slice(1).map((p) => (JSON.parse(p.out) as { stored: number }).stored);
    assert.ok(stored.every((n) => n > 0), `stored per surviving collector: ${stored}`);
    // The same check as the operator runs it.
    const v = spawn(process.execPath, [bundle.file, 'fleet', 'audit', 'verify', '--db', db], { stdio: ['ignore', 'pipe', 'pipe'] });
    let vout = '';
    v.stdout!.on('data', (d) => { vout += d; });
    assert.is(await new Promise((r) => v.once('exit', r)), 0, vout);
    assert.match(vout, /^gw-1: OK — seq 0\.\.\d+, \d+ record\(s\), \d+ checkpoint\(s\)$/m);
    assert.is(vout.trim().split('\n').length, 4);
  } finally {
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await pool.end();
  }
});

test.run();
