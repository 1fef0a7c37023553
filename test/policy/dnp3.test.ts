// DNP3 in the policy: validation of `protocol: dnp3` conduits (every field, errors with paths),
// decisions by function, link address, object, point and value, unsolicited responses, monitor
// mode, the embedded tests and `explain` of a DNP3 request.
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
import { dnp3Operation } from '../../policy/dnp3-request';
import type { DecisionRequest } from '../../policy/types';
import type { ZonegateError } from '../../policy/errors';

const FILE = 'test/fixtures/policy/dnp3-substation.yaml';
const text = readFileSync(FILE, 'utf8');
const doc = parsePolicy(text, { file: FILE });
const index = compile(doc, { version: '1' });

const req = (raw: unknown): DecisionRequest => {
  const r = parseRequest(raw);
  assert.equal(r.issues, []);
  return r.request!;
};
const d = (from: string, dnp3: unknown) => decide(index, req({ from, to: 'rtu-7', dnp3 }), 0);

test('validation: the fixture is valid and normalised', () => {
  const c = doc.conduits[0];
  assert.is(c.protocol, 'dnp3');
  assert.is(c.allow, undefined);
  assert.equal(c.dnp3!.functions, [1, 2, 3, 4, 5, 20, 21, 23]);
  assert.equal(c.dnp3!.masters, [1]);
  assert.equal({ ...c.dnp3!.points }, { g12: [{ start: 0, end: 7 }] });
  assert.equal(c.dnp3!.controls, [0x01, 0x03, 0x04, 0x41, 0x81]);
  assert.equal(((c.dnp3!.objects as Record<string, unknown>)["2"]), [{ group: 50, variation: 1 }, { group: 80, variation: 1 }]);
  assert.equal(doc.conduits[1].dnp3!.values, { min: 0, max: 100 });
});

test('validation: every mistake named with its path', () => {
  const bad = text.replace('functions: [read], objects: [g1, g30, g60]', 'functions: [read, operat, 129], objects: [g1, x30], masters: [65535], points: { g12v1: ["0-7"] }, values: { min: 5, max: 1 }, controls: [trip, zap], bogus: 1');
  try {
    parsePolicy(bad, { file: FILE });
    assert.unreachable('should throw');
  } catch (e) {
    const err = e as ZonegateError;
    assert.is(err.code, 'ERR_POLICY_INVALID');
    const got = err.issues!.map((i) => `${i.path}: ${i.message}`);
    const want = [
      /conduits\[2\]\.allow\.bogus: unknown field 'bogus'/,
      /conduits\[2\]\.allow\.functions\[1\]: unknown DNP3 request function 'operat' \(did you mean 'operate'\?\)/,
      /conduits\[2\]\.allow\.functions\[2\]: unknown DNP3 request function number 129/,
      /conduits\[2\]\.allow\.masters\[0\]: a DNP3 link address must be 0\.\.65519, got 65535/,
      /conduits\[2\]\.allow\.objects\[1\]: must be an object like "g12" or "g12v1", got the string "x30"/,
      /conduits\[2\]\.allow\.points\.g12v1: must be a group like g12 \(no variation\)/,
      /conduits\[2\]\.allow\.values: min 5 is above max 1/,
      /conduits\[2\]\.allow\.controls\[1\]: unknown CROB operation 'zap'/,
    ];
    for (const re of want) assert.ok(got.some((g) => re.test(g)), `missing ${re}: ${got.join('\n')}`);
    assert.is(got.length, want.length, got.join('\n'));
  }
});

test('validation: objects per function must name allowed functions; protocol dnp3 is offered by the asset', () => {
  const bad = text.replace('write: [g50v1, g80v1]', 'cold-restart: [g80v1]').replace('protocol: dnp3, port: 20000', 'protocol: modbus, port: 502');
  try {
    parsePolicy(bad, { file: FILE });
    assert.unreachable('should throw');
  } catch (e) {
    const got = (e as ZonegateError).issues!.map((i) => `${i.path}: ${i.message}`).join('\n');
    assert.match(got, /conduits\[0\]\.allow\.objects\.cold-restart: function 'cold-restart' is not in functions/);
    assert.match(got, /conduits\[0\]\.to\.assets\[0\]: asset 'rtu-7' offers no dnp3 service/);
  }
});

