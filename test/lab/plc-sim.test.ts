// The lab PLC simulator, read and written by a real Modbus client (mbpoll from Debian).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startPlcSim, type PlcSim } from '../../runtime/lab/plc-sim';

const run = promisify(execFile);
const hasMbpoll = () => run('sh', ['-c', 'command -v mbpoll']).then(() => true, () => false);
let sim: PlcSim;

test.before(async () => { sim = await startPlcSim({ host: '127.0.0.1', port: 0 }); });
test.after(async () => { await sim.close(); });

async function mbpoll(args: string[]): Promise<string> {
  const { stdout } = await run('mbpoll', ['-m', 'tcp', '-0', '-1', '-p', String(sim.address().port), ...args, '127.0.0.1'], { timeout: 10_000 });
  return stdout;
}

test('mbpoll reads holding registers and writes one', async () => {
  if (!(await hasMbpoll())) { console.log('SKIP: mbpoll is not installed (make test installs it as root)'); return; }
  const read = await mbpoll(['-a', '1', '-r', '10', '-c', '3', '-t', '4']);
  assert.match(read, /\[10\]:\s+1010/);
  assert.match(read, /\[12\]:\s+1012/);
  await run('mbpoll', ['-m', 'tcp', '-0', '-1', '-p', String(sim.address().port), '-a', '1', '-r', '20', '-t', '4', '127.0.0.1', '4242'], { timeout: 10_000 });
  assert.is(sim.holding[20], 4242);
  assert.is(sim.served.get(6), 1);
});

test('input registers follow the simulated process', async () => {
  if (!(await hasMbpoll())) { console.log('SKIP: mbpoll is not installed'); return; }
  const read = await mbpoll(['-a', '1', '-r', '0', '-c', '3', '-t', '3']);
  const current = Number(/\[0\]:\s+(\d+)/.exec(read)?.[1]);
  assert.ok(current >= 3900 && current <= 4500, `feeder current ${current} in range`);
});

test.run();
