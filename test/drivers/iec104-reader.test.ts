// The APDU reader (splitter + window + ASDU parser) on both sides of a gateway: the shared test
// conversation passes in order with the gateway's own numbering equal to the peers'; a sequence
// gap, an acknowledgement of frames never sent and a broken frame close; an unknown type in
// sequence is handed out as refused (cause 44 material) without breaking the sequence.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  ApduReader, ApciFormat, UFunction, encodeIFrame, encodeUFrame, encodeSFrame, encodeAsdu, TypeId, qoi, type ApduReaderHandler, type ApciFrame,
} from '../../drivers/iec104';
import { conversation } from '../helpers/iec104';

interface Log { u: number[]; s: number; asdu: string[]; refused: string[]; closed: string[] }

function handler(log: Log, extra: Partial<ApduReaderHandler> = {}): ApduReaderHandler {
  return {
    u: (fn, f) => { log.u.push(fn); extra.u?.(fn, f); },
    s: (f) => { log.s++; extra.s?.(f); },
    asdu: (a, f) => { log.asdu.push(`${a.typeId}/${a.cause}/${a.ioa[0]}`); extra.asdu?.(a, f); },
    refused: (a, f) => { log.refused.push(`${a.fault}: ${a.message}`); extra.refused?.(a, f); },
    closed: (m) => { log.closed.push(m); },
  };
}
const newLog = (): Log => ({ u: [], s: 0, asdu: [], refused: [], closed: [] });

test('the conversation through both sides: in order, and the gateway numbers its frames as the peers did', () => {
  let now = 0;
  const fromMaster = newLog(), fromRtu = newLog();
  // masterSide reads the master's frames (the gateway is the controlled station there); rtuSide the RTU's.
  const sides: { masterSide?: ApduReader; rtuSide?: ApduReader } = {};
  const forward = (to: ApduReader, f: ApciFrame): void => {
    if (f.format === ApciFormat.I) assert.equal(to.window.sendI(now), { sendSeq: f.sendSeq, recvSeq: f.recvSeq });
    else if (f.format === ApciFormat.S) assert.is(to.window.sendS(), f.recvSeq);
    else to.window.sentU(f.uFunction, now);
  };
  sides.masterSide = new ApduReader({
    window: { role: 'controlled' }, now: () => now,
    handler: handler(fromMaster, { u: (_, f) => forward(sides.rtuSide!, f), s: (f) => forward(sides.rtuSide!, f), asdu: (_, f) => forward(sides.rtuSide!, f) }),
  });
  sides.rtuSide = new ApduReader({
    window: { role: 'controlling' }, now: () => now,
    handler: handler(fromRtu, { u: (_, f) => forward(sides.masterSide!, f), s: (f) => forward(sides.masterSide!, f), asdu: (_, f) => forward(sides.masterSide!, f) }),
  });
  for (const w of conversation()) {
    now += 10;
    (w.from === 'c' ? sides.masterSide : sides.rtuSide).push(w.bytes);
  }
  assert.equal([fromMaster.closed, fromRtu.closed, fromMaster.refused, fromRtu.refused], [[], [], [], []]);
  assert.equal(fromMaster.u, [UFunction.STARTDT_ACT, UFunction.TESTFR_ACT, UFunction.TESTFR_CON, UFunction.STOPDT_ACT]);
  assert.equal(fromMaster.asdu, ['100/6/0', '45/6/4001', '45/6/4001', '46/6/4100', '50/6/5001', '45/6/4001', '46/6/9999', '49/6/5002']);
  assert.is(fromRtu.asdu.length, 11);
  assert.is(sides.masterSide.window.unacknowledged, 0, 'the master acknowledged everything');
  assert.not.ok(sides.masterSide.window.started, 'STOPDT');
});

function controlled(log: Log): ApduReader {
  const r = new ApduReader({ window: { role: 'controlled' }, now: () => 0, handler: handler(log) });
  r.push(encodeUFrame(UFunction.STARTDT_ACT));
  return r;
}
const GI = encodeAsdu({ typeId: TypeId.C_IC_NA_1, cause: 6, ca: 1, objects: [{ ioa: 0, element: qoi() }] });

test('a sequence gap closes, and nothing after it is read', () => {
  const log = newLog();
  const r = controlled(log);
  r.push(Buffer.concat([encodeIFrame({ sendSeq: 0, recvSeq: 0, asdu: GI }), encodeIFrame({ sendSeq: 2, recvSeq: 0, asdu: GI }), encodeIFrame({ sendSeq: 1, recvSeq: 0, asdu: GI })]));
  assert.equal(log.asdu, ['100/6/0']);
  assert.equal(log.closed, ['I-format APDU N(S)=2, expected 1 (sequence gap or repeat)']);
  assert.ok(r.closed);
  r.push(encodeUFrame(UFunction.TESTFR_ACT));
  assert.equal(log.u, [UFunction.STARTDT_ACT]);
});

test('an acknowledgement of frames never sent closes; so does a broken frame', () => {
  const a = newLog();
  controlled(a).push(encodeSFrame({ recvSeq: 3 }));
  assert.equal(a.closed, ['S-format APDU N(R)=3 acknowledges frames not sent (acknowledged 0, V(S)=0)']);
  const b = newLog();
  controlled(b).push(Buffer.from('680401ff0000', 'hex'));
  assert.match(b.closed[0], 'S-format control field 01 ff');
});

test('an unknown type or a malformed ASDU in sequence is handed out as refused; the sequence goes on', () => {
  const log = newLog();
  const r = controlled(log);
  const unknown = Buffer.from('c8010600010000000014', 'hex');
  const short = Buffer.from('2d0106000100a00f00', 'hex');
  r.push(Buffer.concat([encodeIFrame({ sendSeq: 0, recvSeq: 0, asdu: unknown }), encodeIFrame({ sendSeq: 1, recvSeq: 0, asdu: short }), encodeIFrame({ sendSeq: 2, recvSeq: 0, asdu: GI })]));
  assert.equal(log.refused, ['unknown-type: ASDU type 200 is not one IEC 60870-5-104 defines', 'malformed: ASDU type 45 with 1 object (SQ=0) needs 4 bytes after the header, has 3']);
  assert.equal(log.asdu, ['100/6/0']);
  assert.equal(log.closed, []);
  assert.is(r.window.vr, 3);
  assert.ok(r.window.ackDue === false && r.window.unacknowledgedReceived === 3);
});

test.run();
