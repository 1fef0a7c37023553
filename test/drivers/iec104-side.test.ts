// One side of the IEC 104 proxy's output (drivers/iec104/side.ts): APDUs are encoded into a slab
// and, between hold() and release() (one read handled), leave in one socket write; outside, each
// leaves at once. Over a real loopback connection, read back by the splitter: sequence numbers in
// order, every ASDU byte intact, also when a batch outgrows a slab and while the socket still
// holds what it was given (corked), so bytes once handed over are never rewritten.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { ApciFormat, ApciSplitter, encodeUFrame, UFunction } from '../../drivers/iec104';
import { Side } from '../../drivers/iec104/side';
import { freePort } from '../helpers/ports';

interface Rig { side: Side; writes: () => number; frames: { ns: number; asdu: Buffer }[]; server: Server; peer: Socket }

/** A Side as the controlled station on one end of a loopback connection, started by the peer's STARTDT act. */
async function rig(): Promise<Rig> {
  const port = await freePort();
  const frames: { ns: number; asdu: Buffer }[] = [];
  let side: Side | null = null;
  let writes = 0;
  const server = createServer((s) => {
    const write = s.write.bind(s) as (b: Uint8Array) => boolean;
    (s as unknown as { write: (b: Uint8Array) => boolean }).write = (b) => { writes++; return write(b); };
    const me: Side = new Side(s, {
      role: 'controlled', window: { k: 64, w: 8 }, maxQueued: 64, now: Date.now,
      handler: { u: (fn) => { if (fn === UFunction.STARTDT_ACT) me.sendU(UFunction.STARTDT_CON); }, s: () => undefined, asdu: () => undefined, refused: () => undefined, closed: () => undefined },
    });
    s.on('data', (d: Buffer) => me.reader.push(d));
    side = me;
  });
  await new Promise<void>((res) => server.listen(port, '127.0.0.1', () => res()));
  const peer = connect({ host: '127.0.0.1', port });
  const sp = new ApciSplitter({
    onApdu: (f) => { if (f.format === ApciFormat.I) frames.push({ ns: f.sendSeq, asdu: Buffer.from(f.asdu()) }); return true; },
    onApciMalformed: (m) => { frames.push({ ns: -1, asdu: Buffer.from(m) }); }, // shows in the assertions
  });
  peer.on('data', (d: Buffer) => sp.push(d));
  peer.write(encodeUFrame(UFunction.STARTDT_ACT));
  await until('STARTDT', () => side !== null && side.window.started);
  writes = 0;
  return { side: side as unknown as Side, peer, server, frames, writes: () => writes };
}

async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((res) => setTimeout(res, 5));
  assert.ok(cond(), `waited for ${what}`);
}

const asdu = (i: number, n: number): Buffer => Buffer.alloc(n, i + 1);

function close(r: Rig): Promise<void> {
  r.peer.destroy();
  r.side.close();
  return new Promise((res) => r.server.close(() => res()));
}

test('held: three I-frames and an S-frame leave in one write; not held: one write each', async () => {
  const r = await rig();
  r.side.hold();
  for (let i = 0; i < 3; i++) assert.ok(r.side.sendAsdu(asdu(i, 16)));
  assert.is(r.writes(), 0, 'nothing written while held');
  assert.ok(r.side.writableLength >= 3 * 22, 'held bytes count toward writableLength (backpressure)');
  r.side.release();
  assert.is(r.writes(), 1);
  r.side.sendAsdu(asdu(3, 16));
  r.side.sendAsdu(asdu(4, 16));
  assert.is(r.writes(), 3);
  await until('5 frames', () => r.frames.length >= 5 || r.frames.some((f) => f.ns < 0));
  assert.equal(r.frames.map((f) => f.ns), [0, 1, 2, 3, 4]);
  for (let i = 0; i < 5; i++) assert.equal(r.frames[i].asdu, asdu(i, 16), `ASDU ${i}`);
  await close(r);
});

test('a batch larger than a slab, with the socket holding every buffer (corked): in order, every byte intact', async () => {
  const r = await rig();
  r.side.socket.cork();
  r.side.hold();
  for (let i = 0; i < 30; i++) assert.ok(r.side.sendAsdu(asdu(i, 200)));
  r.side.release();
  for (let i = 30; i < 40; i++) r.side.sendAsdu(asdu(i, 100 + i));
  r.side.socket.uncork();
  await until('40 frames', () => r.frames.length >= 40 || r.frames.some((f) => f.ns < 0));
  assert.equal(r.frames.map((f) => f.ns), Array.from({ length: 40 }, (_, i) => i));
  for (let i = 0; i < 40; i++) assert.equal(r.frames[i].asdu, asdu(i, i < 30 ? 200 : 100 + i), `ASDU ${i}`);
  await close(r);
});

test('nothing leaves after close, and a held batch is dropped with it', async () => {
  const r = await rig();
  r.side.hold();
  r.side.sendAsdu(asdu(0, 16));
  r.side.close();
  r.side.release();
  assert.is(r.writes(), 0);
  await close(r);
});

test.run();
