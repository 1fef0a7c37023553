// The Modbus/TCP proxy against a minimal Node Modbus server as upstream, with a small Decider
// written here (the real engine is exercised in modbus-integration.test.ts) and an injected clock
// and sweep (no sleeping on deadlines): forwarding, local exceptions, pipelining, monitor mode,
// rate limits, malformed frames, slowloris, idle, half-open and refusing upstreams, stop().
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect, createServer, type AddressInfo } from 'node:net';
import { createModbusProxy, type ModbusProxy } from '../../drivers/modbus-tcp';
import type { AuditEvent } from '../../drivers/types';
import type { ConnectQuery, Decider, Decision, Scope } from '../../policy/types';
import { adu, pdus, RawClient, startNodeModbusServer, type NodeModbusServer } from '../helpers/modbus';

class TestDecider implements Decider {
  version = 'v1';
  monitor = false;
  denyConnect = false;
  connects: ConnectQuery[] = [];
  connect(query: ConnectQuery): { scope: Scope; decision: Decision } {
    this.connects.push(query);
    const decision: Decision = this.denyConnect
      ? { decision: 'deny', conduit: null, reason: 'no-conduit', identity: null }
      : { decision: 'allow', conduit: 'c1', reason: null, identity: 'hmi-1' };
    return { scope: { policyVersion: this.version, identity: 'hmi-1' }, decision };
  }
  modbus(_scope: Scope, fn: number, unit: number, address: number, count: number): Decision {
    let reason: Decision['reason'] = null;
    if (fn !== 3 && fn !== 4) reason = 'function-not-allowed';
    else if (count < 1 || count > 125) reason = 'malformed';
    else if (unit !== 1) reason = 'unit-not-allowed';
    else if (address + count - 1 > 99) reason = 'address-out-of-range';
    if (reason === null) return { decision: 'allow', conduit: 'c1', reason: null, identity: 'hmi-1' };
    if (this.monitor && reason !== 'malformed') return { decision: 'allow', conduit: 'c1', reason, identity: 'hmi-1', monitor: true };
    return { decision: 'deny', conduit: null, reason, identity: 'hmi-1' };
  }
}

interface Rig { proxy: ModbusProxy; server: NodeModbusServer; events: AuditEvent[]; decider: TestDecider; clock: { t: number }; port: number; stop(): Promise<void> }

async function rig(o: { limits?: { perSecond: number; burst: number }; upstreamPort?: number; silent?: boolean; perSource?: number; throwingAudit?: boolean } = {}): Promise<Rig> {
  const server = await startNodeModbusServer({ silent: o.silent });
  const events: AuditEvent[] = [];
  const decider = new TestDecider();
  const clock = { t: 1_700_000_000_000 };
  const proxy = createModbusProxy({
    listen: { host: '127.0.0.1', port: 0 },
    upstream: { host: '127.0.0.1', port: o.upstreamPort ?? server.port },
    asset: 'plc-1', servicePort: 502, decider,
    audit: { record: (e) => { if (o.throwingAudit && e.kind === 'decision') throw new Error('disk full'); events.push(e); } },
    limits: o.limits ? (id) => (id === 'c1' ? o.limits : undefined) : undefined,
    timeouts: { frameMs: 5_000, idleMs: 60_000, upstreamMs: 3_000, drainMs: 500 },
    now: () => clock.t,
    timers: { setInterval: () => 0, clearInterval: () => undefined },
    maxConnectionsPerSource: o.perSource,
  });
  const ac = new AbortController();
  await proxy.start(ac.signal);
  return { proxy, server, events, decider, clock, port: proxy.address().port, stop: async () => { await proxy.stop(); await server.stop(); } };
}

const until = async (cond: () => boolean, ms = 3_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
};

