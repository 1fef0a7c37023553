// Unit tests of the IEC 60870-5-104 codec: APCI formats and the stream splitter (one-byte
// splits, cap, every malformed reason), the ASDU element size of every supported type, command
// element decoding, and hostile ASDUs (length lies, SQ counts overrunning, unknown types,
// truncated elements): never a throw, a fault and a message each.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  ApciSplitter, ApciFrame, ApciFormat, UFunction, encodeIFrame, encodeSFrame, encodeUFrame, uFunctionName,
  Asdu, parseAsdu, encodeAsdu, answerAsdu, TypeId, Cause, elementSize, typeName, CommandKind,
  sco, dco, rco, setpointNormalized, setpointScaled, setpointFloat, bitstring, measuredFloat, siq, qoi, cp56, element,
  type ApciHandler,
} from '../../drivers/iec104';

interface Seen { format: number; ns: number; nr: number; u: number; asdu: string }

class Frames implements ApciHandler {
  frames: Seen[] = [];
  errors: string[] = [];
  onApdu(f: ApciFrame): boolean {
    this.frames.push({ format: f.format, ns: f.sendSeq, nr: f.recvSeq, u: f.uFunction, asdu: f.asdu().toString('hex') });
    return true;
  }
  onApciMalformed(m: string): void { this.errors.push(m); }
}

function split(bytes: Uint8Array, step = bytes.length, options = {}): Frames {
  const h = new Frames();
  const s = new ApciSplitter(h, options);
  for (let i = 0; i < bytes.length; i += step) s.push(bytes.subarray(i, Math.min(bytes.length, i + step)));
  return h;
}

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// --- APCI -------------------------------------------------------------------------------------

test('APCI: U-format encodings are the standard octets (STARTDT act 68 04 07 00 00 00 ...)', () => {
  assert.is(encodeUFrame(UFunction.STARTDT_ACT).toString('hex'), '680407000000');
  assert.is(encodeUFrame(UFunction.STARTDT_CON).toString('hex'), '68040b000000');
  assert.is(encodeUFrame(UFunction.STOPDT_ACT).toString('hex'), '680413000000');
  assert.is(encodeUFrame(UFunction.STOPDT_CON).toString('hex'), '680423000000');
  assert.is(encodeUFrame(UFunction.TESTFR_ACT).toString('hex'), '680443000000');
  assert.is(encodeUFrame(UFunction.TESTFR_CON).toString('hex'), '680483000000');
  assert.is(uFunctionName(UFunction.TESTFR_CON), 'TESTFR con');
  assert.is(uFunctionName(0x0c), undefined);
  assert.throws(() => encodeUFrame(0x0c as never), /not one U function/);
});

test('APCI: S- and I-format sequence numbers are 15 bits, shifted left one bit', () => {
  assert.is(encodeSFrame({ recvSeq: 0 }).toString('hex'), '680401000000');
  assert.is(encodeSFrame({ recvSeq: 1 }).toString('hex'), '680401000200');
  assert.is(encodeSFrame({ recvSeq: 32767 }).toString('hex'), '68040100feff');
  const i = encodeIFrame({ sendSeq: 200, recvSeq: 32767, asdu: hex('64010600010000000014') });
  assert.is(i.subarray(0, 6).toString('hex'), '680e9001feff');
  assert.throws(() => encodeSFrame({ recvSeq: 32768 }), /sequence number 32768/);
  assert.throws(() => encodeIFrame({ sendSeq: 0, recvSeq: 0, asdu: new Uint8Array(0) }), /0 bytes of ASDU/);
  assert.throws(() => encodeIFrame({ sendSeq: 0, recvSeq: 0, asdu: new Uint8Array(250) }), /250 bytes of ASDU/);
});

