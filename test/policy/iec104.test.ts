// IEC 104 in the policy: validation of `protocol: iec104` conduits (every field, errors with
// paths and file:line:col), decisions by type class, common address, cause, IOA, set-point value
// and select before execute, monitor mode, the embedded tests and `explain` of an IEC 104 ASDU.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { parsePolicy } from '../../policy/parse';
import { compile } from '../../policy/compile';
import { decide } from '../../policy/decide';
import { explain } from '../../policy/explain';
import { IndexDecider } from '../../policy/decider';
import { runPolicyTests } from '../../policy/bundle/run-policy-tests';
import { parseRequest } from '../../policy/request';
import { iec104Operation } from '../../policy/iec104-request';
import type { DecisionRequest } from '../../policy/types';
import type { ZonegateError } from '../../policy/errors';

const FILE = 'test/fixtures/policy/iec104-substation.yaml';
const text = readFileSync(FILE, 'utf8');
const doc = parsePolicy(text, { file: FILE });
const index = compile(doc, { version: '1' });

const req = (raw: unknown): DecisionRequest => {
  const r = parseRequest(raw);
  assert.equal(r.issues, []);
  return r.request!;
};
const d = (from: string, iec104: unknown) => decide(index, req({ from, to: 'rtu-104', iec104 }), 0);

test('validation: the fixture is valid and normalised (classes resolved to type ids)', () => {
  const c = doc.conduits[0];
  assert.is(c.protocol, 'iec104');
  assert.is(c.allow, undefined);
  assert.equal(c.iec104!.types, [45, 46, 59, 100, 101, 103, 107]);
  assert.equal(c.iec104!.commonAddresses, [1]);
  assert.equal(c.iec104!.ioas, [{ start: 100, end: 107 }, { start: 200, end: 203 }, { start: 1000, end: 1007 }]);
  assert.is(c.iec104!.selectBeforeExecute, true);
  const e = doc.conduits[1].iec104!;
  assert.equal(e.types, [48, 49, 50, 61, 62, 63, 102]);
  assert.equal(e.causes, [5, 6]);
  assert.equal(e.values, { min: 0, max: 100 });
  assert.equal(doc.conduits[2].iec104, { types: [100] });
});

test('validation: every mistake named with its path, line and column', () => {
  const bad = text.replace('allow: { types: [interrogation] }',
    'allow: { types: [interogation, M_SP_NA_1, 99], commonAddresses: [70000], ioas: ["5-2", "16777216"], causes: [activate, 64], values: { min: 5, max: 1 }, selectBeforeExecute: yes, bogus: 1 }');
  try {
    parsePolicy(bad, { file: FILE });
    assert.unreachable('should throw');
  } catch (e) {
    const err = e as ZonegateError;
    assert.is(err.code, 'ERR_POLICY_INVALID');
    const got = err.issues!.map((i) => `${i.path}: ${i.message}`);
    const want = [
      /conduits\[2\]\.allow\.bogus: unknown field 'bogus'/,
      /conduits\[2\]\.allow\.types\[0\]: unknown IEC 104 type 'interogation' \(did you mean 'interrogation'\?\)/,
      /conduits\[2\]\.allow\.types\[1\]: 'M_SP_NA_1' is monitor direction/,
      /conduits\[2\]\.allow\.types\[2\]: unknown IEC 104 type number 99/,
      /conduits\[2\]\.allow\.commonAddresses\[0\]: a common address must be 0\.\.65535, got 70000/,
      /conduits\[2\]\.allow\.ioas\[0\]: address range "5-2" is empty/,
      /conduits\[2\]\.allow\.ioas\[1\]: address range "16777216" goes past 16777215/,
      /conduits\[2\]\.allow\.causes\[0\]: unknown cause of transmission 'activate' \(request, activation, deactivation, file or 1\.\.63\)/,
      /conduits\[2\]\.allow\.causes\[1\]: unknown cause of transmission number 64/,
      /conduits\[2\]\.allow\.values: min 5 is above max 1/,
      /conduits\[2\]\.allow\.selectBeforeExecute: must be true or false/,
    ];
    for (const re of want) assert.ok(got.some((g) => re.test(g)), `missing ${re}: ${got.join('\n')}`);
    assert.is(got.length, want.length, got.join('\n'));
    const located = err.issues!.find((i) => i.path === 'conduits[2].allow.bogus')!;
    assert.is(located.file, FILE);
    assert.is(located.line, text.split('\n').findIndex((l) => l.includes('allow: { types: [interrogation] }')) + 1);
    assert.ok(located.col! > 1);
  }
});

