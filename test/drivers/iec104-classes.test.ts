// The decision classes of IEC 104 type ids (issue 17): every type the codec knows has exactly the
// class the issue lists, unknown types have none.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { typeClass, controlCauseAllowed, stationWide, controlDirection, timeTaggedCommand, selectable, IEC104_CLASSES, typeKnown, typeName } from '../../drivers/iec104';

const range = (a: number, b: number): number[] => Array.from({ length: b - a + 1 }, (_, i) => a + i);

test('the classes of the issue, type by type', () => {
  const want: Record<string, number[]> = {
    monitor: [1, 3, 5, 7, 9, 11, 13, 15, 20, 21, ...range(30, 40), 70],
    command: [45, 46, 47, 58, 59, 60],
    setpoint: [48, 49, 50, 61, 62, 63],
    bitstring: [51, 64],
    interrogation: [100],
    'counter-interrogation': [101],
    read: [102],
    'clock-sync': [103],
    'reset-process': [105],
    test: [107],
    parameter: range(110, 113),
    'file-transfer': range(120, 127),
  };
  assert.equal([...IEC104_CLASSES].sort(), Object.keys(want).sort());
  const got: Record<string, number[]> = {};
  for (let t = 0; t < 256; t++) { const c = typeClass(t); if (c !== undefined) (got[c] ??= []).push(t); }
  assert.equal(got, want);
});

test('every known type has a class and every classed type is known', () => {
  for (let t = 0; t < 256; t++) assert.is(typeClass(t) !== undefined, typeKnown(t), typeName(t));
  for (const t of [0, 2, 41, 44, 52, 57, 65, 104, 106, 108, 114, 128, 255, -1, 256, 1.5, NaN]) assert.is(typeClass(t), undefined, `type ${t}`);
});

test('direction, time tags and select/execute', () => {
  assert.not.ok(controlDirection(13));
  assert.not.ok(controlDirection(70));
  assert.ok(controlDirection(45));
  assert.ok(controlDirection(100));
  assert.not.ok(controlDirection(2));
  assert.equal(range(45, 127).filter(timeTaggedCommand), [58, 59, 60, 61, 62, 63, 64, 107]);
  assert.equal(range(0, 255).filter(stationWide), [100, 101, 103, 105, 107]);
  assert.equal(range(0, 255).filter(selectable), [45, 46, 47, 48, 49, 50, 58, 59, 60, 61, 62, 63]);
});

test('causes a controlling station may send, per type', () => {
  const allowed = (t: number): number[] => range(0, 63).filter((c) => controlCauseAllowed(t, c));
  for (const t of [45, 46, 47, 48, 49, 50, 51, 58, 59, 60, 61, 62, 63, 64, 100, 101]) assert.equal(allowed(t), [6, 8], typeName(t));
  assert.equal(allowed(102), [5]);
  for (const t of [103, 105, 107, 110, 111, 112]) assert.equal(allowed(t), [6], typeName(t));
  assert.equal(allowed(113), [6, 8]);
  for (const t of range(120, 127)) assert.equal(allowed(t), [5, 13], typeName(t));
  for (const t of [1, 13, 30, 70, 2, 104, 200]) assert.equal(allowed(t), [], `type ${t}`);
});

test.run();
