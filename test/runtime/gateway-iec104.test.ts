// A gateway (createGateway, as `zonegate run` builds it) with an iec104 listener in front of the
// lab RTU (runtime/lab/iec104-rtu.ts, our own codec-based station: Debian packages none): the
// SCADA master's interrogation and select/execute pass, the HMI's command is answered by the
// gateway with a negative activation confirmation and never reaches the RTU, status carries the
// driver's counters, the audit records carry the iec104 field, and the config's timeouts.frameMs
// and the listener's iec104 link settings (k) reach the driver. (Monitor mode is tested on the proxy: test/drivers/iec104-proxy.test.ts.)
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { createGateway } from '../../runtime/gateway';
import { startIec104Rtu } from '../../runtime/lab/iec104-rtu';
import { connectIec104Master } from '../../runtime/lab/iec104-master';
import { Cause, TypeId, encodeAsdu, encodeIFrame, encodeUFrame, qoi, UFunction } from '../../drivers/iec104';
import { labDir } from './gateway-fixtures';
import { formatDaemonStatus } from '../../cli/status';

/** A gateway on a lab folder with the substation policy and one iec104 listener (`link`: its extra fields) in front of `rtuPort`; its JSON lines collected. */
async function startGateway(rtuPort: number, o: { link?: string; timeouts: string }) {
  const lab = labDir();
  lab.write('policy.yaml', readFileSync('test/fixtures/policy/iec104-substation.yaml', 'utf8'));
  lab.write('gateway.yaml', `device: gw-test
site: substation-12
stateDir: ./state
policyFile: policy.yaml
listeners:
  - { listen: 127.0.0.1:0, asset: rtu-104, service: iec104, upstream: 127.0.0.1:${rtuPort}${o.link ?? ''} }
timeouts: ${o.timeouts}
`);
  const lines: string[] = [];
  const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
  const gw = createGateway({ configFile: lab.config, log: quiet, writeLine: (c) => lines.push(...c.trim().split('\n')) });
  await gw.start(new AbortController().signal);
  const listener = () => gw.status().listeners.find((x) => x.service === 'iec104')!;
  return { gw, lab, lines, listener, port: Number(listener().address!.split(':').pop()) };
}

