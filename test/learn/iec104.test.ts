/**
 * IEC 104 in `policy replay` and `policy learn`: decisions recorded as the IEC 104 proxy records
 * them (ASDUs encoded by the driver's encoder, parsed by its parser, audit fields by its
 * auditFields, written through the real audit log) are re-decided through the IEC 104 hot path,
 * and learnt into iec104 conduits (types, common addresses, IOAs, set-point bounds) that pass
 * `policy check` and `policy test`.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Asdu, parseAsdu, encodeAsdu, auditFields, Cause, TypeId, qoi, sco, setpointFloat, measuredFloat } from '../../drivers/iec104';
import type { AuditEvent } from '../../drivers/types';
import type { Decision } from '../../policy/types';
import { iec104OperationOf } from '../../policy/learn/iec104';
import { parsePolicy } from '../../policy/parse';
import { cli, writeAudit, monday, D } from './helpers';

const root = mkdtempSync(join(tmpdir(), 'zg-learn-iec104-'));
const p = (...x: string[]) => join(root, ...x);
test.after(() => rmSync(root, { recursive: true, force: true }));

const POLICY = 'test/fixtures/policy/iec104-substation.yaml';
const SCADA = '127.10.0.2', ENG = '127.10.0.7', NEW = '127.10.0.99';

/** A decision record as drivers/iec104/connection.ts writes it, from the ASDU's real bytes. */
function iec104Event(at: number, src: string, decision: Decision, bytes: Buffer): AuditEvent {
  const a = new Asdu();
  assert.ok(parseAsdu(bytes, a), a.message);
  return { kind: 'decision', at, source: 'iec104', decision, policyVersion: 'v1', src, srcPort: 40100, asset: 'rtu-104', port: 2404, protocol: 'iec104', iec104: auditFields(a) };
}
const gi = (): Buffer => encodeAsdu({ typeId: TypeId.C_IC_NA_1, cause: Cause.ACTIVATION, ca: 1, objects: [{ ioa: 0, element: qoi() }] });
const cmd = (ioa: number, v: 0 | 1, select: boolean): Buffer => encodeAsdu({ typeId: TypeId.C_SC_NA_1, cause: Cause.ACTIVATION, ca: 1, objects: [{ ioa, element: sco(v, { select }) }] });
const sp = (ioa: number, v: number): Buffer => encodeAsdu({ typeId: TypeId.C_SE_NC_1, cause: Cause.ACTIVATION, ca: 1, objects: [{ ioa, element: setpointFloat(v) }] });

function traffic(): AuditEvent[] {
  const scada = D.allow('scada-switches', 'scada-1'), eng = D.allow('eng-sets-points', 'eng-ws-1');
  return [
    iec104Event(monday('09:00'), SCADA, scada, gi()),
    iec104Event(monday('09:01'), SCADA, scada, cmd(1003, 1, true)),
    iec104Event(monday('09:01') + 10, SCADA, scada, cmd(1003, 1, false)),
    iec104Event(monday('09:02'), SCADA, scada, cmd(1005, 0, true)),
    iec104Event(monday('09:02') + 10, SCADA, scada, cmd(1005, 0, false)),
    iec104Event(monday('09:03'), ENG, eng, sp(2001, 42.5)),
    iec104Event(monday('09:04'), ENG, eng, sp(2002, 7)),
    // An execute without its select: the driver's answer, not the policy's (never replayed).
    iec104Event(monday('09:05'), SCADA, D.deny('select-required', 'scada-1'), cmd(1006, 1, false)),
    iec104Event(monday('09:06'), NEW, D.deny('no-conduit', null), gi()),
  ];
}

test('the record rebuilds the operation the decider saw; an ASDU with IOAs left out of the record is not replayed', () => {
  const e = iec104Event(0, SCADA, D.allow('x', null), cmd(1003, 1, true));
  const op = iec104OperationOf(e.iec104!)!;
  assert.equal([op.typeId, op.cause, op.ca, op.count, [...Array.from(op.ioa)], [...Array.from(op.value)], [...Array.from(op.select)]], [45, 6, 1, 1, [1003], [1], [1]]);
  const many = encodeAsdu({ typeId: TypeId.C_SC_NA_1, sq: true, cause: Cause.ACTIVATION, ca: 1, objects: Array.from({ length: 70 }, (_, i) => ({ ioa: 1000 + i, element: sco(1) })) });
  assert.is(iec104OperationOf(iec104Event(0, SCADA, D.allow('x', null), many).iec104!), undefined);
});