test('APCI splitter: every format round trips, whole and one byte at a time', () => {
  const asdu = encodeAsdu({ typeId: TypeId.C_IC_NA_1, cause: Cause.ACTIVATION, ca: 1, objects: [{ ioa: 0, element: qoi(20) }] });
  const stream = Buffer.concat([
    encodeUFrame(UFunction.STARTDT_ACT), encodeUFrame(UFunction.STARTDT_CON),
    encodeIFrame({ sendSeq: 5, recvSeq: 32766, asdu }), encodeSFrame({ recvSeq: 6 }), encodeUFrame(UFunction.TESTFR_ACT),
  ]);
  const want: Seen[] = [
    { format: ApciFormat.U, ns: 0, nr: 0, u: UFunction.STARTDT_ACT, asdu: '' },
    { format: ApciFormat.U, ns: 0, nr: 0, u: UFunction.STARTDT_CON, asdu: '' },
    { format: ApciFormat.I, ns: 5, nr: 32766, u: 0, asdu: asdu.toString('hex') },
    { format: ApciFormat.S, ns: 0, nr: 6, u: 0, asdu: '' },
    { format: ApciFormat.U, ns: 0, nr: 0, u: UFunction.TESTFR_ACT, asdu: '' },
  ];
  for (const step of [stream.length, 1, 2, 5, 7]) {
    const h = split(stream, step);
    assert.equal(h.errors, [], `step ${step}`);
    assert.equal(h.frames, want, `step ${step}`);
  }
});

test('APCI splitter: a partial frame is held, and the largest APDU (255 bytes) passes', () => {
  const h = new Frames();
  const s = new ApciSplitter(h);
  const big = encodeIFrame({ sendSeq: 1, recvSeq: 2, asdu: Buffer.alloc(249, 1) });
  assert.is(big.length, 255);
  s.push(big.subarray(0, 100));
  assert.is(s.partialBytes, 100);
  assert.is(h.frames.length, 0);
  s.push(big.subarray(100));
  assert.is(s.partialBytes, 0);
  assert.is(h.frames.length, 1);
  assert.is(h.frames[0].asdu.length, 249 * 2);
});

test('APCI splitter: a handler returning false stops at the end of that frame', () => {
  const two = Buffer.concat([encodeSFrame({ recvSeq: 1 }), encodeSFrame({ recvSeq: 2 })]);
  let n = 0;
  const s = new ApciSplitter({ onApdu: () => { n++; return false; }, onApciMalformed: () => assert.unreachable() });
  assert.is(s.push(two), 6);
  assert.is(n, 1);
  assert.is(s.push(two, 6), 12);
  assert.is(n, 2);
});

const MALFORMED: ReadonlyArray<[string, string, RegExp]> = [
  ['bad start byte', '69 04 07 00 00 00', /does not start with 68 \(got 69\)/],
  ['length below 4', '68 03 07 00 00', /length 3 is outside 4\.\.253/],
  ['length above 253', '68 fe' + '00'.repeat(254), /length 254 is outside 4\.\.253/],
  ['unknown U function (two bits)', '68 04 0f 00 00 00', /U-format control octet 1 0f is not one/],
  ['U function with no bit', '68 04 03 00 00 00', /U-format control octet 1 03/],
  ['U-format with octet 2 set', '68 04 07 01 00 00', /U-format control octets 2\.\.4 must be 0/],
  ['U-format that carries data', '68 05 07 00 00 00 00', /U-format APDU has length 5/],
  ['S-format with reserved bits', '68 04 05 00 00 00', /S-format control field 05/],
  ['S-format with CF2 set', '68 04 01 01 00 00', /S-format control field 01 01/],
  ['S-format with N(R) bit 0 set', '68 04 01 00 01 00', /S-format control field/],
  ['S-format that carries data', '68 06 01 00 02 00 64 01', /S-format APDU has length 6/],
  ['I-format without ASDU', '68 04 00 00 00 00', /I-format APDU carries no ASDU/],
  ['I-format with N(R) bit 0 set', '68 0a 00 00 01 00 64 01 06 00 01 00', /I-format control octet 3 has bit 0 set/],
];

for (const [name, bytes, msg] of MALFORMED) {
  test(`APCI splitter, malformed: ${name} (whole and byte by byte, nothing read after)`, () => {
    for (const step of [1, 1000]) {
      const h = split(Buffer.concat([hex(bytes), encodeSFrame({ recvSeq: 0 })]), step);
      assert.is(h.errors.length, 1, `step ${step}`);
      assert.match(h.errors[0], msg);
      assert.is(h.frames.length, 0);
    }
  });
}

test('APCI splitter: the length cap is configurable and a frame over it is malformed', () => {
  const frame = encodeIFrame({ sendSeq: 0, recvSeq: 0, asdu: Buffer.alloc(100) });
  const h = split(frame, frame.length, { maxLength: 64 });
  assert.equal(h.errors, ['APDU length 104 is outside 4..64']);
  assert.throws(() => new ApciSplitter(new Frames(), { maxLength: 254 }), /maxLength 254/);
});