test('decisions: each check gives its reason', () => {
  const crobAt = (i: number, control = 'trip') => ({ function: 'direct-operate', objects: [{ group: 12, variation: 1, indices: [i], control }] });
  const ok = (x: { decision: string; conduit: string | null }, conduit: string) => { assert.is(x.decision, 'allow'); assert.is(x.conduit, conduit); };
  ok(d('scada-1', crobAt(7)), 'scada-polls-and-operates');
  assert.is(d('scada-1', crobAt(8)).reason, 'address-out-of-range');
  assert.is(d('scada-1', crobAt(2, 'pulse-off')).reason, 'value-out-of-range');
  assert.is(d('scada-1', { ...crobAt(2), source: 2 }).reason, 'unit-not-allowed');
  assert.is(d('scada-1', { ...crobAt(2), destination: 11 }).reason, 'unit-not-allowed');
  assert.is(d('scada-1', { function: 'direct-operate', objects: [{ group: 12, variation: 2, indices: [1], control: 'trip' }] }).reason, 'object-not-allowed');
  assert.is(d('scada-1', { function: 'direct-operate', objects: [{ group: 12, variation: 1, control: 'trip' }] }).reason, 'address-out-of-range', 'a CROB naming no index is refused where points are restricted');
  ok(d('scada-1', { function: 'write', objects: [{ group: 50, variation: 1, start: 0, stop: 0 }] }), 'scada-polls-and-operates');
  assert.is(d('scada-1', { function: 'read', objects: [{ group: 50, variation: 1 }] }).reason, 'object-not-allowed', 'objects are per function');
  assert.is(d('scada-1', { function: 'cold-restart' }).reason, 'function-not-allowed');
  assert.is(d('scada-1', { function: 77 }).reason, 'malformed');
  assert.is(d('scada-1', { function: 'response' }).reason, 'malformed');
  ok(d('scada-1', { function: 'confirm' }), 'scada-polls-and-operates');
  ok(d('scada-1', { function: 'unsolicited-response' }), 'scada-polls-and-operates');
  assert.is(d('hmi-1', { function: 'unsolicited-response' }).reason, 'function-not-allowed', 'unsolicited needs unsolicited: true');
  ok(d('eng-ws-1', { function: 'direct-operate', objects: [{ group: 41, variation: 3, start: 0, stop: 1, values: [0, 100] }] }), 'eng-sets-outputs');
  assert.is(d('eng-ws-1', { function: 'direct-operate', objects: [{ group: 41, variation: 3, start: 0, stop: 1, values: [0, 100.5] }] }).reason, 'value-out-of-range');
  assert.is(d('eng-ws-1', { function: 'direct-operate', objects: [{ group: 41, variation: 3, start: 3, stop: 4, values: [0, 1] }] }).reason, 'address-out-of-range');
  assert.is(d('eng-ws-1', { function: 'direct-operate', objects: [{ group: 12, variation: 1, indices: [1], control: 'trip' }] }).reason, 'object-not-allowed');
  const noone = decide(index, req({ from: { ip: '127.10.0.99' }, to: 'rtu-7', dnp3: { function: 'read' } }), 0);
  assert.is(noone.reason, 'no-conduit');
});

test('decisions: the decider over an operation the driver fills, and monitor mode', () => {
  const decider = new IndexDecider(index);
  const { scope, decision } = decider.connect({ sourceIp: '127.10.0.5', asset: 'rtu-7', port: 20000, protocol: 'dnp3' }, 0);
  assert.is(decision.decision, 'allow');
  const read = dnp3Operation({ function: 1, objects: [{ group: 1, variation: 2, start: 0, stop: 9 }] });
  assert.is(decider.dnp3(scope, read, 0).conduit, 'hmi-reads');
  const op = dnp3Operation({ function: 5, objects: [{ group: 12, variation: 1, indices: [3], control: 0x81 }] });
  assert.is(decider.dnp3(scope, op, 0).reason, 'function-not-allowed');
  const monitored = compile(parsePolicy(text.replace('    allow: { functions: [read], objects: [g1, g30, g60] }', '    mode: monitor\n    allow: { functions: [read], objects: [g1, g30, g60] }'), { file: FILE }));
  decider.setIndex(monitored);
  const m = decider.dnp3(scope, op, 0);
  assert.equal({ ...m }, { decision: 'allow', conduit: 'hmi-reads', reason: 'function-not-allowed', identity: 'hmi-1', monitor: true });
});

test('embedded tests pass; a wrong expectation fails with its decision', () => {
  assert.equal(runPolicyTests(index, doc.tests, 0), []);
  const wrong = parsePolicy(text.replace('reason: value-out-of-range', 'reason: address-out-of-range'), { file: FILE });
  const failures = runPolicyTests(compile(wrong), wrong.tests, 0);
  assert.is(failures.length, 1);
});

test('explain: every dnp3 conduit to the RTU with its verdict', () => {
  const e = explain(index, req({ from: 'scada-1', to: 'rtu-7', dnp3: { function: 'direct-operate', objects: [{ group: 12, variation: 1, indices: [9], control: 'trip' }] } }), 0);
  assert.is(e.decision.reason, 'address-out-of-range');
  assert.is(e.destination.protocol, 'dnp3');
  assert.equal(e.conduits.map((c) => [c.conduit, c.result, c.reason ?? c.why]), [
    ['scada-polls-and-operates', 'fail', 'address-out-of-range'],
    ['eng-sets-outputs', 'not-candidate', 'from'],
    ['hmi-reads', 'not-candidate', 'from'],
  ]);
});

test('requests: dnp3 and modbus together, or a bad object, are refused with paths', () => {
  const r = parseRequest({ from: 'scada-1', to: 'rtu-7', modbus: { function: 3 }, dnp3: { function: 'read', objects: [{ group: 1, start: 5, stop: 2 }] } });
  const msgs = r.issues.map((i) => `${i.path}: ${i.message}`).join('\n');
  assert.match(msgs, /request\.dnp3: a request with 'dnp3' says protocol: dnp3 and has no 'modbus'/);
  assert.match(msgs, /request\.dnp3\.objects\[0\]\.variation: required field 'variation' is missing/);
  assert.match(msgs, /request\.dnp3\.objects\[0\]\.stop: stop 2 is below start 5/);
});

test.run();
