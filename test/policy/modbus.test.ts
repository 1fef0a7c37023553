import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MODBUS_FUNCTIONS, modbusFunctionCode, modbusFunction, modbusCountValid, modbusFunctionName } from '../../policy/modbus';

test('function names and codes resolve both ways', () => {
  for (const f of MODBUS_FUNCTIONS) {
    assert.is(modbusFunctionCode(f.name), f.code);
    assert.is(modbusFunctionCode(f.code), f.code);
    assert.is(modbusFunctionName(f.code), f.name);
  }
  assert.is(modbusFunctionCode('0x10'), 16);
  assert.is(modbusFunctionCode('READ-COILS'), 1);
  assert.is(modbusFunctionCode('read-colis'), undefined);
  assert.is(modbusFunctionCode(99), undefined);
  assert.is(modbusFunction(200), undefined);
});

test('quantity limits follow the specification', () => {
  assert.ok(modbusCountValid(3, 125));
  assert.not.ok(modbusCountValid(3, 126));
  assert.not.ok(modbusCountValid(3, 0));
  assert.ok(modbusCountValid(1, 2000));
  assert.not.ok(modbusCountValid(1, 2001));
  assert.ok(modbusCountValid(16, 123));
  assert.not.ok(modbusCountValid(16, 124));
  assert.ok(modbusCountValid(15, 1968));
  assert.not.ok(modbusCountValid(15, 1969));
  assert.not.ok(modbusCountValid(99, 1));
});

test.run();