test('allowed read is forwarded and relayed; the decision is audited', async () => {
  const r = await rig();
  try {
    const c = await RawClient.open(r.port);
    const res = await c.request(adu(0x0102, 1, pdus.read(3, 10, 3)));
    assert.equal(res?.registers, [1010, 1011, 1012]);
    assert.is(res?.tid, 0x0102);
    const d = r.events.filter((e) => e.kind === 'decision' && e.modbus);
    assert.is(d.length, 1);
    assert.equal(d[0].modbus, { function: 3, unit: 1, address: 10, count: 3, values: undefined });
    assert.is(d[0].decision?.decision, 'allow');
    assert.is(d[0].policyVersion, 'v1');
    assert.is(d[0].src, '127.0.0.1');
    assert.is(d[0].asset, 'plc-1');
    assert.is(d[0].port, 502);
    assert.equal(r.decider.connects[0], { sourceIp: '127.0.0.1', asset: 'plc-1', port: 502, protocol: 'modbus', session: undefined });
    assert.ok(r.events.some((e) => e.kind === 'connection' && e.message === 'open'));
    c.close();
  } finally { await r.stop(); }
});

test('denied write is answered locally with exception 01, same tid and unit, never forwarded', async () => {
  const r = await rig();
  try {
    const c = await RawClient.open(r.port);
    const res = await c.request(adu(0xbeef, 1, pdus.writeRegisters(5, [7, 8])));
    assert.equal([res?.tid, res?.unit, res?.fn, res?.exception], [0xbeef, 1, 0x90, 1]);
    assert.equal([r.server.registers[5], r.server.registers[6]], [1005, 1006]);
    assert.is(r.proxy.stats.forwarded, 0);
    const d = r.events.find((e) => e.kind === 'decision' && e.modbus);
    assert.equal(d?.modbus, { function: 16, unit: 1, address: 5, count: 2, values: [7, 8] });
    assert.is(d?.decision?.reason, 'function-not-allowed');
    const range = await c.request(adu(2, 1, pdus.read(3, 98, 3)));
    assert.equal([range?.fn, range?.exception], [0x83, 2], 'crossing the end of the range: 02');
    c.send(adu(3, 9, pdus.read(3, 0, 1)));
    await until(() => r.proxy.stats.denied === 3);
    r.clock.t += 3_000; // a unit not allowed looks absent: 0B once upstreamMs passed (modbus-upstream.test.ts)
    r.proxy.sweep();
    const unit = (await c.waitFor(3)).find((x) => x.tid === 3);
    assert.equal([unit?.unit, unit?.fn, unit?.exception], [9, 0x83, 0x0b], 'unit not allowed: 0B as an absent unit');
    const qty = await c.request(adu(4, 1, pdus.read(3, 0, 0)));
    assert.equal([qty?.fn, qty?.exception], [0x83, 3], 'quantity 0 (malformed by policy): 03');
    const coil = await c.request(adu(5, 1, pdus.writeSingle(5, 0, 0x1234)));
    assert.equal([coil?.fn, coil?.exception], [0x85, 3], 'FC5 value not 0/FF00: 03');
    assert.not.ok(c.closed);
    c.close();
  } finally { await r.stop(); }
});

test('pipelined requests, allowed and denied mixed, all answered by transaction id', async () => {
  const r = await rig();
  try {
    const c = await RawClient.open(r.port);
    const frames: Buffer[] = [];
    for (let i = 0; i < 40; i++) frames.push(i % 3 === 2 ? adu(100 + i, 1, pdus.writeSingle(6, i, 1)) : adu(100 + i, 1, pdus.read(3, i, 2)));
    c.send(Buffer.concat(frames)); // one write: 40 requests in flight (the proxy allows 16 outstanding)
    const got = await c.waitFor(40);
    assert.is(got.length, 40);
    for (let i = 0; i < 40; i++) {
      const res = got.find((x) => x.tid === 100 + i)!;
      if (i % 3 === 2) assert.equal([res.fn, res.exception], [0x86, 1], `tid ${100 + i}`);
      else assert.equal(res.registers, [1000 + i, 1001 + i], `tid ${100 + i}`);
    }
    assert.is(r.proxy.stats.forwarded, 27);
    assert.is(r.proxy.stats.denied, 13);
    c.close();
  } finally { await r.stop(); }
});

