// The compliance report's DNP3 sections, from a real run: the DNP3 proxy between the lab master
// and outstation records into a real audit log; the report then lists each DNP3 path's functions,
// link addresses, objects, points, controls and values, the DNP3 requests per function, and every
// control and restart attempt with who sent it and what became of it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AuditLog } from '../../runtime/audit/log';
import { buildComplianceReport } from '../../runtime/report/build';
import { renderMarkdown } from '../../runtime/report/render-md';
import { renderHtml } from '../../runtime/report/render-html';
import { dnp3HistoryOf } from '../../runtime/report/sections/dnp3';
import { parsePolicy } from '../../policy/parse';
import { compile } from '../../policy/compile';
import { IndexDecider } from '../../policy/decider';
import { createDnp3Proxy, FC } from '../../drivers/dnp3';
import { startOutstation } from '../../runtime/lab/dnp3-outstation';
import { connectMaster } from '../../runtime/lab/dnp3-master';
import { makeKey, tempDir } from '../audit/helpers';
import { recordRow } from '../../protocol/audit/query';
import type { AuditRecord } from '../../protocol/audit/record';

const POLICY = 'test/fixtures/policy/dnp3-substation.yaml';
const SCADA = '127.10.0.2', HMI = '127.10.0.5';
const t = tempDir('zg-dnp3-report-');
const auditDir = join(t.dir, 'audit');

test.before(async () => {
  const key = makeKey();
  const log = await AuditLog.open({ dir: auditDir, device: 'gw-01', key, checkpointEvery: 50, flushDelayMs: 1, flood: false, now: Date.now });
  const rtu = await startOutstation({ host: '127.0.0.1', port: 0, tickMs: 0 });
  const proxy = createDnp3Proxy({
    listen: { host: '127.0.0.1', port: 0 }, upstream: { host: '127.0.0.1', port: rtu.address().port }, asset: 'rtu-7', servicePort: 20000,
    decider: new IndexDecider(compile(parsePolicy(readFileSync(POLICY, 'utf8'), { file: POLICY }), { version: '3' })),
    audit: { record: (e) => log.record(e) }, now: Date.now,
  });
  await proxy.start(new AbortController().signal);
  const scada = await connectMaster({ host: '127.0.0.1', port: proxy.address().port, localAddress: SCADA });
  const hmi = await connectMaster({ host: '127.0.0.1', port: proxy.address().port, localAddress: HMI });
  await scada.integrityPoll();
  await scada.operate({ index: 3, code: 0x81 });
  await hmi.integrityPoll();
  await hmi.operate({ index: 3, code: 0x81, sbo: false });
  await scada.request(FC.COLD_RESTART);
  scada.close(); hmi.close();
  await proxy.stop();
  await rtu.close();
  await log.close();
  writeFileSync(join(auditDir, 'pinned-key.pub'), key.publicRaw.toString('hex'));
});
test.after(() => t.cleanup());

test('inventory: each DNP3 path with its functions, link addresses, objects, points, controls, values', async () => {
  const r = await buildComplianceReport({ policyFile: POLICY, auditDir });
  assert.is(r.inventory.counts.dnp3Paths, 3);
  const scada = r.inventory.paths.find((p) => p.conduit === 'scada-polls-and-operates')!;
  assert.equal(scada.dnp3, {
    functions: ['read (1)', 'write (2)', 'select (3)', 'operate (4)', 'direct-operate (5)', 'enable-unsolicited (20)', 'disable-unsolicited (21)', 'delay-measure (23)'],
    links: 'masters 1 → outstations 10',
    objects: ['read: g1, g2, g3, g10, g20, g22, g30, g32, g40, g60', 'write: g50v1, g80v1', 'select: g12v1', 'operate: g12v1', 'direct-operate: g12v1', 'enable-unsolicited: g60', 'disable-unsolicited: g60'],
    points: 'g12 0-7', controls: 'pulse-on, latch-on, latch-off, close, trip', values: 'any', unsolicited: true,
  });
  assert.equal([scada.operations!.units, scada.operations!.addresses], ['masters 1 → outstations 10', 'g12 0-7']);
  const eng = r.inventory.paths.find((p) => p.conduit === 'eng-sets-outputs')!;
  assert.equal([eng.dnp3!.objects, eng.dnp3!.points, eng.dnp3!.values, eng.dnp3!.unsolicited], [['g41v1, g41v2, g41v3, g40, g50v1, g50v3, g60'], 'g41 0-3', '0..100', false]);
});

