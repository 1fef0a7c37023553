// `zonegate report` from examples/substation.yaml and a generated (real, signed) audit log: the
// Markdown and HTML contain the zone inventory, the paths with their operations, the vendor path
// and the counts of the period; a tampered log makes the report say so and exit 1. When
// /usr/bin/chromium exists the HTML is rendered to a PNG screenshot, whose path is printed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync, readdirSync, cpSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { AuditLog } from '../../runtime/audit/log';
import { readFrame } from '../../protocol/audit/frame';
import { runCli } from '../../cli/framework';
import { reportCommand } from '../../cli/report';
import { buildComplianceReport } from '../../runtime/report/build';
import { buildHistory } from '../../runtime/report/history';
import { renderMarkdown } from '../../runtime/report/render-md';
import type { AuditRecord } from '../../protocol/audit/record';
import type { AuditEvent } from '../../drivers/types';
import { parse as parseYaml } from 'yaml';
import { policyBundle, world } from '../bundle/fixtures';
import { makeKey, tempDir } from '../audit/helpers';

const t = tempDir('zg-report-');
const key = makeKey();
const auditDir = join(t.dir, 'audit');
const POLICY = 'examples/substation.yaml';
const T0 = Date.parse('2026-01-13T12:00:00Z');
const MIN = 60_000;

function decision(at: number, src: string, asset: string, d: { decision: 'allow' | 'deny'; conduit?: string; reason?: string; identity?: string; monitor?: boolean }, fc = 3): AuditEvent {
  return {
    kind: 'decision', at, source: 'modbus-tcp', src, srcPort: 40000, asset, port: 502, protocol: 'modbus', policyVersion: '7',
    decision: { decision: d.decision, conduit: d.conduit ?? null, reason: (d.reason ?? null) as never, identity: d.identity ?? null, ...(d.monitor ? { monitor: true } : {}) },
    modbus: { function: fc, unit: 1, address: 10, count: 1 },
  };
}

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, [reportCommand], { out: (s) => out.push(s), err: (s) => err.push(s) }, new AbortController().signal);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

test.before(async () => {
  const log = await AuditLog.open({ dir: auditDir, device: 'gw-01', key, checkpointEvery: 50, flushDelayMs: 1, flood: false, now: () => T0 - MIN });
  log.record({ kind: 'policy', at: T0, source: 'store', policyVersion: '7', message: 'activated', detail: { previous: '6', source: 'bundle', conduits: 11 } });
  for (let i = 0; i < 120; i++) log.record(decision(T0 + i * 3 * MIN, '10.10.0.5', `plc-feeder-${1 + (i % 4)}`, { decision: 'allow', conduit: 'hmi-reads-feeders', identity: 'hmi-1' }));
  for (let i = 0; i < 30; i++) log.record(decision(T0 + 60 * MIN + i * MIN, '10.20.3.4', 'plc-feeder-1', { decision: 'deny', reason: 'no-conduit' }, 1));
  for (let i = 0; i < 7; i++) log.record(decision(T0 + 200 * MIN + i * MIN, '10.10.0.20', 'plc-feeder-4', { decision: 'deny', reason: 'outside-schedule', identity: 'eng-ws-1' }, 16));
  for (let i = 0; i < 4; i++) log.record(decision(T0 + 240 * MIN + i * MIN, '10.10.0.5', 'plc-feeder-2', { decision: 'deny', reason: 'function-not-allowed', identity: 'hmi-1' }, 6));
  log.record(decision(T0 + 250 * MIN, '10.10.0.20', 'relay-3', { decision: 'allow', conduit: 'relay-3-commissioning', reason: 'address-out-of-range', identity: 'eng-ws-1', monitor: true }, 6));
  log.record({ kind: 'auth', at: T0 + 100 * MIN, source: 'console', message: 'login', detail: { user: 'alice', via: 'console', from: 'ttyS0', role: 'operator' } });
  log.record({ kind: 'auth', at: T0 + 101 * MIN, source: 'web', src: '10.10.0.5', message: 'login failed', detail: { user: 'mallory', via: 'web', from: '10.10.0.5', reason: 'invalid' } });
  log.record({ kind: 'auth', at: T0 + 300 * MIN, source: 'web', src: '10.20.1.9', message: 'login', detail: { user: 'acme-support', via: 'web', from: '10.20.1.9', role: 'vendor' } });
  for (let i = 0; i < 5; i++) log.record(decision(T0 + 301 * MIN + i * MIN, '10.20.1.9', 'rtu-1', { decision: 'allow', conduit: 'vendor-maintenance', identity: 'acme-support' }, 6));
  log.record({ kind: 'break-glass', at: T0 + 320 * MIN, source: 'console', message: 'BREAK-GLASS started', detail: { user: 'bob', reason: 'feeder 2 recloser stuck', minutes: 30 } });
  await log.close();
  // As `fleet audit collect` keeps it: the device key pinned in the folder.
  writeFileSync(join(auditDir, 'pinned-key.pub'), key.publicRaw.toString('hex'));
});
test.after(() => t.cleanup());