test('iec104 listener: interrogation and select/execute allowed, a denied command answered locally, frameMs from the config', async () => {
  const rtu = await startIec104Rtu({ host: '127.0.0.1', port: 0, tickMs: 0 });
  const { gw, lab, lines, listener, port } = await startGateway(rtu.address().port, { timeouts: '{ drainMs: 200, frameMs: 300 }' });
  try {
    const l = listener();
    assert.equal([l.asset, l.servicePort, l.state], ['rtu-104', 2404, 'up']);
    assert.equal(l.iec104, { k: 12, w: 8, t1Ms: 15_000, t2Ms: 10_000, t3Ms: 20_000 }, 'status shows the link settings, the defaults here');
    const scada = await connectIec104Master({ host: '127.0.0.1', port, localAddress: '127.10.0.2' });
    const gi = await scada.interrogate();
    assert.equal(gi.map((r) => [r.name, r.cause]), [['C_IC_NA_1', 7], ['M_SP_NA_1', 20], ['M_ME_NC_1', 20], ['C_IC_NA_1', 10]]);
    const [sel, exe] = await scada.selectExecute({ ioa: 1001, value: 1 });
    assert.equal([sel.negative, exe.negative], [false, false]);
    scada.close();
    const hmi = await connectIec104Master({ host: '127.0.0.1', port, localAddress: '127.10.0.5' });
    const cmd = await hmi.command({ ioa: 1003, value: 1 });
    assert.equal([cmd.cause, cmd.negative], [Cause.ACTIVATION_CON, true]);
    hmi.close();
    for (let i = 0; i < 200 && rtu.operated.length < 1; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(rtu.operated, ['C_SC_NA_1 1001 1'], 'the RTU never saw the HMI command');
    // Half an APDU, then nothing.
    const slow = connect({ host: '127.0.0.1', port, localAddress: '127.10.0.2' });
    slow.on('error', () => undefined);
    const closed = new Promise<void>((r) => slow.on('close', () => r()));
    slow.on('connect', () => slow.write(Buffer.from([0x68, 0x04, 0x07])));
    await Promise.race([closed, new Promise((r) => setTimeout(r, 4_000))]);
    const events = lines.map((x) => { try { return JSON.parse(x) as { kind?: string; message?: string; iec104?: { name: string; ioa: number[] }; decision?: { decision: string; reason?: string } }; } catch { return {}; } });
    assert.ok(events.some((e) => e.kind === 'malformed' && e.message === 'APDU not completed within 300 ms'), lines.filter((x) => x.includes('malformed')).join('\n') || 'no malformed record');
    assert.equal(events.filter((e) => e.iec104).map((e) => [e.iec104!.name, e.iec104!.ioa, e.decision!.decision]), [
      ['C_IC_NA_1', [0], 'allow'], ['C_SC_NA_1', [1001], 'allow'], ['C_SC_NA_1', [1001], 'allow'], ['C_SC_NA_1', [1003], 'deny'],
    ]);
    const stats = listener().stats as Record<string, number>;
    assert.equal([stats.allowed, stats.denied, stats.forwarded], [3, 1, 3]);
  } finally {
    await gw.stop();
    await rtu.close();
    lab.remove();
  }
});

test("the listener's iec104 k reaches the driver: three I-frames in one write overrun k 2", async () => {
  const rtu = await startIec104Rtu({ host: '127.0.0.1', port: 0, tickMs: 0 });
  const { gw, lab, lines, listener, port } = await startGateway(rtu.address().port, { link: ', iec104: { k: 2, w: 1, t1Ms: 5000, t2Ms: 2000 }', timeouts: '{ drainMs: 200 }' });
  try {
    const gi = encodeAsdu({ typeId: TypeId.C_IC_NA_1, cause: Cause.ACTIVATION, ca: 1, objects: [{ ioa: 0, element: qoi() }] });
    const s = connect({ host: '127.0.0.1', port, localAddress: '127.10.0.2' });
    s.on('error', () => undefined);
    s.on('data', () => undefined);
    const closed = new Promise<void>((r) => s.on('close', () => r()));
    s.on('connect', () => s.write(Buffer.concat([encodeUFrame(UFunction.STARTDT_ACT), ...[0, 1, 2].map((n) => encodeIFrame({ sendSeq: n, recvSeq: 0, asdu: gi }))])));
    await Promise.race([closed, new Promise((r) => setTimeout(r, 4_000))]);
    const events = lines.map((x) => { try { return JSON.parse(x) as { kind?: string; message?: string }; } catch { return {}; } });
    assert.ok(events.some((e) => e.kind === 'malformed' && e.message === 'I-format APDU N(S)=2 overruns the k window: 2 I-frames already unacknowledged (last acknowledgement N(R)=0)'),
      lines.filter((x) => x.includes('malformed')).join('\n') || 'no malformed record');
    const stats = listener().stats as Record<string, number>;
    assert.equal([stats.requests, stats.malformed], [2, 1]);
    // `zonegate status` and `--json` (the status document as written) show the listener's link.
    const status = gw.status();
    assert.equal(JSON.parse(JSON.stringify(status)).listeners[0].iec104, { k: 2, w: 1, t1Ms: 5000, t2Ms: 2000, t3Ms: 20_000 });
    assert.match(formatDaemonStatus({ ...status }, 0), /listener 127\.0\.0\.1:\d+ iec104 → rtu-104 \(127\.0\.0\.1:\d+\): up \[k 2, w 1, t1 5 s, t2 2 s, t3 20 s\]/);
  } finally {
    await gw.stop();
    await rtu.close();
    lab.remove();
  }
});

test.run();
