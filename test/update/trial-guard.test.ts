/** The in-process health deadline (runtime/update/trial-guard.ts), with injected timers and exit. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTrialGuard } from '../../runtime/update/trial-guard';
import { UpdateState } from '../../runtime/update/state-files';
import { UPDATE_RESTART_EXIT_CODE } from '../../runtime/update/install-update';

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
  return { root, stateDir, state, pending, exits, timers };
}

test('a trial version that is not healthy by the deadline exits with the restart code', async () => {
  const s = await setup('b', 'b');
  const g = await startTrialGuard({ root: s.root, stateDir: s.stateDir, deadlineMs: 1234, now: () => 9, timers: s.timers, exit: (c) => s.exits.push(c) });
  assert.ok(g.onTrial);
  assert.equal(s.pending.map((p) => p.ms), [1234]);
  s.pending[0].fn();
  assert.equal(s.exits, [UPDATE_RESTART_EXIT_CODE]);
  assert.ok(await s.state.readTrial(), 'the marker stays for boot-check.sh to roll back');
});

test('a trial version that becomes healthy commits and disarms the deadline', async () => {
  const s = await setup('b', 'b');
  const g = await startTrialGuard({ root: s.root, stateDir: s.stateDir, now: () => 42, timers: s.timers, exit: (c) => s.exits.push(c) });
  assert.is(await g.healthy(), 'committed');
  assert.equal(s.pending, []);
  assert.is(await s.state.readTrial(), null);
  const j = await s.state.journal();
  assert.equal(j.map((e) => [e.outcome, e.version, e.at]), [['committed', '0.2.0', 42]]);
  assert.equal(s.exits, []);
});

test('no trial, or a trial of the other slot (already rolled back): nothing armed, nothing committed', async () => {
  for (const [cur, to] of [['a', null], ['a', 'b']] as const) {
    const s = await setup(cur, to);
    const g = await startTrialGuard({ root: s.root, stateDir: s.stateDir, now: () => 1, timers: s.timers, exit: (c) => s.exits.push(c) });
    assert.not.ok(g.onTrial);
    assert.equal(s.pending, []);
    assert.is(await g.healthy(), to ? 'not-current' : 'no-trial');
  }
});

test.run();
