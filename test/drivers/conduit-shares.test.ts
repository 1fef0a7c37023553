// Issue 20 item 6: one conduit's allowed hosts (a station zone, many addresses) must not fill a
// listener's pool and lock another identity's HMI out. Both listeners that keep a pool (the
// Modbus proxy and the TCP conduit) keep the last slots for conduits that hold few connections.
// Distinct loopback source addresses (127.0.0.x) stand for the zone's hosts and the HMI.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { ConduitShares } from '../../drivers/conduit-shares';
import { createModbusProxy } from '../../drivers/modbus-tcp';
import { createTcpConduit } from '../../drivers/tcp-conduit';
import type { AuditEvent } from '../../drivers/types';
import type { ConnectQuery, Decider, Decision } from '../../policy/types';
import { adu, pdus, startNodeModbusServer } from '../helpers/modbus';

const HMI = '127.0.0.9';

/** 127.0.0.9 is the HMI (its own conduit); every other address is a station-zone host. */
const decider: Decider = {
  connect(q: ConnectQuery) {
    const hmi = q.sourceIp === HMI;
    const decision: Decision = { decision: 'allow', conduit: hmi ? 'hmi-reads' : 'station-zone', reason: null, identity: hmi ? 'hmi-1' : null };
    return { scope: { policyVersion: '1', identity: decision.identity }, decision };
  },
  modbus: () => ({ decision: 'allow', conduit: 'hmi-reads', reason: null, identity: 'hmi-1' }),
} as unknown as Decider;

/** Connects from `from`; resolves with the socket once the listener kept it open for a moment, or null when it closed it. */
async function dialFrom(port: number, from: string): Promise<Socket | null> {
  const s = connect({ host: '127.0.0.1', port, localAddress: from });
  s.on('error', () => undefined);
  const closed = new Promise<null>((res) => s.once('close', () => res(null)));
  await new Promise<void>((res) => { s.once('connect', () => res()); s.once('close', () => res()); });
  const kept = new Promise<Socket>((res) => setTimeout(() => res(s), 150));
  return Promise.race([closed, kept]);
}

test('ConduitShares: the reserve goes only to conduits holding fewer than their share', () => {
  const s = new ConduitShares(64);
  assert.equal([s.reserve, s.share], [16, 4]);
  let open = 0;
  while (s.take('station', open) === null) open++;
  assert.is(open, 48, 'one conduit gets at most max - reserve');
  assert.is(s.take('station', open), 'refused: conduit station holds 48 connection(s); the last 16 of 64 are kept for conduits holding fewer than 4');
  for (let i = 0; i < 4; i++) assert.is(s.take('hmi', open++), null);
  assert.ok(s.take('hmi', open) !== null, 'then the HMI conduit is at its share of the reserve');
  s.give('station');
  assert.is(s.holds('station'), 47);
  assert.equal([new ConduitShares(1).reserve, new ConduitShares(1).take('x', 0)], [0, null], 'a pool of one keeps no reserve');
});

test('Modbus proxy: station hosts filling the pool do not lock the HMI out', async () => {
  const plc = await startNodeModbusServer();
  const events: AuditEvent[] = [];
  const proxy = createModbusProxy({
    listen: { host: '127.0.0.1', port: 0 }, upstream: { host: '127.0.0.1', port: plc.port },
    asset: 'plc-1', servicePort: 502, decider, audit: { record: (e) => { events.push(e); } }, now: Date.now,
    maxConnections: 8, maxConnectionsPerSource: 4,
  });
  await proxy.start(new AbortController().signal);
  const held: Socket[] = [];
  try {
    const port = proxy.address().port;
    let kept = 0;
    for (let i = 0; i < 8; i++) { // 8 station connections from two addresses (4 each, the per-source cap)
      const s = await dialFrom(port, `127.0.0.${2 + (i % 2)}`);
      if (s) { held.push(s); kept++; }
    }
    assert.is(kept, 6, 'the station zone gets 8 - 2 reserved');
    assert.ok(events.some((e) => e.message === 'refused: conduit station-zone holds 6 connection(s); the last 2 of 8 are kept for conduits holding fewer than 1'));
    const hmi = await dialFrom(port, HMI);
    assert.ok(hmi, 'the HMI connects');
    hmi!.write(adu(1, 1, pdus.read(3, 2, 1)));
    const answer = await new Promise<Buffer>((res) => hmi!.once('data', (d: Buffer) => res(d)));
    assert.is(answer.readUInt16BE(9), 1002, 'and is served');
    hmi!.destroy();
  } finally {
    for (const s of held) s.destroy();
    await proxy.stop();
    await plc.stop();
  }
});

test('TCP conduit: station hosts filling the pool do not lock the HMI out', async () => {
  const echo = createServer((s) => { s.on('error', () => undefined); s.pipe(s); });
  await new Promise<void>((res) => echo.listen(0, '127.0.0.1', () => res()));
  const events: AuditEvent[] = [];
  const conduit = createTcpConduit({
    listen: { host: '127.0.0.1', port: 0 }, upstream: { host: '127.0.0.1', port: (echo.address() as AddressInfo).port },
    asset: 'historian', port: 443, decider, audit: { record: (e) => { events.push(e); } }, now: Date.now,
    maxConnections: 8, perSourceMax: 4,
  });
  await conduit.start(new AbortController().signal);
  const held: Socket[] = [];
  try {
    const port = conduit.address().port;
    for (let i = 0; i < 8; i++) {
      const s = await dialFrom(port, `127.0.0.${2 + (i % 2)}`);
      if (s) held.push(s);
    }
    assert.is(held.length, 6);
    assert.ok(events.some((e) => e.message === 'refused: conduit station-zone holds 6 connection(s); the last 2 of 8 are kept for conduits holding fewer than 1'));
    const hmi = await dialFrom(port, HMI);
    assert.ok(hmi, 'the HMI connects');
    hmi!.write('ping');
    const echoed = await new Promise<string>((res) => hmi!.once('data', (d) => res(String(d))));
    assert.is(echoed, 'ping');
    hmi!.destroy();
  } finally {
    for (const s of held) s.destroy();
    await conduit.stop();
    echo.close();
  }
});

test.run();