test('APCI splitter: a stop after close reads nothing', () => {
  const h = new Frames();
  const s = new ApciSplitter(h);
  s.close();
  s.push(encodeUFrame(UFunction.TESTFR_ACT));
  assert.is(h.frames.length, 0);
  assert.ok(s.closed);
});

// --- ASDU -------------------------------------------------------------------------------------

const SIZES: ReadonlyArray<[number, number]> = [
  [1, 1], [3, 1], [5, 2], [7, 5], [9, 3], [11, 3], [13, 5], [15, 5], [20, 5], [21, 2],
  [30, 8], [31, 8], [32, 9], [33, 12], [34, 10], [35, 10], [36, 12], [37, 12], [38, 10], [39, 11], [40, 11],
  [45, 1], [46, 1], [47, 1], [48, 3], [49, 3], [50, 5], [51, 4],
  [58, 8], [59, 8], [60, 8], [61, 10], [62, 10], [63, 12], [64, 11],
  [70, 1], [100, 1], [101, 1], [102, 0], [103, 7], [105, 1], [107, 9],
  [110, 3], [111, 3], [112, 5], [113, 1],
  [120, 6], [121, 7], [122, 4], [123, 5], [124, 4], [126, 13], [127, 16],
];

test('ASDU: the element size of every supported type (IEC 60870-5-101 7.3)', () => {
  for (const [t, size] of SIZES) assert.is(elementSize(t), size, typeName(t));
  assert.is(elementSize(125), -1, 'F_SG_NA_1 is variable');
  for (const t of [0, 2, 4, 6, 8, 10, 12, 14, 16, 17, 18, 19, 22, 29, 41, 44, 52, 57, 65, 69, 71, 99, 104, 106, 108, 109, 114, 119, 128, 255]) {
    assert.is(elementSize(t), undefined, `type ${t} is not used in 104`);
  }
  assert.is(typeName(45), 'C_SC_NA_1');
  assert.is(typeName(2), 'type 2');
});

test('ASDU: every supported type parses with SQ=0 (2 objects) and SQ=1 (3 objects), and a byte more or less is malformed', () => {
  const a = new Asdu();
  for (const [t, size] of SIZES) {
    const el = (k: number): Uint8Array => Buffer.alloc(size, k);
    const sq0 = encodeAsdu({ typeId: t, cause: 3, ca: 0x1234, objects: [{ ioa: 0x010203, element: el(1) }, { ioa: 7, element: el(2) }] });
    assert.is(sq0.length, 6 + 2 * (3 + size));
    assert.ok(parseAsdu(sq0, a), `${typeName(t)} SQ=0: ${a.message}`);
    assert.equal([a.typeId, a.sq, a.count, a.ca, a.elementSize, a.ioa[0], a.ioa[1], a.element[0], a.element[1]], [t, false, 2, 0x1234, size, 0x010203, 7, 9, 9 + 3 + size]);
    const sq1 = encodeAsdu({ typeId: t, sq: true, cause: 20, ca: 1, objects: [{ ioa: 100, element: el(1) }, { ioa: 101, element: el(2) }, { ioa: 102, element: el(3) }] });
    assert.is(sq1.length, 6 + 3 + 3 * size);
    assert.ok(parseAsdu(sq1, a), `${typeName(t)} SQ=1: ${a.message}`);
    assert.equal([a.sq, a.count, a.ioa[0], a.ioa[1], a.ioa[2], a.element[2]], [true, 3, 100, 101, 102, 9 + 2 * size]);
    const longer = Buffer.concat([sq0, Buffer.from([0])]);
    assert.not.ok(parseAsdu(longer, a));
    assert.is(a.fault, 'malformed');
    assert.match(a.message, `needs ${2 * (3 + size)} bytes after the header, has ${2 * (3 + size) + 1}`);
    assert.not.ok(parseAsdu(sq1.subarray(0, sq1.length - 1), a), `${typeName(t)} truncated`);
    assert.is(a.fault, 'malformed');
  }
});

test('ASDU: header fields: SQ, N, cause, P/N, T, originator, CA', () => {
  const a = new Asdu();
  assert.ok(parseAsdu(hex('2d 01 c7 05 3412 0a0000 81'), a), a.message);
  assert.equal([a.typeId, a.sq, a.count, a.cause, a.negative, a.test, a.originator, a.ca, a.ioa[0]], [45, false, 1, 7, true, true, 5, 0x1234, 10]);
});

