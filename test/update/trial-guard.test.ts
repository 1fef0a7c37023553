/**
 * The daemon's side of a trial (runtime/update/trial-guard.ts) with injected timers, clock and
 * exit: the READY deadline, the health period after READY, a failure inside it recorded for
 * build/boot-check.sh (run here for real on the marker), and the rollback code in the journal.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTrialGuard, type HealthCheck } from '../../runtime/update/trial-guard';
import { UpdateState } from '../../runtime/update/state-files';
import { UPDATE_RESTART_EXIT_CODE } from '../../runtime/update/install-update';
import { daemonHealth } from '../../runtime/update/daemon-trial';
import type { GatewayStatus } from '../../runtime/gateway';

const dirs: string[] = [];
test.after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

async function setup(current: 'a' | 'b', trialTo: 'a' | 'b' | null) {
  const dir = mkdtempSync(join(tmpdir(), 'zg-guard-'));
  dirs.push(dir);
  const root = join(dir, 'opt'), stateDir = join(dir, 'state');
  mkdirSync(join(root, 'slots/a'), { recursive: true });
  mkdirSync(join(root, 'slots/b'), { recursive: true });
  symlinkSync(`slots/${current}`, join(root, 'current'));
  const state = await UpdateState.open(stateDir);
  if (trialTo) await state.writeTrial({ from: trialTo === 'a' ? 'b' : 'a', to: trialTo, version: '0.2.0', previousVersion: '0.1.0', bundleVersion: 2, sha256: 'cd'.repeat(32), at: 5, attempts: 1 });
  const pending: { fn: () => void; ms: number }[] = [];
  const exits: number[] = [];
  const timers = { setTimeout: (fn: () => void, ms: number) => { const t = { fn, ms }; pending.push(t); return t; }, clearTimeout: (h: unknown) => { const i = pending.indexOf(h as never); if (i >= 0) pending.splice(i, 1); } };
  /** Runs the earliest pending timer after moving the clock by its delay. */
  const clock = { t: 1_000 };
  const tick = () => { const t = pending.shift()!; clock.t += t.ms; t.fn(); };
  return { root, stateDir, state, pending, exits, timers, clock, tick };
}

test('a trial version that is not READY by the deadline records why and exits with the restart code', async () => {
  const s = await setup('b', 'b');
  const g = await startTrialGuard({ root: s.root, stateDir: s.stateDir, deadlineMs: 1234, now: () => s.clock.t, timers: s.timers, exit: (c) => s.exits.push(c) });
  assert.ok(g.onTrial);
  assert.equal(s.pending.map((p) => p.ms), [1234]);
  s.tick();
  assert.is(await g.settled(), 'failed');
  assert.equal(s.exits, [UPDATE_RESTART_EXIT_CODE]);
  const t = await s.state.readTrial();
  assert.ok(t, 'the marker stays for boot-check.sh to roll back');
  assert.equal([t!.failureCode, t!.failure], ['ERR_UPDATE_START_TIMEOUT', 'not READY within 1234 ms']);
});

test('READY alone does not commit: only a whole health period of good health does', async () => {
  const s = await setup('b', 'b');
  let checks = 0;
  const g = await startTrialGuard({
    root: s.root, stateDir: s.stateDir, healthPeriodMs: 10_000, checkEveryMs: 1_000, now: () => s.clock.t, timers: s.timers,
    exit: (c) => s.exits.push(c), health: () => { checks += 1; return { ok: true }; },
  });
  g.ready();
  assert.equal(s.pending.map((p) => p.ms), [1_000], 'the READY deadline is disarmed, the first check armed');
  for (let i = 0; i < 9; i++) s.tick();
  assert.ok(await s.state.readTrial(), 'still on trial 9 s after READY');
  s.tick();
  assert.is(await g.settled(), 'committed');
  assert.is(checks, 10);
  assert.is(await s.state.readTrial(), null);
  const j = await s.state.journal();
  assert.equal(j.map((e) => [e.outcome, e.version]), [['committed', '0.2.0']]);
  assert.equal(s.exits, []);
  assert.equal(s.pending, []);
});

