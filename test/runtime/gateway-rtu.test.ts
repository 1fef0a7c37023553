/**
 * The RTU listeners in the real gateway (createGateway with a config file and a lab policy file):
 * `service: modbus-rtu-gateway` carries Modbus/TCP clients onto a socat pty pair with pymodbus's
 * serial RTU server on the far end; `service: modbus-rtu` takes pymodbus's serial client as the RTU
 * master on a second pty pair and forwards to pymodbus's Modbus/TCP server. On each, an allowed
 * read and a denied write, audited and counted in the status. Skips, saying why, without socat or
 * pymodbus's serial support. A serial device that cannot be opened stops the start, located; one
 * that goes away while running (socat ended: the ptys vanish as an unplugged USB adapter does)
 * raises an alarm, requests get 0x0A at once, and the line works again when the device is back.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createGateway, type Gateway } from '../../runtime/gateway';
import { ZonegateError, formatIssue } from '../../policy/errors';
import { DEBIAN_PYTHON, RawClient, adu, pdus, pymodbusMissing, startPymodbusServer, type ClientResult } from '../helpers/modbus';
import { ptyPair, rtuServerMissing, socatMissing, startRtuServer } from '../helpers/serial';
import { labDir } from './gateway-fixtures';
import { waitFor } from '../e2e/helpers';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
test.after.each(async () => { while (cleanups.length) { try { await cleanups.pop()!(); } catch { /* keep cleaning */ } } });

const BAUD = 115200;
const POLICY = `site: lab
zones:
  - { id: station, networks: [127.0.0.0/8], securityLevel: 3 }
  - { id: field, networks: [10.10.2.0/24], securityLevel: 2 }
assets:
  - { id: meters, zone: field, address: 10.10.2.50, kind: serial-gateway, services: [{ protocol: modbus, port: 502 }] }
  - { id: plc-1, zone: station, address: 127.0.0.1, kind: plc, services: [{ protocol: modbus, port: 502 }] }
identities:
  - { id: hmi-1, kind: device, zone: station, addresses: [127.0.0.1] }
  - { id: scada-master, kind: device, zone: field }
conduits:
  - id: hmi-reads-meters
    from: { identities: [hmi-1] }
    to: { assets: [meters] }
    protocol: modbus
    allow: { functions: [read-holding-registers], units: [1], addresses: ["0-99"] }
  - id: master-reads-plc
    from: { identities: [scada-master] }
    to: { assets: [plc-1] }
    protocol: modbus
    allow: { functions: [read-holding-registers], units: [1], addresses: ["0-99"] }
`;

/** The gateway config: the modbus-rtu-gateway listener, and the modbus-rtu one when a master line is given. */
function config(o: { gatewayDevice: string; master?: { device: string; plcPort: number } }): string {
  const master = o.master ? `  - asset: plc-1
    service: modbus-rtu
    identity: scada-master
    upstream: 127.0.0.1:${o.master.plcPort}
    serial: { device: ${o.master.device}, baud: ${BAUD}, parity: none, stopBits: 1 }
` : '';
  return `device: gw-rtu
site: lab
stateDir: ./state
policyFile: policy.yaml
listeners:
  - listen: 127.0.0.1:0
    asset: meters
    service: modbus-rtu-gateway
    serial: { device: ${o.gatewayDevice}, baud: ${BAUD}, parity: none, stopBits: 1, responseMs: 500 }
${master}timeouts: { drainMs: 200 }
`;
}

