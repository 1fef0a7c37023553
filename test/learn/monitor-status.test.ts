/**
 * `zonegate status`: per conduit, the requests monitor mode let through that enforcing would deny
 * (a real gateway, a real Modbus request through its proxy to a Modbus upstream on loopback).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createGateway } from '../../runtime/gateway';
import { createMonitorTally, formatMonitorLines } from '../../runtime/monitor-tally';
import { formatDaemonStatus } from '../../cli/status';
import { RawClient, adu, pdus, modbusUpstream } from '../helpers/modbus';
import { labPolicy, gatewayConfig, labDir } from '../runtime/gateway-fixtures';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
test.after.each(async () => { while (cleanups.length) { try { await cleanups.pop()!(); } catch { /* keep cleaning */ } } });

test('the tally counts monitor passes per conduit and reason, bounded', () => {
  const t = createMonitorTally(1);
  const d = (conduit: string, reason: string, monitor = true) => ({ kind: 'decision' as const, at: 1000, source: 'modbus-tcp', decision: { decision: 'allow' as const, conduit, reason: reason as 'function-not-allowed', identity: null, monitor } });
  t.record(d('a', 'function-not-allowed'));
  t.record({ ...d('a', 'address-out-of-range'), at: 2000 });
  t.record(d('a', 'x', false));
  t.record(d('b', 'function-not-allowed'));
  const s = t.snapshot();
  assert.equal(s.byConduit.a, { count: 2, reasons: { 'function-not-allowed': 1, 'address-out-of-range': 1 }, firstAt: 1000, lastAt: 2000 });
  assert.is(s.other, 1);
  assert.equal(formatMonitorLines(s), [
    '  monitor mode let through what enforcing would deny (since start):',
    '           2 request(s)  a (function-not-allowed 1, address-out-of-range 1), last 1970-01-01T00:00:02.000Z',
    '           1 request(s)  on other conduits',
  ]);
  assert.equal(formatMonitorLines({ byConduit: {}, other: 0 }), []);
});

test('a gateway in monitor mode: status shows what enforcing would have denied', async () => {
  const lab = labDir();
  cleanups.push(() => lab.remove());
  const mb = await modbusUpstream(cleanups);
  lab.write('policy.yaml', labPolicy({ writes: false, tcp: false }).replace('    protocol: modbus\n', '    protocol: modbus\n    mode: monitor\n'));
  lab.write('gateway.yaml', gatewayConfig({ modbusUpstream: mb, tcpUpstream: 1 }).replace(/^.*asset: historian.*\n/m, ''));
  const gw = createGateway({ configFile: lab.config, log: { info: () => {}, warn: () => {}, error: () => {} }, writeLine: () => {} });
  await gw.start(new AbortController().signal);
  cleanups.push(() => gw.stop());
  const port = Number(gw.status().listeners.find((l) => l.service === 'modbus')!.address!.split(':').pop());
  const c = await RawClient.open(port);
  cleanups.push(() => c.close());
  assert.equal((await c.request(adu(1, 1, pdus.read(3, 0, 2))))!.registers, [1000, 1001]);
  // A write the conduit does not allow, and a read past its window: let through, counted.
  assert.is((await c.request(adu(2, 1, pdus.writeSingle(6, 10, 7))))!.exception, undefined);
  await c.request(adu(3, 1, pdus.read(3, 200, 1)));
  const st = gw.status();
  assert.is(st.monitor!.byConduit['hmi-reads-plc'].count, 2);
  assert.equal(st.monitor!.byConduit['hmi-reads-plc'].reasons, { 'function-not-allowed': 1, 'address-out-of-range': 1 });
  const text = formatDaemonStatus(JSON.parse(JSON.stringify(st)), 0);
  assert.match(text, /monitor mode let through what enforcing would deny \(since start\):\n +2 request\(s\) {2}hmi-reads-plc \(/);
});

test.run();