test('monitor mode forwards what the conduit would deny and audits it as would-deny', async () => {
  const r = await rig();
  r.decider.monitor = true;
  try {
    const c = await RawClient.open(r.port);
    const res = await c.request(adu(9, 1, pdus.writeSingle(6, 20, 4242)));
    assert.is(res?.fn, 6);
    assert.is(r.server.registers[20], 4242);
    const d = r.events.find((e) => e.kind === 'decision' && e.modbus?.function === 6);
    assert.is(d?.decision?.monitor, true);
    assert.is(d?.message, 'monitor: would deny (function-not-allowed)');
    assert.equal(d?.modbus?.values, [4242]);
    assert.is(r.proxy.stats.monitored, 1);
    c.close();
  } finally { await r.stop(); }
});

test('rate limit per (conduit, source): over the burst is exception 06 until tokens refill', async () => {
  const r = await rig({ limits: { perSecond: 2, burst: 3 } });
  try {
    const c = await RawClient.open(r.port);
    const codes: (number | undefined)[] = [];
    for (let i = 0; i < 5; i++) codes.push((await c.request(adu(i, 1, pdus.read(3, 0, 1))))?.exception);
    assert.equal(codes, [undefined, undefined, undefined, 6, 6]);
    // A second connection from the same source shares the bucket.
    const c2 = await RawClient.open(r.port);
    assert.is((await c2.request(adu(50, 1, pdus.read(3, 0, 1))))?.exception, 6);
    r.clock.t += 500; // one token back
    assert.is((await c.request(adu(60, 1, pdus.read(3, 0, 1))))?.exception, undefined);
    assert.is((await c.request(adu(61, 1, pdus.read(3, 0, 1))))?.exception, 6);
    assert.is(r.proxy.stats.rateLimited, 4);
    const limited = r.events.filter((e) => e.decision?.reason === 'rate-limited');
    assert.is(limited.length, 4);
    assert.is(limited[0].decision?.conduit, 'c1');
    c.close(); c2.close();
  } finally { await r.stop(); }
});

test('malformed frames close only the offending connection, with an audit record', async () => {
  const r = await rig();
  try {
    const good = await RawClient.open(r.port);
    const cases: [Buffer, string][] = [
      [adu(1, 1, pdus.read(3, 0, 1), { protocol: 7 }), 'MBAP protocol id 7 is not 0 (Modbus)'],
      [adu(1, 1, pdus.read(3, 0, 1), { length: 1 }), 'MBAP length 1 outside 2..254'],
      [adu(1, 1, pdus.read(3, 0, 1), { length: 300 }), 'MBAP length 300 outside 2..254'],
      [adu(1, 1, [3, 0, 0, 0]), 'read-holding-registers: PDU is 4 bytes, expected 5'],
    ];
    for (const [frame, message] of cases) {
      const bad = await RawClient.open(r.port);
      bad.send(frame);
      assert.ok(await bad.waitClosed(), `closed after: ${message}`);
      assert.ok(r.events.some((e) => e.kind === 'malformed' && e.message === message), message);
      const res = await good.request(adu(77, 1, pdus.read(3, 1, 1)));
      assert.equal(res?.registers, [1001], `good client still served after: ${message}`);
    }
    assert.is(r.proxy.stats.malformed, cases.length);
    assert.not.ok(good.closed);
    good.close();
  } finally { await r.stop(); }
});

test('slowloris: a frame not completed within frameMs closes the connection (injected clock)', async () => {
  const r = await rig();
  try {
    const c = await RawClient.open(r.port);
    const frame = adu(1, 1, pdus.read(3, 0, 1));
    c.send(frame.subarray(0, 3));
    await until(() => r.proxy.stats.connections === 1);
    await new Promise((res) => setTimeout(res, 50));
    r.clock.t += 4_999;
    r.proxy.sweep();
    assert.not.ok(c.closed);
    r.clock.t += 1;
    r.proxy.sweep();
    assert.ok(await c.waitClosed());
    const m = r.events.find((e) => e.kind === 'malformed');
    assert.is(m?.message, 'frame not completed within 5000 ms (3 bytes held)');
  } finally { await r.stop(); }
});