/** pymodbus's serial client as the RTU master on `device` (test/fixtures/modbus/client.py). */
function master(device: string, ops: unknown[]): Promise<ClientResult[]> {
  return new Promise((resolve, reject) => {
    const c = spawn(DEBIAN_PYTHON, [join(process.cwd(), 'test', 'fixtures', 'modbus', 'client.py'), `serial:${device}:${BAUD}`, JSON.stringify(ops)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    c.stdout!.on('data', (d) => { out += d; });
    c.stderr!.on('data', (d) => { err += d; });
    c.on('close', () => { try { resolve(JSON.parse(out).results); } catch { reject(new Error(`client: ${out} ${err}`)); } });
  });
}

test('a gateway config with both RTU listeners: allowed reads pass, denied writes are refused on the spot, all audited', async () => {
  const missing = socatMissing() ?? pymodbusMissing() ?? rtuServerMissing();
  if (missing) { console.log(`  skip: ${missing}`); return; }
  const meterLine = await ptyPair();
  cleanups.push(() => meterLine.stop());
  const masterLine = await ptyPair();
  cleanups.push(() => masterLine.stop());
  const meters = await startRtuServer(meterLine.b, BAUD);
  cleanups.push(() => meters.stop());
  const plc = await startPymodbusServer();
  cleanups.push(() => plc.stop());
  const lab = labDir();
  cleanups.push(() => lab.remove());
  lab.write('policy.yaml', POLICY);
  lab.write('gateway.yaml', config({ gatewayDevice: meterLine.a, master: { device: masterLine.a, plcPort: plc.port } }));
  const lines: string[] = [];
  const decisions: string[] = [];
  const log = { info: (m: string) => lines.push(`info ${m}`), warn: (m: string) => lines.push(`warn ${m}`), error: (m: string) => lines.push(`error ${m}`) };
  const gw: Gateway = createGateway({ configFile: lab.config, log, writeLine: (c) => decisions.push(...c.trim().split('\n')) });
  await gw.start(new AbortController().signal);
  cleanups.push(() => gw.stop());

  const st = gw.status();
  assert.equal(st.listeners.map((l) => [l.service, l.asset, l.state, l.upstream]), [
    ['modbus-rtu-gateway', 'meters', 'up', `serial:${meterLine.a}`],
    ['modbus-rtu', 'plc-1', 'up', `127.0.0.1:${plc.port}`],
  ]);
  assert.is(st.listeners[1].address, `serial:${masterLine.a}`);
  assert.ok(lines.some((l) => l.startsWith(`info listening on serial:${masterLine.a}: modbus-rtu for plc-1`)), lines.join('\n'));

  // Modbus/TCP client → serial line: a read reaches the meter, a write never goes on the line.
  const port = Number(st.listeners[0].address!.split(':').pop());
  const c = await RawClient.open(port);
  cleanups.push(() => c.close());
  assert.equal((await c.request(adu(1, 1, pdus.read(3, 10, 2))))!.registers, [1010, 1011]);
  assert.is((await c.request(adu(2, 1, pdus.writeSingle(6, 10, 4242))))!.exception, 1);
  assert.equal((await c.request(adu(3, 1, pdus.read(3, 10, 1))))!.registers, [1010], 'the write did not reach the meter');

  // RTU master on the serial line → Modbus/TCP upstream: same, as the identity the listener names.
  const r = await master(masterLine.b, [
    { op: 'read-holding', unit: 1, address: 20, count: 2 },
    { op: 'write-register', unit: 1, address: 20, value: 7 },
    { op: 'read-holding', unit: 1, address: 20, count: 1 },
  ]);
  assert.equal(r[0], { ok: true, values: [1020, 1021] });
  assert.equal([r[1].ok, r[1].exception], [false, 1]);
  assert.equal(r[2], { ok: true, values: [1020] });

  const after = gw.status().listeners;
  assert.equal([after[0].stats?.responses, after[0].stats?.denied, after[1].stats?.forwarded, after[1].stats?.denied], [2, 1, 2, 1]);
  gw.audit.flush();
  const ds = decisions.map((d) => JSON.parse(d)).filter((d) => d.kind === 'decision' && d.modbus);
  assert.equal(ds.map((d) => [d.source, d.src, d.decision.decision, d.decision.conduit ?? d.decision.reason, d.decision.identity, d.modbus.function]), [
    ['modbus-rtu-gateway', '127.0.0.1', 'allow', 'hmi-reads-meters', 'hmi-1', 3],
    ['modbus-rtu-gateway', '127.0.0.1', 'deny', 'function-not-allowed', 'hmi-1', 6],
    ['modbus-rtu-gateway', '127.0.0.1', 'allow', 'hmi-reads-meters', 'hmi-1', 3],
    ['modbus-rtu', `serial:${masterLine.a}`, 'allow', 'master-reads-plc', 'scada-master', 3],
    ['modbus-rtu', `serial:${masterLine.a}`, 'deny', 'function-not-allowed', 'scada-master', 6],
    ['modbus-rtu', `serial:${masterLine.a}`, 'allow', 'master-reads-plc', 'scada-master', 3],
  ]);
  assert.equal(ds[4].modbus.values, [7], 'the denied write is audited with its value');
  assert.ok(ds.every((d) => d.policyVersion === st.policy.version));

  // A reload that lets the master write keeps both listeners (same line, same key) and applies at once.
  lab.write('policy.yaml', POLICY.replace(/(master-reads-plc[\s\S]*?functions: \[read-holding-registers)/, '$1, write-single-register'));
  const res = await gw.reload();
  assert.is(res.ok, true);
  assert.equal(res.listeners, { started: 0, stopped: 0, kept: 2, failed: 0 });
  const w = await master(masterLine.b, [{ op: 'write-register', unit: 1, address: 20, value: 7 }, { op: 'read-holding', unit: 1, address: 20, count: 1 }]);
  assert.equal(w, [{ ok: true }, { ok: true, values: [7] }]);
});

test('a serial device that cannot be opened stops the start, located at serial.device', async () => {
  const lab = labDir();
  cleanups.push(() => lab.remove());
  lab.write('policy.yaml', POLICY);
  lab.write('gateway.yaml', config({ gatewayDevice: join(lab.dir, 'no-such-tty'), master: { device: join(lab.dir, 'no-such-tty-2'), plcPort: 1502 } }));
  const log = { info: () => undefined, warn: () => undefined, error: () => undefined };
  const gw = createGateway({ configFile: lab.config, log, writeLine: () => undefined });
  cleanups.push(() => gw.stop());
  let err: unknown;
  try { await gw.start(new AbortController().signal); } catch (e) { err = e; }
  assert.instance(err, ZonegateError);
  assert.is((err as ZonegateError).code, 'ERR_CONFIG_INVALID');
  const issues = (err as ZonegateError).issues.map(formatIssue);
  assert.is(issues.length, 1, issues.join('\n'));
  assert.is(issues[0], `${lab.config}:9:15: listeners[0].serial.device: cannot open the serial device: ${join(lab.dir, 'no-such-tty')}: no such device`);
});

test('a serial adapter unplugged while running: alarm, 0x0A at once, and the line back by itself once it is plugged in again', async () => {
  const missing = socatMissing() ?? pymodbusMissing() ?? rtuServerMissing();
  if (missing) { console.log(`  skip: ${missing}`); return; }
  const line = await ptyPair();
  cleanups.push(() => line.stop());
  let meters = await startRtuServer(line.b, BAUD);
  cleanups.push(() => meters.stop());
  const lab = labDir();
  cleanups.push(() => lab.remove());
  lab.write('policy.yaml', POLICY);
  lab.write('gateway.yaml', config({ gatewayDevice: line.a }));
  const lines: string[] = [];
  const log = { info: (m: string) => lines.push(`info ${m}`), warn: (m: string) => lines.push(`warn ${m}`), error: (m: string) => lines.push(`error ${m}`) };
  const gw: Gateway = createGateway({ configFile: lab.config, log, writeLine: () => undefined, serialReopenMs: 100 });
  await gw.start(new AbortController().signal);
  cleanups.push(() => gw.stop());
  const c = await RawClient.open(Number(gw.status().listeners[0].address!.split(':').pop()));
  cleanups.push(() => c.close());
  assert.equal((await c.request(adu(1, 1, pdus.read(3, 10, 2))))!.registers, [1010, 1011]);

  await meters.stop();
  await line.unplug();
  const lost = () => gw.status().alarms.find((a) => a.id.startsWith('serial-lost:'));
  await waitFor(() => lost() !== undefined, 'the serial-lost alarm');
  assert.is(lost()!.severity, 'critical');
  assert.is(lost()!.message, `serial device ${line.a} (listener 127.0.0.1:0, meters) is gone (the device closed (end of input)); requests on it are refused until it is back, tried every 100 ms`);
  assert.is((await c.request(adu(2, 1, pdus.read(3, 10, 2))))!.exception, 0x0a, 'the path is unavailable: answered at once, not after a timeout');
  assert.is(gw.status().listeners[0].stats?.transactions, 1, 'nothing went onto a line that is not there');

  await line.replug();
  meters = await startRtuServer(line.b, BAUD);
  await waitFor(() => lost() === undefined, 'the alarm to clear once the device is back');
  assert.equal((await c.request(adu(3, 1, pdus.read(3, 10, 2))))!.registers, [1010, 1011], 'the same client connection works again');
  assert.ok(lines.some((l) => l.includes(`${line.a}: serial device lost (the device closed (end of input)); retrying`)), lines.join('\n'));
  assert.ok(lines.some((l) => l.includes(`${line.a}: serial device open again`)), lines.join('\n'));
  const driver = gw.audit.recent().filter((e) => e.kind === 'driver' && /serial device/.test(e.message ?? '')).map((e) => e.message);
  assert.equal(driver, ['serial device lost: the device closed (end of input); requests answered 0x0A until it is back', 'serial device open again']);
});

test.run();
