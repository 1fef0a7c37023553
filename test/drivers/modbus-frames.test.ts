// Unit tests of the Modbus/TCP driver's pure parts: MBAP splitting (split and glued frames, bad
// headers), request PDU parsing by shape, write values for audit, exception ADUs and mapping.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MbapSplitter, type MbapFrameHandler } from '../../drivers/modbus-tcp/mbap';
import { ModbusRequest, parseRequestPdu, requestWriteValues } from '../../drivers/modbus-tcp/pdu';
import { exceptionAdu, exceptionForReason, EXCEPTION_FOR_REASON } from '../../drivers/modbus-tcp/exception';
import { DENY_REASONS } from '../../policy/types';
import { adu, pdus } from '../helpers/modbus';

class Collect implements MbapFrameHandler {
  frames: string[] = [];
  scratchSeen = 0;
  errors: string[] = [];
  onFrame(buf: Buffer, off: number, len: number, scratch: boolean): boolean {
    this.frames.push(buf.subarray(off, off + len).toString('hex'));
    if (scratch) this.scratchSeen++;
    return true;
  }
  onMalformed(message: string): void { this.errors.push(message); }
}

const three = [adu(1, 1, pdus.read(3, 0, 2)), adu(2, 17, pdus.writeRegisters(5, [1, 2, 3])), adu(0xffff, 255, pdus.writeCoils(0, [1, 0, 1, 1, 0, 0, 0, 0, 1]))];
const all = Buffer.concat(three);

test('splitter: glued frames come out in place, one by one', () => {
  const c = new Collect();
  const s = new MbapSplitter(c);
  assert.is(s.push(all, 0), all.length);
  assert.equal(c.frames, three.map((b) => b.toString('hex')));
  assert.is(c.scratchSeen, 0);
  assert.is(s.partialBytes, 0);
});

test('splitter: the same stream split at every possible point and byte by byte', () => {
  for (let cut = 1; cut < all.length; cut++) {
    const c = new Collect();
    const s = new MbapSplitter(c);
    s.push(all.subarray(0, cut), 0);
    s.push(all.subarray(cut), 0);
    assert.equal(c.frames, three.map((b) => b.toString('hex')), `cut at ${cut}`);
  }
  const c = new Collect();
  const s = new MbapSplitter(c);
  for (let i = 0; i < all.length; i++) s.push(all.subarray(i, i + 1), 0);
  assert.equal(c.frames, three.map((b) => b.toString('hex')));
  assert.is(c.scratchSeen, 3);
});

test('splitter: stops when the handler says so and returns where', () => {
  const c = new Collect();
  c.onFrame = function (buf, off, len) { this.frames.push(buf.subarray(off, off + len).toString('hex')); return false; };
  const s = new MbapSplitter(c);
  const stop = s.push(all, 0);
  assert.is(stop, three[0].length);
  assert.is(s.push(all, stop), three[0].length + three[1].length);
});

test('splitter: protocol id other than 0 is refused as soon as its bytes arrive', () => {
  const c = new Collect();
  const s = new MbapSplitter(c);
  const bad = adu(7, 1, pdus.read(3, 0, 1), { protocol: 1 });
  assert.is(s.push(bad.subarray(0, 4), 0), -1);
  assert.equal(c.errors, ['MBAP protocol id 1 is not 0 (Modbus)']);
  assert.is(s.push(adu(8, 1, pdus.read(3, 0, 1)), 0), -1, 'dead after a bad header');
});

test('splitter: length outside 2..254 is refused', () => {
  for (const length of [0, 1, 255, 0xffff]) {
    const c = new Collect();
    const s = new MbapSplitter(c);
    assert.is(s.push(adu(1, 1, pdus.read(3, 0, 1), { length }), 0), -1);
    assert.equal(c.errors, [`MBAP length ${length} outside 2..254`]);
  }
  const c = new Collect();
  const s = new MbapSplitter(c);
  const ok = adu(1, 1, Buffer.alloc(253, 0x08)); // length 254: largest legal ADU (260 bytes)
  assert.is(ok.length, 260);
  assert.is(s.push(ok, 0), 260);
  assert.is(c.frames.length, 1);
});