test('validation: types is required; protocol iec104 is offered by the asset', () => {
  const bad = text.replace('allow: { types: [interrogation] }', 'allow: { commonAddresses: [1] }').replace('protocol: iec104, port: 2404', 'protocol: dnp3, port: 20000');
  try {
    parsePolicy(bad, { file: FILE });
    assert.unreachable('should throw');
  } catch (e) {
    const got = (e as ZonegateError).issues!.map((i) => `${i.path}: ${i.message}`).join('\n');
    assert.match(got, /conduits\[2\]\.allow\.types: required field 'types' is missing/);
    assert.match(got, /conduits\[0\]\.to\.assets\[0\]: asset 'rtu-104' offers no iec104 service/);
  }
});

test('decisions: each check gives its reason', () => {
  const ok = (x: { decision: string; conduit: string | null }, conduit: string) => { assert.is(x.decision, 'allow', JSON.stringify(x)); assert.is(x.conduit, conduit); };
  ok(d('scada-1', { type: 'C_IC_NA_1' }), 'scada-switches');
  ok(d('scada-1', { type: 100, cause: 'deactivation' }), 'scada-switches');
  ok(d('scada-1', { type: 'C_SC_NA_1', ioas: [1000, 1007], values: [1, 0], select: true }), 'scada-switches');
  ok(d('scada-1', { type: 'C_SC_NA_1', ioa: 1000, value: 1, selected: true }), 'scada-switches');
  ok(d('scada-1', { type: 'C_SC_NA_1', ioa: 1000, value: 1, cause: 'deactivation' }), 'scada-switches');
  assert.is(d('scada-1', { type: 'C_SC_NA_1', ioa: 1000, value: 1 }).reason, 'select-required');
  assert.is(d('scada-1', { type: 'C_SC_NA_1', ioa: 1008, value: 1, select: true }).reason, 'address-out-of-range');
  assert.is(d('scada-1', { type: 'C_SC_NA_1', ioas: [1001, 1008], select: true }).reason, 'address-out-of-range', 'every object is checked');
  assert.is(d('scada-1', { type: 'C_SC_NA_1', ca: 2, ioa: 1000, select: true }).reason, 'unit-not-allowed');
  assert.is(d('scada-1', { type: 'C_SC_NA_1', cause: 'request', ioa: 1000, select: true }).reason, 'cause-not-allowed');
  assert.is(d('scada-1', { type: 'C_CS_NA_1', cause: 'deactivation' }).reason, 'cause-not-allowed', 'clock sync takes activation only');
  assert.is(d('scada-1', { type: 'C_RP_NA_1' }).reason, 'function-not-allowed');
  assert.is(d('scada-1', { type: 'C_SE_NC_1', ioa: 1000 }).reason, 'function-not-allowed');
  ok(d('eng-ws-1', { type: 'C_SE_NC_1', ioa: 2003, value: 99.5 }), 'eng-sets-points');
  ok(d('eng-ws-1', { type: 'C_RD_NA_1', ioa: 2000 }), 'eng-sets-points');
  assert.is(d('eng-ws-1', { type: 'C_SE_NB_1', ioas: [2000, 2001], values: [0, -1] }).reason, 'value-out-of-range');
  assert.is(d('eng-ws-1', { type: 'C_SE_NC_1', ioa: 2004, value: 1 }).reason, 'address-out-of-range');
  assert.is(d('eng-ws-1', { type: 'C_SE_NC_1', ioa: 2000, value: 1, cause: 'deactivation' }).reason, 'cause-not-allowed', 'causes lists activation and request only');
  ok(d('hmi-1', { type: 'C_IC_NA_1', ca: 7 }), 'hmi-interrogates');
  const noone = decide(index, req({ from: { ip: '127.10.0.99' }, to: 'rtu-104', iec104: { type: 100 } }), 0);
  assert.is(noone.reason, 'no-conduit');
});