test('ASDU: single, double and regulating step commands: state, QU and S/E', () => {
  const a = new Asdu();
  const one = (typeId: number, el: Uint8Array): Asdu => {
    assert.ok(parseAsdu(encodeAsdu({ typeId, cause: 6, ca: 1, objects: [{ ioa: 4001, element: el }] }), a), a.message);
    return a;
  };
  one(TypeId.C_SC_NA_1, sco(1, { select: true }));
  assert.equal([a.command, a.value[0], a.select[0], a.qualifier[0]], [CommandKind.SINGLE, 1, 1, 0]);
  one(TypeId.C_SC_NA_1, sco(0, { qu: 1 }));
  assert.equal([a.value[0], a.select[0], a.qualifier[0]], [0, 0, 1]);
  one(TypeId.C_DC_NA_1, dco(2, { select: true, qu: 3 }));
  assert.equal([a.command, a.value[0], a.select[0], a.qualifier[0]], [CommandKind.DOUBLE, 2, 1, 3]);
  one(TypeId.C_DC_NA_1, dco(3));
  assert.is(a.value[0], 3, 'DCS 3 is read as is; the policy refuses it');
  one(TypeId.C_RC_NA_1, rco(1, { qu: 31 }));
  assert.equal([a.command, a.value[0], a.select[0], a.qualifier[0]], [CommandKind.REGULATING, 1, 0, 31]);
  one(TypeId.C_SC_TA_1, element(sco(1, { select: true }), cp56(Date.UTC(2026, 11, 3, 7, 0, 0))));
  assert.equal([a.command, a.value[0], a.select[0]], [CommandKind.SINGLE, 1, 1]);
  one(TypeId.C_DC_TA_1, element(dco(1), cp56(0)));
  assert.equal([a.command, a.value[0]], [CommandKind.DOUBLE, 1]);
  one(TypeId.C_RC_TA_1, element(rco(2), cp56(0)));
  assert.equal([a.command, a.value[0]], [CommandKind.REGULATING, 2]);
});

test('ASDU: set-points (normalized, scaled, short float) and bitstrings: value, QL and S/E', () => {
  const a = new Asdu();
  const one = (typeId: number, el: Uint8Array): Asdu => {
    assert.ok(parseAsdu(encodeAsdu({ typeId, cause: 6, ca: 1, objects: [{ ioa: 5001, element: el }] }), a), a.message);
    return a;
  };
  one(TypeId.C_SE_NA_1, setpointNormalized(-0.5, { select: true, ql: 5 }));
  assert.equal([a.command, a.value[0], a.select[0], a.qualifier[0]], [CommandKind.NORMALIZED, -0.5, 1, 5]);
  one(TypeId.C_SE_NA_1, setpointNormalized(1));
  assert.is(a.value[0], 32767 / 32768);
  one(TypeId.C_SE_NB_1, setpointScaled(-32768, { ql: 127 }));
  assert.equal([a.command, a.value[0], a.select[0], a.qualifier[0]], [CommandKind.SCALED, -32768, 0, 127]);
  one(TypeId.C_SE_NC_1, setpointFloat(49.75, { select: true }));
  assert.equal([a.command, a.value[0], a.select[0], a.qualifier[0]], [CommandKind.FLOAT, 49.75, 1, 0]);
  one(TypeId.C_SE_NC_1, setpointFloat(NaN));
  assert.ok(Number.isNaN(a.value[0]), 'NaN is read as is; bounds refuse it');
  one(TypeId.C_SE_TA_1, element(setpointNormalized(0.25), cp56(0)));
  assert.equal([a.command, a.value[0]], [CommandKind.NORMALIZED, 0.25]);
  one(TypeId.C_SE_TB_1, element(setpointScaled(1200), cp56(0)));
  assert.equal([a.command, a.value[0]], [CommandKind.SCALED, 1200]);
  one(TypeId.C_SE_TC_1, element(setpointFloat(-3.5), cp56(0)));
  assert.equal([a.command, a.value[0]], [CommandKind.FLOAT, -3.5]);
  one(TypeId.C_BO_NA_1, bitstring(0xdeadbeef));
  assert.equal([a.command, a.value[0], a.select[0]], [CommandKind.BITSTRING, 0xdeadbeef, 0]);
  one(TypeId.C_BO_TA_1, element(bitstring(1), cp56(0)));
  assert.equal([a.command, a.value[0]], [CommandKind.BITSTRING, 1]);
  one(TypeId.M_ME_NC_1, measuredFloat(1.5));
  assert.is(a.command, CommandKind.NONE);
});

