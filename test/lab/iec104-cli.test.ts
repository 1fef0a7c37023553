// `zonegate lab rtu --iec104` and `zonegate lab master --iec104`: the RTU runs until its signal
// aborts; the master interrogates it and switches a breaker directly and through the IEC 104
// proxy, where the HMI's command is refused with a negative activation confirmation (exit 1);
// usage errors exit 2.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { runCli } from '../../cli/framework';
import { labRtuCommand } from '../../cli/lab-rtu';
import { labMasterCommand } from '../../cli/lab-master';
import { parsePolicy } from '../../policy/parse';
import { compile } from '../../policy/compile';
import { IndexDecider } from '../../policy/decider';
import { createIec104Proxy } from '../../drivers/iec104';

const POLICY = 'test/fixtures/policy/iec104-substation.yaml';

async function cli(args: string[], signal = new AbortController().signal): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [], err: string[] = [];
  const code = await runCli(args, [labRtuCommand, labMasterCommand], { out: (s) => out.push(s), err: (s) => err.push(s) }, signal);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

test('lab rtu --iec104 serves; lab master --iec104 interrogates and commands it, directly and through the proxy', async () => {
  const stop = new AbortController();
  const lines: string[] = [];
  const rtuDone = runCli(['lab', 'rtu', '--iec104', '--listen', '127.0.0.1:0', '--tick', '0'], [labRtuCommand], { out: (s) => lines.push(s), err: () => undefined }, stop.signal);
  for (let i = 0; i < 200 && lines.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  const m = /iec104 rtu listening on 127\.0\.0\.1:(\d+)/.exec(lines[0] ?? '');
  assert.ok(m, lines.join('\n'));
  const rtuPort = Number(m![1]);
  try {
    const gi = await cli(['lab', 'master', '--iec104', '--to', `127.0.0.1:${rtuPort}`, '--interrogate']);
    assert.equal([gi.code, gi.out], [0, 'general interrogation: C_IC_NA_1 cause 7 ioa 0; M_SP_NA_1 cause 20 ioa 100,101,102,103,104,105,106,107; M_ME_NC_1 cause 20 ioa 200,201,202,203; C_IC_NA_1 cause 10 ioa 0']);
    const cmd = await cli(['lab', 'master', '--iec104', '--to', `127.0.0.1:${rtuPort}`, '--command', '1003=1']);
    assert.equal([cmd.code, cmd.out], [0, 'select + execute single command 1003 = 1: C_SC_NA_1 cause 7 ioa 1003; C_SC_NA_1 cause 7 ioa 1003']);

    const proxy = createIec104Proxy({
      listen: { host: '127.0.0.1', port: 0 }, upstream: { host: '127.0.0.1', port: rtuPort }, asset: 'rtu-104', servicePort: 2404,
      decider: new IndexDecider(compile(parsePolicy(readFileSync(POLICY, 'utf8'), { file: POLICY }), { version: '1' })), audit: { record: () => undefined }, now: Date.now,
    });
    await proxy.start(new AbortController().signal);
    const to = `127.0.0.1:${proxy.address().port}`;
    const hmiGi = await cli(['lab', 'master', '--iec104', '--to', to, '--from', '127.10.0.5', '--interrogate']);
    assert.is(hmiGi.code, 0, hmiGi.out);
    const hmiCmd = await cli(['lab', 'master', '--iec104', '--to', to, '--from', '127.10.0.5', '--command', '1003=0', '--direct', '--json']);
    assert.is(hmiCmd.code, 1);
    assert.equal(JSON.parse(hmiCmd.out), {
      request: 'direct execute single command 1003 = 0', from: '127.10.0.5', to, ok: false,
      asdus: [{ type: 45, name: 'C_SC_NA_1', cause: 7, negative: true, ca: 1, ioa: [1003], values: [0] }],
    });
    const text = await cli(['lab', 'master', '--iec104', '--to', to, '--from', '127.10.0.7', '--setpoint', '2001=250', '--direct']);
    assert.equal([text.code, text.out], [1, 'direct execute set-point 2001 = 250: refused, negative activation confirmation (C_SE_NC_1 cause 7 P/N ioa 2001)']);
    await proxy.stop();
  } finally {
    stop.abort();
  }
  assert.is(await rtuDone, 0);
});

test('usage errors exit 2 and say what is missing', async () => {
  const both = await cli(['lab', 'rtu', '--dnp3', '--iec104', '--listen', '127.0.0.1:0']);
  assert.is(both.code, 2);
  assert.match(both.err, '--dnp3 or --iec104 is required');
  const two = await cli(['lab', 'master', '--iec104', '--to', '127.0.0.1:1', '--interrogate', '--command', '1=1']);
  assert.is(two.code, 2);
  assert.match(two.err, 'give exactly one of --interrogate, --command and --setpoint');
  const badValue = await cli(['lab', 'master', '--iec104', '--to', '127.0.0.1:1', '--command', '1003=2']);
  assert.is(badValue.code, 2);
  assert.match(badValue.err, 'a single command is 0 or 1');
});

test.run();
