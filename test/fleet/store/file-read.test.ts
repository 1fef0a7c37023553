// FleetReadStore over the per-device file store: the semantics the console relies on, checked on
// a store the real collector core wrote from two real device logs. Newest first with `before`
// continuing a page (no row twice, none skipped), exact filters (identity matches the identity or
// the source address; operation as operationOf names it; time from inclusive, to exclusive),
// denial buckets, new records picked up incrementally, and chains: verified under the pinned key,
// not verified once a refused batch is kept or a stored record is altered.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AuditLog, type CursorRecord } from '../../../runtime/audit/log';
import { encodeAuditBatch } from '../../../protocol/audit/upload-batch';
import { deviceTopic } from '../../../protocol/mqtt/topics';
import { createAuditCollector } from '../../../fleet/audit-collect';
import { FileReadStore } from '../../../fleet/store/file-read';
import { StatusBook } from '../../../fleet/store/status-book';
import type { AuditRow } from '../../../fleet/store/types';
import { decisionEvent, makeKey, tempDir } from '../../audit/helpers';

const t = tempDir('zg-file-read-');
const T0 = 1_760_000_000_000;
const logs: Record<string, CursorRecord[]> = {};

async function deviceLog(device: string, n: number, offset: number): Promise<CursorRecord[]> {
  const log = await AuditLog.open({ dir: join(t.dir, 'dev', device), device, key: makeKey(), checkpointEvery: 8, flushDelayMs: 1, batchMax: 10, flood: false });
  for (let i = 0; i < n; i++) log.record(decisionEvent(i, { at: T0 + i * 1000 + offset, decision: i % 4 === 0 ? 'deny' : 'allow', src: `10.0.0.${i % 3}`, asset: i % 2 ? 'plc-1' : 'plc-2' }));
  await log.flush();
  const records = (await log.readFrom(0, 10_000)).records;
  await log.close();
  return records;
}

async function collect(device: string, from: number, to: number): Promise<void> {
  const c = createAuditCollector({ out: join(t.dir, 'store', 'lab'), site: 'lab', ack: () => undefined });
  await c.handle(deviceTopic({ site: 'lab', device, kind: 'audit' }), encodeAuditBatch({ device, site: 'lab', fromSeq: from, records: logs[device].slice(from, to + 1).map((r) => r.payload) }));
  await c.idle();
  await c.close();
}

const store = () => new FileReadStore({ dir: join(t.dir, 'store'), sites: ['lab'], statuses: new StatusBook(), refreshMs: 0 });
const key = (r: AuditRow) => `${r.device}:${r.seq}`;

test.before(async () => {
  logs['gw-a'] = await deviceLog('gw-a', 40, 0);
  logs['gw-b'] = await deviceLog('gw-b', 40, 500);
  await collect('gw-a', 0, logs['gw-a'].length - 1);
  await collect('gw-b', 0, 19);
});
test.after(() => t.cleanup());

test('newest first; pages continue with before, no row twice, none skipped', async () => {
  const s = store();
  const all = await s.search({ limit: 10_000 });
  assert.is(all.length, logs['gw-a'].length + 20);
  for (let i = 1; i < all.length; i++) assert.ok(all[i - 1].at >= all[i].at, 'newest first');
  const paged: AuditRow[] = [];
  let before: AuditRow | undefined;
  for (;;) {
    const page = await s.search({ limit: 7, ...(before ? { before: { at: before.at, device: before.device, seq: before.seq } } : {}) });
    paged.push(...page);
    if (page.length < 7) break;
    before = page[page.length - 1];
  }
  assert.equal(paged.map(key), all.map(key));
});

test('filters are exact: identity or source address, operation, decision, time from inclusive to exclusive', async () => {
  const s = store();
  const writes = await s.search({ operation: 'modbus:6', limit: 1000 });
  assert.ok(writes.length > 0 && writes.every((r) => r.decision === 'deny' && r.reason === 'function-not-allowed'));
  assert.equal((await s.search({ decision: 'deny', limit: 1000 })).map(key), writes.map(key));
  const bySrc = await s.search({ identity: '10.0.0.1', limit: 1000 });
  assert.ok(bySrc.length > 0 && bySrc.every((r) => r.src === '10.0.0.1'));
  assert.is((await s.search({ identity: 'hmi-1', limit: 1000 })).length, (await s.search({ limit: 1000 })).filter((r) => r.identity === 'hmi-1').length);
  const win = await s.search({ device: 'gw-a', from: T0 + 5000, to: T0 + 10_000, limit: 100 });
  assert.equal(win.map((r) => r.at).sort(), [5000, 6000, 7000, 8000, 9000].map((x) => T0 + x));
  assert.is((await s.search({ asset: "plc-1' OR '1'='1", limit: 10 })).length, 0);
});

test('denials: per bucket, site, asset and reason', async () => {
  const s = store();
  const b = await s.denials({ device: 'gw-a', from: T0, to: T0 + 40_000, bucketMs: 10_000 });
  assert.is(b.reduce((n, x) => n + x.count, 0), 10);
  assert.ok(b.every((x) => x.site === 'lab' && x.reason === 'function-not-allowed' && x.asset === 'plc-2' && (x.start - T0) % 10_000 === 0));
});

test('records appended later are found; chains verify, then not after a refused batch or an altered record', async () => {
  const s = store();
  assert.is((await s.search({ device: 'gw-b', limit: 1000 })).length, 20);
  await collect('gw-b', 20, logs['gw-b'].length - 1);
  assert.is((await s.search({ device: 'gw-b', limit: 1000 })).length, logs['gw-b'].length);
  const chains = await s.chains('lab');
  assert.equal(chains.map((c) => [c.device, c.verified, c.through]), [['gw-a', true, logs['gw-a'].length - 1], ['gw-b', true, logs['gw-b'].length - 1]]);
  assert.ok(chains.every((c) => c.checkpointSeq !== null && c.problem === null));

  mkdirSync(join(t.dir, 'store', 'lab', 'gw-b', 'refused'), { recursive: true });
  writeFileSync(join(t.dir, 'store', 'lab', 'gw-b', 'refused', 'x.batch'), 'x');
  const b = (await s.chains('lab')).find((c) => c.device === 'gw-b')!;
  assert.is(b.verified, false);
  assert.match(b.problem!, /1 refused batch/);

  const dir = join(t.dir, 'store', 'lab', 'gw-a');
  const seg = join(dir, readdirSync(dir).find((n) => n.endsWith('.seg'))!);
  const bytes = readFileSync(seg);
  bytes[40] ^= 0xff;
  writeFileSync(seg, bytes);
  const a = (await s.chains('lab')).find((c) => c.device === 'gw-a')!; // the same store: its last verdict is not reused
  assert.is(a.verified, false);
  assert.ok(a.problem);
});

test("gateways: the last status on the topic wins, even a last will written before the statuses it replaces", async () => {
  const book = new StatusBook();
  const s = new FileReadStore({ dir: join(t.dir, 'store'), sites: ['lab'], statuses: book });
  const doc = (online: boolean, lastSeen: number) => ({ schema: 1, device: 'gw-a', site: 'lab', online, policyVersion: 1, policyHash: null, policyExpiresAt: null, applied: {}, lastError: null, uptimeSeconds: 1, alarms: [], runtimeVersion: 'x', lastSeen });
  book.set(doc(true, T0 + 60_000));
  book.set(doc(false, T0)); // the will, made at connect time
  assert.equal((await s.gateways('lab')).map((g) => g.online), [false]);
  book.delete('lab', 'gw-a');
  assert.equal(await s.gateways(), []);
});

test.run();