test('decisions: monitor-direction and unknown types from the master are malformed', () => {
  const decider = new IndexDecider(index);
  const { scope } = decider.connect({ sourceIp: '127.10.0.2', asset: 'rtu-104', port: 2404, protocol: 'iec104' }, 0);
  assert.is(decider.iec104(scope, iec104Operation({ type: 1 }), 0).reason, 'malformed');
  assert.is(decider.iec104(scope, iec104Operation({ type: 99 }), 0).reason, 'malformed');
  assert.is(decider.iec104(scope, iec104Operation({ type: 100 }), 0).conduit, 'scada-switches');
});

test('decisions: the decider over an operation the driver fills, and monitor mode', () => {
  const decider = new IndexDecider(index);
  const { scope, decision } = decider.connect({ sourceIp: '127.10.0.5', asset: 'rtu-104', port: 2404, protocol: 'iec104' }, 0);
  assert.is(decision.decision, 'allow');
  // the driver's record shape: typed arrays longer than count, stale entries after it
  const op = { typeId: 45, cause: 6, ca: 1, count: 1, ioa: Uint32Array.of(1003, 99999), value: Float64Array.of(1, 5), select: Uint8Array.of(0, 1), selected: false };
  assert.is(decider.iec104(scope, op, 0).reason, 'function-not-allowed');
  const monitored = compile(parsePolicy(text.replace('    allow: { types: [interrogation] }', '    mode: monitor\n    allow: { types: [interrogation] }'), { file: FILE }));
  decider.setIndex(monitored);
  const m = decider.iec104(scope, op, 0);
  assert.equal({ ...m }, { decision: 'allow', conduit: 'hmi-interrogates', reason: 'function-not-allowed', identity: 'hmi-1', monitor: true });
});

/** The fixture with a vendor and a conduit that needs its login and a grant. */
const withVendor = (t: string): string => t
  .replace('  - { id: hmi-1, kind: device, zone: station, addresses: [127.10.0.5] }', '  - { id: hmi-1, kind: device, zone: station, addresses: [127.10.0.5] }\n  - { id: acme, kind: vendor, roles: [vendor] }')
  .replace('tests:', `  - id: vendor-sets-points
    from: { roles: [vendor] }
    to: { assets: [rtu-104] }
    protocol: iec104
    requires: { edgeAuth: true, grant: true }
    allow: { types: [setpoint], ioas: ["2000-2003"] }
tests:`);

/** A station ASDU as the driver hands it over: type, cause, CA and the IOAs of its objects. */
const fromStation = (typeId: number, ca: number, ioas: number[], cause = 3) =>
  ({ typeId, cause, ca, count: ioas.length, ioa: Uint32Array.from(ioas), value: new Float64Array(ioas.length), select: new Uint8Array(ioas.length), selected: false });