test('idle connections are closed after idleMs and audited', async () => {
  const r = await rig();
  try {
    const c = await RawClient.open(r.port);
    assert.ok(await c.request(adu(1, 1, pdus.read(3, 0, 1))));
    r.clock.t += 60_000;
    r.proxy.sweep();
    assert.ok(await c.waitClosed());
    assert.ok(r.events.some((e) => e.kind === 'connection' && e.message === 'closed: idle for 60000 ms'));
    assert.is(r.proxy.stats.idleClosed, 1);
  } finally { await r.stop(); }
});

test('half-open upstream: each request unanswered within upstreamMs is exception 0B', async () => {
  const r = await rig({ silent: true });
  try {
    const c = await RawClient.open(r.port);
    c.send(Buffer.concat([adu(1, 1, pdus.read(3, 0, 1)), adu(2, 1, pdus.read(3, 1, 1))]));
    await until(() => r.server.connections.size === 1 && r.proxy.stats.forwarded === 2);
    r.clock.t += 3_000;
    r.proxy.sweep();
    const got = await c.waitFor(2);
    assert.equal(got.map((x) => [x.tid, x.fn, x.exception]), [[1, 0x83, 0x0b], [2, 0x83, 0x0b]]);
    assert.is(r.proxy.stats.upstreamTimeouts, 2);
    assert.ok(r.events.some((e) => e.message === 'upstream did not answer transaction 2 (unit 1, function 3) within 3000 ms: exception 0x0B'));
    assert.not.ok(c.closed);
  } finally { await r.stop(); }
});

test('upstream refusing connections: exception 0A, and the client connection stays', async () => {
  const probe = createServer();
  await new Promise<void>((res) => probe.listen(0, '127.0.0.1', () => res()));
  const deadPort = (probe.address() as AddressInfo).port;
  await new Promise<void>((res) => probe.close(() => res()));
  const r = await rig({ upstreamPort: deadPort });
  try {
    const c = await RawClient.open(r.port);
    const res = await c.request(adu(5, 1, pdus.read(3, 0, 1)));
    assert.equal([res?.tid, res?.fn, res?.exception], [5, 0x83, 0x0a]);
    const again = await c.request(adu(6, 1, pdus.read(3, 0, 1)));
    assert.equal([again?.fn, again?.exception], [0x83, 0x0a], 'within the retry pause: 0A without connecting');
    assert.ok(r.events.some((e) => /^upstream 127\.0\.0\.1:\d+ unreachable \(ECONNREFUSED\)$/.test(e.message ?? '')));
    assert.not.ok(c.closed);
  } finally { await r.stop(); }
});

test('an upstream response to no outstanding transaction is dropped and audited', async () => {
  const liar = createServer((s) => s.on('data', (d: Buffer) => {
    const tid = d.readUInt16BE(0);
    s.write(Buffer.concat([adu(tid + 1, 1, [3, 2, 0, 9]), adu(tid, 1, [3, 2, 0, 42])]));
  }));
  await new Promise<void>((res) => liar.listen(0, '127.0.0.1', () => res()));
  const r = await rig({ upstreamPort: (liar.address() as AddressInfo).port });
  try {
    const c = await RawClient.open(r.port);
    const res = await c.request(adu(10, 1, pdus.read(3, 0, 1)));
    assert.equal(res?.registers, [42]);
    await new Promise((x) => setTimeout(x, 50));
    assert.is(c.responses.length, 1);
    assert.is(r.proxy.stats.unexpectedResponses, 1);
    assert.ok(r.events.some((e) => e.message === 'upstream response (transaction 11, function 3) answers no outstanding request: dropped'));
    c.close();
  } finally { await r.stop(); liar.close(); }
});

