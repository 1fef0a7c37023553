/**
 * Re-verifies devices' chains from the database alone: the exact stored payloads in seq order
 * through the same ChainVerifier the device and the file store use, against the pinned key, then
 * checks that the stored hash column, the chain end (audit_chain.through / last_hash) and the
 * latest checkpoint agree with the records. A chain whose oldest partitions were dropped by
 * retention starts mid-chain (reported as such).
 */
import type { Pool } from 'pg';
import { ChainVerifier, DEFAULT_UNSIGNED_LIMIT, type VerifyReport } from '../../../protocol/audit/verify';
import { decodeRecord, hashPayload } from '../../../protocol/audit/record';

export interface DbVerifyReport extends VerifyReport {
  device: string;
  site: string;
}

const PAGE = 5000;

/** Verifies one device's stored chain; never rejects for a bad chain (the report says why). */
export async function verifyDeviceInDb(pool: Pool, device: string): Promise<DbVerifyReport> {
  const ch = await pool.query<{ site: string; through: string; last_hash: Buffer | null; pinned_key: Buffer | null; checkpoint: Buffer | null }>(
    'SELECT site, through, last_hash, pinned_key, checkpoint FROM audit_chain WHERE device = $1', [device]);
  const chain = ch.rows[0];
  let anchor: { seq: number; hash: Buffer } | null = null;
  if (chain?.checkpoint) {
    try { anchor = { seq: decodeRecord(chain.checkpoint).seq, hash: hashPayload(chain.checkpoint) }; } catch { /* the chain stands on its own */ }
  }
  const v = new ChainVerifier({ devicePublicKey: chain?.pinned_key ?? undefined, unsignedLimit: DEFAULT_UNSIGNED_LIMIT, anchorSeqs: anchor ? [anchor.seq] : [] });
  const report: DbVerifyReport = Object.assign(v.report, { device, site: chain?.site ?? '' });
  if (!chain) { v.fail('truncated', `device ${device} has no chain in the database`); return report; }
  let after = -1;
  for (;;) {
    const r = await pool.query<{ seq: string; hash: Buffer; payload: Buffer }>(
      'SELECT seq, hash, payload FROM audit_record WHERE device = $1 AND seq > $2 ORDER BY seq LIMIT $3', [device, after, PAGE]);
    for (const row of r.rows) {
      if (!v.addPayload(row.payload)) return report;
      if (!hashPayload(row.payload).equals(row.hash)) { v.fail('chain', `seq ${row.seq}: the hash column does not match the stored payload`, { seq: Number(row.seq) }); return report; }
      after = Number(row.seq);
    }
    if (r.rows.length < PAGE) break;
  }
  const through = Number(chain.through);
  if (report.lastSeq !== (through >= 0 ? through : null)) {
    v.fail('truncated', `audit_chain says the chain ends at seq ${through}, the records end at ${report.lastSeq ?? 'none'}`, { seq: through });
  } else if (through >= 0 && (!chain.last_hash || report.head !== chain.last_hash.toString('hex'))) {
    v.fail('chain', `audit_chain's last hash is not the hash of seq ${through}`, { seq: through });
  }
  if (anchor) v.checkAnchor('audit_chain.checkpoint', anchor.seq, anchor.hash);
  v.finishUnsigned();
  return report;
}

/** The devices with a chain, of one site or all. */
export async function chainDevices(pool: Pool, site?: string): Promise<string[]> {
  const r = await pool.query<{ device: string }>('SELECT device FROM audit_chain WHERE ($1::text IS NULL OR site = $1) ORDER BY device', [site ?? null]);
  return r.rows.map((x) => x.device);
}
