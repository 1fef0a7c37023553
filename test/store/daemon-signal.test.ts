/**
 * A stale pid file never gets a stranger signalled (issue 13 item 3): after a crash
 * `<stateDir>/zonegate.pid` may name a pid that now belongs to another process (here a real
 * `sleep`). Only the process that wrote the file (boot id + start time) or, for a pid file without
 * that line, a process whose cmdline is a zonegate daemon is signalled. process.kill is counted.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { once } from 'node:events';
import { findDaemon, signalDaemon, writePidFile, removePidFile, PID_FILE } from '../../runtime/store/daemon-signal';
import { makeLab, signedConfig, labPolicy, cli, type Cleanup } from '../e2e/helpers';

const cleanups: Cleanup[] = [];
test.after.each(async () => { while (cleanups.length) { try { await cleanups.pop()!(); } catch { /* keep cleaning */ } } });

const hasProc = existsSync('/proc/self/stat');

const kills: [number, string | number | undefined][] = [];
const realKill = process.kill.bind(process);
process.kill = ((pid: number, sig?: string | number) => { kills.push([pid, sig]); return realKill(pid, sig); }) as typeof process.kill;

async function sleeper(): Promise<ChildProcess> {
  const c = spawn('sleep', ['60'], { stdio: 'ignore' });
  await once(c, 'spawn');
  cleanups.push(() => { if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL'); });
  return c;
}

async function stateDir(): Promise<string> {
  const lab = await makeLab();
  cleanups.push(() => lab.remove());
  mkdirSync(lab.stateDir, { recursive: true });
  return lab.stateDir;
}

test('a legacy pid file naming a `sleep`: not signalled, reported stale', async () => {
  if (!hasProc) { console.log('  SKIP: no /proc on this system (nothing is ever signalled there)'); return; }
  const dir = await stateDir();
  const s = await sleeper();
  writeFileSync(`${dir}/${PID_FILE}`, `${s.pid}\n`);
  const before = kills.length;
  assert.equal(await findDaemon(dir), { pid: null, why: `stale pid file: process ${s.pid} (sleep) is not a zonegate daemon` });
  assert.is(await signalDaemon(dir), null);
  assert.is(kills.length, before, 'process.kill was never called');
  assert.is(s.exitCode, null);
  assert.is(s.signalCode, null);
});

test('a pid file whose recorded identity does not match the process now holding the pid: not signalled', async () => {
  if (!hasProc) { console.log('  SKIP: no /proc on this system'); return; }
  const dir = await stateDir();
  const s = await sleeper();
  await writePidFile(dir, s.pid!);
  const [first, second] = readFileSync(`${dir}/${PID_FILE}`, 'utf8').split('\n');
  assert.is(Number(first), s.pid);
  assert.match(second, /^boot [0-9a-f-]{36} start \d+$/);
  // The same pid, another process (pid reuse after a crash): another start time.
  writeFileSync(`${dir}/${PID_FILE}`, `${s.pid}\n${second.replace(/start \d+/, 'start 1')}\n`);
  const before = kills.length;
  assert.equal(await findDaemon(dir), { pid: null, why: `stale pid file: process ${s.pid} is not the daemon that wrote it` });
  assert.is(await signalDaemon(dir), null);
  assert.is(kills.length, before);
  // The process that wrote it (its own identity) is reached: SIGHUP ends the sleep.
  await writePidFile(dir, s.pid!);
  const exited = once(s, 'exit');
  assert.is(await signalDaemon(dir), s.pid);
  await exited;
  assert.is(s.signalCode, 'SIGHUP');
  assert.equal(await findDaemon(dir), { pid: null, why: `stale pid file: no process ${s.pid}` });
  await removePidFile(dir, s.pid!);
  assert.equal(await findDaemon(dir), { pid: null, why: 'no pid file' });
});

test('`zonegate bundle import` after a crash left a pid file naming a `sleep`: imported, the sleep lives', async () => {
  if (!hasProc) { console.log('  SKIP: no /proc on this system'); return; }
  const lab = await makeLab();
  cleanups.push(() => lab.remove());
  lab.write('gateway.yaml', signedConfig({ upstreamPort: 1 }));
  mkdirSync(lab.stateDir, { recursive: true });
  const s = await sleeper();
  writeFileSync(`${lab.stateDir}/${PID_FILE}`, `${s.pid}\n`);
  const before = kills.length;
  const r = await cli('bundle', 'import', await lab.sign('v1', labPolicy({ writes: false }), 1), '--config', lab.config);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, `daemon not running (stale pid file: process ${s.pid} (sleep) is not a zonegate daemon)`);
  assert.is(kills.length, before);
  await new Promise((res) => setTimeout(res, 50));
  assert.is(s.exitCode, null);
  assert.is(s.signalCode, null);
});

test.run();
