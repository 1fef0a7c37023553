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
s.run();
