/**
 * service: modbus-rtu-gateway between real peers: Modbus/TCP clients through zonegate onto a
 * socat pty pair with pymodbus's serial RTU server on the far end (units 1 and 2; unit 3 absent).
 * Then a hand-driven far end (the test writes the device's bytes) for malformed CRCs, torn frames
 * and replies for the wrong unit. Skips, saying why, without socat or pymodbus's serial support.
 */
import { test } from 'uvu';
import { createServer, type AddressInfo } from 'node:net';
import * as assert from 'uvu/assert';
import { createRtuGateway, type RtuGateway } from '../../drivers/modbus-rtu';
import { openSerial, type SerialPort } from '../../drivers/modbus-rtu/serial';
import { crc16, rtuFrame } from '../../drivers/modbus-rtu/crc';
import type { AuditEvent } from '../../drivers/types';
import { compile } from '../../policy/compile';
import { IndexDecider } from '../../policy/decider';
import { parsePolicy } from '../../policy/parse';
import { adu, pdus, RawClient } from '../helpers/modbus';
import { ptyPair, rtuServerMissing, socatMissing, startRtuServer, type PtyPair } from '../helpers/serial';

const POLICY = `site: t
zones: [{ id: control, networks: [127.0.0.0/8], securityLevel: 3 }]
assets: [{ id: meters, zone: control, address: 127.0.1.1, kind: serial-gateway, services: [{ protocol: modbus, port: 502 }] }]
identities: [{ id: hmi-1, kind: device, zone: control, addresses: [127.0.0.1] }]
conduits:
  - id: hmi-meters
    from: { identities: [hmi-1] }
    to: { assets: [meters] }
    protocol: modbus
    allow:
      functions: [read-holding-registers, write-single-register]
      units: [1, 3]
      addresses: ["0-99"]
      values: { "0-99": "0-5000" }
`;
const BAUD = 115200;
const missing = socatMissing() ?? rtuServerMissing();
const decider = new IndexDecider(compile(parsePolicy(POLICY, { file: 'p.yaml' }), { version: '1' }));
const events: AuditEvent[] = [];

async function gatewayOn(device: string, responseMs: number, interFrameMs?: number): Promise<RtuGateway> {
  const gw = createRtuGateway({
    listen: { host: '127.0.0.1', port: 0 }, line: { device, baud: BAUD, parity: 'none', stopBits: 1, ...(interFrameMs ? { interFrameMs } : {}) },
    asset: 'meters', servicePort: 502, decider, audit: { record: (e) => { events.push(e); } }, now: () => Date.now(),
    timeouts: { responseMs },
  });
  await gw.start(new AbortController().signal);
  return gw;
}

test('reads and writes reach pymodbus over RTU; the policy refuses locally; an absent unit times out alone', async () => {
  if (missing) { console.log(`  skip: ${missing}`); return; }
  const pty = await ptyPair();
  const plc = await startRtuServer(pty.b, BAUD);
  const gw = await gatewayOn(pty.a, 300);
  const c = await RawClient.open(gw.address().port);
  try {
    const r = await c.request(adu(1, 1, pdus.read(3, 10, 3)));
    assert.equal(r?.registers, [1010, 1011, 1012]);
    assert.is(r?.unit, 1);
    const w = await c.request(adu(2, 1, pdus.writeSingle(6, 10, 4242)));
    assert.is(w?.fn, 6);
    assert.equal((await c.request(adu(3, 1, pdus.read(3, 10, 1))))?.registers, [4242]);
    // Outside the value bound, another unit, another function: answered here, never on the line.
    const sent = gw.stats.transactions;
    assert.equal((await c.request(adu(4, 1, pdus.writeSingle(6, 10, 5001))))?.exception, 0x03);
    assert.equal((await c.request(adu(5, 2, pdus.read(3, 10, 1))))?.exception, 0x0a);
    assert.equal((await c.request(adu(6, 1, pdus.writeRegisters(10, [1]))))?.exception, 0x01);
    assert.is(gw.stats.transactions, sent);
    assert.equal((await c.request(adu(7, 1, pdus.read(3, 10, 1))))?.registers, [4242]);
    // Unit 3 is allowed but absent on the bus: 0B for that transaction, and the line goes on.
    const t = await c.request(adu(8, 3, pdus.read(3, 0, 1)));
    assert.equal([t?.fn, t?.exception, t?.tid], [0x83, 0x0b, 8]);
    assert.equal((await c.request(adu(9, 1, pdus.read(3, 11, 1))))?.registers, [1011]);
    const denied = events.filter((e) => e.kind === 'decision' && e.decision?.reason === 'value-out-of-range');
    assert.equal(denied.map((e) => e.modbus?.values), [[5001]]);
    assert.is(c.closed, false);
  } finally {
    c.close();
    await gw.stop();
    await plc.stop();
    await pty.stop();
  }
});

