/**
 * The collector's append, as one PostgreSQL function called in one round trip (one implicit
 * transaction, so the call returns after COMMIT): zg_audit_append takes the device's audit_chain
 * row lock and then, for a verified run,
 *   - continues the chain (its first record is through + 1 with prev = last_hash, or the chain is
 *     empty and the collector says the run may start it): inserts it, moves the chain end, then
 *     moves in every parked run that now continues the end (a loop; its record at through + 1
 *     must carry prev = last_hash), deletes parked runs the end has passed and NOTIFYs
 *     zg_audit_chain with the device id (delivered at COMMIT: waiting collectors look again);
 *   - or parks it in audit_ahead when it starts after a hole (p_park; at most p_max_parked runs a
 *     device; 'full' beyond) — a run another member of the group received ahead of its
 *     predecessor waits in the database instead of in that member's memory;
 *   - or writes nothing: 'conflict' (behind the end, overlapping it, or a different prev).
 * It returns the outcome and the chain end after it. A parked run was verified by the collector
 * that parked it (record links within the run; checkpoints under the pinned key), so linking its
 * first new record to the stored end under the lock is the only check left, and it is made here.
 * Records go into audit_record with ON CONFLICT DO NOTHING besides: a seq is never stored twice.
 */

const COLS = 'at, kind, identity, src, asset, operation, decision, reason, weight, hash, prev, payload';
const ARRAYS = `at bigint[], kind text[], identity text[], src text[], asset text[], operation text[], decision text[],
  reason text[], weight int[], hash bytea[], prev bytea[], payload bytea[]`;

