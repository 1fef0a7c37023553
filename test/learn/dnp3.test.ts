/**
 * DNP3 in `policy learn` and `policy replay`: decisions recorded as the DNP3 driver records them
 * (fragments encoded by the lab encoder, parsed by the driver's parser, audit fields by the
 * driver's auditFields, written through the real audit log) are re-decided through the DNP3 hot
 * path, and learnt into dnp3 conduits (functions, link addresses, objects per function, points,
 * values, CROB operations, unsolicited) that pass `policy check` and `policy test`.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { AppFragment, parseFragment, encodeFragment, encodeFrames, crob, analogOutput, auditFields, CrobCode, type HeaderSpec } from '../../drivers/dnp3';
import { PcapWriter } from '../helpers/pcap';
import type { AuditEvent } from '../../drivers/types';
import type { Decision } from '../../policy/types';
import { parseHeaderText, dnp3OperationOf } from '../../policy/learn/dnp3';
import { parsePolicy } from '../../policy/parse';
import { cli, writeAudit, monday, D } from './helpers';

const root = mkdtempSync(join(tmpdir(), 'zg-learn-dnp3-'));
const p = (...x: string[]) => join(root, ...x);
test.after(() => rmSync(root, { recursive: true, force: true }));

const POLICY = 'test/fixtures/policy/dnp3-substation.yaml';
const SCADA = '127.10.0.2', ENG = '127.10.0.7', NEW = '127.10.0.99';

/** A decision record as drivers/dnp3/connection.ts writes it, from the request's real bytes. */
function dnp3Event(at: number, src: string, decision: Decision, fn: number, headers: HeaderSpec[], master = 1, outstation = 10): AuditEvent {
  const bytes = encodeFragment({ fn, seq: 1, headers });
  const f = new AppFragment(2048);
  const problem = parseFragment(bytes, 0, bytes.length, f);
  assert.is(problem, null);
  return { kind: 'decision', at, source: 'dnp3', decision, policyVersion: 'v1', src, srcPort: 40100, asset: 'rtu-7', port: 20000, protocol: 'dnp3', dnp3: auditFields(f, master, outstation) };
}

const class0 = (): HeaderSpec[] => [{ group: 60, variation: 1, qualifier: 0x06 }];
const trip = (i: number, code: number = CrobCode.TRIP_PULSE_ON): HeaderSpec[] => [{ group: 12, variation: 1, qualifier: 0x28, indices: [i], objects: [crob({ code })] }];
const ao = (i: number, v: number): HeaderSpec[] => [{ group: 41, variation: 2, qualifier: 0x28, indices: [i], objects: [analogOutput(2, v)] }];

function traffic(): AuditEvent[] {
  const polls = D.allow('scada-polls-and-operates', 'scada-1');
  const ev: AuditEvent[] = [];
  for (let i = 0; i < 3; i++) ev.push(dnp3Event(monday('09:00') + i, SCADA, polls, 1, class0()));
  ev.push(dnp3Event(monday('09:01'), SCADA, polls, 1, [{ group: 30, variation: 1, qualifier: 0x00, start: 0, stop: 9 }]));
  ev.push(dnp3Event(monday('09:02'), SCADA, polls, 5, trip(3)));
  ev.push(dnp3Event(monday('09:03'), SCADA, polls, 3, trip(5, CrobCode.LATCH_ON)));
  ev.push(dnp3Event(monday('09:03') + 10, SCADA, polls, 4, trip(5, CrobCode.LATCH_ON)));
  ev.push(dnp3Event(monday('09:04'), SCADA, polls, 130, []));
  ev.push(dnp3Event(monday('09:05'), ENG, D.allow('eng-sets-outputs', 'eng-ws-1'), 5, ao(1, 42)));
  ev.push(dnp3Event(monday('09:06'), ENG, D.allow('eng-sets-outputs', 'eng-ws-1'), 5, ao(2, 7)));
  // An operate without its select: the driver's answer, not the policy's (never replayed).
  ev.push(dnp3Event(monday('09:07'), SCADA, D.deny('select-required', 'scada-1'), 4, trip(6)));
  ev.push(dnp3Event(monday('09:08'), NEW, D.deny('no-conduit', null), 1, [{ group: 30, variation: 1, qualifier: 0x00, start: 0, stop: 3 }], 3, 10));
  return ev;
}