test('lost health inside the period (no policy): recorded, exit; boot-check.sh rolls back with that code', async () => {
  const s = await setup('b', 'b');
  let h: HealthCheck = { ok: true };
  const g = await startTrialGuard({ root: s.root, stateDir: s.stateDir, healthPeriodMs: 10_000, checkEveryMs: 1_000, now: () => s.clock.t, timers: s.timers, exit: (c) => s.exits.push(c), health: () => h });
  g.ready();
  s.tick(); s.tick();
  h = { ok: false, code: 'ERR_UPDATE_NO_POLICY', reason: 'no active policy (no-policy) during the health period' };
  s.tick();
  assert.is(await g.settled(), 'failed');
  assert.equal(s.exits, [UPDATE_RESTART_EXIT_CODE]);
  assert.equal(s.pending, []);
  // The next start: boot-check.sh (the real script) puts slot a back and says why.
  const r = spawnSync('sh', ['build/boot-check.sh', '--root', s.root, '--state', s.stateDir], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  assert.is(readlinkSync(join(s.root, 'current')), 'slots/a');
  await s.state.ingestShellResult();
  const last = (await s.state.journal()).pop()!;
  assert.equal([last.outcome, last.code], ['rolled-back', 'ERR_UPDATE_NO_POLICY']);
  assert.match(last.reason, /^version 0\.2\.0 did not become healthy after 1 start\(s\); slot a \(0\.1\.0\) restored \(no active policy \(no-policy\) during the health period\)$/);
});

test('boot-check.sh names the cause from how the last process ended: crash, watchdog, start timeout, stop, nothing', async () => {
  const cases: [string | null, string][] = [
    ['exit-code/exited/1', 'ERR_UPDATE_CRASH'], ['signal/killed/SIGSEGV', 'ERR_UPDATE_CRASH'], ['watchdog/killed/SIGABRT', 'ERR_UPDATE_WATCHDOG'],
    ['timeout/killed/SIGKILL', 'ERR_UPDATE_START_TIMEOUT'], ['success/exited/0', 'ERR_UPDATE_STOPPED'], [null, 'ERR_UPDATE_INTERRUPTED'],
  ];
  for (const [lastExit, code] of cases) {
    const s = await setup('b', 'b');
    if (lastExit) {
      const [result, c, st] = lastExit.split('/');
      assert.is(spawnSync('sh', ['build/boot-check.sh', '--root', s.root, '--state', s.stateDir, '--stopped', result, c, st]).status, 0);
    }
    assert.is(spawnSync('sh', ['build/boot-check.sh', '--root', s.root, '--state', s.stateDir]).status, 0);
    const ev = await s.state.ingestShellResult();
    assert.equal([ev?.outcome, ev?.code], ['rolled-back', code], String(lastExit));
  }
  // A result written by an older boot-check.sh (no code) is still not called an install error.
  const s = await setup('a', null);
  writeFileSync(join(s.stateDir, 'update.result'), 'outcome=rolled-back\nversion=0.2.0\nat=5\nreason=old script\n');
  assert.is((await s.state.ingestShellResult())?.code, 'ERR_UPDATE_ROLLED_BACK');
});

test('no trial, or a trial of the other slot (already rolled back): nothing armed, nothing committed', async () => {
  for (const [cur, to] of [['a', null], ['a', 'b']] as const) {
    const s = await setup(cur, to);
    const g = await startTrialGuard({ root: s.root, stateDir: s.stateDir, now: () => 1, timers: s.timers, exit: (c) => s.exits.push(c) });
    assert.not.ok(g.onTrial);
    g.ready();
    assert.equal(s.pending, []);
    assert.is(await g.healthy(), to ? 'not-current' : 'no-trial');
  }
});

test('the daemon\'s health: running, an active policy, the watchdog pinged', () => {
  const st = (state: GatewayStatus['state'], version: string | null, enforcement: string) => ({ state, policy: { version, enforcement } }) as unknown as GatewayStatus;
  const wd = { since: 0, now: 1_000 };
  assert.equal(daemonHealth(st('running', 'v1', 'enforcing'), wd), { ok: true });
  assert.equal(daemonHealth(st('running', 'v1', 'expired-enforcing'), wd), { ok: true });
  assert.is((daemonHealth(st('running', null, 'no-policy'), wd) as { code: string }).code, 'ERR_UPDATE_NO_POLICY');
  assert.is((daemonHealth(st('running', 'v1', 'expired-deny-all'), wd) as { code: string }).code, 'ERR_UPDATE_NO_POLICY');
  assert.is((daemonHealth(st('stopping', 'v1', 'enforcing'), wd) as { code: string }).code, 'ERR_UPDATE_UNHEALTHY');
  assert.equal(daemonHealth(st('running', 'v1', 'enforcing'), { ms: 30_000, lastAt: 900, since: 0, now: 20_000 }), { ok: true });
  assert.equal(daemonHealth(st('running', 'v1', 'enforcing'), { ms: 30_000, lastAt: 900, since: 0, now: 40_000 }), { ok: false, code: 'ERR_UPDATE_WATCHDOG', reason: 'no watchdog ping for over 30000 ms' });
});

test.run();