export const APPEND_SQL: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS audit_ahead (
     device text NOT NULL, from_seq bigint NOT NULL, to_seq bigint NOT NULL, last_hash bytea NOT NULL,
     cp_seq bigint, cp bytea, parked_at bigint NOT NULL,
     ${ARRAYS},
     PRIMARY KEY (device, from_seq, last_hash)
   )`,
  `CREATE OR REPLACE FUNCTION zg_audit_append(
     p_device text, p_site text, p_from bigint, p_start boolean, p_park boolean, p_max_parked int, p_now bigint,
     p_cp_seq bigint, p_cp bytea,
     p_at bigint[], p_kind text[], p_identity text[], p_src text[], p_asset text[], p_operation text[], p_decision text[],
     p_reason text[], p_weight int[], p_hashes bytea, p_prevs bytea, p_payloads bytea, p_offsets int[],
     OUT outcome text, OUT first_seq bigint, OUT through bigint, OUT last_hash bytea, OUT pinned_key bytea)
   LANGUAGE plpgsql AS $fn$
   DECLARE
     c audit_chain%ROWTYPE;
     b audit_ahead%ROWTYPE;
     n int := cardinality(p_offsets) - 1;
     -- The byte columns arrive as single binary values (no text escaping of every payload):
     -- hashes and prevs 32 bytes each, payloads cut at p_offsets (n + 1 zero-based bounds).
     p_hash bytea[] := ARRAY(SELECT substring(p_hashes FROM (i - 1) * 32 + 1 FOR 32) FROM generate_series(1, n) i);
     p_prev bytea[] := ARRAY(SELECT substring(p_prevs FROM (i - 1) * 32 + 1 FOR 32) FROM generate_series(1, n) i);
     p_payload bytea[] := ARRAY(SELECT substring(p_payloads FROM p_offsets[i] + 1 FOR p_offsets[i + 1] - p_offsets[i]) FROM generate_series(1, n) i);
   BEGIN
     SELECT * INTO c FROM audit_chain WHERE device = p_device FOR UPDATE;
     IF NOT FOUND THEN outcome := 'conflict'; RETURN; END IF;
     IF (c.through < 0 AND p_start) OR (c.through >= 0 AND p_from = c.through + 1 AND c.last_hash = p_prev[1]) THEN
       INSERT INTO audit_record (device, seq, site, ${COLS})
         SELECT p_device, p_from + u.i - 1, p_site, u.at, u.kind, u.identity, u.src, u.asset, u.operation, u.decision, u.reason, u.weight, u.hash, u.prev, u.payload
         FROM unnest(p_at, p_kind, p_identity, p_src, p_asset, p_operation, p_decision, p_reason, p_weight, p_hash, p_prev, p_payload)
           WITH ORDINALITY AS u(${COLS}, i)
         ON CONFLICT DO NOTHING;
       UPDATE audit_chain SET through = p_from + n - 1, last_hash = p_hash[n],
           first_seq = CASE WHEN audit_chain.first_seq < 0 THEN p_from ELSE audit_chain.first_seq END,
           checkpoint_seq = COALESCE(p_cp_seq, audit_chain.checkpoint_seq), checkpoint = COALESCE(p_cp, audit_chain.checkpoint),
           last_at = p_at[n], updated_at = p_now, problem = NULL
         WHERE device = p_device RETURNING * INTO c;
       outcome := 'stored';
       LOOP
         SELECT * INTO b FROM audit_ahead a WHERE a.device = p_device AND a.from_seq <= c.through + 1 AND a.to_seq > c.through
           AND a.prev[c.through + 2 - a.from_seq] = c.last_hash LIMIT 1;
         EXIT WHEN NOT FOUND;
         INSERT INTO audit_record (device, seq, site, ${COLS})
           SELECT p_device, b.from_seq + u.i - 1, p_site, u.at, u.kind, u.identity, u.src, u.asset, u.operation, u.decision, u.reason, u.weight, u.hash, u.prev, u.payload
           FROM unnest(b.at, b.kind, b.identity, b.src, b.asset, b.operation, b.decision, b.reason, b.weight, b.hash, b.prev, b.payload)
             WITH ORDINALITY AS u(${COLS}, i)
           WHERE b.from_seq + u.i - 1 > c.through
           ON CONFLICT DO NOTHING;
         UPDATE audit_chain SET through = b.to_seq, last_hash = b.last_hash,
             checkpoint_seq = CASE WHEN b.cp_seq > c.through THEN b.cp_seq ELSE audit_chain.checkpoint_seq END,
             checkpoint = CASE WHEN b.cp_seq > c.through THEN b.cp ELSE audit_chain.checkpoint END,
             last_at = b.at[cardinality(b.at)], updated_at = p_now, problem = NULL
           WHERE device = p_device RETURNING * INTO c;
       END LOOP;
       DELETE FROM audit_ahead a WHERE a.device = p_device AND a.to_seq <= c.through;
       PERFORM pg_notify('zg_audit_chain', p_device);
     ELSIF p_park AND p_from > c.through + 1 THEN
       IF (SELECT count(*) FROM audit_ahead a WHERE a.device = p_device) >= p_max_parked THEN
         outcome := 'full';
       ELSE
         INSERT INTO audit_ahead (device, from_seq, to_seq, last_hash, cp_seq, cp, parked_at, ${COLS})
           VALUES (p_device, p_from, p_from + n - 1, p_hash[n], p_cp_seq, p_cp, p_now,
                   p_at, p_kind, p_identity, p_src, p_asset, p_operation, p_decision, p_reason, p_weight, p_hash, p_prev, p_payload)
           ON CONFLICT DO NOTHING;
         outcome := 'parked';
       END IF;
     ELSE
       outcome := 'conflict';
     END IF;
     first_seq := c.first_seq; through := c.through; last_hash := c.last_hash; pinned_key := c.pinned_key;
   END
   $fn$`,
];

/** The byte columns of a run as zg_audit_append takes them: three binary values and the payload bounds. */
export function packBytes(hashes: readonly Uint8Array[], prevs: readonly Uint8Array[], payloads: readonly Uint8Array[]): [Buffer, Buffer, Buffer, number[]] {
  if (hashes.some((h) => h.length !== 32) || prevs.some((h) => h.length !== 32)) throw new TypeError('packBytes: hashes and prevs are 32 bytes each');
  const offsets = [0];
  for (const p of payloads) offsets.push(offsets[offsets.length - 1] + p.length);
  return [Buffer.concat(hashes), Buffer.concat(prevs), Buffer.concat(payloads), offsets];
}

/** The call: parameters in the order of zg_audit_append's arguments. */
export const APPEND_CALL = `SELECT outcome, first_seq, through, last_hash, pinned_key FROM zg_audit_append(
  $1, $2, $3, $4, $5, $6, $7, $8, $9, $10::bigint[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[],
  $17::text[], $18::int[], $19::bytea, $20::bytea, $21::bytea, $22::int[])`;