test('the record text of object headers and points rebuilds the operation the decider saw', () => {
  assert.equal(parseHeaderText('g12v1 q28 3-9 x2'), { group: 12, variation: 1, qualifier: 0x28, lo: 3, hi: 9, count: 2 });
  assert.equal(parseHeaderText('g60v1 q06 all'), { group: 60, variation: 1, qualifier: 6, lo: -1, hi: -1, count: 0 });
  assert.equal(parseHeaderText('g30v1 q00 0-9'), { group: 30, variation: 1, qualifier: 0, lo: 0, hi: 9, count: 10 });
  assert.is(parseHeaderText('g12v1 q28 9-3'), undefined);
  assert.is(parseHeaderText('garbage'), undefined);
  const e = dnp3Event(0, SCADA, D.allow('x', null), 5, [...trip(3), ...ao(1, 42)]);
  const r = dnp3OperationOf(e.dnp3!)!;
  assert.is(r.truncated, false);
  assert.equal(Array.from(r.op.ptOff), [0, 1, 2]);
  assert.equal(Array.from(r.op.ptIndex), [3, 1]);
  assert.equal(Array.from(r.op.ptValue), [CrobCode.TRIP_PULSE_ON, 42]);
  // 70 points: the record lists 64; the header without its points is checked by its range.
  const many = dnp3Event(0, SCADA, D.allow('x', null), 5, [{ group: 12, variation: 1, qualifier: 0x28, indices: Array.from({ length: 70 }, (_, i) => i), objects: Array.from({ length: 70 }, () => crob({ code: 1 })) }]);
  const t = dnp3OperationOf(many.dnp3!)!;
  assert.is(t.truncated, true);
  assert.equal(Array.from(t.op.ptOff), [0, 0]);
  assert.equal([t.op.lo[0], t.op.hi[0]], [0, 69]);
});

test('replay: DNP3 decisions re-decided under the policy that made them: nothing flips; under a narrower one the breaks are named', async () => {
  const dir = p('a');
  await writeAudit(dir, traffic());
  const same = await cli('policy', 'replay', POLICY, '--audit', dir, '--json');
  assert.is(same.code, 0, same.out + same.err);
  const j = JSON.parse(same.out);
  assert.is(j.replayed, 11);
  assert.is(j.skipped['select-required then'], 1);
  assert.is(j.breaks, 0);
  // Narrower: no trip, breakers 0-4 only, outputs up to 20.
  const narrower = readFileSync(POLICY, 'utf8')
    .replace('controls: [pulse-on, latch-on, latch-off, trip, close]', 'controls: [pulse-on, latch-on, latch-off, close]')
    .replace('points: { g12: ["0-7"] }', 'points: { g12: ["0-4"] }')
    .replace('values: { min: 0, max: 100 }', 'values: { min: 0, max: 20 }');
  writeFileSync(p('narrower.yaml'), narrower);
  const r = await cli('policy', 'replay', p('narrower.yaml'), '--audit', dir, '--json');
  assert.is(r.code, 1);
  const k = JSON.parse(r.out);
  assert.is(k.breaks, 4);
  const scada = k.flips.find((f: { conduit: string }) => f.conduit === 'scada-polls-and-operates');
  assert.equal(scada.reasons, { 'value-out-of-range': 1, 'address-out-of-range': 2 });
  const eng = k.flips.find((f: { conduit: string }) => f.conduit === 'eng-sets-outputs');
  assert.equal(eng.reasons, { 'value-out-of-range': 1 });
  assert.is(eng.examples[0].operation, 'direct-operate 1→10 g41v2 q28 1 points 1 values 42');
  const md = await cli('policy', 'replay', p('narrower.yaml'), '--audit', dir);
  assert.match(md.out, /direct-operate 1→10 g12v1 q28 3 points 3 values trip: was allow by scada-polls-and-operates, now deny \(value-out-of-range\)/);
});

test('learn from DNP3 records: conduits per source and asset that pass check and test, replay breaks nothing; --from narrows dnp3 conduits', async () => {
  const dir = p('b');
  await writeAudit(dir, traffic());
  const out = p('learnt.yaml');
  const r = await cli('policy', 'learn', '--audit', dir, '--from', POLICY, '--out', out, '--json');
  assert.is(r.code, 0, r.out + r.err);
  const s = JSON.parse(r.out);
  assert.is(s.narrowed, 3 - s.unchanged);
  const text = readFileSync(out, 'utf8');
  const doc = parsePolicy(text, { file: out });
  const polls = doc.conduits.find((c) => c.id === 'scada-polls-and-operates')!;
  // Narrowed to what scada-1 did: read, select, operate, direct-operate; breakers 3, 5 and 6 (its
  // operate without a select was still asked of the policy); trip and latch-on.
  assert.equal(polls.dnp3!.functions, [1, 3, 4, 5]);
  assert.equal(polls.dnp3!.controls, [0x03, 0x81]);
  assert.equal({ ...polls.dnp3!.points }, { g12: [{ start: 3, end: 3 }, { start: 5, end: 6 }], g30: [{ start: 0, end: 9 }] });
  assert.is(polls.dnp3!.unsolicited, true);
  const eng = doc.conduits.find((c) => c.id === 'eng-sets-outputs')!;
  assert.equal(eng.dnp3!.values, { min: 7, max: 42 });
  assert.equal({ ...eng.dnp3!.points }, { g41: [{ start: 1, end: 2 }] });
  // The newcomer at link address 3 becomes an identity and a read conduit.
  const added = doc.conduits.find((c) => c.id === 'host-127-10-0-99-to-rtu-7-dnp3-read')!;
  assert.ok(added, text);
  assert.equal(added.dnp3!.functions, [1]);
  assert.equal(added.dnp3!.masters, [3]);
  assert.equal({ ...(added.dnp3!.objects as Record<string, unknown>) }, { 1: [{ group: 30, variation: 1 }] });
  assert.equal({ ...added.dnp3!.points }, { g30: [{ start: 0, end: 3 }] });
  assert.match(text, /function: read, source: 3, destination: 10, objects: \[\{ group: 30, variation: 1, start: 0, stop: 3 \}\]/);
  assert.match(text, /expect: deny/);
  assert.is((await cli('policy', 'check', out)).code, 0);
  const t = await cli('policy', 'test', out);
  assert.is(t.code, 0, t.out + t.err);
  // Every recorded request the learnt policy allows, bar the newcomer's denied read (learnt, so opened).
  const rep = JSON.parse((await cli('policy', 'replay', out, '--audit', dir, '--json')).out);
  assert.is(rep.breaks, 0);
  assert.is(rep.opens, 1);
});

