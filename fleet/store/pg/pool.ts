/** The connection pool every fleet PostgreSQL part uses: bigint as text (converted where read), errors logged by the caller. */
import type { Pool } from 'pg';
import { ZonegateError } from '../../../policy/errors';

/** Parses a database URL and opens a pool; ERR_USAGE when the URL is not a postgres:// URL. */
export function openPool(url: string, o: { max?: number } = {}): Pool {
  let u: URL;
  try { u = new URL(url); } catch { throw new ZonegateError('ERR_USAGE', `not a database URL: ${JSON.stringify(url.slice(0, 200))}`); }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') throw new ZonegateError('ERR_USAGE', `database URL must start with postgres:// (got ${u.protocol})`);
  // pg is loaded here, not at the top: every CLI command and the gateway daemon are in one bundle,
  // and loading pg (it probes for a Cloudflare runtime, which loads undici) cost 160 ms of each
  // `zonegate` start that never touches a database.
  const pg = require('pg') as typeof import('pg');
  const pool = new pg.Pool({ connectionString: url, max: o.max ?? 4, connectionTimeoutMillis: 10_000, application_name: 'zonegate' });
  // An idle client's error (the server restarted) must not crash the process; the next query fails instead.
  pool.on('error', () => undefined);
  return pool;
}
