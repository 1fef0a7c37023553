// The Modbus/TCP proxy between real peers: a pymodbus 3.0.0rc1 server as the PLC, mbpoll and a
// pymodbus client as HMIs, and the real policy engine (IndexDecider over compile()) deciding from
// an inline policy. Skips, saying why, when /usr/bin/python3 lacks pymodbus or mbpoll is missing.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createModbusProxy, type ModbusProxy } from '../../drivers/modbus-tcp';
import type { AuditEvent } from '../../drivers/types';
import { compile } from '../../policy/compile';
import { IndexDecider } from '../../policy/decider';
import type { Conduit, PolicyDocument } from '../../policy/types';
import {
  adu, mbpollMissing, pdus, pymodbusMissing, RawClient, runMbpoll, runPymodbusClient, startPymodbusServer, type RunningServer,
} from '../helpers/modbus';

const conduit = (c: Partial<Conduit> & Pick<Conduit, 'id' | 'to'>): Conduit => ({
  from: { identities: ['hmi-1'], roles: [], zones: [] }, protocol: 'modbus', requires: { edgeAuth: false, grant: false }, mode: 'enforce', ...c,
});

function policy(extraFunctions: number[] = []): PolicyDocument {
  return {
    site: 'test-site',
    zones: [{ id: 'control', networks: ['127.0.0.0/8'], interfaces: [], securityLevel: 3 }],
    assets: ['plc-1', 'plc-mon', 'plc-rl'].map((id, i) => ({ id, zone: 'control', addresses: [`127.0.1.${i + 1}`], kind: 'plc', services: [{ protocol: 'modbus' as const, port: 502 }] })),
    identities: [{ id: 'hmi-1', kind: 'device', zone: 'control', addresses: ['127.0.0.1'], roles: [] }],
    conduits: [
      conduit({ id: 'hmi-reads', to: { assets: ['plc-1'], zones: [] }, allow: { functions: [3, 1, ...extraFunctions], units: [1], addresses: [{ start: 0, end: 99 }] } }),
      conduit({ id: 'commissioning', to: { assets: ['plc-mon'], zones: [] }, mode: 'monitor', allow: { functions: [3], units: [1], addresses: [{ start: 0, end: 99 }] } }),
      conduit({ id: 'limited', to: { assets: ['plc-rl'], zones: [] }, allow: { functions: [3], addresses: [{ start: 0, end: 199 }] }, rateLimit: { perSecond: 1, burst: 2 } }),
    ],
    quarantine: [],
    settings: { onExpiry: 'keep-enforcing' },
    tests: [],
  };
}

const missing = pymodbusMissing() ?? mbpollMissing();
let plc: RunningServer;
const decider = new IndexDecider(compile(policy(), { version: '7' }));
const events: AuditEvent[] = [];
const clock = { t: Date.parse('2026-11-25T12:00:00Z') };
const proxies: Record<string, ModbusProxy> = {};
const port = (asset: string): number => proxies[asset].address().port;

test.before(async () => {
  if (missing) return;
  plc = await startPymodbusServer();
  for (const asset of ['plc-1', 'plc-mon', 'plc-rl']) {
    const p = createModbusProxy({
      listen: { host: '127.0.0.1', port: 0 }, upstream: { host: '127.0.0.1', port: plc.port },
      asset, servicePort: 502, decider, audit: { record: (e) => { events.push(e); } },
      limits: (id) => decider.conduit(id)?.rateLimit,
      now: () => clock.t, timers: { setInterval: () => 0, clearInterval: () => undefined },
    });
    await p.start(new AbortController().signal);
    proxies[asset] = p;
  }
});

test.after(async () => {
  for (const p of Object.values(proxies)) await p.stop();
  await plc?.stop();
});

const direct = async (address: number, count: number): Promise<number[] | undefined> =>
  (await runPymodbusClient(plc.port, [{ op: 'read-holding', address, count }]))[0].values;

