// The resync with a shared-subscription group on a REAL PostgreSQL and a REAL mosquitto: members
// use clean sessions, so while no member runs the broker drops the gateways' batches (after
// PUBACKing them). Two gateways (real audit logs and uploaders) have a 10-minute ack timeout:
// only the announcement of a member that comes back can make them send again. Then every record
// is in the database exactly once and every chain verifies from the database; a second member
// joining later announces too, and with nothing unacknowledged nobody resends.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Pool } from 'pg';
import { makeKey, tempDir } from '../../audit/helpers';
import { skipReason as mqSkip, startMosquitto, type Mosquitto } from '../../helpers/mosquitto';
import { skipReason as pgSkip, startPostgres, type Postgres } from '../../helpers/postgres';
import { startAuditGateway, type AuditGateway } from '../../helpers/audit-gateway';
import { verifyDeviceInDb } from '../../../fleet/store/pg/verify';
import { openPgCollectorStore } from '../../../fleet/store/pg/collect-store';
import { resyncSpreadMs, startCollector, type CollectorConnection } from '../../../fleet/audit-collect-mqtt';
import { waitFor } from '../../sync/helpers';

const SITE = 'plant-9';
const skip = pgSkip() ?? mqSkip();
const t = tempDir('zg-pg-resync-');
let pg: Postgres;
let mq: Mosquitto;

test.before(async () => {
  if (skip) return;
  [pg, mq] = await Promise.all([startPostgres(), startMosquitto()]);
});
test.after(async () => { await mq?.close(); await pg?.close(); t.cleanup(); });

test('the spread grows with the devices a collector knows, within 0.5 s and 30 s', () => {
  assert.equal([0, 1, 100, 1000, 6000, 100_000].map(resyncSpreadMs), [500, 500, 500, 5000, 30_000, 30_000]);
});

test('group members with clean sessions: one comes back and its announcement brings what went to nobody; stored once, chains verify', async () => {
  if (skip) { console.log(`SKIP: ${skip}`); return; }
  const db = await pg.createDatabase('resync');
  const pool = new Pool({ connectionString: db, max: 2 });
  pool.on('error', () => undefined);
  const announced: number[] = [];
  const member = async (n: number): Promise<CollectorConnection> => {
    const store = await openPgCollectorStore({ url: db, site: SITE });
    return startCollector({ broker: { url: mq.url }, site: SITE, store, group: 'g', onResync: (ms) => announced.push(ms), onError: (m) => console.log(`member ${n}: ${m}`) });
  };
  const key = makeKey();
  const gws: AuditGateway[] = [];
  let members: CollectorConnection[] = [];
  try {
    members = [await member(1), await member(2)];
    for (const d of ['gw-1', 'gw-2']) gws.push(await startAuditGateway({ broker: mq.url, site: SITE, device: d, dir: t.dir, key, ackTimeoutMs: 10 * 60_000, maxRecords: 20, window: 4, checkpointEvery: 30 }));
    for (const g of gws) await g.write(30);
    await waitFor(() => gws.every((g) => g.uploader.status().ackedThrough === g.lastSeq()), 'the first records acked', 20_000);
    for (const m of members) await m.close();
    members = [];
    const acked = gws.map((g) => g.uploader.status().ackedThrough);
    for (const g of gws) await g.write(40); // 41 records or so: fewer than the window holds (4 x 20)
    await waitFor(() => gws.every((g) => { const s = g.uploader.status(); return s.sentThrough === g.lastSeq() && g.pubacked() === s.batchesSent; }), 'every new batch PUBACKed by the broker, with no member to take it', 20_000);
    assert.equal(gws.map((g) => g.uploader.status().ackedThrough), acked, 'nothing acked while no member runs');
    const count = async () => Number((await pool.query<{ n: string }>('SELECT count(*) AS n FROM audit_record')).rows[0].n);
    assert.is(await count(), acked.reduce((n, a) => n + a + 1, 0));
    const before = announced.length;
    members.push(await member(3));
    await waitFor(() => gws.every((g) => g.uploader.status().ackedThrough === g.lastSeq()), 'every record acked after a member came back', 20_000);
    assert.equal(announced.slice(before), [500], 'two devices in the database: the smallest spread');
    assert.equal(gws.map((g) => g.uploader.status().resyncResends), [1, 1]);
    // A second member joins: it announces too; nothing is unacknowledged, so nobody resends.
    members.push(await member(4));
    await waitFor(() => gws.every((g) => g.uploader.status().resyncs === 2), 'both gateways heard the second announcement since they started');
    for (const g of gws) await g.uploader.idle();
    assert.equal(gws.map((g) => g.uploader.status().resyncResends), [1, 1]);
    const per = await pool.query<{ device: string; n: string; d: string; hi: string }>('SELECT device, count(*) AS n, count(DISTINCT seq) AS d, max(seq) AS hi FROM audit_record GROUP BY device ORDER BY device');
    assert.equal(per.rows.map((r) => [r.device, Number(r.n), Number(r.d), Number(r.hi)]), gws.map((g) => [g.device, g.lastSeq() + 1, g.lastSeq() + 1, g.lastSeq()]));
    for (const g of gws) {
      const rep = await verifyDeviceInDb(pool, g.device);
      assert.ok(rep.ok, `${g.device}: ${JSON.stringify(rep.error)}`);
    }
  } finally {
    for (const g of gws) await g.close().catch(() => undefined);
    for (const m of members) await m.close().catch(() => undefined);
    await pool.end();
  }
});

test.run();