test('a connection the policy refuses is closed at once and audited', async () => {
  const r = await rig();
  r.decider.denyConnect = true;
  try {
    const c = await RawClient.open(r.port);
    assert.ok(await c.waitClosed());
    assert.ok(r.events.some((e) => e.kind === 'decision' && e.message === 'connect' && e.decision?.reason === 'no-conduit'));
    assert.ok(r.events.some((e) => e.kind === 'connection' && e.message === 'refused: no-conduit'));
    assert.is(r.proxy.stats.refused, 1);
  } finally { await r.stop(); }
});

test('backpressure: a client that does not read its answers stops being read; nothing is lost', async () => {
  const r = await rig();
  try {
    const total = 60_000; // 60,000 x 209-byte answers = 12.5 MB, far beyond the socket buffers
    const frames = Buffer.concat(Array.from({ length: total }, (_, i) => adu(i & 0xffff, 1, pdus.read(3, 0, 100))));
    const s = connect({ host: '127.0.0.1', port: r.port });
    await new Promise<void>((res) => s.on('connect', () => res()));
    s.pause();
    s.write(frames);
    // Wait for the kernel buffers to fill (a few MB on loopback) and the proxy to stop reading.
    let stalled = -1;
    for (let i = 0; i < 50 && r.proxy.stats.forwarded !== stalled; i++) {
      stalled = r.proxy.stats.forwarded;
      await until(() => false, 250);
    }
    assert.ok(stalled < total, `reading paused while the client does not read (${stalled} of ${total} forwarded)`);
    await until(() => false, 250);
    assert.is(r.proxy.stats.forwarded, stalled, 'and stays paused');
    let bytes = 0;
    s.on('data', (d: Buffer) => { bytes += d.length; });
    s.resume();
    await until(() => bytes >= total * 209, 20_000);
    assert.is(bytes, total * 209, 'every answer arrived once reading resumed');
    assert.is(r.proxy.stats.forwarded, total);
    s.destroy();
  } finally { await r.stop(); }
});

test('per-source connection cap: the connection over it is refused and audited', async () => {
  const r = await rig({ perSource: 2 });
  try {
    const a = await RawClient.open(r.port);
    const b = await RawClient.open(r.port);
    await until(() => r.proxy.stats.connections === 2);
    const c = await RawClient.open(r.port);
    assert.ok(await c.waitClosed());
    assert.ok(r.events.some((e) => e.kind === 'connection' && e.message === 'refused: 2 connections open from 127.0.0.1 (maxConnectionsPerSource)'));
    a.close();
    await until(() => r.proxy.stats.connections === 1);
    const d = await RawClient.open(r.port);
    assert.equal((await d.request(adu(1, 1, pdus.read(3, 0, 1))))?.registers, [1000], 'a slot freed is usable again');
    b.close(); d.close();
  } finally { await r.stop(); }
});

test('an audit sink that throws costs the event, counted, never the request', async () => {
  const r = await rig({ throwingAudit: true });
  try {
    const c = await RawClient.open(r.port);
    assert.equal((await c.request(adu(1, 1, pdus.read(3, 7, 1))))?.registers, [1007]);
    assert.equal((await c.request(adu(2, 1, pdus.writeSingle(6, 7, 1))))?.exception, 1);
    assert.is(r.proxy.stats.droppedAudit, 3, 'connect decision + two request decisions');
    assert.not.ok(c.closed);
    c.close();
  } finally { await r.stop(); }
});

test('stop() lets in-flight requests finish, then closes and refuses', async () => {
  const r = await rig();
  const c = await RawClient.open(r.port);
  assert.ok(await c.request(adu(1, 1, pdus.read(3, 0, 1))));
  c.send(adu(2, 1, pdus.read(3, 2, 1)));
  await until(() => r.proxy.stats.requests === 2);
  await r.proxy.stop();
  const got = await c.waitFor(2);
  assert.equal(got[1]?.registers, [1002]);
  assert.ok(await c.waitClosed());
  assert.is(r.proxy.stats.connections, 0);
  assert.ok(r.events.some((e) => e.kind === 'driver' && e.message === 'stopped'));
  await r.server.stop();
});

test.run();