test('mbpoll: allowed read through the proxy returns the PLC values', async () => {
  if (missing) { console.log(`SKIP: ${missing}`); return; }
  const r = await runMbpoll({ port: port('plc-1'), unit: 1, ref: 0, count: 5 });
  assert.is(r.error, undefined, r.output);
  assert.equal(r.values, [1000, 1001, 1002, 1003, 1004]);
  const d = events.filter((e) => e.kind === 'decision' && e.modbus?.function === 3);
  assert.is(d[d.length - 1].decision?.conduit, 'hmi-reads');
  assert.is(d[d.length - 1].policyVersion, '7');
  assert.is(d[d.length - 1].decision?.identity, 'hmi-1');
});

test('mbpoll: a read crossing the end of the allowed range is refused (exception 02)', async () => {
  if (missing) { console.log(`SKIP: ${missing}`); return; }
  const r = await runMbpoll({ port: port('plc-1'), unit: 1, ref: 98, count: 3 });
  assert.ok(r.error, 'mbpoll reports a failure');
  assert.match(r.error!, /Illegal data address/i);
  const d = events.filter((e) => e.kind === 'decision' && e.modbus?.address === 98);
  assert.is(d[d.length - 1].decision?.reason, 'address-out-of-range');
});

test('pymodbus client: reads allowed, write denied (registers unchanged), unit and range refused', async () => {
  if (missing) { console.log(`SKIP: ${missing}`); return; }
  const res = await runPymodbusClient(port('plc-1'), [
    { op: 'read-holding', address: 10, count: 3 },
    { op: 'write-register', address: 10, value: 7 },
    { op: 'write-registers', address: 11, values: [1, 2] },
    { op: 'read-holding', address: 99, count: 2 },
    { op: 'read-coils', address: 0, count: 4 },
    { op: 'read-input', address: 0, count: 1 },
  ]);
  assert.equal(res, [
    { ok: true, values: [1010, 1011, 1012] },
    { ok: false, exception: 1, function: 0x86 },
    { ok: false, exception: 1, function: 0x90 },
    { ok: false, exception: 2, function: 0x83 },
    { ok: true, values: [0, 1, 0, 1] },
    { ok: false, exception: 1, function: 0x84 },
  ]);
  assert.equal(await direct(10, 3), [1010, 1011, 1012], 'the PLC never saw the writes');
  const w = events.find((e) => e.modbus?.function === 16);
  assert.equal(w?.modbus, { function: 16, unit: 1, address: 11, count: 2, values: [1, 2] });
  assert.is(w?.decision?.reason, 'function-not-allowed');
  // A unit the conduit does not allow looks absent: 0B once the response timeout passed.
  const c = await RawClient.open(port('plc-1'));
  c.send(adu(3, 2, pdus.read(3, 0, 1)));
  await new Promise((r) => setTimeout(r, 100));
  assert.is(c.responses.length, 0, 'no immediate answer for a unit that is not allowed');
  clock.t += 3_000;
  proxies['plc-1'].sweep();
  assert.equal((await c.waitFor(1)).map((x) => [x.unit, x.fn, x.exception]), [[2, 0x83, 0x0b]]);
  c.close();
});

test('pipelined requests, mixed allow and deny, against the real PLC', async () => {
  if (missing) { console.log(`SKIP: ${missing}`); return; }
  const c = await RawClient.open(port('plc-1'));
  try {
    const frames: Buffer[] = [];
    for (let i = 0; i < 12; i++) frames.push(i % 2 ? adu(500 + i, 1, pdus.writeSingle(6, i, 9)) : adu(500 + i, 1, pdus.read(3, i, 1)));
    c.send(Buffer.concat(frames));
    const got = await c.waitFor(12);
    assert.is(got.length, 12);
    for (let i = 0; i < 12; i++) {
      const r = got.find((x) => x.tid === 500 + i)!;
      if (i % 2) assert.equal([r.fn, r.exception], [0x86, 1]);
      else assert.equal(r.registers, [1000 + i]);
    }
  } finally { c.close(); }
});

