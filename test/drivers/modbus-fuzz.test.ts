// Fuzzing the Modbus/TCP proxy: thousands of random and mutated frames (seeded PRNG; the seed is
// printed, set ZG_FUZZ_SEED to replay), cut at random points, over many connections, against the
// real policy engine and a minimal Node Modbus server. Afterwards a well-formed client still gets
// correct answers, every connection is gone, and the heap after gc is within a few MB of before.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { connect } from 'node:net';
import { createModbusProxy, type ModbusProxy } from '../../drivers/modbus-tcp';
import type { AuditEvent } from '../../drivers/types';
import { compile } from '../../policy/compile';
import { IndexDecider } from '../../policy/decider';
import { MODBUS_FUNCTIONS } from '../../policy/modbus';
import type { PolicyDocument } from '../../policy/types';
import { adu, pdus, RawClient, startNodeModbusServer, type NodeModbusServer } from '../helpers/modbus';
import { mulberry32 } from '../helpers/prng';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;


const seed = Number(process.env.ZG_FUZZ_SEED ?? (Date.now() % 2 ** 31));
console.log(`fuzz seed ${seed} (replay with ZG_FUZZ_SEED=${seed})`);
const rnd = mulberry32(seed);
const int = (n: number): number => Math.floor(rnd() * n);

const doc: PolicyDocument = {
  site: 'fuzz',
  zones: [{ id: 'z', networks: ['127.0.0.0/8'], interfaces: [], securityLevel: 2 }],
  assets: [{ id: 'plc-1', zone: 'z', addresses: ['127.0.1.1'], kind: 'plc', services: [{ protocol: 'modbus', port: 502 }] }],
  identities: [{ id: 'hmi-1', kind: 'device', zone: 'z', addresses: ['127.0.0.1'], roles: [] }],
  conduits: [{
    id: 'reads', from: { identities: ['hmi-1'], roles: [], zones: [] }, to: { assets: ['plc-1'], zones: [] }, protocol: 'modbus',
    allow: { functions: [1, 2, 3, 4, 6, 16, 23], units: [1, 2], addresses: [{ start: 0, end: 999 }] },
    requires: { edgeAuth: false, grant: false }, mode: 'enforce',
  }],
  quarantine: [], settings: { onExpiry: 'keep-enforcing' }, tests: [],
};

function validFrame(tid: number): Buffer {
  const f = MODBUS_FUNCTIONS[int(MODBUS_FUNCTIONS.length)];
  const unit = int(4);
  const a = int(1200), n = 1 + int(20);
  switch (f.shape) {
    case 'range': return adu(tid, unit, pdus.read(f.code, a, n));
    case 'single': return adu(tid, unit, pdus.writeSingle(f.code, a, f.code === 5 ? (rnd() < 0.5 ? 0xff00 : 0) : int(65536)));
    case 'multiple': return adu(tid, unit, f.code === 15 ? pdus.writeCoils(a, Array.from({ length: n }, () => int(2))) : pdus.writeRegisters(a, Array.from({ length: n }, () => int(65536))));
    case 'mask': return adu(tid, unit, [22, a >> 8, a & 0xff, int(256), int(256), int(256), int(256)]);
    case 'read-write': return adu(tid, unit, [23, 0, a & 0xff, 0, n, 0, 5, 0, 2, 4, 0, 1, 0, 2]);
    case 'fifo': return adu(tid, unit, [24, a >> 8, a & 0xff]);
    default: return adu(tid, unit, [f.code, ...Array.from({ length: int(6) }, () => int(256))]);
  }
}

function mutate(b: Buffer): Buffer {
  const m = Buffer.from(b);
  switch (int(5)) {
    case 0: for (let i = 0, k = 1 + int(3); i < k; i++) m[int(m.length)] = int(256); return m;
    case 1: return m.subarray(0, 1 + int(m.length - 1));
    case 2: return Buffer.concat([m, Buffer.from(Array.from({ length: 1 + int(8) }, () => int(256)))]);
    case 3: m.writeUInt16BE(int(300), 4); return m;
    default: m.writeUInt16BE(int(3), 2); return m;
  }
}