test('ASDU: CP56Time2a of 2026-12-03 07:05:09.250 UTC (a Thursday)', () => {
  assert.is(Buffer.from(cp56(Date.UTC(2026, 11, 3, 7, 5, 9, 250))).toString('hex'), '22240507830c1a');
});

test('ASDU: F_SG_NA_1 segments carry their own length, checked against the frame', () => {
  const a = new Asdu();
  const seg = hex('0100 01 03 aabbcc');
  const ok = encodeAsdu({ typeId: TypeId.F_SG_NA_1, cause: Cause.FILE, ca: 1, objects: [{ ioa: 9, element: seg }] });
  assert.ok(parseAsdu(ok, a), a.message);
  assert.equal([a.count, a.elementSize, a.ioa[0], a.element[0]], [1, 7, 9, 9]);
  assert.not.ok(parseAsdu(ok.subarray(0, ok.length - 1), a));
  assert.match(a.message, 'segment of 3 bytes, 2 left');
  assert.not.ok(parseAsdu(Buffer.concat([ok, Buffer.from([0])]), a));
  assert.match(a.message, '1 bytes after the last of 1 objects');
  assert.not.ok(parseAsdu(ok.subarray(0, 12), a));
  assert.match(a.message, 'a segment header needs 7');
  const sq = Buffer.from(ok);
  sq[1] |= 0x80;
  assert.not.ok(parseAsdu(sq, a));
  assert.match(a.message, 'SQ=1');
});

const HOSTILE: ReadonlyArray<[string, string, 'malformed' | 'unknown-type', RegExp]> = [
  ['empty', '', 'malformed', /ASDU of 0 bytes is shorter than its 6-byte header/],
  ['header cut', '64 01 06 00 01', 'malformed', /ASDU of 5 bytes/],
  ['unknown type 0', '00 01 06 00 0100 000000 14', 'unknown-type', /ASDU type 0 is not one/],
  ['CP24 type 2, not used in 104', '02 01 03 00 0100 010000 01 000000', 'unknown-type', /ASDU type 2 is not one/],
  ['unknown type 200', 'c8 01 06 00 0100 000000 14', 'unknown-type', /ASDU type 200/],
  ['zero objects', '64 00 06 00 0100', 'malformed', /has 0 information objects/],
  ['zero objects with trailing bytes', '64 00 06 00 0100 000000 14', 'malformed', /has 0 information objects/],
  ['count 2, one object (length lie)', '64 02 06 00 0100 000000 14', 'malformed', /with 2 objects \(SQ=0\) needs 8 bytes after the header, has 4/],
  ['count 127, one object', '0d 7f 03 00 0100 010000 0000803f 00', 'malformed', /with 127 objects \(SQ=0\) needs 1016 bytes/],
  ['SQ=1 count 127 overrunning', '0d ff 14 00 0100 010000 0000803f 00', 'malformed', /with 127 objects \(SQ=1\) needs 638 bytes/],
  ['SQ=1 IOA sequence past 2^24-1', '01 83 14 00 0100 feffff 01 01 01', 'malformed', /from IOA 16777214 runs past IOA 16777215/],
  ['truncated element', '2d 01 06 00 0100 0a0000', 'malformed', /needs 4 bytes after the header, has 3/],
  ['truncated IOA', '2d 01 06 00 0100 0a00', 'malformed', /needs 4 bytes after the header, has 2/],
  ['truncated set-point float', '32 01 06 00 0100 0a0000 0000803f', 'malformed', /needs 8 bytes after the header, has 7/],
  ['truncated CP56 time tag', '3a 01 06 00 0100 0a0000 81 000000000000', 'malformed', /needs 11 bytes after the header, has 10/],
  ['C_RD_NA_1 with an element', '66 01 05 00 0100 0a0000 00', 'malformed', /needs 3 bytes after the header, has 4/],
];

