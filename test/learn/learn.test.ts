/**
 * `zonegate policy learn`: from audit logs (with --from: narrowings and additions) and from a pcap
 * read through tshark (written here with text2pcap from Modbus/TCP request bytes); the output
 * passes `policy check` and `policy test`, and replaying the log under it breaks nothing.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { parsePolicy } from '../../policy/parse';
import { emitPolicyYaml, policyData } from '../../policy/learn/emit';
import { validatePolicy } from '../../policy/validate';
import { PolicyLearner } from '../../policy/learn/learn';
import { compile } from '../../policy/compile';
import { parseTsharkLine } from '../../cli/pcap-modbus';
import type { AuditEvent } from '../../drivers/types';
import { cli, FIX, writeAudit, monday, modbusEvent, tcpEvent, D } from './helpers';

const root = mkdtempSync(join(tmpdir(), 'zg-learn-'));
const p = (...x: string[]) => join(root, ...x);
test.after(() => rmSync(root, { recursive: true, force: true }));

const HMI = '127.70.0.5', ENG = '127.70.0.20', NEW = '127.70.0.77';

function traffic(): AuditEvent[] {
  const ev: AuditEvent[] = [];
  for (let i = 0; i < 5; i++) ev.push(modbusEvent(monday('09:00') + i, HMI, 'plc-1', D.allow('hmi-reads-plc', 'hmi-1'), 3, 10 + i, 2));
  ev.push(modbusEvent(monday('09:01'), HMI, 'plc-1', D.allow('hmi-reads-plc', 'hmi-1'), 3, 20, 5));
  ev.push(modbusEvent(monday('09:02'), ENG, 'plc-1', D.allow('eng-writes-plc', 'eng-ws'), 6, 1005, 1));
  ev.push(modbusEvent(monday('09:03'), NEW, 'plc-1', D.deny('no-conduit', null), 4, 100, 10));
  ev.push(modbusEvent(monday('09:04'), NEW, 'plc-1', D.deny('no-conduit', null), 16, 2000, 4));
  ev.push(modbusEvent(monday('09:05'), NEW, 'plc-1', D.deny('malformed', null), 3, 0, 0));
  ev.push(tcpEvent(monday('10:05'), NEW, 'historian', 443, D.deny('no-conduit', null)));
  return ev;
}

test('the emitter writes a document that parses back to itself (the example substation)', () => {
  const doc = parsePolicy(readFileSync('examples/substation.yaml', 'utf8'));
  const text = emitPolicyYaml(doc, { header: ['round trip'], conduit: new Map([['hmi-reads-feeders', ['a comment']]]) });
  const back = parsePolicy(text);
  const norm = (d: typeof doc) => ({ ...d, conduits: [...d.conduits].sort((a, b) => a.id.localeCompare(b.id)) });
  assert.equal(JSON.parse(JSON.stringify(norm(back))), JSON.parse(JSON.stringify(norm(doc))));
  assert.match(text, /  # a comment\n  - id: hmi-reads-feeders\n/);
});

test('the emitter keeps a DNP3 conduit\'s allow block and DNP3 test requests (a dropped block would allow every request)', () => {
  const doc = parsePolicy(readFileSync('test/fixtures/policy/dnp3-substation.yaml', 'utf8'));
  const back = parsePolicy(emitPolicyYaml(doc, { header: [], conduit: new Map() }));
  const norm = (d: typeof doc) => ({ ...d, conduits: [...d.conduits].sort((a, b) => a.id.localeCompare(b.id)) });
  assert.equal(JSON.parse(JSON.stringify(norm(back))), JSON.parse(JSON.stringify(norm(doc))));
  assert.ok(back.conduits.every((c) => c.dnp3 !== undefined));
});

test('the data a large learnt policy is validated from is the document the text reads back as', () => {
  const doc = parsePolicy(readFileSync('examples/substation.yaml', 'utf8'));
  const text = emitPolicyYaml(doc, { header: [], conduit: new Map() });
  const fromData = validatePolicy(JSON.parse(JSON.stringify(policyData(doc))));
  const norm = (d: typeof doc) => JSON.parse(JSON.stringify({ ...d, conduits: [...d.conduits].sort((a, b) => a.id.localeCompare(b.id)) }));
  assert.equal(norm(fromData), norm(parsePolicy(text)));
});

test('write bounds, coil states, sub-functions and writeRateLimit survive the emitter and --from narrowing', async () => {
  const file = `${FIX}/plant-bounds.yaml`;
  // With embedded tests that carry a sub-function, values and an FC 23 write range (the emitter
  // dropped those fields: the re-emitted test then checked another request).
  const doc = parsePolicy(`${readFileSync(file, 'utf8')}tests:
  - { request: { from: hmi-1, to: plc-1, modbus: { function: 8, unit: 1, subFunction: return-query-data } }, expect: allow }
  - { request: { from: hmi-1, to: plc-1, modbus: { function: 8, unit: 1, subFunction: 4 } }, expect: deny }
  - { request: { from: eng-1, to: plc-1, modbus: { function: 6, unit: 1, address: 1005, values: [9000] } }, expect: deny }
  - { request: { from: eng-1, to: plc-1, modbus: { function: 23, unit: 1, address: 1000, count: 2, writeAddress: 1005, writeCount: 1, values: [7] } }, expect: deny }
`);
  const norm = (d: typeof doc) => JSON.parse(JSON.stringify({ ...d, conduits: [...d.conduits].sort((a, b) => a.id.localeCompare(b.id)) }));
  assert.equal(norm(parsePolicy(emitPolicyYaml(doc, { header: [], conduit: new Map() }))), norm(doc));
  await writeAudit(p('audit-bounds'), [
    { ...modbusEvent(monday('09:00'), '10.10.0.20', 'plc-1', D.allow('eng-setpoints', 'eng-1'), 6, 1005, 1), modbus: { function: 6, unit: 1, address: 1005, count: 1, values: [300] } },
    modbusEvent(monday('09:01'), '10.10.0.5', 'plc-1', D.allow('hmi-diag', 'hmi-1'), 3, 0, 4),
    // Listed sub-functions stay when the traffic used them (unused ones are narrowed away, below).
    { ...modbusEvent(monday('09:02'), '10.10.0.5', 'plc-1', D.allow('hmi-diag', 'hmi-1'), 8, 0, 0), modbus: { function: 8, unit: 1, address: 0, count: 0, sub: 0 } },
    { ...modbusEvent(monday('09:03'), '10.10.0.5', 'plc-1', D.allow('hmi-diag', 'hmi-1'), 43, 0, 0), modbus: { function: 43, unit: 1, address: 0, count: 0, sub: 14 } },
  ]);
  const r = await cli('policy', 'learn', '--audit', p('audit-bounds'), '--from', file, '--out', p('bounds.yaml'));
  assert.is(r.code, 0, r.out + r.err);
  const learnt = parsePolicy(readFileSync(p('bounds.yaml'), 'utf8'));
  const eng = learnt.conduits.find((c) => c.id === 'eng-setpoints')!;
  assert.equal(eng.allow!.functions, [6]);
  assert.equal(eng.allow!.values, doc.conduits[1].allow!.values);
  assert.equal(eng.allow!.coils, doc.conduits[1].allow!.coils);
  assert.equal(eng.writeRateLimit, { perSecond: 5, burst: 2 });
  assert.equal(learnt.conduits.find((c) => c.id === 'hmi-diag')!.allow!.subFunctions, [{ fn: 8, sub: 0 }, { fn: 43, sub: 14 }]);
});

test('replay checks recorded write values against write bounds and coil states (the PDU rebuilt from the audited values)', async () => {
  const file = `${FIX}/plant-bounds.yaml`;
  const w = (at: string, fn: number, address: number, count: number, values: number[], conduit = 'eng-setpoints') =>
    ({ ...modbusEvent(monday(at), '10.10.0.20', 'plc-1', D.allow(conduit, 'eng-1'), fn, address, count), modbus: { function: fn, unit: 1, address, count, values } });
  await writeAudit(p('audit-values'), [
    w('09:00', 6, 1005, 1, [300]), w('09:01', 16, 1000, 3, [1, 2, 500]), w('09:02', 15, 0, 3, [0, 0, 0]),
    w('09:03', 5, 11, 1, [1]), w('09:04', 22, 1001, 1, [0x0000, 0x0012]),
  ]);
  const same = await cli('policy', 'replay', file, '--audit', p('audit-values'), '--json');
  assert.is(same.code, 0, same.out);
  assert.is(JSON.parse(same.out).unchanged, 5);
  // Tighter bounds: 0-200 on 1000-1019, coils 11-12 off only.
  writeFileSync(p('tighter.yaml'), readFileSync(file, 'utf8').replace('"1000-1019": "0-500"', '"1000-1019": "0-200"').replace('"11-12": on', '"11-12": off'));
  const r = await cli('policy', 'replay', p('tighter.yaml'), '--audit', p('audit-values'), '--json');
  assert.is(r.code, 1);
  const j = JSON.parse(r.out);
  assert.is(j.breaks, 3);
  assert.equal(j.flips[0].reasons, { 'value-out-of-range': 3 });
});

test('replay re-decides FC 08 / FC 43 by the audited sub-function: a sub-function conduit is no false break, a dropped one breaks', async () => {
  const file = `${FIX}/plant-bounds.yaml`;
  // As drivers/modbus-tcp audits them (requestAuditFields): hmi-diag allows 08/0000 and 43/14 only.
  const diag = (at: string, fn: number, sub: number) =>
    ({ ...modbusEvent(monday(at), '10.10.0.5', 'plc-1', D.allow('hmi-diag', 'hmi-1'), fn, 0, 0), modbus: { function: fn, unit: 1, address: 0, count: 0, sub } });
  await writeAudit(p('audit-subs'), [diag('09:00', 8, 0), diag('09:01', 8, 0), diag('09:02', 43, 14)]);
  const same = await cli('policy', 'replay', file, '--audit', p('audit-subs'), '--json');
  assert.is(same.code, 0, same.out);
  assert.equal([JSON.parse(same.out).unchanged, JSON.parse(same.out).breaks], [3, 0]);
  // Without diagnostics/return-query-data the two FC 08 requests break, named by their sub-function.
  writeFileSync(p('no-diag.yaml'), readFileSync(file, 'utf8').replace('diagnostics/return-query-data, ', ''));
  const r = await cli('policy', 'replay', p('no-diag.yaml'), '--audit', p('audit-subs'), '--json');
  assert.is(r.code, 1, r.out);
  const j = JSON.parse(r.out);
  assert.equal([j.breaks, j.unchanged], [2, 1]);
  assert.equal(j.flips[0].reasons, { 'function-not-allowed': 2 });
  assert.match(j.flips[0].examples[0].operation, /^diagnostics\/return-query-data unit 1/);
});

test('sub-functions are learnt one by one: a whole FC 08/43 narrows to the ones seen, a first policy allows only those and tests one it did not see', async () => {
  const file = `${FIX}/plant-bounds.yaml`;
  writeFileSync(p('whole-diag.yaml'), readFileSync(file, 'utf8').replace('diagnostics/return-query-data, read-device-identification', 'diagnostics, encapsulated-interface-transport'));
  const diag = (at: string, fn: number, sub: number) =>
    ({ ...modbusEvent(monday(at), '10.10.0.5', 'plc-1', D.allow('hmi-diag', 'hmi-1'), fn, 0, 0), modbus: { function: fn, unit: 1, address: 0, count: 0, sub } });
  await writeAudit(p('audit-learn-subs'), [
    diag('09:00', 8, 0), diag('09:01', 8, 0x0b), diag('09:02', 43, 14),
    modbusEvent(monday('09:03'), '10.10.0.5', 'plc-1', D.allow('hmi-diag', 'hmi-1'), 3, 0, 4),
  ]);
  const subs = [{ fn: 8, sub: 0 }, { fn: 8, sub: 0x0b }, { fn: 43, sub: 14 }];
  const narrowed = await cli('policy', 'learn', '--audit', p('audit-learn-subs'), '--from', p('whole-diag.yaml'), '--out', p('subs-from.yaml'));
  assert.is(narrowed.code, 0, narrowed.out + narrowed.err);
  const hmi = parsePolicy(readFileSync(p('subs-from.yaml'), 'utf8')).conduits.find((c) => c.id === 'hmi-diag')!;
  assert.equal([hmi.allow!.functions, hmi.allow!.subFunctions], [[3], subs], 'FC 08 and FC 43 narrowed to the sub-functions used');
  assert.is((await cli('policy', 'test', p('subs-from.yaml'))).code, 0);
  assert.is((await cli('policy', 'replay', p('subs-from.yaml'), '--audit', p('audit-learn-subs'))).code, 0, 'nothing recorded breaks');

  // A new source (no conduit yet): learning proposes a conduit of its own, with the same shape.
  const fresh = (at: string, fn: number, sub: number) =>
    ({ ...modbusEvent(monday(at), '10.10.0.99', 'plc-1', D.deny('no-conduit', null), fn, 0, 0), modbus: { function: fn, unit: 1, address: 0, count: 0, sub } });
  await writeAudit(p('audit-learn-subs-new'), [fresh('09:00', 8, 0), fresh('09:01', 8, 0x0b), fresh('09:02', 43, 14)]);
  const added = await cli('policy', 'learn', '--audit', p('audit-learn-subs-new'), '--from', p('whole-diag.yaml'), '--out', p('subs-added.yaml'));
  assert.is(added.code, 0, added.out + added.err);
  const doc = parsePolicy(readFileSync(p('subs-added.yaml'), 'utf8'));
  const learnt = doc.conduits.find((c) => c.id !== 'hmi-diag' && c.allow?.subFunctions)!;
  assert.ok(learnt, readFileSync(p('subs-added.yaml'), 'utf8'));
  assert.equal([learnt.allow!.functions, learnt.allow!.subFunctions], [[], subs]);
  const denyProbes = doc.tests.filter((t) => t.expect === 'deny' && t.request.modbus?.subFunction !== undefined).map((t) => [t.request.modbus!.function, t.request.modbus!.subFunction]);
  assert.equal(denyProbes, [[8, 1], [43, 13]], `one sub-function not seen, per function: ${readFileSync(p('subs-added.yaml'), 'utf8').split('tests:')[1]}`);
  assert.is((await cli('policy', 'test', p('subs-added.yaml'))).code, 0);
});

test('one source in two spellings learns as one identity, a source that is no address is skipped, base conduits are matched per port', () => {
  // The learner parses each recorded address once and keys its groups and base scopes by the
  // recorded strings and the port (no key string per record): the same answers as keying by text.
  const base = parsePolicy(readFileSync(`${FIX}/plant-v1.yaml`, 'utf8'));
  const l = new PolicyLearner({ site: 's', base, baseIndex: compile(base) });
  l.add(modbusEvent(monday('09:00'), `::ffff:${NEW}`, 'plc-1', D.deny('no-conduit', null), 3, 10, 2) as never);
  l.add(modbusEvent(monday('09:01'), NEW, 'plc-1', D.deny('no-conduit', null), 3, 20, 2) as never);
  l.add(modbusEvent(monday('09:02'), 'not-an-address', 'plc-1', D.deny('no-conduit', null), 3, 20, 2) as never);
  l.add(modbusEvent(monday('09:03'), HMI, 'plc-1', D.allow('hmi-reads-plc', 'hmi-1'), 3, 10, 2) as never);
  l.add({ ...modbusEvent(monday('09:04'), HMI, 'plc-1', D.deny('no-conduit', null), 3, 30, 2), port: 1502 } as never);
  l.add({ ...modbusEvent(monday('09:05'), HMI, 'plc-1', D.deny('no-conduit', null), 3, 40, 2), port: 70000 } as never);
  const r = l.result();
  assert.equal(r.doc.identities.filter((i) => i.id.startsWith('host-')).map((i) => [i.id, i.addresses]), [['host-127-70-0-77', [NEW]]]);
  assert.equal(r.stats.skipped, { 'no source or destination': 1 });
  const added = r.doc.conduits.filter((c) => !base.conduits.some((b) => b.id === c.id));
  assert.equal(added.map((c) => [c.id, c.allow?.addresses]), [
    ['hmi-1-to-plc-1-read', [{ start: 30, end: 31 }, { start: 40, end: 41 }]],
    ['host-127-70-0-77-to-plc-1-read', [{ start: 10, end: 11 }, { start: 20, end: 21 }]],
  ]);
  assert.equal(r.doc.conduits.find((c) => c.id === 'hmi-reads-plc')!.allow!.addresses, [{ start: 10, end: 11 }]);
  assert.equal([r.stats.learnt, r.stats.narrowed], [5, 1]);
});

test('scattered traffic: ranges stay exact, but a conduit gets at most 4 boundary deny tests (below, above, the first gap)', () => {
  const base = parsePolicy(readFileSync(`${FIX}/plant-v1.yaml`, 'utf8'));
  const l = new PolicyLearner({ site: 's', base });
  for (let i = 0; i < 200; i++) l.add(modbusEvent(monday('09:00') + i, NEW, 'plc-1', D.deny('no-conduit', null), 3, i * 10, 2) as never);
  const r = l.result();
  const c = r.doc.conduits.find((x) => x.id === 'host-127-70-0-77-to-plc-1-read')!;
  assert.is(c.allow!.addresses!.length, 200);
  const probes = [...r.tests()].filter((t) => t.expect === 'deny' && t.request.to === 'plc-1' && typeof t.request.from !== 'string' && t.request.from.ip === NEW);
  assert.equal(probes.map((t) => t.request.modbus!.address), [2, 9, 1992]);
});

test('from audit logs with --from: narrows what base conduits allowed, adds the rest, prints the diff', async () => {
  await writeAudit(p('audit'), traffic());
  const out = p('learnt.yaml');
  const r = await cli('policy', 'learn', '--audit', p('audit'), '--from', `${FIX}/plant-v1.yaml`, '--out', out, '--slack', '5');
  assert.is(r.code, 0, r.out + r.err);
  assert.match(r.out, /learnt 6 conduit\(s\) \(3 added, 2 narrowed, 1 kept\) and \d+ test\(s\) from 10 request\(s\)/);
  assert.match(r.out, /not learnt: 1 malformed then/);
  assert.match(r.out, /- \*\*narrows\*\* `hmi-reads-plc` addresses: - 0-9, 25-99\./);
  assert.match(r.out, /- \*\*widens\*\* `host-127-70-0-77-to-plc-1-write` added: modbus write-multiple-registers unit 1 at 2000-2003\./);
  const text = readFileSync(out, 'utf8');
  // Readable: grouped by asset, commented, ranges merged within the slack (10-15 and 20-24, gap 4).
  assert.match(text, /  # ── plc-1 ──\n/);
  assert.match(text, /  # 6 requests from 127\.70\.0\.5, first 2026-11-23T09:00:00Z, last 2026-11-23T09:01:00Z: narrowed to what was seen\n  - id: hmi-reads-plc\n/);
  assert.match(text, /allow: \{ functions: \[read-holding-registers\], units: \[1\], addresses: \["10-24"\] \}/);
  assert.match(text, /# 1 request from 127\.70\.0\.77, .* \(1 denied then\)\n  - id: host-127-70-0-77-to-historian-tcp\n/);
  assert.match(text, /\{ id: host-127-70-0-77, kind: device, addresses: \[127\.70\.0\.77\], description: "learnt from traffic: name it" \}/);
  // Boundary denies just outside each learnt range, and an allow from real traffic.
  assert.match(text, /modbus: \{ function: 3, unit: 1, address: 25, count: 1 \}, at: "2026-11-23T09:00:00\.000Z" \}, expect: deny \}/);
  assert.match(text, /modbus: \{ function: 16, unit: 1, address: 2000, count: 4 \}, at: "2026-11-23T09:03:00\.000Z" \}, expect: allow \}/);
  const check = await cli('policy', 'check', out);
  assert.is(check.code, 0, check.out + check.err);
  const tests = await cli('policy', 'test', out);
  assert.is(tests.code, 0, tests.out);
  // Replaying the same log under the learnt policy breaks nothing it allowed.
  const replay = await cli('policy', 'replay', out, '--audit', p('audit'), '--json');
  assert.is(replay.code, 0, replay.out);
  assert.is(JSON.parse(replay.out).breaks, 0);
  assert.is(JSON.parse(replay.out).opens, 3);
});

test('audit logs without --from: the assets have no address, exit 2 saying so; usage errors', async () => {
  const r = await cli('policy', 'learn', '--audit', p('audit'), '--site', 'plant-7', '--out', p('x.yaml'));
  assert.is(r.code, 2);
  assert.match(r.err, /name asset\(s\) historian, plc-1 whose addresses no policy gives: learn with --from POLICY/);
  assert.is((await cli('policy', 'learn', '--site', 's', '--out', p('x.yaml'))).code, 2);
  assert.is((await cli('policy', 'learn', '--audit', p('audit'), '--from', `${FIX}/plant-v1.yaml`)).code, 2);
  assert.is((await cli('policy', 'learn', '--audit', p('audit'), '--from', `${FIX}/plant-v1.yaml`, '--out', p('x.yaml'), '--slack', '-1')).code, 2);
});

test('tshark lines: requests by function layout; responses and exceptions are not requests', () => {
  const line = (fn: number, ...rest: string[]) => ['1796234629.5', '127.0.0.1', '', '127.0.0.2', '', '502', '1', String(fn), ...rest].join('\t');
  assert.equal(parseTsharkLine(line(3, '10', '2', '', '', '', '', ''))?.modbus, { function: 3, unit: 1, address: 10, count: 2 });
  assert.equal(parseTsharkLine(line(1, '0', '', '8', '', '', '', ''))?.modbus, { function: 1, unit: 1, address: 0, count: 8 });
  assert.equal(parseTsharkLine(line(6, '1005', '', '', '', '', '', ''))?.modbus, { function: 6, unit: 1, address: 1005, count: 1 });
  const rw = parseTsharkLine(line(23, '', '', '', '5', '2', '100', '3'));
  assert.equal(rw?.modbus, { function: 23, unit: 1, address: 5, count: 2 });
  assert.equal(rw?.detail, { writeAddress: 100, writeCount: 3 });
  assert.is(parseTsharkLine(line(0x83, '', '', '', '', '', '', '')), undefined);
  assert.is(parseTsharkLine('garbage'), undefined);
  assert.is(parseTsharkLine(line(3, '1', '2', '', '', '', '', ''))?.at, 1796234629500);
});

/** Modbus/TCP request ADUs (MBAP + PDU) as hex, one per packet. */
function adu(tid: number, unit: number, pdu: number[]): string {
  const b = [tid >> 8, tid & 0xff, 0, 0, 0, pdu.length + 1, unit, ...pdu];
  return `000000 ${b.map((x) => x.toString(16).padStart(2, '0')).join(' ')}`;
}
const u16 = (n: number) => [n >> 8, n & 0xff];