test('history: DNP3 requests per function; every control and restart with source, identity, points, values, decision', async () => {
  const r = await buildComplianceReport({ policyFile: POLICY, auditDir });
  const h = r.history!;
  assert.ok(h.verify!.ok, h.verify!.error ?? '');
  assert.is(h.decisions.allow, 4, 'two integrity polls, a SELECT and an OPERATE are requests');
  assert.is(h.allowedConnections, 2);
  assert.equal(dnp3HistoryOf(h)!.perFunction, [
    { function: 'read', allow: 2, deny: 0 }, { function: 'cold-restart', allow: 0, deny: 1 }, { function: 'direct-operate', allow: 0, deny: 1 },
    { function: 'operate', allow: 1, deny: 0 }, { function: 'select', allow: 1, deny: 0 },
  ]);
  assert.equal(dnp3HistoryOf(h)!.operations.map((e) => [e.source, e.identity, e.function, e.links, e.points, e.values, e.decision, e.detail]), [
    [SCADA, 'scada-1', 'select', '1 → 10', [3], [0x81], 'allow', 'scada-polls-and-operates'],
    [SCADA, 'scada-1', 'operate', '1 → 10', [3], [0x81], 'allow', 'scada-polls-and-operates'],
    [HMI, 'hmi-1', 'direct-operate', '1 → 10', [3], [0x81], 'deny', 'function-not-allowed'],
    [SCADA, 'scada-1', 'cold-restart', '1 → 10', [], [], 'deny', 'function-not-allowed'],
  ]);
  const md = renderMarkdown(r);
  assert.match(md, '3 DNP3, ');
  assert.match(md, '### DNP3 operations per path');
  assert.match(md, '| scada-polls-and-operates | read (1), write (2), select (3), operate (4), direct-operate (5), enable-unsolicited (20), disable-unsolicited (21), delay-measure (23) | masters 1 → outstations 10 |');
  assert.match(md, '### DNP3 requests per function');
  assert.match(md, /\| 127\.10\.0\.5 \| hmi-1 \| direct-operate \| 1 → 10 \| g12v1 q28 3 \| 3 \| 129 \| deny \| function-not-allowed \|/);
  const html = renderHtml(r);
  assert.match(html, 'DNP3 controls, restarts, application, configuration and file operations');
  assert.match(html, '<td>direct-operate</td>');
});

test('audit show names a DNP3 request: function, link addresses, objects, control values', () => {
  const rec = { v: 1, seq: 3, prev: new Uint8Array(32), kind: 'decision', at: 0, source: 'dnp3', src: HMI, srcPort: 4000, asset: 'rtu-7', port: 20000, protocol: 'dnp3',
    decision: { decision: 'deny', conduit: null, reason: 'function-not-allowed', identity: 'hmi-1' },
    dnp3: { function: 5, name: 'direct-operate', source: 1, destination: 10, seq: 0, objects: ['g12v1 q28 3'], points: [3], values: [129] } } as AuditRecord;
  assert.is(recordRow(rec).operation, 'dnp3 direct-operate 1→10 g12v1 q28 3 = 129');
  assert.is(recordRow({ ...rec, dnp3: { ...rec.dnp3!, function: 1, name: 'read', objects: ['g60v1 q06 all'], points: undefined, values: undefined } }).operation, 'dnp3 read 1→10 g60v1 q06 all');
});

test.run();