const parse = (pdu: number[]): { problem: string | null; req: ModbusRequest } => {
  const req = new ModbusRequest();
  const b = Buffer.from(pdu);
  return { problem: parseRequestPdu(b, 0, b.length, req), req };
};

test('pdu: range, single, multiple, mask, read-write, fifo shapes', () => {
  let r = parse(pdus.read(3, 10, 5));
  assert.is(r.problem, null);
  assert.equal([r.req.fn, r.req.address, r.req.count, r.req.writes], [3, 10, 5, false]);
  r = parse(pdus.writeSingle(6, 7, 0x1234));
  assert.equal([r.problem, r.req.address, r.req.count, r.req.writes, r.req.invalid], [null, 7, 1, true, null]);
  r = parse(pdus.writeCoils(100, [1, 1, 0, 0, 0, 0, 0, 0, 1, 1]));
  assert.equal([r.problem, r.req.address, r.req.count], [null, 100, 10]);
  r = parse([22, 0, 4, 0xff, 0x00, 0x00, 0x12]);
  assert.equal([r.problem, r.req.address, r.req.count], [null, 4, 1]);
  r = parse([23, 0, 1, 0, 2, 0, 9, 0, 2, 4, 0, 5, 0, 6]);
  assert.equal([r.problem, r.req.address, r.req.count, r.req.writeAddress, r.req.writeCount, r.req.writes], [null, 1, 2, 9, 2, true]);
  r = parse([24, 0x01, 0x02]);
  assert.equal([r.problem, r.req.address, r.req.count], [null, 0x102, 1]);
  r = parse([8, 0, 0, 0x12, 0x34]);
  assert.equal([r.problem, r.req.address, r.req.count], [null, 0, 0]);
  r = parse([0x5a, 1, 2, 3]);
  assert.equal([r.problem, r.req.fn, r.req.count], [null, 0x5a, 0], 'unknown functions are left to the policy');
});

test('pdu: fixed-size PDUs of the wrong length are framing errors', () => {
  assert.is(parse([3, 0, 0, 0]).problem, 'read-holding-registers: PDU is 4 bytes, expected 5');
  assert.is(parse([3, 0, 0, 0, 1, 0]).problem, 'read-holding-registers: PDU is 6 bytes, expected 5');
  assert.is(parse([6, 0, 0, 0]).problem, 'write-single-register: PDU is 4 bytes, expected 5');
  assert.is(parse([16, 0, 0, 0]).problem, 'write-multiple-registers: PDU is 4 bytes, expected at least 6');
  assert.is(parse([22, 0, 0, 0, 0]).problem, 'mask-write-register: PDU is 5 bytes, expected 7');
  assert.is(parse([24, 0]).problem, 'read-fifo-queue: PDU is 2 bytes, expected 3');
});

