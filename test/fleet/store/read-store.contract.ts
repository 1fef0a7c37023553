/**
 * The FleetReadStore contract (fleet/store/types.ts), one suite for every implementation: a
 * crafted chain of records (allows, denials, a monitor-mode would-deny, a flood summary counting
 * 40 denials, a DNP3 operation, a login) is collected for two devices through the real collector
 * into the store under test; then search (filters, newest first, keyset pages), denials
 * (buckets, summaries counted as their count), chains and gateways are checked, including
 * filters full of SQL metacharacters, which must match nothing and break nothing.
 */
import * as assert from 'uvu/assert';
import type { Test } from 'uvu';
import { encodeRecord, GENESIS_PREV, hashPayload, type RecordBody } from '../../../protocol/audit/record';
import { encodeAuditBatch } from '../../../protocol/audit/upload-batch';
import { deviceTopic } from '../../../protocol/mqtt/topics';
import { encodeStatus, type StatusDocument } from '../../../protocol/mqtt/status';
import type { FleetReadStore } from '../../../fleet/store/types';

export const SITE = 'site-r';
export const T0 = Date.UTC(2026, 10, 30, 23, 0, 0); // an hour before a month boundary

/** Record i of a device's crafted chain. */
function body(i: number): RecordBody {
  const at = T0 + i * 60_000; // one a minute: records 60.. fall in December
  const deny = (reason: string) => ({ decision: 'deny' as const, conduit: null, reason: reason as 'function-not-allowed', identity: i % 2 ? 'hmi-1' : null });
  if (i % 10 === 9) return { kind: 'summary', at, source: 'audit', src: '10.0.0.9', asset: 'plc-2', decision: deny('no-conduit'), message: '40 denials summarised', summary: { count: 40, total: 40, from: at - 5000, to: at, windowMs: 10_000 } } as RecordBody;
  if (i % 10 === 7) return { kind: 'auth', at, source: 'console', message: 'login alice' } as RecordBody;
  if (i % 10 === 5) return { kind: 'decision', at, source: 'dnp3', src: '10.0.0.5', asset: 'rtu-1', protocol: 'dnp3', decision: { decision: 'allow', conduit: 'c', reason: 'function-not-allowed', identity: 'scada', monitor: true }, dnp3: { function: 5, name: 'DIRECT_OPERATE', source: 1, destination: 10, seq: 0, objects: [] } } as RecordBody;
  const allow = i % 3 !== 0;
  return {
    kind: 'decision', at, source: 'modbus-tcp', src: `10.0.0.${i % 4}`, asset: i % 2 ? 'plc-1' : 'plc-2', protocol: 'modbus',
    decision: allow ? { decision: 'allow', conduit: 'c', reason: null, identity: i % 2 ? 'hmi-1' : null } : deny('function-not-allowed'),
    modbus: { function: allow ? 3 : 6, unit: 1, address: i, count: 1 },
  } as RecordBody;
}

/** The payloads of a crafted chain of n records. */
export function chain(n: number): Buffer[] {
  const out: Buffer[] = [];
  let prev: Buffer = GENESIS_PREV;
  for (let i = 0; i < n; i++) { const p = encodeRecord(body(i), i, prev); out.push(p); prev = hashPayload(p); }
  return out;
}

export const N = 100;

/** Feeds two devices' chains (gw-a, gw-b) through `handle` (a collector's handle) in batches of 25. */
export async function feed(handle: (topic: string, bytes: Uint8Array) => Promise<unknown>): Promise<void> {
  const payloads = chain(N);
  for (const device of ['gw-a', 'gw-b']) {
    for (let from = 0; from < N; from += 25) {
      await handle(deviceTopic({ site: SITE, device, kind: 'audit' }), encodeAuditBatch({ device, site: SITE, fromSeq: from, records: payloads.slice(from, from + 25) }));
    }
  }
}

export function statusDoc(device: string, lastSeen: number): Buffer {
  const doc: StatusDocument = { schema: 1, device, site: SITE, online: true, policyVersion: 7, policyHash: null, policyExpiresAt: null, applied: {}, lastError: null, uptimeSeconds: 5, alarms: [], runtimeVersion: '0.1.0', lastSeen };
  return encodeStatus(doc);
}

