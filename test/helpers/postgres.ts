/**
 * A throwaway PostgreSQL cluster for a test: fleet/store/pg/lab-cluster.ts (shared with the
 * demo) with the tests' own port picker (helpers/ports.ts). Use skipReason() first: tests print
 * it and skip.
 */
import { labClusterSkipReason, postgresBin, startLabCluster, type LabCluster, type LabClusterOptions } from '../../fleet/store/pg/lab-cluster';
import { freePort } from './ports';

export { postgresBin };
export type Postgres = LabCluster;
export type PostgresOptions = Omit<LabClusterOptions, 'freePort'>;

/** Why the PostgreSQL tests cannot run here, or undefined when they can. */
export const skipReason = labClusterSkipReason;

/** Initialises and starts a cluster on a port from helpers/ports.ts; throws with the server's log when it does not come up. */
export function startPostgres(o: PostgresOptions = {}): Promise<Postgres> {
  return startLabCluster({ ...o, freePort });
}