// Issue 14 defect 2: the MBAP length delimits the frame, so these are request errors (exception 03,
// section 6.11/6.12/6.17 state diagrams), never framing errors that close the connection.
test('pdu: FC 15/16/23 byte counts or quantities that disagree are invalid (03), not framing errors', () => {
  const cases: [number[], string][] = [
    [[16, 0, 0, 0, 2, 3, 0, 1, 0], 'write-multiple-registers: byte count 3 does not match quantity 2 (expected 4)'],
    [[16, 0, 0, 0, 2, 4, 0, 1, 0], 'write-multiple-registers: byte count 4 but 3 value bytes follow'],
    [[15, 0, 0, 0, 9, 1, 0xff], 'write-multiple-coils: byte count 1 does not match quantity 9 (expected 2)'],
    [[23, 0, 1, 0, 2, 0, 9, 0, 2, 3, 0, 5, 0], 'read-write-multiple-registers: byte count 3 does not match write quantity 2 (expected 4)'],
    [[16, 0, 0, 0, 124, 248, ...new Array(240).fill(0)], 'write-multiple-registers: quantity 124 outside 1..123'],
    [[16, 0, 0, 0, 0, 0], 'write-multiple-registers: quantity 0 outside 1..123'],
    [[15, 0, 0, 0x07, 0xb1, 0xf7, ...new Array(240).fill(0)], 'write-multiple-coils: quantity 1969 outside 1..1968'],
    [[23, 0, 1, 0, 2, 0, 9, 0, 122, 244, ...new Array(240).fill(0)], 'read-write-multiple-registers: write quantity 122 outside 1..121'],
  ];
  for (const [pdu, message] of cases) {
    const r = parse(pdu);
    assert.is(r.problem, null, message);
    assert.is(r.req.invalid, message);
    assert.ok(requestWriteValues(Buffer.from(pdu), 0, pdu.length, r.req)!.length <= pdu.length * 8, 'values never read past the frame');
  }
});

test('pdu: spec-forbidden values are flagged, not framing errors', () => {
  const r = parse(pdus.writeSingle(5, 3, 0x1234));
  assert.is(r.problem, null);
  assert.is(r.req.invalid, 'write-single-coil: value 0x1234 is neither 0x0000 nor 0xFF00');
  assert.is(parse(pdus.writeSingle(5, 3, 0xff00)).req.invalid, null);
  assert.is(parse([23, 0, 1, 0, 2, 0, 9, 0, 0, 0]).req.invalid, 'read-write-multiple-registers: write quantity 0 outside 1..121');
  // Quantities the spec forbids on reads are for the policy (decided `malformed`): parse passes them.
  assert.equal([parse(pdus.read(3, 0, 0)).problem, parse(pdus.read(3, 0, 126)).problem], [null, null]);
});

test('pdu: values written, for the audit record', () => {
  const vals = (pdu: number[]): number[] | undefined => {
    const { req } = parse(pdu);
    return requestWriteValues(Buffer.from(pdu), 0, pdu.length, req);
  };
  assert.equal(vals(pdus.writeSingle(5, 1, 0xff00)), [1]);
  assert.equal(vals(pdus.writeSingle(5, 1, 0)), [0]);
  assert.equal(vals(pdus.writeSingle(6, 1, 4660)), [4660]);
  assert.equal(vals(pdus.writeRegisters(0, [1, 65535, 3])), [1, 65535, 3]);
  assert.equal(vals(pdus.writeCoils(0, [1, 0, 1, 1, 0, 0, 0, 0, 1, 0])), [1, 0, 1, 1, 0, 0, 0, 0, 1, 0]);
  assert.equal(vals([22, 0, 4, 0xff, 0x00, 0x00, 0x12]), [0xff00, 0x12]);
  assert.equal(vals([23, 0, 1, 0, 2, 0, 9, 0, 2, 4, 0, 5, 0, 6]), [5, 6]);
  assert.is(vals(pdus.read(3, 0, 1)), undefined);
});

test('exception ADU and reason mapping', () => {
  assert.is(exceptionAdu(0x1234, 7, 6, 2).toString('hex'), '12340000000307' + '86' + '02');
  assert.is(exceptionForReason('function-not-allowed'), 1);
  assert.is(exceptionForReason('address-out-of-range'), 2);
  assert.is(exceptionForReason('malformed'), 3);
  assert.is(exceptionForReason('rate-limited'), 6);
  assert.is(exceptionForReason('unit-not-allowed'), 0x0a);
  assert.is(exceptionForReason('quarantined'), 1);
  assert.is(exceptionForReason(null), 1);
  for (const r of DENY_REASONS) assert.ok(EXCEPTION_FOR_REASON[r] > 0, `mapping for ${r}`);
});

test.run();
