// A master's k window overrun spread over many reads (issue 17): a raw master on loopback sends
// general interrogations through the proxy to the lab RTU, each I-frame cut into pieces written
// one after another and each frame read by the proxy on its own (the test waits until the proxy
// decided it), while the proxy acknowledges (S-frames every w, its own I-frames carrying N(R)).
// A master whose N(R) stays 0 has processed none of the proxy's I-frames, so it has seen none of
// those acknowledgements: 12 frames outstanding is its k and pass, the 13th overruns and closes
// the connection, audited as malformed. The same master acknowledging what it received may go on.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect, type Socket } from 'node:net';
import { encodeAsdu, encodeIFrame, encodeUFrame, ApciSplitter, ApciFormat, UFunction, TypeId, Cause, qoi, type Iec104Proxy } from '../../drivers/iec104';
import type { AuditEvent } from '../../drivers/types';
import { startIec104Rig, type Iec104Rig } from '../helpers/iec104-rig';

const HMI = '127.10.0.5';
const GI = encodeAsdu({ typeId: TypeId.C_IC_NA_1, cause: Cause.ACTIVATION, ca: 1, objects: [{ ioa: 0, element: qoi(20) }] });

let rig: Iec104Rig;
let proxy: Iec104Proxy;
let events: AuditEvent[];

test.before(async () => {
  rig = await startIec104Rig({ maxQueued: 256 });
  ({ proxy, events } = rig);
});

test.after(() => rig.close());

const until = async (what: string, cond: () => boolean): Promise<void> => {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cond(), `waited for ${what}`);
};

/** A raw master: counts the I-frames it receives, notices the close. */
async function master(): Promise<{ socket: Socket; iFrames: () => number; closed: () => boolean; write: (b: Buffer) => Promise<void> }> {
  const socket = connect({ host: '127.0.0.1', port: proxy.address().port, localAddress: HMI });
  let iFrames = 0, started = false, closed = false;
  const sp = new ApciSplitter({
    onApdu: (f) => { if (f.format === ApciFormat.I) iFrames++; else if (f.format === ApciFormat.U && f.uFunction === UFunction.STARTDT_CON) started = true; return true; },
    onApciMalformed: (m) => { throw new Error(m); },
  });
  socket.on('data', (c: Buffer) => sp.push(c));
  socket.on('close', () => { closed = true; });
  socket.on('error', () => undefined);
  await new Promise<void>((r) => socket.once('connect', () => r()));
  socket.write(encodeUFrame(UFunction.STARTDT_ACT));
  await until('STARTDT con', () => started);
  // Each frame in three writes, a pause between them: the proxy reads the pieces apart.
  const write = async (b: Buffer): Promise<void> => {
    for (const [from, to] of [[0, 3], [3, 8], [8, b.length]]) {
      socket.write(b.subarray(from, to));
      await new Promise((r) => setTimeout(r, 1));
    }
  };
  return { socket, iFrames: () => iFrames, closed: () => closed, write };
}

test('N(R) 0 throughout: 12 interrogations outstanding pass one read at a time, the 13th overruns the k window', async () => {
  const before = proxy.stats.requests;
  const m = await master();
  for (let ns = 0; ns < 12; ns++) {
    await m.write(encodeIFrame({ sendSeq: ns, recvSeq: 0, asdu: GI }));
    await until(`the proxy decided I-frame ${ns}`, () => proxy.stats.requests === before + ns + 1);
    // Let the station's answers come back first: the proxy sends its I-frames (N(R) in each) and S-frames.
    await until(`answers to ${ns}`, () => m.iFrames() >= Math.min(12, 4 * (ns + 1)));
  }
  assert.not.ok(m.closed(), 'k = 12 frames outstanding is allowed');
  assert.is(events.filter((e) => e.kind === 'malformed').length, 0);
  await m.write(encodeIFrame({ sendSeq: 12, recvSeq: 0, asdu: GI }));
  await until('the proxy closed the connection', () => m.closed());
  const bad = events.filter((e) => e.kind === 'malformed').map((e) => e.message);
  assert.equal(bad, ['I-format APDU N(S)=12 overruns the k window: 12 I-frames already unacknowledged (last acknowledgement N(R)=0)']);
  assert.is(proxy.stats.requests, before + 12, 'the overrunning frame was never decided');
});

test('the same master acknowledging what it received may send on: 20 interrogations in pieces, no overrun', async () => {
  const before = proxy.stats.requests;
  const malformed = events.filter((e) => e.kind === 'malformed').length;
  const m = await master();
  for (let ns = 0; ns < 20; ns++) {
    await m.write(encodeIFrame({ sendSeq: ns, recvSeq: m.iFrames() & 0x7fff, asdu: GI }));
    await until(`the proxy decided I-frame ${ns}`, () => proxy.stats.requests === before + ns + 1);
    await until(`answers to ${ns}`, () => m.iFrames() >= 4 * (ns + 1));
  }
  assert.not.ok(m.closed());
  assert.is(events.filter((e) => e.kind === 'malformed').length, malformed);
  m.socket.destroy();
});

test.run();