/** A connection's stream: well-formed frames, with mutated or random ones at a per-connection rate. */
function fuzzStream(frames: number): Buffer {
  const parts: Buffer[] = [];
  const bad = [0, 0.01, 0.05, 0.3][int(4)];
  for (let i = 0; i < frames; i++) {
    const r = rnd();
    if (r >= bad) parts.push(validFrame(int(65536)));
    else if (r < bad * 0.8) parts.push(mutate(validFrame(int(65536))));
    else parts.push(Buffer.from(Array.from({ length: 1 + int(300) }, () => int(256))));
  }
  return Buffer.concat(parts);
}

function fuzzConnection(port: number, stream: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.on('error', () => undefined);
    s.on('data', () => undefined);
    let done = false;
    const finish = (): void => { if (!done) { done = true; s.destroy(); resolve(); } };
    s.on('close', finish);
    s.on('connect', () => {
      let at = 0;
      const next = (): void => {
        if (done) return;
        if (at >= stream.length) { setTimeout(finish, 30); return; }
        const n = 1 + int(rnd() < 0.3 ? 8 : 200);
        s.write(stream.subarray(at, at + n));
        at += n;
        setImmediate(next);
      };
      next();
    });
  });
}

let server: NodeModbusServer;
let proxy: ModbusProxy;
let events = 0;
const sample: AuditEvent[] = [];

test.before(async () => {
  server = await startNodeModbusServer();
  const decider = new IndexDecider(compile(doc, { version: '1' }));
  proxy = createModbusProxy({
    listen: { host: '127.0.0.1', port: 0 }, upstream: { host: '127.0.0.1', port: server.port },
    asset: 'plc-1', servicePort: 502, decider,
    // A bounded sink: counts everything, keeps malformed and driver events for inspection.
    audit: { record: (e) => { events++; if ((e.kind === 'malformed' || e.kind === 'driver') && sample.length < 5000) sample.push(e); } },
    now: () => Date.now(),
    maxConnectionsPerSource: 1000,
  });
  await proxy.start(new AbortController().signal);
});

test.after(async () => {
  await proxy.stop();
  await server.stop();
});

async function round(connections: number, framesEach: number): Promise<void> {
  const port = proxy.address().port;
  let next = 0;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < connections) { next++; await fuzzConnection(port, fuzzStream(framesEach)); }
  }));
}

async function settled(): Promise<void> {
  const end = Date.now() + 5_000;
  while (proxy.stats.connections > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
}

test('thousands of random and mutated frames: no crash, no leak, correct answers after', async () => {
  await round(40, 20); // warm-up: JIT, pools, buffers
  await settled();
  gc(); gc();
  const before = process.memoryUsage().heapUsed;
  const requestsBefore = proxy.stats.requests;
  await round(300, 30); // 9,000 frames
  await settled();
  gc(); gc();
  const after = process.memoryUsage().heapUsed;
  const s = proxy.stats;
  console.log(`fuzz: ${s.requests - requestsBefore} requests parsed, allowed ${s.allowed}, denied ${s.denied}, malformed ${s.malformed}, forwarded ${s.forwarded}, responses ${s.responses}, audit events ${events}; heap ${(before / 1048576).toFixed(1)} → ${(after / 1048576).toFixed(1)} MiB`);
  assert.is(s.connections, 0, 'every fuzz connection is gone');
  assert.ok(s.malformed > 50, `malformed frames were seen (${s.malformed})`);
  assert.ok(s.allowed > 100 && s.denied > 100, 'both allowed and denied requests were decided');
  assert.is(s.forwarded, s.allowed, 'everything allowed was forwarded (upstream healthy)');
  assert.not.ok(sample.some((e) => e.kind === 'driver' && /internal error/.test(e.message ?? '')), 'no internal errors');
  assert.ok(sample.filter((e) => e.kind === 'malformed').every((e) => typeof e.message === 'string' && e.message.length > 0));
  assert.ok(after - before < 4 * 1048576, `heap grew by ${((after - before) / 1048576).toFixed(2)} MiB`);

  const c = await RawClient.open(proxy.address().port);
  try {
    const r1 = await c.request(adu(1, 1, pdus.read(3, 100, 4)));
    assert.equal(r1?.registers, [server.registers[100], server.registers[101], server.registers[102], server.registers[103]]);
    const r2 = await c.request(adu(2, 1, pdus.read(3, 998, 3)));
    assert.equal([r2?.fn, r2?.exception], [0x83, 2]);
    const r3 = await c.request(adu(3, 1, pdus.writeSingle(5, 0, 0xff00)));
    assert.equal([r3?.fn, r3?.exception], [0x85, 1]);
  } finally { c.close(); }
});

test.run();
