// The gateway's negative answers to refused ASDUs: cause 7/9 with P/N for denied activations and
// deactivations, 44..47 for unknown type, cause, CA and IOA; the rest of the ASDU mirrored.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Asdu, parseAsdu, encodeAsdu, encodeIFrame, refusalAsdu, refusalCause, TypeId, Cause, sco, qoi } from '../../drivers/iec104';

const read = (b: Buffer | null): Asdu => { const a = new Asdu(); assert.ok(b !== null && parseAsdu(b, a), a.message); return a; };

test('a denied single command activation: cause 7, P/N, everything else mirrored', () => {
  const req = encodeAsdu({ typeId: TypeId.C_SC_NA_1, cause: Cause.ACTIVATION, originator: 4, ca: 1, objects: [{ ioa: 4001, element: sco(1, { select: true }) }] });
  const a = read(refusalAsdu(req, 'denied'));
  assert.equal([a.typeId, a.cause, a.negative, a.test, a.originator, a.ca, a.ioa[0], a.value[0], a.select[0]], [45, 7, true, false, 4, 1, 4001, 1, 1]);
});

test('causes by refusal kind and received cause', () => {
  assert.is(refusalCause('denied', Cause.ACTIVATION), 7);
  assert.is(refusalCause('denied', Cause.DEACTIVATION), 9);
  assert.is(refusalCause('denied', Cause.REQUEST), 47);
  assert.is(refusalCause('unknown-type', 6), 44);
  assert.is(refusalCause('unknown-cause', 6), 45);
  assert.is(refusalCause('unknown-ca', 6), 46);
  assert.is(refusalCause('unknown-ioa', 6), 47);
});

test('an unknown type is mirrored with cause 44 though it cannot be parsed; the test bit is kept', () => {
  const req = Buffer.from('c8018600010000000014', 'hex');
  const out = refusalAsdu(req, 'unknown-type')!;
  assert.is(out[2], 0x80 | 0x40 | 44);
  assert.equal(out.subarray(3), req.subarray(3));
});

test('an ASDU inside an I-frame is answered from its offset; a header too short has no answer', () => {
  const asdu = encodeAsdu({ typeId: TypeId.C_IC_NA_1, cause: Cause.ACTIVATION, ca: 9, objects: [{ ioa: 0, element: qoi() }] });
  const frame = encodeIFrame({ sendSeq: 0, recvSeq: 0, asdu });
  const a = read(refusalAsdu(frame, 'unknown-ca', 6));
  assert.equal([a.typeId, a.cause, a.negative, a.ca], [100, 46, true, 9]);
  assert.is(refusalAsdu(Buffer.from('2d0106', 'hex'), 'denied'), null);
  assert.is(refusalAsdu(frame, 'denied', 6, 11), null);
});

test.run();
