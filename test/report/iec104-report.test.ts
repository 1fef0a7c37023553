// The compliance report's IEC 104 sections, from a real run: the IEC 104 proxy between the lab
// master and RTU records into a real audit log; the report then lists each IEC 104 path's types,
// common addresses and IOA ranges, the ASDUs per type (allowed ASDUs counted as requests, not
// connections), and every command and set-point with who sent it and what became of it; `audit
// show` names an IEC 104 ASDU.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AuditLog } from '../../runtime/audit/log';
import { buildComplianceReport } from '../../runtime/report/build';
import { renderMarkdown } from '../../runtime/report/render-md';
import { renderHtml } from '../../runtime/report/render-html';
import { iec104HistoryOf } from '../../runtime/report/sections/iec104';
import { parsePolicy } from '../../policy/parse';
import { compile } from '../../policy/compile';
import { IndexDecider } from '../../policy/decider';
import { createIec104Proxy, TypeId } from '../../drivers/iec104';
import { startIec104Rtu } from '../../runtime/lab/iec104-rtu';
import { connectIec104Master } from '../../runtime/lab/iec104-master';
import { makeKey, tempDir } from '../audit/helpers';
import { recordRow } from '../../protocol/audit/query';
import type { AuditRecord } from '../../protocol/audit/record';

const POLICY = 'test/fixtures/policy/iec104-substation.yaml';
const SCADA = '127.10.0.2', HMI = '127.10.0.5';
const t = tempDir('zg-iec104-report-');
const auditDir = join(t.dir, 'audit');

test.before(async () => {
  const key = makeKey();
  const log = await AuditLog.open({ dir: auditDir, device: 'gw-01', key, checkpointEvery: 50, flushDelayMs: 1, flood: false, now: Date.now });
  const rtu = await startIec104Rtu({ host: '127.0.0.1', port: 0, tickMs: 0 });
  const proxy = createIec104Proxy({
    listen: { host: '127.0.0.1', port: 0 }, upstream: { host: '127.0.0.1', port: rtu.address().port }, asset: 'rtu-104', servicePort: 2404,
    decider: new IndexDecider(compile(parsePolicy(readFileSync(POLICY, 'utf8'), { file: POLICY }), { version: '3' })),
    audit: { record: (e) => log.record(e) }, now: Date.now, k: 24, w: 16, timeouts: { t1Ms: 30_000, t3Ms: 60_000 },
  });
  await proxy.start(new AbortController().signal);
  const scada = await connectIec104Master({ host: '127.0.0.1', port: proxy.address().port, localAddress: SCADA });
  const hmi = await connectIec104Master({ host: '127.0.0.1', port: proxy.address().port, localAddress: HMI });
  await scada.interrogate();
  await scada.selectExecute({ ioa: 1003, value: 1 });
  await hmi.interrogate();
  await hmi.command({ type: TypeId.C_SC_NA_1, ioa: 1003, value: 0 });
  scada.close(); hmi.close();
  await proxy.stop();
  await rtu.close();
  await log.close();
  writeFileSync(join(auditDir, 'pinned-key.pub'), key.publicRaw.toString('hex'));
});
test.after(() => t.cleanup());

test('inventory: each IEC 104 path with its types, common addresses and IOA ranges', async () => {
  const r = await buildComplianceReport({ policyFile: POLICY, auditDir });
  assert.is(r.inventory.counts.iec104Paths, 3);
  assert.match(renderMarkdown(r), '3 allowed paths (0 Modbus, 3 IEC 104, 0 TCP)');
  const scada = r.inventory.paths.find((p) => p.conduit === 'scada-switches')!;
  assert.equal(scada.operations, {
    functions: ['C_SC_NA_1 (45)', 'C_DC_NA_1 (46)', 'C_DC_TA_1 (59)', 'C_IC_NA_1 (100)', 'C_CI_NA_1 (101)', 'C_CS_NA_1 (103)', 'C_TS_TA_1 (107)', 'select before execute'],
    units: 'CA 1', addresses: '100-107, 200-203, 1000-1007',
  });
  const eng = r.inventory.paths.find((p) => p.conduit === 'eng-sets-points')!;
  assert.ok(eng.operations!.functions.includes('set-points 0..100'));
});

