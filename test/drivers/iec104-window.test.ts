// The APCI state of one side of a 104 connection: sequence numbers checked (gaps, repeats,
// acknowledgements of frames never sent), the k and w windows, STARTDT/STOPDT, and the t1, t2,
// t3 deadlines driven by an injected time (no clocks, no sleeping).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  ApciWindow, ApciSplitter, ApciFrame, UFunction, encodeIFrame, encodeSFrame, encodeUFrame, encodeAsdu, qoi, TypeId,
} from '../../drivers/iec104';

const ASDU = encodeAsdu({ typeId: TypeId.C_IC_NA_1, cause: 6, ca: 1, objects: [{ ioa: 0, element: qoi() }] });

/** The splitter's frame for some bytes (one APDU). */
function frame(bytes: Buffer): ApciFrame {
  let got: ApciFrame | undefined;
  new ApciSplitter({ onApdu: (f) => { got = f; return false; }, onApciMalformed: (m) => { throw new Error(m); } }).push(bytes);
  return got!;
}
const I = (ns: number, nr: number): ApciFrame => frame(encodeIFrame({ sendSeq: ns, recvSeq: nr, asdu: ASDU }));
const S = (nr: number): ApciFrame => frame(encodeSFrame({ recvSeq: nr }));
const U = (fn: typeof UFunction[keyof typeof UFunction]): ApciFrame => frame(encodeUFrame(fn));

function started(role: 'controlling' | 'controlled', opts = {}): ApciWindow {
  const w = new ApciWindow({ role, ...opts }, 0);
  assert.is(w.received(U(role === 'controlled' ? UFunction.STARTDT_ACT : UFunction.STARTDT_CON), 0), null);
  return w;
}

test('I-frames only after STARTDT; STOPDT stops them; a U function from the wrong side is refused', () => {
  const w = new ApciWindow({ role: 'controlled' }, 0);
  assert.not.ok(w.canSend);
  assert.is(w.received(I(0, 0), 0), 'I-format APDU N(S)=0 while data transfer is stopped');
  assert.is(w.received(U(UFunction.STARTDT_CON), 0), 'STARTDT con from the controlling station');
  assert.is(w.received(U(UFunction.STARTDT_ACT), 0), null);
  assert.ok(w.canSend);
  assert.is(w.received(I(0, 0), 0), null);
  assert.is(w.received(U(UFunction.STOPDT_ACT), 0), null);
  assert.not.ok(w.canSend);
  const m = new ApciWindow({ role: 'controlling' }, 0);
  assert.is(m.received(U(UFunction.STARTDT_ACT), 0), 'STARTDT act from the controlled station');
  assert.throws(() => m.sendI(0), /data transfer is stopped/);
});

test('N(S) must equal V(R): a gap or a repeat is refused', () => {
  const w = started('controlled');
  assert.is(w.received(I(0, 0), 1), null);
  assert.is(w.received(I(1, 0), 2), null);
  assert.is(w.received(I(3, 0), 3), 'I-format APDU N(S)=3, expected 2 (sequence gap or repeat)');
  assert.is(w.received(I(1, 0), 3), 'I-format APDU N(S)=1, expected 2 (sequence gap or repeat)');
  assert.is(w.vr, 2);
});

test('N(R) must acknowledge only frames sent, and never go back', () => {
  const w = started('controlled');
  assert.is(w.received(S(1), 0), 'S-format APDU N(R)=1 acknowledges frames not sent (acknowledged 0, V(S)=0)');
  w.sendI(0); w.sendI(0); w.sendI(0);
  assert.is(w.unacknowledged, 3);
  assert.is(w.received(S(2), 0), null);
  assert.is(w.unacknowledged, 1);
  assert.is(w.received(S(1), 0), 'S-format APDU N(R)=1 acknowledges frames not sent (acknowledged 2, V(S)=3)');
  assert.is(w.received(I(0, 4), 0), 'I-format APDU N(R)=4 acknowledges frames not sent (acknowledged 2, V(S)=3)');
  assert.is(w.received(I(0, 3), 0), null);
  assert.is(w.unacknowledged, 0);
});

test('the k window: at most k unacknowledged I-frames, across the 15-bit wrap', () => {
  const w = started('controlled', { k: 4, w: 2 });
  for (let n = 0; n < 32766; n++) { w.sendI(0); assert.is(w.received(S(w.vs), 0), null); }
  const seqs: number[] = [];
  for (let n = 0; n < 4; n++) seqs.push(w.sendI(0).sendSeq);
  assert.equal(seqs, [32766, 32767, 0, 1]);
  assert.not.ok(w.canSend);
  assert.throws(() => w.sendI(0), /k window of 4 is full/);
  assert.is(w.received(S(0), 0), null);
  assert.is(w.unacknowledged, 2);
  assert.ok(w.canSend);
});

test("the peer's k window: an I-frame past k unacknowledged is an overrun; acknowledgements count once the peer can have seen them", () => {
  const w = started('controlled', { k: 3, w: 3 });
  for (let n = 0; n < 3; n++) assert.is(w.received(I(n, 0), 0), null);
  assert.is(w.received(I(3, 0), 0), 'I-format APDU N(S)=3 overruns the k window: 3 I-frames already unacknowledged (last acknowledgement N(R)=0)');
  assert.is(w.vr, 3, 'the overrunning frame is not taken');
  w.sendS();
  assert.is(w.received(I(3, 0), 0), null, 'acknowledged outside a read: seen');
  // Inside one read, an acknowledgement sent while handling it does not count for the rest of it.
  w.readBegins();
  assert.is(w.received(I(4, 0), 0), null);
  assert.is(w.received(I(5, 0), 0), null);
  assert.is(w.sendS(), 6);
  assert.match(w.received(I(6, 0), 0) ?? '', /N\(S\)=6 overruns the k window: 3 I-frames already unacknowledged \(last acknowledgement N\(R\)=3\)/);
  w.readEnds();
  assert.is(w.received(I(6, 0), 0), null, 'the next read: the acknowledgement of 6 was there to see');
});

