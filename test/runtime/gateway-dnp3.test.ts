// A gateway (createGateway, as `zonegate run` builds it) with a dnp3 listener in front of the lab
// outstation: the SCADA master's integrity poll passes, the HMI's DIRECT_OPERATE is answered by the
// gateway with IIN2 "function code not supported", and the config's timeouts.frameMs reaches the
// DNP3 driver (a link frame left unfinished is closed as malformed, naming that limit).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { createGateway } from '../../runtime/gateway';
import { startOutstation } from '../../runtime/lab/dnp3-outstation';
import { connectMaster } from '../../runtime/lab/dnp3-master';
import { encodeFragment, encodeFrames, FC, Iin2 } from '../../drivers/dnp3';
import { labDir } from './gateway-fixtures';

test('dnp3 listener: poll allowed, operate refused locally, frameMs from the config', async () => {
  const lab = labDir();
  const rtu = await startOutstation({ host: '127.0.0.1', port: 0, tickMs: 0 });
  lab.write('policy.yaml', readFileSync('test/fixtures/policy/dnp3-substation.yaml', 'utf8'));
  lab.write('gateway.yaml', `device: gw-test
site: substation-12
stateDir: ./state
policyFile: policy.yaml
listeners:
  - { listen: 127.0.0.1:0, asset: rtu-7, service: dnp3, upstream: 127.0.0.1:${rtu.address().port} }
timeouts: { drainMs: 200, frameMs: 300 }
`);
  const lines: string[] = [];
  const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
  const gw = createGateway({ configFile: lab.config, log: quiet, writeLine: (c) => lines.push(...c.trim().split('\n')) });
  await gw.start(new AbortController().signal);
  try {
    const l = gw.status().listeners.find((x) => x.service === 'dnp3')!;
    assert.equal([l.asset, l.servicePort, l.state], ['rtu-7', 20000, 'up']);
    const port = Number(l.address!.split(':').pop());
    const scada = await connectMaster({ host: '127.0.0.1', port, localAddress: '127.10.0.2' });
    const poll = await scada.integrityPoll();
    assert.equal(poll.objects, ['g1v2 0-7', 'g10v2 0-7', 'g20v1 0-3', 'g30v1 0-3', 'g40v1 0-3']);
    scada.close();
    const hmi = await connectMaster({ host: '127.0.0.1', port, localAddress: '127.10.0.5' });
    const trip = await hmi.operate({ index: 3, code: 0x81, sbo: false });
    assert.is(trip.iin & 0xff, Iin2.NO_FUNC_CODE_SUPPORT);
    hmi.close();
    assert.equal(rtu.operated, [], 'the outstation never saw the DIRECT_OPERATE');
    // Half a link frame, then nothing.
    const frame = encodeFrames({ fragment: encodeFragment({ fn: FC.READ, headers: [{ group: 60, variation: 1, qualifier: 6 }] }), src: 1, dest: 10, fromMaster: true });
    const slow = connect({ host: '127.0.0.1', port, localAddress: '127.10.0.2' });
    slow.on('error', () => undefined);
    const closed = new Promise<void>((r) => slow.on('close', () => r()));
    slow.on('connect', () => slow.write(frame.subarray(0, 12)));
    await Promise.race([closed, new Promise((r) => setTimeout(r, 4_000))]);
    const events = lines.map((x) => { try { return JSON.parse(x) as { kind?: string; message?: string; dnp3?: { name: string }; decision?: { decision: string } }; } catch { return {}; } });
    assert.ok(events.some((e) => e.kind === 'malformed' && e.message === 'frame or fragment not completed within 300 ms'), lines.filter((x) => x.includes('malformed')).join('\n') || 'no malformed record');
    assert.equal(events.filter((e) => e.dnp3).map((e) => [e.dnp3!.name, e.decision!.decision]), [['read', 'allow'], ['direct-operate', 'deny']]);
  } finally {
    await gw.stop();
    await rtu.close();
    lab.remove();
  }
});

test.run();