test('report model: inventory, paths, vendor path and the counts of the period', async () => {
  const r = await buildComplianceReport({ policyFile: POLICY, auditDir, now: () => T0 + 400 * MIN });
  const inv = r.inventory;
  assert.is(inv.site, 'substation-12');
  assert.equal(inv.zones.map((z) => `${z.id}:${z.securityLevel}`), ['enterprise:1', 'dmz:2', 'station:3', 'control:3', 'management:2']);
  assert.is(inv.counts.conduits, 11);
  const vendor = inv.vendorPaths.map((p) => p.conduit);
  assert.equal(vendor, ['vendor-maintenance']);
  const vm = inv.paths.find((p) => p.conduit === 'vendor-maintenance')!;
  assert.ok(vm.edgeAuth && vm.grant);
  assert.is(vm.schedule, 'weekdays 22:00-04:00 America/Chicago (overnight)');
  assert.is(vm.operations!.addresses, '0-1999');
  assert.ok(vm.operations!.functions.includes('write-single-register (6)'));
  const hmi = inv.paths.find((p) => p.conduit === 'hmi-reads-feeders')!;
  assert.equal(hmi.fromZones, ['station']);
  assert.equal(hmi.toZones, ['control']);
  assert.is(hmi.operations!.units, '1');
  assert.ok(inv.zoneConduits.some((c) => c.fromZone === 'enterprise' && c.toZone === 'dmz' && c.paths.includes('enterprise-to-historian')));
  assert.ok(inv.accessPoints.some((a) => a.interface === 'eth3' && a.zone === 'control' && a.inboundPaths.includes('vendor-maintenance')));
  const h = r.history!;
  assert.ok(h.verify!.ok, h.verify!.error ?? '');
  assert.is(h.decisions.allow, 126);
  assert.is(h.decisions.deny, 41);
  assert.is(h.decisions.monitor, 1);
  assert.equal(h.perReason, [{ reason: 'no-conduit', count: 30 }, { reason: 'outside-schedule', count: 7 }, { reason: 'function-not-allowed', count: 4 }]);
  assert.equal(h.topDeniedSources[0], { source: '10.20.3.4', identity: null, deny: 30, reasons: ['no-conduit'] });
  assert.equal(h.perConduit.find((c) => c.conduit === 'vendor-maintenance'), { conduit: 'vendor-maintenance', allow: 5, monitor: 0 });
  assert.is(h.logins.ok, 2);
  assert.is(h.logins.failed, 1);
  assert.is(h.activations.length, 1);
  assert.is(h.breakGlass.length, 1);
  assert.is(h.breakGlass[0].who, 'bob');
  const total = h.timeline.buckets.reduce((a, b) => a + b.allow + b.deny, 0);
  assert.is(total, 167, 'the chart buckets hold every decision');
  // A period bound.
  const part = await buildComplianceReport({ policyFile: POLICY, auditDir, from: T0 + 60 * MIN, to: T0 + 89 * MIN });
  assert.is(part.history!.decisions.deny, 30);
  assert.is(part.history!.decisions.allow, 10);
});

test("a source's identity comes from the first decision that names one", () => {
  const rec = (seq: number, decision: AuditRecord['decision']): AuditRecord =>
    ({ v: 1, seq, prev: new Uint8Array(32), kind: 'decision', at: 1_000 + seq, source: 'modbus-tcp', src: '127.10.0.5', asset: 'plc-1', decision } as AuditRecord);
  const h = buildHistory({ records: [
    rec(0, { decision: 'deny', conduit: null, reason: 'no-policy', identity: null }),
    rec(1, { decision: 'allow', conduit: 'hmi-reads', reason: null, identity: 'hmi-1' }),
    rec(2, { decision: 'deny', conduit: null, reason: 'function-not-allowed', identity: 'hmi-1' }),
  ] });
  assert.equal(h.perSource, [{ source: '127.10.0.5', identity: 'hmi-1', allow: 1, deny: 2 }]);
  assert.equal(h.topDeniedSources.map((s) => s.identity), ['hmi-1']);
});

