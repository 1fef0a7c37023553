// The `iec104` audit field: type, class, cause bits, CA, IOAs (capped) and command values.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  Asdu, parseAsdu, encodeAsdu, auditFields, AUDIT_MAX_OBJECTS, TypeId, Cause, sco, setpointFloat, setpointScaled, bitstring, measuredFloat,
} from '../../drivers/iec104';

const parse = (b: Buffer): Asdu => { const a = new Asdu(); assert.ok(parseAsdu(b, a), a.message); return a; };

test('a single command select: value, QU, S/E and its class', () => {
  const a = parse(encodeAsdu({ typeId: TypeId.C_SC_NA_1, cause: Cause.ACTIVATION, originator: 3, ca: 1, objects: [{ ioa: 4001, element: sco(1, { select: true, qu: 1 }) }] }));
  assert.equal(auditFields(a), {
    type: 45, name: 'C_SC_NA_1', class: 'command', cause: 6, negative: false, test: false, originator: 3, ca: 1, sq: false, count: 1,
    ioa: [4001], values: [1], qualifiers: [1], select: [true],
  });
});

test('set-points: values (NaN as null), QL and execute; bitstrings: values only', () => {
  const f = auditFields(parse(encodeAsdu({ typeId: TypeId.C_SE_NC_1, cause: 6, test: true, ca: 2, objects: [{ ioa: 5001, element: setpointFloat(NaN) }, { ioa: 5002, element: setpointFloat(7.25, { ql: 4 }) }] })));
  assert.equal([f.class, f.test, f.values, f.qualifiers, f.select], ['setpoint', true, [null, 7.25], [0, 4], [false, false]]);
  assert.is(JSON.stringify(f).includes('NaN'), false);
  const s = auditFields(parse(encodeAsdu({ typeId: TypeId.C_SE_NB_1, cause: 6, ca: 2, objects: [{ ioa: 1, element: setpointScaled(-7) }] })));
  assert.equal(s.values, [-7]);
  const b = auditFields(parse(encodeAsdu({ typeId: TypeId.C_BO_NA_1, cause: 6, ca: 2, objects: [{ ioa: 9, element: bitstring(0xffffffff) }] })));
  assert.equal([b.class, b.values, b.qualifiers, b.select], ['bitstring', [0xffffffff], undefined, undefined]);
});

test('monitor data: no values; IOAs capped at AUDIT_MAX_OBJECTS, count tells the rest', () => {
  const objects = Array.from({ length: 100 }, (_, k) => ({ ioa: 1000 + k, element: measuredFloat(k) }));
  const f = auditFields(parse(encodeAsdu({ typeId: TypeId.M_ME_NC_1, sq: true, cause: Cause.INTERROGATED_STATION, ca: 1, objects: objects.slice(0, 48) })));
  assert.equal([f.class, f.sq, f.count, f.ioa.length, f.ioa[47], f.values], ['monitor', true, 48, 48, 1047, undefined]);
  const big = Buffer.alloc(6 + 3 + 127);
  big.set([TypeId.M_SP_NA_1, 0x80 | 127, 20, 0, 1, 0, 0x10, 0x27, 0]);
  const g = auditFields(parse(big));
  assert.equal([g.count, g.ioa.length, g.ioa[0], g.ioa[AUDIT_MAX_OBJECTS - 1]], [127, AUDIT_MAX_OBJECTS, 10000, 10000 + AUDIT_MAX_OBJECTS - 1]);
});

test('a negative confirmation keeps its P/N bit', () => {
  const f = auditFields(parse(encodeAsdu({ typeId: TypeId.C_IC_NA_1, cause: Cause.ACTIVATION_CON, negative: true, ca: 1, objects: [{ ioa: 0, element: Buffer.from([20]) }] })));
  assert.equal([f.class, f.cause, f.negative, f.values], ['interrogation', 7, true, undefined]);
});

test.run();