test('learn without --from: a dnp3 conduit per source, reads and controls apart', async () => {
  const dir = p('c');
  await writeAudit(dir, traffic());
  const assets = readFileSync(POLICY, 'utf8').replace(/conduits:[\s\S]*$/, 'conduits: []\n');
  writeFileSync(p('inventory.yaml'), assets);
  const out = p('learnt2.yaml');
  const r = await cli('policy', 'learn', '--audit', dir, '--from', p('inventory.yaml'), '--out', out);
  assert.is(r.code, 0, r.out + r.err);
  const doc = parsePolicy(readFileSync(out, 'utf8'));
  const ids = doc.conduits.map((c) => c.id).sort();
  assert.equal(ids, ['eng-ws-1-to-rtu-7-dnp3-control', 'host-127-10-0-99-to-rtu-7-dnp3-read', 'scada-1-to-rtu-7-dnp3-control', 'scada-1-to-rtu-7-dnp3-read']);
  const read = doc.conduits.find((c) => c.id === 'scada-1-to-rtu-7-dnp3-read')!;
  assert.equal(read.dnp3!.functions, [1]);
  assert.is(read.dnp3!.unsolicited, true);
  assert.equal({ ...(read.dnp3!.objects as Record<string, unknown>) }, { 1: [{ group: 30, variation: 1 }, { group: 60, variation: 1 }] });
  // g60 was read as `all`: its indices are not restricted; g30 was read by range.
  assert.equal({ ...read.dnp3!.points }, { g30: [{ start: 0, end: 9 }] });
  assert.is((await cli('policy', 'test', out)).code, 0);
  const rep = JSON.parse((await cli('policy', 'replay', out, '--audit', dir, '--json')).out);
  assert.is(rep.breaks, 0);
});

const HAVE_TSHARK = spawnSync('tshark', ['-v'], { encoding: 'utf8' }).status === 0;

test('learn from a capture (tshark follows TCP; the driver framing and parser read DNP3): a request split over two segments, responses ignored', async () => {
  if (!HAVE_TSHARK) { console.log('  skipped: tshark is not installed (build/setup-deps.sh installs it)'); return; }
  const w = new PcapWriter({ client: { ip: '127.10.0.2', port: 40001 }, server: { ip: '127.10.1.30', port: 20000 } });
  const req = (fn: number, headers: HeaderSpec[]) => encodeFrames({ fragment: encodeFragment({ fn, seq: 1, headers }), src: 1, dest: 10, fromMaster: true });
  w.add('c', req(1, class0()));
  w.add('s', encodeFrames({ fragment: encodeFragment({ fn: 129, seq: 1, iin: 0, headers: [] }), src: 10, dest: 1, fromMaster: false }));
  const op = req(5, trip(3));
  w.add('c', op.subarray(0, 7));
  w.add('c', op.subarray(7));
  w.add('c', req(5, trip(4, CrobCode.LATCH_ON)));
  const pcap = p('grid.pcap');
  w.write(pcap);
  const out = p('from-pcap.yaml');
  const r = await cli('policy', 'learn', '--pcap', pcap, '--site', 'grid', '--out', out, '--json');
  assert.is(r.code, 0, r.out + r.err);
  assert.is(JSON.parse(r.out).learnt, 3);
  const doc = parsePolicy(readFileSync(out, 'utf8'));
  assert.equal(doc.assets.map((a) => [a.id, a.addresses, a.services]), [['asset-127-10-1-30', ['127.10.1.30'], [{ protocol: 'dnp3', port: 20000 }]]]);
  const control = doc.conduits.find((c) => c.id === 'host-127-10-0-2-to-asset-127-10-1-30-dnp3-control')!;
  assert.ok(control, readFileSync(out, 'utf8'));
  assert.equal(control.dnp3!.functions, [5]);
  assert.equal(control.dnp3!.controls, [CrobCode.LATCH_ON, CrobCode.TRIP_PULSE_ON]);
  assert.equal({ ...control.dnp3!.points }, { g12: [{ start: 3, end: 4 }] });
  assert.ok(doc.conduits.find((c) => c.id === 'host-127-10-0-2-to-asset-127-10-1-30-dnp3-read'));
  const t = await cli('policy', 'test', out);
  assert.is(t.code, 0, t.out + t.err);
});

test.run();
