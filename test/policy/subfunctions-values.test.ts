/**
 * Issue 14, policy depth: sub-functions in allow.functions (FC 8, FC 43) and write bounds
 * (allow.values per register range with 16/32-bit and float32 pairs in a word order, allow.coils),
 * through validation, compile, decide(), the IndexDecider's operation() with a wire PDU, and explain.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parsePolicy } from '../../policy/parse';
import { compile } from '../../policy/compile';
import { decide } from '../../policy/decide';
import { explain } from '../../policy/explain';
import { IndexDecider } from '../../policy/decider';
import { parseRequest } from '../../policy/request';
import { ZonegateError } from '../../policy/errors';
import type { DecisionRequest, ModbusOperation } from '../../policy/types';

const POLICY = `site: t
zones:
  - { id: control, networks: [10.10.1.0/24], securityLevel: 3 }
  - { id: station, networks: [10.10.0.0/24], securityLevel: 2 }
assets:
  - { id: plc-1, zone: control, address: 10.10.1.20, kind: plc, services: [{ protocol: modbus, port: 502 }] }
identities:
  - { id: hmi-1, kind: device, zone: station, addresses: [10.10.0.5] }
  - { id: eng-1, kind: device, zone: station, addresses: [10.10.0.20] }
conduits:
  - id: hmi-diag
    from: { identities: [hmi-1] }
    to: { assets: [plc-1] }
    protocol: modbus
    allow: { functions: [read-holding-registers, diagnostics/return-query-data, read-device-identification] }
  - id: eng-setpoints
    from: { identities: [eng-1] }
    to: { assets: [plc-1] }
    protocol: modbus
    allow:
      functions: [write-single-register, write-multiple-registers, mask-write-register, read-write-multiple-registers, write-single-coil, write-multiple-coils]
      addresses: ["0-99", "1000-1099"]
      values:
        "1000-1019": "0-500"
        "1020-1021": "-100..100"
        "1030-1033": { type: float32, range: "0-60.5" }
        "1040-1041": { type: uint32, range: "0-100000", order: little }
        "1050-1051": { type: int32, range: "-5..5" }
      coils: { "0-9": off, "10": [on, off], "11-12": on }
    writeRateLimit: { perSecond: 5, burst: 2 }
`;

const doc = parsePolicy(POLICY, { file: 'p.yaml' });
const index = compile(doc);
const ask = (from: string, modbus: NonNullable<DecisionRequest['modbus']>) => decide(index, { from, to: 'plc-1', modbus }, 0);
const f32 = (x: number): [number, number] => { const b = Buffer.alloc(4); b.writeFloatBE(x); return [b.readUInt16BE(0), b.readUInt16BE(2)]; };

test('validation: sub-functions resolve to (fn, sub); write bounds and writeRateLimit normalise', () => {
  const c0 = doc.conduits[0].allow!;
  assert.equal(c0.functions, [3]);
  assert.equal(c0.subFunctions, [{ fn: 8, sub: 0 }, { fn: 43, sub: 14 }]);
  const c1 = doc.conduits[1];
  assert.equal(c1.allow!.values, [
    { start: 1000, end: 1019, type: 'uint16', order: 'big', min: 0, max: 500 },
    { start: 1020, end: 1021, type: 'int16', order: 'big', min: -100, max: 100 },
    { start: 1030, end: 1033, type: 'float32', order: 'big', min: 0, max: 60.5 },
    { start: 1040, end: 1041, type: 'uint32', order: 'little', min: 0, max: 100000 },
    { start: 1050, end: 1051, type: 'int32', order: 'big', min: -5, max: 5 },
  ]);
  assert.equal(c1.allow!.coils, [{ start: 0, end: 9, on: false, off: true }, { start: 10, end: 10, on: true, off: true }, { start: 11, end: 12, on: true, off: false }]);
  assert.equal(c1.writeRateLimit, { perSecond: 5, burst: 2 });
  // The whole function makes its sub-functions redundant.
  const whole = parsePolicy(POLICY.replace('read-holding-registers, diagnostics/return-query-data', 'diagnostics, 8/0, 0x08/0x0004'), { file: 'p.yaml' });
  assert.equal(whole.conduits[0].allow!.functions, [8]);
  assert.equal(whole.conduits[0].allow!.subFunctions, [{ fn: 43, sub: 14 }]);
});

test('validation errors are located and say what is wrong', () => {
  const issues = (text: string) => {
    try { parsePolicy(text, { file: 'p.yaml' }); } catch (e) { return (e as ZonegateError).issues.map((i) => `${i.line}: ${i.path}: ${i.message}`); }
    throw new Error('valid');
  };
  assert.equal(issues(POLICY.replace('diagnostics/return-query-data', 'diagnostics/return-query-dta')), [
    "15: conduits[0].allow.functions[1]: unknown Modbus function 'diagnostics/return-query-dta' (did you mean 'diagnostics/return-query-data'?)",
  ]);
  const bad = issues(POLICY
    .replace('"1000-1019": "0-500"', '"1000-1019": "0-70000"')
    .replace('"1030-1033": { type: float32', '"1030-1032": { type: float32')
    .replace('"11-12": on', '"9-12": on')
    .replace('order: little', 'order: middle'));
  assert.equal(bad, [
    '24: conduits[1].allow.values["1000-1019"]: value range the string "0-70000" does not fit uint16 (0..65535)',
    '26: conduits[1].allow.values["1030-1032"]: register range "1030-1032" has an odd number of registers; float32 values take two registers each',
    '27: conduits[1].allow.values["1040-1041"].order: must be \'big\' (high word first) or \'little\', got the string "middle"',
    '29: conduits[1].allow.coils: coil ranges 0-9 and 9-12 overlap: give each coil one rule',
  ]);
});

test('sub-functions: return-query-data is allowed, force-listen-only-mode (08/0004) is not', () => {
  assert.is(ask('hmi-1', { function: 'diagnostics', subFunction: 'return-query-data' }).decision, 'allow');
  const listen = ask('hmi-1', { function: 8, subFunction: 4 });
  assert.equal([listen.decision, listen.reason], ['deny', 'function-not-allowed']);
  assert.is(ask('hmi-1', { function: 8 }).reason, 'function-not-allowed'); // sub-function unknown
  assert.is(ask('hmi-1', { function: 43, subFunction: 14 }).decision, 'allow');
  assert.is(ask('hmi-1', { function: 43, subFunction: 13 }).reason, 'function-not-allowed');
  // The hot path reads the sub-function from the wire PDU.
  const d = new IndexDecider(index);
  const { scope } = d.connect({ sourceIp: '10.10.0.5', asset: 'plc-1', port: 502, protocol: 'modbus' }, 0);
  const op = (pdu: number[]): ModbusOperation => ({ fn: pdu[0], unit: 1, address: 0, count: 0, writeAddress: 0, writeCount: 0, pdu: Uint8Array.from([0xaa, ...pdu]), pduOffset: 1, pduLength: pdu.length });
  assert.is(d.operation(scope, op([8, 0, 0, 0x12, 0x34]), 0).decision, 'allow');
  assert.is(d.operation(scope, op([8, 0, 4, 0, 0]), 0).reason, 'function-not-allowed');
  assert.is(d.operation(scope, op([8, 0]), 0).reason, 'function-not-allowed'); // too short to carry one
  assert.is(d.operation(scope, op([43, 14, 1, 0]), 0).decision, 'allow');
  // modbus() has no PDU: the sub-function is unknown, so a sub-function-only allow denies.
  assert.is(d.modbus(scope, 8, 1, 0, 0, 0).reason, 'function-not-allowed');
});

test('write bounds: uint16, int16, float32, uint32 little-endian and int32 pairs', () => {
  const w = (address: number, values: number[], fn = 16) => ask('eng-1', { function: fn, address, values });
  assert.is(w(1000, [0, 500, 250]).decision, 'allow');
  const over = w(1000, [0, 501]);
  assert.equal([over.decision, over.reason], ['deny', 'value-out-of-range']);
  assert.is(w(1005, [500], 6).decision, 'allow');
  assert.is(w(1005, [501], 6).reason, 'value-out-of-range');
  assert.is(w(1020, [0xff9c, 100]).decision, 'allow'); // -100, 100
  assert.is(w(1020, [0xff9b]).reason, 'value-out-of-range'); // -101
  assert.is(w(1030, [...f32(60.5), ...f32(0)]).decision, 'allow');
  assert.is(w(1030, [...f32(60.6)]).reason, 'value-out-of-range');
  assert.is(w(1030, [0x7fc0, 0]).reason, 'value-out-of-range'); // NaN
  assert.is(w(1030, [...f32(-0.5)]).reason, 'value-out-of-range');
  assert.is(w(1031, [...f32(1)]).reason, 'value-out-of-range'); // starts inside a pair
  assert.is(w(1030, [f32(1)[0]], 6).reason, 'value-out-of-range'); // half a pair
  assert.is(w(1040, [100000 & 0xffff, 100000 >>> 16]).decision, 'allow'); // low word first
  assert.is(w(1040, [100001 & 0xffff, 100001 >>> 16]).reason, 'value-out-of-range');
  assert.is(w(1050, [0xffff, 0xfffb]).decision, 'allow'); // -5
  assert.is(w(1050, [0xffff, 0xfffa]).reason, 'value-out-of-range'); // -6
  assert.is(w(50, [65535]).decision, 'allow'); // no rule: any value
  assert.is(w(1018, [1, 2, 3, 200]).reason, 'value-out-of-range'); // runs from a rule into the next
  // A write whose values are not given cannot be shown to be inside the bounds.
  assert.is(ask('eng-1', { function: 6, address: 1005 }).reason, 'value-out-of-range');
  assert.is(ask('eng-1', { function: 6, address: 50 }).decision, 'allow');
});

test('write bounds: FC 22 mask write allowed only when every result is inside the rule', () => {
  const m = (address: number, and: number, or: number) => ask('eng-1', { function: 22, address, values: [and, or] });
  assert.is(m(1000, 0x0000, 500).decision, 'allow'); // result is exactly 500
  assert.is(m(1000, 0x0000, 501).reason, 'value-out-of-range');
  assert.is(m(1000, 0x00ff, 0x0100).reason, 'value-out-of-range'); // 256..511: 511 > 500
  assert.is(m(1000, 0x007f, 0x0100).decision, 'allow'); // 256..383
  assert.is(m(1000, 0xffff, 0).reason, 'value-out-of-range'); // keeps whatever is there: up to 65535
  assert.is(m(1020, 0x8000, 0).reason, 'value-out-of-range'); // sign free: -32768..0
  assert.is(m(1020, 0x0003, 0xfffc).decision, 'allow'); // -4..-1
  assert.is(m(1030, 0, 0).reason, 'value-out-of-range'); // half of a float pair
});

test('write bounds: FC 23 write half, coils FC 5 and FC 15', () => {
  assert.is(decide(index, { from: 'eng-1', to: 'plc-1', modbus: { function: 23, address: 0, count: 2, writeAddress: 1000, values: [10, 20] } }, 0).decision, 'allow');
  assert.is(decide(index, { from: 'eng-1', to: 'plc-1', modbus: { function: 23, address: 0, count: 2, writeAddress: 1000, values: [10, 600] } }, 0).reason, 'value-out-of-range');
  const c = (fn: number, address: number, values: number[]) => ask('eng-1', { function: fn, address, values });
  assert.is(c(5, 3, [0]).decision, 'allow');
  assert.is(c(5, 3, [1]).reason, 'value-out-of-range');
  assert.is(c(5, 10, [1]).decision, 'allow');
  assert.is(c(5, 11, [0]).reason, 'value-out-of-range');
  assert.is(c(15, 8, [0, 0, 1, 1, 1]).decision, 'allow'); // 8 off, 9 off, 10 on, 11 on, 12 on
  assert.is(c(15, 8, [0, 1, 1]).reason, 'value-out-of-range'); // 9 on
  assert.is(c(15, 20, [1, 1, 1]).decision, 'allow');
});

test('explain agrees and names the failing check; requests parse subFunction and values', () => {
  const e = explain(index, { from: 'eng-1', to: 'plc-1', modbus: { function: 6, address: 1005, values: [900] } }, 0);
  assert.is(e.decision.reason, 'value-out-of-range');
  assert.equal(e.conduits.find((v) => v.conduit === 'eng-setpoints'), { conduit: 'eng-setpoints', mode: 'enforce', result: 'fail', reason: 'value-out-of-range', via: 'device' });
  const x = explain(index, { from: 'hmi-1', to: 'plc-1', modbus: { function: 8, subFunction: 4 } }, 0);
  assert.is(x.conduits[0].reason, 'function-not-allowed');
  const r = parseRequest({ from: 'hmi-1', to: 'plc-1', modbus: { function: 'diagnostics', subFunction: 'force-listen-only-mode' } });
  assert.equal(r.request?.modbus, { function: 8, subFunction: 4 });
  const bad = parseRequest({ from: 'hmi-1', to: 'plc-1', modbus: { function: 3, subFunction: 1, values: [70000] } });
  assert.equal(bad.issues.map((i) => i.path), ['request.modbus.subFunction', 'request.modbus.values[0]']);
  const bool = parseRequest({ from: 'eng-1', to: 'plc-1', modbus: { function: 15, address: 0, values: [true, false] } });
  assert.equal(bool.request?.modbus?.values, [1, 0]);
});

test.run();
