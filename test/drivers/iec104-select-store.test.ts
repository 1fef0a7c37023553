// Select-before-execute pairing for IEC 104: same identity, CA, IOA, type, value and qualifier
// within the timeout; a match consumes nothing (the proxy cancels the selects once it forwarded
// the execute); cancelled by a deactivation; bounded.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Asdu, parseAsdu, encodeAsdu, Iec104SelectStore, TypeId, sco, dco, setpointFloat, element, cp56, measuredFloat, bitstring } from '../../drivers/iec104';

function cmd(typeId: number, el: Uint8Array, o: { ioa?: number; ca?: number } = {}): Asdu {
  const a = new Asdu();
  assert.ok(parseAsdu(encodeAsdu({ typeId, cause: 6, ca: o.ca ?? 1, objects: [{ ioa: o.ioa ?? 4001, element: el }] }), a), a.message);
  return a;
}

test('an execute matching a live select: matching spends nothing, cancelling (forwarded) spends it', () => {
  const s = new Iec104SelectStore({ timeoutMs: 10_000 });
  s.select('op-1', cmd(TypeId.C_SC_NA_1, sco(1, { select: true })), 0);
  assert.is(s.size, 1);
  assert.ok(s.matches('op-1', cmd(TypeId.C_SC_NA_1, sco(1)), 5_000));
  assert.ok(s.matches('op-1', cmd(TypeId.C_SC_NA_1, sco(1)), 6_000), 'a refused execute left it');
  s.cancel('op-1', cmd(TypeId.C_SC_NA_1, sco(1)));
  assert.not.ok(s.matches('op-1', cmd(TypeId.C_SC_NA_1, sco(1)), 6_000), 'spent');
  assert.is(s.size, 0);
});

test('no match: other identity, CA, IOA, type, state, qualifier, or too late', () => {
  const s = new Iec104SelectStore({ timeoutMs: 10_000 });
  const sel = (): void => s.select('op-1', cmd(TypeId.C_DC_NA_1, dco(2, { select: true, qu: 1 })), 0);
  sel();
  assert.not.ok(s.matches('op-2', cmd(TypeId.C_DC_NA_1, dco(2, { qu: 1 })), 1));
  assert.not.ok(s.matches('op-1', cmd(TypeId.C_DC_NA_1, dco(2, { qu: 1 }), { ca: 2 }), 1));
  assert.not.ok(s.matches('op-1', cmd(TypeId.C_DC_NA_1, dco(2, { qu: 1 }), { ioa: 4002 }), 1));
  assert.not.ok(s.matches('op-1', cmd(TypeId.C_DC_TA_1, element(dco(2, { qu: 1 }), cp56(0))), 1));
  assert.not.ok(s.matches('op-1', cmd(TypeId.C_DC_NA_1, dco(1, { qu: 1 })), 1));
  assert.not.ok(s.matches('op-1', cmd(TypeId.C_DC_NA_1, dco(2)), 1));
  assert.ok(s.matches('op-1', cmd(TypeId.C_DC_NA_1, dco(2, { qu: 1 })), 10_000), 'the mismatches did not consume it');
  s.cancel('op-1', cmd(TypeId.C_DC_NA_1, dco(2, { qu: 1 })));
  sel();
  assert.not.ok(s.matches('op-1', cmd(TypeId.C_DC_NA_1, dco(2, { qu: 1 })), 10_001), 'expired');
  assert.is(s.size, 0);
});

test('set-points match on the value; time-tagged commands ignore the time tag', () => {
  const s = new Iec104SelectStore({ timeoutMs: 10_000 });
  s.select('op-1', cmd(TypeId.C_SE_NC_1, setpointFloat(49.5, { select: true })), 0);
  assert.not.ok(s.matches('op-1', cmd(TypeId.C_SE_NC_1, setpointFloat(50)), 1));
  assert.ok(s.matches('op-1', cmd(TypeId.C_SE_NC_1, setpointFloat(49.5)), 1));
  s.select('op-1', cmd(TypeId.C_SE_NC_1, setpointFloat(NaN, { select: true })), 0);
  assert.not.ok(s.matches('op-1', cmd(TypeId.C_SE_NC_1, setpointFloat(NaN)), 1), 'NaN never matches');
  s.select('op-1', cmd(TypeId.C_SC_TA_1, element(sco(0, { select: true }), cp56(0))), 0);
  assert.ok(s.matches('op-1', cmd(TypeId.C_SC_TA_1, element(sco(0), cp56(5_000))), 5_000));
});

test('cancel (deactivation), prune, the bound, and misuse', () => {
  const s = new Iec104SelectStore({ timeoutMs: 10_000, max: 3 });
  for (let k = 0; k < 5; k++) s.select('op-1', cmd(TypeId.C_SC_NA_1, sco(1, { select: true }), { ioa: k }), k);
  assert.is(s.size, 3);
  assert.not.ok(s.matches('op-1', cmd(TypeId.C_SC_NA_1, sco(1), { ioa: 0 }), 10), 'the oldest went first');
  s.cancel('op-1', cmd(TypeId.C_SC_NA_1, sco(1), { ioa: 4 }));
  assert.not.ok(s.matches('op-1', cmd(TypeId.C_SC_NA_1, sco(1), { ioa: 4 }), 10));
  s.prune(10_003);
  assert.is(s.size, 1, 'the select made at 3 lives until 10,003');
  s.prune(10_004);
  assert.is(s.size, 0);
  assert.throws(() => s.select('op-1', cmd(TypeId.C_BO_NA_1, bitstring(1)), 0), /type 51 has no select/);
  assert.throws(() => s.select('op-1', cmd(TypeId.M_ME_NC_1, measuredFloat(1)), 0), /type 13 has no select/);
  assert.throws(() => new Iec104SelectStore({ timeoutMs: 0 }), /timeoutMs 0/);
});

test.run();