for (const [name, bytes, fault, msg] of HOSTILE) {
  test(`ASDU, hostile: ${name}: no throw, fault ${fault}`, () => {
    const a = new Asdu();
    assert.not.ok(parseAsdu(hex(bytes), a));
    assert.is(a.fault, fault);
    assert.match(a.message, msg);
    assert.is(a.count, 0);
  });
}

test('ASDU, hostile: every prefix and every one-byte corruption of a valid ASDU parses or faults, never throws', () => {
  const good = encodeAsdu({ typeId: TypeId.C_SE_TC_1, cause: 6, ca: 1, objects: [{ ioa: 1, element: element(setpointFloat(1), cp56(0)) }] });
  const a = new Asdu();
  for (let n = 0; n < good.length; n++) assert.not.ok(parseAsdu(good.subarray(0, n), a), `prefix ${n}`);
  for (let i = 0; i < good.length; i++) {
    for (let v = 0; v < 256; v++) {
      const b = Buffer.from(good);
      b[i] = v;
      if (!parseAsdu(b, a)) assert.ok(a.message.length > 0);
    }
  }
});

test('ASDU, hostile: a parse at an offset reads only bytes[from .. end)', () => {
  const asdu = encodeAsdu({ typeId: TypeId.C_IC_NA_1, cause: 6, ca: 7, objects: [{ ioa: 0, element: qoi() }] });
  const frame = encodeIFrame({ sendSeq: 0, recvSeq: 0, asdu });
  const a = new Asdu();
  assert.ok(parseAsdu(frame, a, 6), a.message);
  assert.equal([a.typeId, a.ca, a.count], [100, 7, 1]);
  assert.not.ok(parseAsdu(frame, a, 6, frame.length - 1));
  assert.throws(() => parseAsdu(frame, a, 6, frame.length + 1), /range 6\.\.17 is outside the 16 bytes given/);
});

test('encodeAsdu: refuses specs the standard cannot carry', () => {
  assert.throws(() => encodeAsdu({ typeId: 45, cause: 6, ca: 1, objects: [{ ioa: 1, element: new Uint8Array(2) }] }), /C_SC_NA_1 elements are 1 bytes, got 2/);
  assert.throws(() => encodeAsdu({ typeId: 45, cause: 64, ca: 1, objects: [] }), /cause 64/);
  assert.throws(() => encodeAsdu({ typeId: 45, cause: 6, ca: 0x10000, objects: [] }), /common address 65536/);
  assert.throws(() => encodeAsdu({ typeId: 45, cause: 6, ca: 1, objects: [{ ioa: 2 ** 24, element: sco(1) }] }), /IOA 16777216/);
  assert.throws(() => encodeAsdu({ typeId: 1, sq: true, cause: 20, ca: 1, objects: [{ ioa: 1, element: siq(1) }, { ioa: 3, element: siq(0) }] }), /consecutive/);
  assert.throws(() => encodeAsdu({ typeId: 13, cause: 20, ca: 1, objects: Array.from({ length: 50 }, (_, i) => ({ ioa: i, element: measuredFloat(i) })) }), /406 bytes/);
  assert.throws(() => sco(1, { qu: 32 }), /QU 32/);
});

test('answerAsdu: the negative activation confirmation mirrors the ASDU with cause 7 and P/N, keeping T', () => {
  const req = encodeAsdu({ typeId: TypeId.C_SC_NA_1, cause: Cause.ACTIVATION, test: true, originator: 3, ca: 1, objects: [{ ioa: 4001, element: sco(1, { select: true }) }] });
  const a = new Asdu();
  assert.ok(parseAsdu(answerAsdu(req, { cause: Cause.ACTIVATION_CON, negative: true }), a));
  assert.equal([a.typeId, a.cause, a.negative, a.test, a.originator, a.ca, a.ioa[0], a.value[0], a.select[0]], [45, 7, true, true, 3, 1, 4001, 1, 1]);
  assert.ok(parseAsdu(answerAsdu(req, { cause: Cause.UNKNOWN_IOA, negative: true }), a));
  assert.equal([a.cause, a.negative], [47, true]);
  const unknownType = hex('c8 01 06 00 0100 000000 14');
  assert.is(answerAsdu(unknownType, { cause: Cause.UNKNOWN_TYPE, negative: true }).toString('hex'), 'c8016c000100000000' + '14');
  assert.is(parseAsdu(req, a) && req[2], 0x86, 'the request is not changed');
});

test.run();
