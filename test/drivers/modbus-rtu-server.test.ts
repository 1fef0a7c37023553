/**
 * service: modbus-rtu between real peers: pymodbus's serial client as the RTU master on one end
 * of a socat pty pair, zonegate on the other, pymodbus's TCP server upstream. The master is the
 * identity the listener names. Then raw frames: a bad CRC and a torn request are dropped unanswered
 * (as a slave must, Modbus over Serial Line 2.4.1), and the line keeps serving.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createRtuServer, type RtuServer } from '../../drivers/modbus-rtu';
import { openSerial } from '../../drivers/modbus-rtu/serial';
import { rtuFrame } from '../../drivers/modbus-rtu/crc';
import type { AuditEvent } from '../../drivers/types';
import { compile } from '../../policy/compile';
import { IndexDecider } from '../../policy/decider';
import { parsePolicy } from '../../policy/parse';
import { DEBIAN_PYTHON, pymodbusMissing, startPymodbusServer } from '../helpers/modbus';
import { ptyPair, rtuServerMissing, socatMissing } from '../helpers/serial';

const POLICY = `site: t
zones: [{ id: control, networks: [127.0.0.0/8], securityLevel: 3 }]
assets: [{ id: plc-1, zone: control, address: 127.0.1.1, kind: plc, services: [{ protocol: modbus, port: 502 }] }]
identities: [{ id: scada-master, kind: device, zone: control }]
conduits:
  - id: master-reads
    from: { identities: [scada-master] }
    to: { assets: [plc-1] }
    protocol: modbus
    allow: { functions: [read-holding-registers, write-single-register], units: [1], addresses: ["0-99"], values: { "0-99": "0-100" } }
`;
const BAUD = 115200;
const missing = socatMissing() ?? pymodbusMissing() ?? rtuServerMissing();

function master(device: string, ops: unknown[]): Promise<{ ok: boolean; values?: number[]; exception?: number; error?: string }[]> {
  return new Promise((resolve, reject) => {
    const c = spawn(DEBIAN_PYTHON, [join(process.cwd(), 'test', 'fixtures', 'modbus', 'client.py'), `serial:${device}:${BAUD}`, JSON.stringify(ops)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    c.stdout!.on('data', (d) => { out += d; });
    c.stderr!.on('data', (d) => { err += d; });
    c.on('close', () => { try { resolve(JSON.parse(out).results); } catch { reject(new Error(`client: ${out} ${err}`)); } });
  });
}

test('a pymodbus RTU master reads and writes through the policy; a denied write gets exception 03 on the line', async () => {
  if (missing) { console.log(`  skip: ${missing}`); return; }
  const pty = await ptyPair();
  const plc = await startPymodbusServer();
  const events: AuditEvent[] = [];
  const decider = new IndexDecider(compile(parsePolicy(POLICY, { file: 'p.yaml' }), { version: '1' }));
  const srv: RtuServer = createRtuServer({
    line: { device: pty.a, baud: BAUD, parity: 'none', stopBits: 1 }, identity: 'scada-master', asset: 'plc-1', servicePort: 502,
    upstream: { host: '127.0.0.1', port: plc.port }, decider, audit: { record: (e) => { events.push(e); } }, now: () => Date.now(),
  });
  await srv.start(new AbortController().signal);
  try {
    const r = await master(pty.b, [
      { op: 'read-holding', unit: 1, address: 10, count: 2 },
      { op: 'write-register', unit: 1, address: 10, value: 55 },
      { op: 'read-holding', unit: 1, address: 10, count: 1 },
      { op: 'write-register', unit: 1, address: 10, value: 101 },
      { op: 'read-holding', unit: 1, address: 150, count: 1 },
    ]);
    assert.equal(r[0], { ok: true, values: [1010, 1011] });
    assert.equal(r[1], { ok: true });
    assert.equal(r[2], { ok: true, values: [55] });
    assert.equal([r[3].ok, r[3].exception], [false, 3]);
    assert.equal([r[4].ok, r[4].exception], [false, 2]);
    const d = events.filter((e) => e.kind === 'decision');
    assert.equal(d.map((e) => [e.decision?.decision, e.decision?.identity, e.src]), [
      ['allow', 'scada-master', `serial:${pty.a}`], ['allow', 'scada-master', `serial:${pty.a}`], ['allow', 'scada-master', `serial:${pty.a}`],
      ['deny', 'scada-master', `serial:${pty.a}`], ['deny', 'scada-master', `serial:${pty.a}`],
    ]);
    assert.equal(d[3].modbus?.values, [101]);
    assert.is(srv.stats.forwarded, 3);

    // Raw frames from the master's end: a bad CRC and a torn request get no answer; a good one does.
    const line = await openSerial({ device: pty.b, baud: BAUD, parity: 'none', stopBits: 1 });
    let got = Buffer.alloc(0);
    line.on('data', (b) => { got = Buffer.concat([got, b]); });
    const bad = rtuFrame(1, Buffer.from([3, 0, 10, 0, 1])); bad[7] ^= 0x55;
    line.write(bad);
    await new Promise((res) => setTimeout(res, 100));
    line.write(rtuFrame(1, Buffer.from([3, 0, 10, 0, 1])).subarray(0, 5));
    await new Promise((res) => setTimeout(res, 100));
    assert.is(got.length, 0);
    line.write(rtuFrame(1, Buffer.from([3, 0, 10, 0, 1])));
    const deadline = Date.now() + 5_000;
    while (got.length < 7 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 10));
    assert.equal([...got], [...rtuFrame(1, Buffer.from([3, 2, 0, 55]))]);
    assert.is(srv.stats.discarded, 2);
    line.close();
  } finally {
    await srv.stop();
    await plc.stop();
    await pty.stop();
  }
});

test('stop() twice (the abort signal, then the runtime) closes once and audits one stop', async () => {
  let closed = 0;
  const events: AuditEvent[] = [];
  const decider = new IndexDecider(compile(parsePolicy(POLICY, { file: 'p.yaml' }), { version: '1' }));
  const srv = createRtuServer({
    line: { device: '/dev/null', baud: BAUD, parity: 'none', stopBits: 1 }, identity: 'scada-master', asset: 'plc-1', servicePort: 502,
    upstream: { host: '127.0.0.1', port: 1 }, decider, audit: { record: (e) => { events.push(e); } }, now: () => Date.now(),
    open: async () => ({ on: () => undefined, write: () => undefined, close: () => { closed++; } }),
  });
  const ac = new AbortController();
  await srv.start(ac.signal);
  ac.abort();
  await srv.stop();
  assert.is(closed, 1);
  assert.equal(events.filter((e) => e.kind === 'driver' && e.message === 'stopped').length, 1);
});

test.run();