function text2pcap(file: string, src: string, dst: string, sport: number, packets: string[]): void {
  const hex = `${file}.txt`;
  writeFileSync(hex, packets.join('\n') + '\n');
  const r = spawnSync('text2pcap', ['-q', '-T', `${sport},502`, '-4', `${src},${dst}`, hex, file], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
}

const missing = ['tshark', 'text2pcap', 'mergecap'].filter((c) => spawnSync(c, ['-v'], { stdio: 'ignore' }).error !== undefined);

test('from a capture: assets and zones from addresses, ranges merged within the slack, passes check and test', async () => {
  if (missing.length) { console.log(`SKIP learn --pcap: ${missing.join(', ')} not installed (Debian tshark; build/setup-deps.sh installs it as root)`); return; }
  text2pcap(p('hmi.pcap'), HMI, '127.70.1.10', 40000, [
    adu(1, 1, [3, ...u16(10), ...u16(2)]), adu(2, 1, [3, ...u16(12), ...u16(4)]), adu(3, 1, [3, ...u16(20), ...u16(2)]), adu(4, 1, [1, ...u16(0), ...u16(8)]),
  ]);
  text2pcap(p('eng.pcap'), ENG, '127.70.1.10', 40001, [adu(1, 1, [6, ...u16(1005), ...u16(7)]), adu(2, 1, [16, ...u16(1006), ...u16(2), 4, 0, 1, 0, 2])]);
  text2pcap(p('other.pcap'), '127.71.5.9', '127.71.5.50', 40002, [adu(1, 7, [4, ...u16(0), ...u16(10)])]);
  // One capture of the three conversations (tshark takes seconds to start on a loaded machine).
  const merged = spawnSync('mergecap', ['-w', p('site.pcap'), p('hmi.pcap'), p('eng.pcap'), p('other.pcap')], { encoding: 'utf8' });
  assert.is(merged.status, 0, merged.stderr);
  const out = p('from-pcap.yaml');
  const r = await cli('policy', 'learn', '--pcap', p('site.pcap'), '--site', 'plant-7', '--out', out, '--slack', '5', '--json');
  assert.is(r.code, 0, r.out + r.err);
  const j = JSON.parse(r.out);
  assert.is(j.learnt, 7);
  assert.is(j.added, 3);
  const doc = parsePolicy(readFileSync(out, 'utf8'));
  assert.equal(doc.zones.map((z) => `${z.id} ${z.networks.join(',')}`).sort(), ['net-127-70-1-0 127.70.1.0/24', 'net-127-71-5-0 127.71.5.0/24']);
  assert.equal(doc.assets.map((a) => `${a.id} ${a.zone} ${a.services.map((s) => `${s.protocol}/${s.port}`).join(',')}`).sort(),
    ['asset-127-70-1-10 net-127-70-1-0 modbus/502', 'asset-127-71-5-50 net-127-71-5-0 modbus/502']);
  const byId = new Map(doc.conduits.map((c) => [c.id, c]));
  const hmiRead = byId.get('host-127-70-0-5-to-asset-127-70-1-10-read');
  assert.ok(hmiRead, [...byId.keys()].join(' '));
  assert.equal(hmiRead!.allow, { functions: [1, 3], units: [1], addresses: [{ start: 0, end: 21 }] });
  assert.equal(byId.get('host-127-70-0-20-to-asset-127-70-1-10-write')!.allow, { functions: [6, 16], units: [1], addresses: [{ start: 1005, end: 1007 }] });
  assert.equal(byId.get('host-127-71-5-9-to-asset-127-71-5-50-read')!.allow, { functions: [4], units: [7], addresses: [{ start: 0, end: 9 }] });
  assert.ok(doc.tests.some((t) => t.expect === 'deny' && t.request.modbus?.address === 22), 'a deny just past 0-21');
  assert.is((await cli('policy', 'check', out)).code, 0);
  const t = await cli('policy', 'test', out);
  assert.is(t.code, 0, t.out);
  const bad = await cli('policy', 'learn', '--pcap', p('nope.pcap'), '--site', 'plant-7', '--out', p('y.yaml'));
  assert.is(bad.code, 1);
  assert.match(bad.err, /tshark could not read .*nope\.pcap/);
});

test.run();