/** Registers the contract's tests on `suite`; `store()` gives the filled store under test. */
export function readStoreContract(suite: Test, store: () => FleetReadStore | undefined, skip?: string): void {
  const s = () => store() as FleetReadStore;
  suite('search: newest first, keyset pages add up to the whole, each row once', async () => {
    if (skip) { console.log(`SKIP: ${skip}`); return; }
    const all = await s().search({ limit: 1000 });
    assert.is(all.length, 2 * N);
    for (let i = 1; i < all.length; i++) {
      const a = all[i - 1], b = all[i];
      assert.ok(a.at > b.at || (a.at === b.at && (a.device > b.device || (a.device === b.device && a.seq > b.seq))), `order at ${i}`);
    }
    const pages: string[] = [];
    let before: { at: number; device: string; seq: number } | undefined;
    for (;;) {
      const page = await s().search({ limit: 17, before });
      if (page.length === 0) break;
      pages.push(...page.map((r) => `${r.device}/${r.seq}`));
      const l = page[page.length - 1];
      before = { at: l.at, device: l.device, seq: l.seq };
    }
    assert.equal(pages, all.map((r) => `${r.device}/${r.seq}`));
    assert.is(all[0].record.seq, all[0].seq, 'the decoded record comes with the row');
  });

  suite('search filters: identity or source address, asset, operation, decision, time', async () => {
    if (skip) { console.log(`SKIP: ${skip}`); return; }
    const q = (f: Record<string, unknown>) => s().search({ limit: 1000, ...f });
    const hmi = await q({ identity: 'hmi-1', device: 'gw-a' });
    assert.ok(hmi.length > 0 && hmi.every((r) => r.identity === 'hmi-1'));
    const byAddr = await q({ identity: '10.0.0.5', device: 'gw-a' });
    assert.ok(byAddr.length > 0 && byAddr.every((r) => r.src === '10.0.0.5'));
    const writes = await q({ operation: 'modbus:6' });
    assert.ok(writes.length > 0 && writes.every((r) => r.record.modbus?.function === 6 && r.decision === 'deny'));
    assert.is((await q({ operation: 'dnp3:DIRECT_OPERATE', decision: 'would-deny' })).length, 20);
    assert.is((await q({ operation: 'auth' })).length, 20);
    const dec = await q({ from: Date.UTC(2026, 11, 1), asset: 'plc-1' });
    assert.ok(dec.length > 0 && dec.every((r) => r.at >= Date.UTC(2026, 11, 1) && r.asset === 'plc-1'));
    assert.is((await q({ from: T0 + 10 * 60_000, to: T0 + 20 * 60_000, device: 'gw-b' })).length, 10);
  });

  suite('filters full of SQL metacharacters match nothing and harm nothing', async () => {
    if (skip) { console.log(`SKIP: ${skip}`); return; }
    for (const evil of ["x' OR '1'='1", "'; DROP TABLE audit_record; --", '%', '_', '\\', 'plc-1\' --', '$1', '"audit_record"', '\u0000'.slice(1) + "') OR true --"]) {
      for (const field of ['identity', 'asset', 'operation', 'device', 'site']) {
        const rows = await s().search({ limit: 10, [field]: evil });
        assert.is(rows.length, 0, `${field}=${JSON.stringify(evil)}`);
      }
      assert.equal(await s().denials({ from: T0, to: T0 + 3_600_000 * 3, bucketMs: 3_600_000, asset: evil }), []);
    }
    assert.is((await s().search({ limit: 1000 })).length, 2 * N, 'everything still there');
  });

  suite('denials per bucket, site, asset and reason; a flood summary counts as its count', async () => {
    if (skip) { console.log(`SKIP: ${skip}`); return; }
    const b = await s().denials({ from: T0, to: T0 + 2 * 3_600_000, bucketMs: 3_600_000, device: 'gw-a' });
    const get = (start: number, asset: string, reason: string) => b.find((x) => x.start === start && x.asset === asset && x.reason === reason)?.count ?? 0;
    // Records 0..59 in the first hour, 60..99 in the second. Summaries (i % 10 == 9) on plc-2, 40 each.
    assert.is(get(T0, 'plc-2', 'no-conduit'), 6 * 40);
    assert.is(get(T0 + 3_600_000, 'plc-2', 'no-conduit'), 4 * 40);
    const fna = (lo: number, hi: number, asset: string) => { let n = 0; for (let i = lo; i < hi; i++) { const m = i % 10; if (m !== 9 && m !== 7 && m !== 5 && i % 3 === 0 && (i % 2 ? 'plc-1' : 'plc-2') === asset) n++; } return n; };
    assert.is(get(T0, 'plc-1', 'function-not-allowed'), fna(0, 60, 'plc-1'));
    assert.is(get(T0 + 3_600_000, 'plc-2', 'function-not-allowed'), fna(60, 100, 'plc-2'));
    assert.ok(b.every((x) => x.site === SITE && x.count > 0));
    assert.not.ok(b.some((x) => x.reason === 'function-not-allowed' && x.asset === 'rtu-1'), 'would-deny is not a denial');
  });

  suite('chains and gateways', async () => {
    if (skip) { console.log(`SKIP: ${skip}`); return; }
    const ch = await s().chains(SITE);
    assert.equal(ch.map((c) => [c.device, c.firstSeq, c.through, c.verified, c.problem]), [['gw-a', 0, N - 1, true, null], ['gw-b', 0, N - 1, true, null]]);
    assert.equal(await s().chains('elsewhere'), []);
    const gw = await s().gateways(SITE);
    assert.equal(gw.map((g) => [g.device, g.lastSeen]), [['gw-a', 2000], ['gw-b', 1000]]);
  });
}