test('station direction: common address and IOA ranges of the scope\'s conduits, monitor mode names its conduit; unknown sources and no policy allow none', () => {
  const decider = new IndexDecider(index);
  const station = (scope: unknown, typeId: number, ca: number, ioas: number[]) => {
    const r = decider.iec104Station(scope as never, fromStation(typeId, ca, ioas), 0);
    return r.decision === 'allow' && r.monitor !== true ? 'allow' : `${r.monitor === true ? 'monitor' : 'deny'} ${r.reason}${r.conduit === null ? '' : ` ${r.conduit}`}`;
  };
  const scada = decider.connect({ sourceIp: '127.10.0.2', asset: 'rtu-104', port: 2404, protocol: 'iec104' }, 0).scope;
  assert.equal([1, 2, 0xffff].map((ca) => station(scada, 1, ca, [1000])), ['allow', 'deny unit-not-allowed', 'deny unit-not-allowed'], 'scada-switches: commonAddresses [1]');
  assert.is(station(scada, 1, 1, [1000, 1007]), 'allow', 'scada-switches: IOAs 1000-1007');
  assert.is(station(scada, 1, 1, [1000, 1008]), 'deny address-out-of-range', 'an IOA outside the conduit\'s ranges: the whole ASDU');
  assert.is(station(scada, 13, 1, [99]), 'deny address-out-of-range');
  assert.is(station(scada, 100, 1, [0]), 'allow', 'an interrogation\'s confirmation (IOA 0) is station-wide');
  assert.is(station(scada, 70, 1, [0]), 'allow', 'end of initialisation (IOA 0) is station-wide');
  const hmi = decider.connect({ sourceIp: '127.10.0.5', asset: 'rtu-104', port: 2404, protocol: 'iec104' }, 0).scope;
  assert.equal([1, 2].map((ca) => station(hmi, 1, ca, [5, 70000])), ['allow', 'allow'], 'hmi-interrogates: no commonAddresses or ioas, everything');
  const stranger = decider.connect({ sourceIp: '127.10.0.99', asset: 'rtu-104', port: 2404, protocol: 'iec104' }, 0).scope;
  assert.is(station(stranger, 1, 1, [1000]), 'deny no-conduit');
  const watched = text.replace('    allow:\n      types: [interrogation, counter-interrogation', '    mode: monitor\n    allow:\n      types: [interrogation, counter-interrogation');
  assert.not.equal(watched, text);
  decider.setIndex(compile(parsePolicy(watched, { file: FILE })));
  assert.equal([1, 2].map((ca) => station(scada, 1, ca, [1000])), ['allow', 'monitor unit-not-allowed scada-switches'], 'a monitor-mode conduit: relay, audit what it would deny, naming the conduit');
  assert.is(station(scada, 1, 1, [5]), 'monitor address-out-of-range scada-switches');
  decider.setIndex(null);
  assert.is(station(scada, 1, 1, [1000]), 'deny no-policy');
});

test('station direction: a conduit outside its schedule, or whose login or grant is missing, carries no station data', () => {
  const timed = withVendor(text.replace("  - id: hmi-interrogates\n", "  - id: hmi-interrogates\n    schedule: { days: [mon], from: '08:00', to: '17:00', tz: UTC }\n"));
  assert.not.equal(timed, text);
  const ti = compile(parsePolicy(timed, { file: FILE }));
  const decider = new IndexDecider(ti);
  const monday10 = Date.parse('2026-11-30T10:00:00Z'), monday20 = Date.parse('2026-11-30T20:00:00Z');
  const hmi = decider.connect({ sourceIp: '127.10.0.5', asset: 'rtu-104', port: 2404, protocol: 'iec104' }, monday10).scope;
  const m = fromStation(13, 1, [200]);
  assert.equal([decider.iec104Station(hmi, m, monday10).decision, decider.iec104Station(hmi, m, monday10).conduit], ['allow', 'hmi-interrogates']);
  assert.equal([decider.iec104Station(hmi, m, monday20).decision, decider.iec104Station(hmi, m, monday20).reason], ['deny', 'outside-schedule']);
  const vendor = (session: unknown) => {
    const r = decide(ti, req({ from: { ip: '127.10.0.66' }, to: 'rtu-104', iec104: { type: 'C_SE_NC_1', ioa: 2000, value: 5 }, session }), 0);
    return r;
  };
  assert.is(vendor({ identity: 'acme', edgeAuth: true, grant: ['vendor-sets-points'] }).decision, 'allow', 'the request side, for reference');
  const s = (session: unknown) => decider.connect({ sourceIp: '127.10.0.66', asset: 'rtu-104', port: 2404, protocol: 'iec104', session: session as never }, 0).scope;
  const point = fromStation(50, 1, [2001], 7);
  assert.is(decider.iec104Station(s({ identity: 'acme', edgeAuth: false }), point, 0).reason, 'edge-auth-required');
  assert.is(decider.iec104Station(s({ identity: 'acme', edgeAuth: true }), point, 0).reason, 'grant-required', 'the grant expired: its station data is denied like its requests');
  assert.equal({ ...decider.iec104Station(s({ identity: 'acme', edgeAuth: true, grant: ['vendor-sets-points'] }), point, 0) }, { decision: 'allow', conduit: 'vendor-sets-points', reason: null, identity: 'acme' });
});