test('allowed connections are counted apart from allowed requests; an unpinned log is not called verified (issue 13 item 11)', async () => {
  const rec = (seq: number, o: Partial<AuditRecord>): AuditRecord =>
    ({ v: 1, seq, prev: new Uint8Array(32), kind: 'decision', at: 1_000 + seq, source: 'modbus-tcp', src: '127.10.0.5', asset: 'plc-1', protocol: 'modbus', ...o } as AuditRecord);
  const allow = { decision: 'allow' as const, conduit: 'hmi-reads', reason: null, identity: 'hmi-1' };
  const h = buildHistory({ records: [
    rec(0, { decision: allow, message: 'connect' }),
    ...[1, 2, 3].map((i) => rec(i, { decision: allow, modbus: { function: 3, unit: 1, address: 0, count: 1 } })),
    rec(4, { decision: allow, protocol: 'tcp', source: 'tcp-conduit' }),
  ] });
  assert.is(h.decisions.allow, 3, 'requests only');
  assert.is(h.allowedConnections, 2);
  // The same log without a key beside it: the chain is intact, but nothing pinned its key.
  const bare = join(t.dir, 'bare-audit');
  cpSync(auditDir, bare, { recursive: true });
  unlinkSync(join(bare, 'pinned-key.pub'));
  const r = await buildComplianceReport({ policyFile: POLICY, auditDir: bare });
  assert.is(r.history!.verify!.pinned, false);
  const md = renderMarkdown(r);
  assert.not.match(md, 'Audit log **verified**');
  assert.match(md, 'Audit log chain intact but **not verified against a pinned device key**');
});

test('zonegate report --format md', async () => {
  const out = join(t.dir, 'report.md');
  const r = await cli('report', '--policy', POLICY, '--audit', auditDir, '--format', 'md', '--out', out);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, `wrote ${out} (md,`);
  assert.match(r.out, /5 zones, 11 paths, \d+ audit records \(126 allowed requests, 0 allowed connections, 41 denied\), log verified/);
  const md = readFileSync(out, 'utf8');
  assert.match(md, '# Zone and conduit compliance report: substation-12');
  assert.match(md, '## 1. Zones (IEC 62443-3-2 ZCR 3)');
  assert.match(md, '| control | 3 | 10.10.1.0/24 | eth3 | plc-feeder-1, plc-feeder-2');
  assert.match(md, '## 4. Electronic access points (NERC CIP-005 R1)');
  assert.match(md, '## 5. Vendor remote access paths (NERC CIP-003-11 / CIP-005 R2)');
  assert.match(md, '| vendor-maintenance | role vendor | plc-feeder-1, rtu-1 |');
  assert.match(md, 'login at the gateway edge; signed time-boxed grant; schedule weekdays 22:00-04:00 America/Chicago (overnight)');
  assert.match(md, '| hmi-reads-feeders | hmi-1 | plc-feeder-1, plc-feeder-2, plc-feeder-3, plc-feeder-4 | modbus asset services | read-coils (1), read-discrete-inputs (2), read-holding-registers (3), read-input-registers (4) | 1 | 0-99 |');
  assert.match(md, 'Audit log **verified** under the pinned device key');
  // Counts agree with their nouns ("1 signed checkpoints" was seen).
  assert.not.match(md, /\b1 signed checkpoints\b|\b1 records\b/);
  assert.match(md, /\d+ records, seq \d+\.\.\d+, \d+ signed checkpoints?, key/);
  assert.match(md, '**126 allowed requests** (1 in monitor mode), 0 allowed connections, **41 denied**');
  assert.match(md, '| no-conduit | 30 |');
  assert.match(md, '| 10.20.3.4 |  | 30 | no-conduit |');
  assert.match(md, '### Logins (2 successful, 1 failed)');
  assert.match(md, 'BREAK-GLASS started');
  assert.match(md, 'Quarantined (cut off from everything): hmi-old');
});