test('history: IEC 104 ASDUs per type; every command with source, identity, CA, IOA, values, S/E, decision', async () => {
  const r = await buildComplianceReport({ policyFile: POLICY, auditDir });
  const h = r.history!;
  assert.ok(h.verify!.ok, h.verify!.error ?? '');
  assert.is(h.decisions.allow, 4, 'two interrogations, a select and an execute are requests');
  assert.is(h.allowedConnections, 2);
  assert.equal(iec104HistoryOf(h).asdus!.perType, [{ type: 'C_SC_NA_1', allow: 2, deny: 1 }, { type: 'C_IC_NA_1', allow: 2, deny: 0 }]);
  assert.equal(iec104HistoryOf(h).asdus!.operations.map((e) => [e.source, e.identity, e.type, e.cause, e.ca, e.ioa, e.values, e.se, e.decision, e.detail]), [
    [SCADA, 'scada-1', 'C_SC_NA_1', '6', 1, '1003', '1', 'select', 'allow', 'scada-switches'],
    [SCADA, 'scada-1', 'C_SC_NA_1', '6', 1, '1003', '1', 'execute', 'allow', 'scada-switches'],
    [HMI, 'hmi-1', 'C_SC_NA_1', '6', 1, '1003', '0', 'execute', 'deny', 'function-not-allowed'],
  ]);
  const md = renderMarkdown(r);
  assert.match(md, '### IEC 104 ASDUs per type');
  assert.match(md, /\| 127\.10\.0\.5 \| hmi-1 \| C_SC_NA_1 \| 6 \| 1 \| 1003 \| 0 \| execute \| deny \| function-not-allowed \|/);
  const html = renderHtml(r);
  assert.match(html, 'IEC 104 commands, set-points, resets, parameters and file operations');
  assert.match(html, '<td>C_SC_NA_1</td>');
});

test('IEC 104 links: each listener start with the k, w and t1/t2/t3 it kept (from its audit record)', async () => {
  const r = await buildComplianceReport({ policyFile: POLICY, auditDir });
  const links = iec104HistoryOf(r.history!).links!;
  assert.equal(links.map((l) => [l.asset, l.port, l.k, l.w, l.t1Ms, l.t2Ms, l.t3Ms]), [['rtu-104', 2404, 24, 16, 30_000, 10_000, 60_000]]);
  assert.match(links[0].listener, /^127\.0\.0\.1:\d+$/);
  assert.match(renderMarkdown(r), /### IEC 104 links\n\n\| Started \| Seq \| Listener \| Asset \| Service port \| Link \(k, w, t1, t2, t3\) \|\n[^\n]+\n\| \S+ \| \d+ \| 127\.0\.0\.1:\d+ \| rtu-104 \| 2404 \| k 24, w 16, t1 30 s, t2 10 s, t3 60 s \|/);
  assert.match(renderHtml(r), /<h3>IEC 104 links<\/h3>.*<td>k 24, w 16, t1 30 s, t2 10 s, t3 60 s<\/td>/s);
});

test('audit show names an IEC 104 ASDU: type, cause, CA, IOAs, values, select', () => {
  const rec = { v: 1, seq: 3, prev: new Uint8Array(32), kind: 'decision', at: 0, source: 'iec104', src: HMI, srcPort: 4000, asset: 'rtu-104', port: 2404, protocol: 'iec104',
    decision: { decision: 'deny', conduit: null, reason: 'function-not-allowed', identity: 'hmi-1' },
    iec104: { type: 45, name: 'C_SC_NA_1', class: 'command', cause: 6, negative: false, test: false, originator: 0, ca: 1, sq: false, count: 1, ioa: [1003], values: [1], qualifiers: [0], select: [true] } } as AuditRecord;
  assert.is(recordRow(rec).operation, 'iec104 C_SC_NA_1 cause 6 ca 1 ioa 1003 = 1 select');
  assert.is(recordRow({ ...rec, iec104: { ...rec.iec104!, type: 100, name: 'C_IC_NA_1', ioa: [0], values: undefined, select: undefined } }).operation, 'iec104 C_IC_NA_1 cause 6 ca 1 ioa 0');
});

test.run();
