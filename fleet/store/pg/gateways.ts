/** Gateway status documents in gateway_status: the newest per device (by the gateway's lastSeen) wins. */
import type { Pool } from 'pg';
import { parseStatus } from '../../../protocol/mqtt/status';
import { parseTopic } from '../../../protocol/mqtt/topics';

/**
 * Stores a status payload received on `topic` when it is a well-formed document of that device
 * and site and newer than the stored one; returns whether it was kept.
 */
export async function saveStatus(pool: Pool, topic: string, payload: Uint8Array, site: string): Promise<boolean> {
  const t = parseTopic(topic);
  if (!t || t.siteWide || t.kind !== 'status' || t.site !== site) return false;
  const doc = parseStatus(payload);
  if (!doc || doc.device !== t.device || doc.site !== site) return false;
  const r = await pool.query(`INSERT INTO gateway_status (device, site, last_seen, doc) VALUES ($1, $2, $3, $4)
    ON CONFLICT (device) DO UPDATE SET site = EXCLUDED.site, last_seen = EXCLUDED.last_seen, doc = EXCLUDED.doc
    WHERE gateway_status.last_seen <= EXCLUDED.last_seen`, [doc.device, site, doc.lastSeen, JSON.stringify(doc)]);
  return (r.rowCount ?? 0) > 0;
}