test('replay: IEC 104 decisions re-decided under the policy that made them: nothing flips; under a narrower one the breaks are named', async () => {
  const dir = p('a');
  await writeAudit(dir, traffic());
  const same = await cli('policy', 'replay', POLICY, '--audit', dir, '--json');
  assert.is(same.code, 0, same.out + same.err);
  const j = JSON.parse(same.out);
  assert.is(j.replayed, 8);
  assert.is(j.skipped['select-required then'], 1);
  assert.is(j.breaks, 0);
  const narrower = readFileSync(POLICY, 'utf8').replace('ioas: ["100-107", "200-203", "1000-1007"]', 'ioas: ["100-107", "200-203", "1000-1004"]').replace('values: { min: 0, max: 100 }', 'values: { min: 0, max: 20 }');
  writeFileSync(p('narrower.yaml'), narrower);
  const r = await cli('policy', 'replay', p('narrower.yaml'), '--audit', dir, '--json');
  assert.is(r.code, 1);
  const k = JSON.parse(r.out);
  assert.is(k.breaks, 3);
  const scada = k.flips.find((f: { conduit: string }) => f.conduit === 'scada-switches');
  assert.equal(scada.reasons, { 'address-out-of-range': 2 });
  const eng = k.flips.find((f: { conduit: string }) => f.conduit === 'eng-sets-points');
  assert.equal(eng.reasons, { 'value-out-of-range': 1 });
  assert.is(eng.examples[0].operation, 'C_SE_NC_1 cause 6 ca 1 ioa 2001 values 42.5');
});

test('learn from IEC 104 records: --from narrows iec104 conduits, a newcomer gets its own; the result passes check and test, replay breaks nothing', async () => {
  const dir = p('b');
  await writeAudit(dir, traffic());
  const out = p('learnt.yaml');
  const r = await cli('policy', 'learn', '--audit', dir, '--from', POLICY, '--out', out, '--json');
  assert.is(r.code, 0, r.out + r.err);
  const text = readFileSync(out, 'utf8');
  const doc = parsePolicy(text, { file: out });
  const byId = (id: string) => doc.conduits.find((c) => c.id === id)!;
  // scada-1 interrogated and switched breakers 1003, 1005 and 1006 (its execute without a select was still asked of the policy).
  assert.equal(byId('scada-switches').iec104, { types: [45, 100], commonAddresses: [1], ioas: [{ start: 1003, end: 1003 }, { start: 1005, end: 1006 }], selectBeforeExecute: true });
  assert.equal(byId('eng-sets-points').iec104, { types: [50], commonAddresses: [1], ioas: [{ start: 2001, end: 2002 }], causes: [5, 6], values: { min: 7, max: 42.5 } });
  const added = byId('host-127-10-0-99-to-rtu-104-iec104');
  assert.ok(added, text);
  assert.equal(added.iec104, { types: [100], commonAddresses: [1] });
  assert.match(text, /type: C_IC_NA_1/);
  assert.is((await cli('policy', 'check', out)).code, 0);
  const t = await cli('policy', 'test', out);
  assert.is(t.code, 0, t.out + t.err);
  const rep = JSON.parse((await cli('policy', 'replay', out, '--audit', dir, '--json')).out);
  assert.is(rep.breaks, 0, JSON.stringify(rep.flips));
});

test('records of station data (detail.direction upstream) are re-decided as station data and lend the learnt conduit their IOAs, not their type', async () => {
  const dir = p('c');
  // What the proxy writes when a monitor conduit relays a measured value of an IOA it would deny (here: 300, outside 200-203).
  const measured = encodeAsdu({ typeId: TypeId.M_ME_NC_1, cause: Cause.SPONTANEOUS, ca: 1, objects: [{ ioa: 300, element: measuredFloat(5) }] });
  const watched = { ...iec104Event(monday('09:00') + 5, SCADA, D.allow('scada-switches', 'scada-1', 'address-out-of-range'), measured), detail: { direction: 'upstream' } };
  const inRange = encodeAsdu({ typeId: TypeId.M_ME_NC_1, cause: Cause.SPONTANEOUS, ca: 1, objects: [{ ioa: 201, element: measuredFloat(5) }] });
  const relayed = { ...iec104Event(monday('09:00') + 6, SCADA, D.allow('scada-switches', 'scada-1'), inRange), detail: { direction: 'upstream' } };
  await writeAudit(dir, [...traffic(), watched, relayed]);
  const rep = JSON.parse((await cli('policy', 'replay', POLICY, '--audit', dir, '--json')).out);
  // Decided as a request, both would be malformed (a monitor type from the master); as station data only 300 is out of range.
  assert.equal(rep.flips.map((f: { reasons: unknown; examples: { operation: string }[] }) => [f.reasons, f.examples[0].operation]), [[{ 'address-out-of-range': 1 }, 'M_ME_NC_1 cause 3 ca 1 ioa 300']]);
  assert.is(rep.replayed, 10);
  // --from narrows: the station's IOA 201 stays (the master reads it), 300 lies outside what the conduit had.
  const out = p('learnt-station.yaml');
  const r = await cli('policy', 'learn', '--audit', dir, '--from', POLICY, '--out', out, '--json');
  assert.is(r.code, 0, r.out + r.err);
  const doc = parsePolicy(readFileSync(out, 'utf8'), { file: out });
  assert.equal(doc.conduits.find((c) => c.id === 'scada-switches')!.iec104, { types: [45, 100], commonAddresses: [1], ioas: [{ start: 201, end: 201 }, { start: 1003, end: 1003 }, { start: 1005, end: 1006 }], selectBeforeExecute: true });
});

test.run();
