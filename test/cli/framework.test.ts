import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli, type Command } from '../../cli/framework';
import { ZonegateError } from '../../policy/errors';

function io() {
  const out: string[] = [], err: string[] = [];
  return { out, err, io: { out: (t: string) => out.push(t), err: (t: string) => err.push(t) } };
}
const cmds: Command[] = [
  { path: ['policy', 'check'], summary: 'check', usage: 'policy check FILE', positionals: { min: 1, max: 1 }, json: true,
    run(ctx) { if (ctx.positionals[0] === 'bad') throw new ZonegateError('ERR_POLICY_INVALID', 'bad policy', { issues: [{ file: 'bad', line: 3, col: 5, path: 'zones[0].id', message: 'duplicate id' }] }); return 0; } },
];
const sig = new AbortController().signal;

test('exit codes: 0 ok, 1 input wrong, 2 usage', async () => {
  let r = io(); assert.is(await runCli(['policy', 'check', 'good'], cmds, r.io, sig), 0);
  r = io(); assert.is(await runCli(['policy', 'check', 'bad'], cmds, r.io, sig), 1);
  assert.match(r.err.join('\n'), 'bad:3:5: zones[0].id: duplicate id');
  r = io(); assert.is(await runCli(['policy', 'check'], cmds, r.io, sig), 2);
  r = io(); assert.is(await runCli(['policy', 'check', 'x', '--nope'], cmds, r.io, sig), 2);
  r = io(); assert.is(await runCli(['nope'], cmds, r.io, sig), 2);
});

test('--help on every command and group', async () => {
  let r = io(); assert.is(await runCli(['policy', 'check', '--help'], cmds, r.io, sig), 0);
  assert.match(r.out.join('\n'), 'usage: zonegate policy check FILE');
  assert.match(r.out.join('\n'), '--json');
  r = io(); assert.is(await runCli(['policy', '--help'], cmds, r.io, sig), 0);
  assert.match(r.out.join('\n'), 'policy check');
});

test('--json errors are JSON with the code', async () => {
  const r = io(); assert.is(await runCli(['policy', 'check', 'bad', '--json'], cmds, r.io, sig), 1);
  const doc = JSON.parse(r.out.join(''));
  assert.is(doc.code, 'ERR_POLICY_INVALID');
  assert.is(doc.issues[0].path, 'zones[0].id');
});

test.run();