test("the peer's k window across reads: its N(R) says which of our I-frames it had not processed, so no acknowledgement sent after that frame counts", () => {
  const w = started('controlled', { k: 3, w: 3 });
  assert.is(w.received(I(0, 0), 0), null);
  assert.equal(w.sendI(0), { sendSeq: 0, recvSeq: 1 }, 'our I-frame 0 carries N(R)=1');
  // Each of these arrives in a read of its own, after acknowledgements the peer could have seen by the clock.
  assert.is(w.sendS(), 1);
  assert.is(w.received(I(1, 0), 0), null);
  assert.is(w.sendS(), 2);
  assert.is(w.received(I(2, 0), 0), null, 'with N(R)=0 the peer had not processed our I-frame 0: 3 outstanding (0..2) is its k, allowed');
  assert.is(w.sendS(), 3);
  assert.is(w.received(I(3, 0), 0), 'I-format APDU N(S)=3 overruns the k window: 3 I-frames already unacknowledged (last acknowledgement N(R)=0)');
  assert.is(w.received(I(3, 1), 0), null, 'the same frame with N(R)=1: it had processed our I-frame 0 and so could have seen everything after it');
  // Our frame 1 goes out when our last acknowledgement said 3 (it carries 4 itself): a peer that has not processed it has seen 3 at most.
  assert.equal(w.sendI(0), { sendSeq: 1, recvSeq: 4 });
  assert.is(w.received(I(4, 1), 0), null);
  assert.is(w.received(I(5, 1), 0), null);
  assert.is(w.sendS(), 6);
  assert.is(w.received(I(6, 1), 0), 'I-format APDU N(S)=6 overruns the k window: 3 I-frames already unacknowledged (last acknowledgement N(R)=3)');
  assert.is(w.received(I(6, 2), 0), null);
});

test('the w window: an ack is due after w I-frames received; sending I or S acknowledges', () => {
  const w = started('controlled', { k: 12, w: 3 });
  for (let n = 0; n < 2; n++) assert.is(w.received(I(n, 0), 0), null);
  assert.not.ok(w.ackDue);
  assert.is(w.due(0), 'none');
  assert.is(w.received(I(2, 0), 0), null);
  assert.ok(w.ackDue);
  assert.is(w.due(0), 'send-ack');
  assert.is(w.sendS(), 3);
  assert.is(w.due(0), 'none');
  assert.is(w.received(I(3, 0), 0), null);
  assert.equal(w.sendI(0), { sendSeq: 0, recvSeq: 4 });
  assert.is(w.unacknowledgedReceived, 0);
});

test('t2: received I-frames are acknowledged t2 after the first unacknowledged one', () => {
  const w = started('controlled', { t2Ms: 10_000 });
  assert.is(w.received(I(0, 0), 1_000), null);
  assert.is(w.received(I(1, 0), 5_000), null);
  assert.is(w.due(10_999), 'none');
  assert.is(w.due(11_000), 'send-ack');
  w.sendS();
  assert.is(w.due(11_000), 'none');
});

test('t1: an I-frame or an act unacknowledged for t1 closes the connection', () => {
  const w = started('controlled', { t1Ms: 15_000 });
  w.sendI(1_000);
  w.sendI(2_000);
  assert.is(w.due(15_999), 'none');
  assert.is(w.due(16_000), 't1-expired');
  assert.is(w.received(S(1), 16_000), null);
  assert.is(w.due(16_500), 'none', 'the oldest outstanding is now the one sent at 2,000');
  assert.is(w.due(17_000), 't1-expired');
  const m = new ApciWindow({ role: 'controlling' }, 0);
  m.sentU(UFunction.STARTDT_ACT, 0);
  assert.is(m.due(15_000), 't1-expired', 'STARTDT act never confirmed');
  assert.is(m.received(U(UFunction.STARTDT_CON), 14_000), null);
  assert.is(m.due(15_000), 'none');
});

test('t3: an idle connection is tested with TESTFR act, which must be confirmed within t1', () => {
  const w = started('controlling', { t3Ms: 20_000, t1Ms: 15_000 });
  assert.is(w.due(19_999), 'none');
  assert.is(w.due(20_000), 'send-testfr');
  w.sentU(UFunction.TESTFR_ACT, 20_000);
  assert.is(w.due(21_000), 'none');
  assert.is(w.due(35_000), 't1-expired');
  assert.is(w.received(U(UFunction.TESTFR_CON), 30_000), null);
  assert.is(w.due(35_000), 'none');
  assert.is(w.due(50_000), 'send-testfr');
  assert.is(w.received(S(0), 45_000), null, 'any frame received restarts t3');
  assert.is(w.due(50_000), 'none');
});

test('options are checked', () => {
  assert.throws(() => new ApciWindow({ role: 'controlled', k: 0 }, 0), /k 0/);
  assert.throws(() => new ApciWindow({ role: 'controlled', k: 4, w: 5 }, 0), /w 5 is not in 1\.\.k \(4\)/);
  assert.throws(() => new ApciWindow({ role: 'controlled', t1Ms: 5_000, t2Ms: 5_000 }, 0), /t2 5000 ms must be below t1/);
});

test.run();