test('pipelined clients are served one transaction at a time, each answer to its own transaction', async () => {
  if (missing) { console.log(`  skip: ${missing}`); return; }
  const pty = await ptyPair();
  const plc = await startRtuServer(pty.b, BAUD);
  const gw = await gatewayOn(pty.a, 1_000);
  const a = await RawClient.open(gw.address().port);
  const b = await RawClient.open(gw.address().port);
  try {
    for (let i = 0; i < 5; i++) { a.send(adu(100 + i, 1, pdus.read(3, i, 1))); b.send(adu(200 + i, 1, pdus.read(3, 20 + i, 1))); }
    const ra = await a.waitFor(5), rb = await b.waitFor(5);
    assert.equal(ra.map((r) => [r.tid, r.registers?.[0]]), [0, 1, 2, 3, 4].map((i) => [100 + i, 1000 + i]));
    assert.equal(rb.map((r) => [r.tid, r.registers?.[0]]), [0, 1, 2, 3, 4].map((i) => [200 + i, 1020 + i]));
  } finally {
    a.close(); b.close();
    await gw.stop();
    await plc.stop();
    await pty.stop();
  }
});

/** Reads what the gateway puts on the line and lets the test answer as the device. */
async function handDevice(pty: PtyPair): Promise<{ port: SerialPort; frames: Buffer[]; next(): Promise<Buffer> }> {
  const port = await openSerial({ device: pty.b, baud: BAUD, parity: 'none', stopBits: 1 });
  const frames: Buffer[] = [];
  let held = Buffer.alloc(0);
  port.on('data', (d) => { held = Buffer.concat([held, d]); while (held.length >= 8) { frames.push(held.subarray(0, 8)); held = held.subarray(8); } });
  return {
    port, frames,
    async next() {
      const deadline = Date.now() + 5_000;
      while (frames.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      const f = frames.shift();
      if (!f) throw new Error('no request on the line');
      return f;
    },
  };
}

test('malformed CRCs, torn frames and replies from the wrong unit are dropped: 0B for that transaction only', async () => {
  if (socatMissing()) { console.log(`  skip: ${socatMissing()}`); return; }
  const pty = await ptyPair();
  // The hand-driven device writes a reply in two calls: a 100 ms frame gap (the config's
  // interFrameMs) keeps a busy test process from tearing it (3.5 characters at 115200 is 2 ms).
  const gw = await gatewayOn(pty.a, 400, 100);
  const dev = await handDevice(pty);
  const c = await RawClient.open(gw.address().port);
  try {
    const reply = (unit: number, values: number[]): Buffer => rtuFrame(unit, Buffer.from([3, values.length * 2, ...values.flatMap((v) => [v >> 8, v & 0xff])]));
    // A good request frame on the line: unit 1, FC 3, address 5, count 1, CRC low byte first.
    let p = c.request(adu(1, 1, pdus.read(3, 5, 1)));
    const f = await dev.next();
    assert.equal([...f.subarray(0, 6)], [1, 3, 0, 5, 0, 1]);
    const crc = crc16(f, 0, 6);
    assert.equal([f[6], f[7]], [crc & 0xff, crc >> 8]);
    dev.port.write(reply(1, [77]));
    assert.equal((await p)?.registers, [77]);
    // Bad CRC: dropped; the transaction times out alone.
    p = c.request(adu(2, 1, pdus.read(3, 5, 1)));
    await dev.next();
    const bad = reply(1, [78]); bad[bad.length - 1] ^= 0xff;
    dev.port.write(bad);
    assert.equal((await p)?.exception, 0x0b);
    // Torn: half a frame, then silence.
    p = c.request(adu(3, 1, pdus.read(3, 5, 1)));
    await dev.next();
    dev.port.write(reply(1, [79]).subarray(0, 4));
    assert.equal((await p)?.exception, 0x0b);
    // The wrong unit answers: dropped, 0B.
    p = c.request(adu(4, 1, pdus.read(3, 5, 1)));
    await dev.next();
    dev.port.write(reply(2, [80]));
    assert.equal((await p)?.exception, 0x0b);
    // The line still works, and a reply split over two writes is reassembled.
    p = c.request(adu(5, 1, pdus.read(3, 5, 1)));
    await dev.next();
    const ok = reply(1, [81]);
    dev.port.write(ok.subarray(0, 3));
    dev.port.write(ok.subarray(3));
    assert.equal((await p)?.registers, [81]);
    assert.is(gw.stats.badCrc, 1);
    assert.ok(gw.stats.torn >= 1);
    assert.ok(gw.stats.unexpected >= 1);
    assert.is(gw.stats.timeouts, 3);
    assert.is(c.closed, false);
  } finally {
    c.close();
    dev.port.close();
    await gw.stop();
    await pty.stop();
  }
});

test('a listen that fails releases the serial line it opened (a retry can open it again)', async () => {
  const taken = createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
  let closed = 0;
  const fake: SerialPort = { on: () => undefined, write: () => undefined, close: () => { closed++; } };
  const gw = createRtuGateway({
    listen: { host: '127.0.0.1', port: (taken.address() as AddressInfo).port }, line: { device: '/dev/null', baud: BAUD, parity: 'none', stopBits: 1 },
    asset: 'meters', servicePort: 502, decider, audit: { record: () => undefined }, now: () => Date.now(), open: async () => fake,
  });
  try {
    let err: NodeJS.ErrnoException | undefined;
    try { await gw.start(new AbortController().signal); } catch (e) { err = e as NodeJS.ErrnoException; }
    assert.is(err?.code, 'EADDRINUSE');
    assert.is(closed, 1);
  } finally {
    await new Promise((r) => taken.close(r));
  }
});

test.run();
