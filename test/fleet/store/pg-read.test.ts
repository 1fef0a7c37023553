// FleetReadStore over a REAL PostgreSQL: the shared contract (read-store.contract.ts), the data
// collected through the real collector into the PostgreSQL store, statuses through saveStatus.
import { suite } from 'uvu';
import { Pool } from 'pg';
import { createAuditCollector } from '../../../fleet/audit-collect';
import { openPgCollectorStore } from '../../../fleet/store/pg/collect-store';
import { createPgReadStore } from '../../../fleet/store/pg/read';
import { saveStatus } from '../../../fleet/store/pg/gateways';
import { deviceTopic } from '../../../protocol/mqtt/topics';
import type { FleetReadStore } from '../../../fleet/store/types';
import * as assert from 'uvu/assert';
import { openReadStore } from '../../../fleet/console/start';
import { StatusBook } from '../../../fleet/store/status-book';
import { parseStatus } from '../../../protocol/mqtt/status';
import { skipReason, startPostgres, type Postgres } from '../../helpers/postgres';
import { feed, readStoreContract, SITE, statusDoc } from './read-store.contract';

const skip = skipReason();
const s = suite('pg read store');
let pg: Postgres;
let pool: Pool;
let store: FleetReadStore | undefined;

s.before(async () => {
  if (skip) return;
  pg = await startPostgres();
  pool = new Pool({ connectionString: pg.url, max: 3 });
  pool.on('error', () => undefined);
  const c = createAuditCollector({ store: await openPgCollectorStore({ pool, site: SITE }), site: SITE, ack: () => undefined });
  await feed((topic, bytes) => c.handle(topic, bytes));
  await c.close();
  const st = (d: string) => deviceTopic({ site: SITE, device: d, kind: 'status' });
  await saveStatus(pool, st('gw-a'), statusDoc('gw-a', 2000), SITE);
  await saveStatus(pool, st('gw-a'), statusDoc('gw-a', 1500), SITE); // older: not kept
  await saveStatus(pool, st('gw-b'), statusDoc('gw-b', 1000), SITE);
  await saveStatus(pool, st('gw-c'), statusDoc('gw-x', 1000), SITE); // names another device: refused
  store = createPgReadStore({ pool });
});
s.after(async () => { await store?.close(); await pool?.end(); await pg?.close(); });

readStoreContract(s, () => store, skip);

s('the console opens this store from `store: { kind: postgres, url }`: audit from the database, gateways from its live status book', async () => {
  if (skip) { console.log(`SKIP: ${skip}`); return; }
  const book = new StatusBook();
  book.set(parseStatus(statusDoc('gw-live', 3000))!);
  const cs = openReadStore({ kind: 'postgres', url: pg.url }, [SITE], book);
  try {
    const key = (r: { device: string; seq: number }) => `${r.device}/${r.seq}`;
    const direct = await store!.search({ limit: 20 });
    assert.ok(direct.length > 0);
    assert.equal((await cs.search({ limit: 20 })).map(key), direct.map(key));
    assert.equal((await cs.chains()).map((c) => c.device), (await store!.chains()).map((c) => c.device));
    assert.equal((await cs.gateways()).map((d) => d.device), ['gw-live']);
  } finally { await cs.close(); }
});
s.run();