test('zonegate report --format html: self-contained, chart, content; PNG when chromium exists', async () => {
  const out = join(t.dir, 'report.html');
  const r = await cli('report', '--policy', POLICY, '--audit', auditDir, '--format', 'html', '--out', out, '--json');
  assert.is(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  assert.equal(j.history, { records: j.history.records, allowed: 126, allowedConnections: 0, denied: 41, verified: true, error: null });
  assert.is(j.vendorPaths, 1);
  const html = readFileSync(out, 'utf8');
  assert.match(html, /^<!doctype html>/);
  assert.match(html, '<style>');
  assert.not.match(html, '<script');
  assert.not.match(html, /(src|href)="https?:/, 'no external resources');
  assert.match(html, '<svg xmlns="http://www.w3.org/2000/svg"');
  assert.match(html, 'fill="#c8463d"><title>'); // denied bars
  assert.match(html, '<b>126</b><span>allowed requests</span>');
  assert.match(html, '<b>41</b><span>denied decisions</span>');
  assert.match(html, 'Audit log verified');
  assert.match(html, '<b>vendor-maintenance</b>');
  assert.match(html, 'NERC CIP-003-11 vendor electronic remote access');
  assert.match(html, 'IEC 62443-3-2 ZCR 3');
  assert.match(html, '<span class="sl sl3">SL 3</span>');
  assert.match(html, 'feeder 2 recloser stuck');
  const chromium = '/usr/bin/chromium';
  if (!existsSync(chromium)) { console.log(`SKIP screenshot: ${chromium} is not installed`); return; }
  const png = join(t.dir, 'report.png');
  const res = spawnSync(chromium, ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync',
    `--user-data-dir=${join(t.dir, 'chromium')}`, `--screenshot=${png}`, '--window-size=1280,2400', `file://${out}`], { encoding: 'utf8', timeout: 60_000 });
  assert.ok(existsSync(png), `chromium made no screenshot: ${res.stderr}`);
  assert.ok(statSync(png).size > 10_000);
  const keep = join('/tmp', `zonegate-report-${process.pid}.png`);
  cpSync(png, keep);
  console.log(`report screenshot: ${keep}`);
});

test('a tampered log: the report says it does not verify and exits 1', async () => {
  const bad = join(t.dir, 'bad-audit');
  cpSync(auditDir, bad, { recursive: true });
  const seg = join(bad, readdirSync(bad).find((n) => n.endsWith('.seg'))!);
  const bytes = readFileSync(seg);
  // Flip one payload byte of the 10th frame (CRC catches it).
  let off = 0;
  for (let i = 0; i < 10; i++) { const fr = readFrame(bytes, off); if (!fr.ok) throw new Error('bad fixture'); off = fr.next; }
  bytes[off + 20] ^= 0x01;
  writeFileSync(seg, bytes);
  const out = join(t.dir, 'bad.md');
  const r = await cli('report', '--policy', POLICY, '--audit', bad, '--out', out);
  assert.is(r.code, 1);
  assert.match(r.err, 'the audit log does not verify: crc at');
  assert.match(readFileSync(out, 'utf8'), 'Audit log **DOES NOT VERIFY**: crc');
});

test('--bundle --trust: the policy of a signed bundle (signatures checked, expiry not)', async () => {
  const w = world('report');
  const raw = parseYaml(readFileSync(POLICY, 'utf8')) as Record<string, unknown>;
  const bundle = join(t.dir, 'policy.zgb');
  const trust = join(t.dir, 'root.zgt');
  writeFileSync(bundle, policyBundle({ version: 12, keys: w.policyKeys.slice(0, 2), policy: raw }));
  writeFileSync(trust, w.root.bytes);
  const out = join(t.dir, 'bundle.md');
  let r = await cli('report', '--bundle', bundle, '--trust', trust, '--out', out);
  assert.is(r.code, 0, r.err);
  const md = readFileSync(out, 'utf8');
  assert.match(md, `policy bundle \`${bundle}\` version 12`);
  assert.match(md, '| vendor-maintenance | role vendor |');
  // Signed by one policy key only (threshold 2): refused.
  writeFileSync(bundle, policyBundle({ version: 13, keys: w.policyKeys.slice(0, 1), policy: raw }));
  r = await cli('report', '--bundle', bundle, '--trust', trust, '--out', out);
  assert.is(r.code, 1);
  assert.match(r.err, 'signature');
  r = await cli('report', '--bundle', bundle);
  assert.is(r.code, 2);
  assert.match(r.err, '--bundle needs --trust ROOT');
});

test('usage errors exit 2 without stack traces', async () => {
  let r = await cli('report');
  assert.is(r.code, 2);
  assert.match(r.err, '--policy FILE or --bundle FILE --trust ROOT is required');
  r = await cli('report', '--policy', POLICY, '--format', 'pdf');
  assert.is(r.code, 2);
  assert.match(r.err, '--format must be md or html');
  r = await cli('report', '--policy', POLICY, '--from', 'yesterday');
  assert.is(r.code, 2);
  assert.match(r.err, "--from: cannot read the time 'yesterday': use now, an ISO 8601 time");
  r = await cli('report', '--policy', join(t.dir, 'nope.yaml'));
  assert.is(r.code, 1);
  assert.match(r.err, 'no such file');
  assert.not.match(r.err, '    at ');
  r = await cli('report', '--help');
  assert.is(r.code, 0);
  assert.match(r.out, 'usage: zonegate report');
});

test.run();