test('unknown function codes are answered 01 (illegal function), audited as the policy decided', async () => {
  if (missing) { console.log(`SKIP: ${missing}`); return; }
  const c = await RawClient.open(port('plc-1'));
  try {
    const a = await c.request(adu(40, 1, [0x5a, 1, 2]));
    const b = await c.request(adu(41, 1, [0x83, 0, 0, 0, 1]));
    assert.equal([a?.fn, a?.exception, b?.fn, b?.exception], [0xda, 1, 0x83, 1]);
    const d = events.find((e) => e.modbus?.function === 0x5a);
    assert.is(d?.decision?.decision, 'deny');
  } finally { c.close(); }
});

test('monitor mode: a write the conduit would deny is forwarded and audited as would-deny', async () => {
  if (missing) { console.log(`SKIP: ${missing}`); return; }
  const res = await runPymodbusClient(port('plc-mon'), [{ op: 'write-register', address: 150, value: 4321 }]);
  assert.equal(res, [{ ok: true }]);
  assert.equal(await direct(150, 1), [4321]);
  const d = events.find((e) => e.asset === 'plc-mon' && e.modbus?.function === 6);
  assert.equal([d?.decision?.decision, d?.decision?.monitor, d?.decision?.conduit, d?.decision?.reason], ['allow', true, 'commissioning', 'function-not-allowed']);
  assert.equal(d?.modbus?.values, [4321]);
});

test('rate limit from the policy: burst 2, then exception 06 until the clock refills', async () => {
  if (missing) { console.log(`SKIP: ${missing}`); return; }
  const ops = [0, 1, 2, 3].map(() => ({ op: 'read-holding' as const, address: 0, count: 1 }));
  const res = await runPymodbusClient(port('plc-rl'), ops);
  assert.equal(res.map((r) => r.exception ?? 'ok'), ['ok', 'ok', 6, 6]);
  clock.t += 1_000;
  const again = await runPymodbusClient(port('plc-rl'), ops.slice(0, 2));
  assert.equal(again.map((r) => r.exception ?? 'ok'), ['ok', 6]);
});

test('policy swap keeps the connection; the next request is decided by the new version', async () => {
  if (missing) { console.log(`SKIP: ${missing}`); return; }
  const c = await RawClient.open(port('plc-1'));
  try {
    assert.equal((await c.request(adu(1, 1, pdus.writeSingle(6, 30, 55))))?.exception, 1);
    decider.setIndex(compile(policy([6]), { version: '8' }));
    const r = await c.request(adu(2, 1, pdus.writeSingle(6, 30, 55)));
    assert.equal([r?.fn, r?.exception], [6, undefined]);
    assert.not.ok(c.closed);
    const d = events.filter((e) => e.modbus?.function === 6 && e.modbus.address === 30);
    assert.equal(d.map((e) => [e.policyVersion, e.decision?.decision]), [['7', 'deny'], ['8', 'allow']]);
    assert.equal(await direct(30, 1), [55]);
  } finally {
    c.close();
    decider.setIndex(compile(policy(), { version: '9' }));
  }
});

test('malformed frames close only their own connection while another client keeps working', async () => {
  if (missing) { console.log(`SKIP: ${missing}`); return; }
  const good = await RawClient.open(port('plc-1'));
  try {
    const bad = [
      adu(1, 1, pdus.read(3, 0, 1), { protocol: 1 }),
      adu(1, 1, pdus.read(3, 0, 1), { length: 255 }),
      adu(1, 1, [3, 0, 0, 0, 1, 0]),
    ];
    for (const frame of bad) {
      const c = await RawClient.open(port('plc-1'));
      c.send(frame);
      assert.ok(await c.waitClosed());
      assert.equal((await good.request(adu(9, 1, pdus.read(3, 5, 1))))?.registers, [1005]);
    }
    const m = events.filter((e) => e.kind === 'malformed').map((e) => e.message);
    assert.equal(m.slice(-3), ['MBAP protocol id 1 is not 0 (Modbus)', 'MBAP length 255 outside 2..254', 'read-holding-registers: PDU is 6 bytes, expected 5']);
    const r = await runMbpoll({ port: port('plc-1'), unit: 1, ref: 0, count: 2 });
    assert.equal(r.values, [1000, 1001]);
  } finally { good.close(); }
});

test.run();
