// `zonegate lab rtu --dnp3` and `zonegate lab master --dnp3`: the outstation runs until its signal
// aborts; the master polls and operates it directly and through the DNP3 proxy, where the HMI's
// DIRECT_OPERATE is refused with IIN2 "function code not supported" (exit 1); usage errors exit 2.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { runCli } from '../../cli/framework';
import { labRtuCommand } from '../../cli/lab-rtu';
import { labMasterCommand } from '../../cli/lab-master';
import { parsePolicy } from '../../policy/parse';
import { compile } from '../../policy/compile';
import { IndexDecider } from '../../policy/decider';
import { createDnp3Proxy } from '../../drivers/dnp3';

const POLICY = 'test/fixtures/policy/dnp3-substation.yaml';

async function cli(args: string[], signal = new AbortController().signal): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [], err: string[] = [];
  const code = await runCli(args, [labRtuCommand, labMasterCommand], { out: (s) => out.push(s), err: (s) => err.push(s) }, signal);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

test('lab rtu --dnp3 serves; lab master --dnp3 polls and operates it, directly and through the proxy', async () => {
  const stop = new AbortController();
  const lines: string[] = [];
  const rtuDone = runCli(['lab', 'rtu', '--dnp3', '--listen', '127.0.0.1:0', '--tick', '0'], [labRtuCommand], { out: (s) => lines.push(s), err: () => undefined }, stop.signal);
  for (let i = 0; i < 200 && lines.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  const m = /dnp3 outstation listening on 127\.0\.0\.1:(\d+)/.exec(lines[0] ?? '');
  assert.ok(m, lines.join('\n'));
  const rtuPort = Number(m![1]);
  try {
    const poll = await cli(['lab', 'master', '--dnp3', '--to', `127.0.0.1:${rtuPort}`, '--poll']);
    assert.equal([poll.code, poll.out], [0, 'integrity poll: g1v2 0-7, g10v2 0-7, g20v1 0-3, g30v1 0-3, g40v1 0-3']);
    const op = await cli(['lab', 'master', '--dnp3', '--to', `127.0.0.1:${rtuPort}`, '--operate', '3=trip']);
    assert.equal([op.code, op.out], [0, 'select + operate CROB 3 trip: g12v1 3-3']);

    const proxy = createDnp3Proxy({
      listen: { host: '127.0.0.1', port: 0 }, upstream: { host: '127.0.0.1', port: rtuPort }, asset: 'rtu-7', servicePort: 20000,
      decider: new IndexDecider(compile(parsePolicy(readFileSync(POLICY, 'utf8'), { file: POLICY }), { version: '1' })), audit: { record: () => undefined }, now: Date.now,
    });
    await proxy.start(new AbortController().signal);
    const to = `127.0.0.1:${proxy.address().port}`;
    const hmiPoll = await cli(['lab', 'master', '--dnp3', '--to', to, '--from', '127.10.0.5', '--poll']);
    assert.is(hmiPoll.code, 0, hmiPoll.out);
    const hmiTrip = await cli(['lab', 'master', '--dnp3', '--to', to, '--from', '127.10.0.5', '--operate', '3=trip', '--direct', '--json']);
    assert.is(hmiTrip.code, 1);
    assert.equal(JSON.parse(hmiTrip.out), { request: 'direct operate CROB 3 trip', from: '127.10.0.5', to, ok: false, iin: 0x0001, objects: [] });
    const text = await cli(['lab', 'master', '--dnp3', '--to', to, '--from', '127.10.0.5', '--operate', '3=trip', '--direct']);
    assert.equal([text.code, text.out], [1, 'direct operate CROB 3 trip: refused, IIN2 function code not supported']);
    await proxy.stop();
  } finally {
    stop.abort();
  }
  assert.is(await rtuDone, 0);
});

test('usage errors exit 2 and say what is missing', async () => {
  const noFlag = await cli(['lab', 'rtu', '--listen', '127.0.0.1:0']);
  assert.is(noFlag.code, 2);
  assert.match(noFlag.err, '--dnp3 or --iec104 is required');
  const two = await cli(['lab', 'master', '--dnp3', '--to', '127.0.0.1:1', '--poll', '--class', '1']);
  assert.is(two.code, 2);
  assert.match(two.err, 'give exactly one of --poll, --class, --operate and --analog');
  const badControl = await cli(['lab', 'master', '--dnp3', '--to', '127.0.0.1:1', '--operate', '3=explode']);
  assert.is(badControl.code, 2);
  assert.match(badControl.err, 'the control is one of trip, close, pulse-on, latch-on, latch-off');
});

test.run();