test('edge authentication and grants: a vendor conduit opens only after login and with a grant', () => {
  const vendor = withVendor(text);
  const vi = compile(parsePolicy(vendor, { file: FILE }));
  const ask = (session: unknown) => decide(vi, req({ from: { ip: '127.10.0.66' }, to: 'rtu-104', iec104: { type: 'C_SE_NC_1', ioa: 2000, value: 5 }, session }), 0);
  assert.is(ask({ identity: 'acme', edgeAuth: false }).reason, 'edge-auth-required');
  assert.is(ask({ identity: 'acme', edgeAuth: true }).reason, 'grant-required');
  const ok = ask({ identity: 'acme', edgeAuth: true, grant: ['vendor-sets-points'] });
  assert.equal([ok.decision, ok.conduit, ok.identity], ['allow', 'vendor-sets-points', 'acme']);
});

test('embedded tests pass; a wrong expectation fails with its decision', () => {
  assert.equal(runPolicyTests(index, doc.tests, 0), []);
  const wrong = parsePolicy(text.replace('reason: value-out-of-range', 'reason: address-out-of-range'), { file: FILE });
  const failures = runPolicyTests(compile(wrong), wrong.tests, 0);
  assert.is(failures.length, 1);
});

test('explain: every iec104 conduit to the RTU with its verdict', () => {
  const e = explain(index, req({ from: 'scada-1', to: 'rtu-104', iec104: { type: 'C_SC_NA_1', ioa: 1009, select: true } }), 0);
  assert.is(e.decision.reason, 'address-out-of-range');
  assert.is(e.destination.protocol, 'iec104');
  assert.equal(e.conduits.map((c) => [c.conduit, c.result, c.reason ?? c.why]), [
    ['scada-switches', 'fail', 'address-out-of-range'],
    ['eng-sets-points', 'not-candidate', 'from'],
    ['hmi-interrogates', 'not-candidate', 'from'],
  ]);
});

test('requests: iec104 with dnp3, or bad fields, are refused with paths', () => {
  const r = parseRequest({ from: 'scada-1', to: 'rtu-104', dnp3: { function: 'read' }, iec104: { type: 'command', ioa: -1, ioas: [1], values: ['x'], cause: 99 } });
  const msgs = r.issues.map((i) => `${i.path}: ${i.message}`).join('\n');
  assert.match(msgs, /request\.iec104: a request with 'iec104' says protocol: iec104 and has no 'modbus' or 'dnp3'/);
  assert.match(msgs, /request\.iec104\.type: must be one IEC 104 type name \(C_SC_NA_1\) or id, got 'command'/);
  assert.match(msgs, /request\.iec104\.cause: must be a cause/);
  assert.match(msgs, /request\.iec104\.ioas: give 'ioa' or 'ioas', not both/);
  assert.match(msgs, /request\.iec104\.values\[0\]: must be a number/);
});

test.run();
