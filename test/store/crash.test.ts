/**
 * kill -9 at random points during activation, many times: a child process boots a store over a
 * folder and activates bundle after bundle, saying "accepting vN" before each; the parent waits
 * until the child starts its second activation (so one whole activation happened in every life)
 * and SIGKILLs it after a random short delay, then boots a store over the same folder and checks
 * that the active bundle is exactly one of the signed bundles, verifies, and went forwards.
 * ZG_CRASH_ITERATIONS sets the count (`make soak` runs 400).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { world, policyBundle, sitePolicy } from '../bundle/fixtures';
import { rig } from './helpers';
import { sha256Hex } from '../../policy/bundle/ed25519';

const W = world();
const K = W.policyKeys.slice(0, 2);
const bundleOf = (v: number) => policyBundle({ version: v, keys: K, policy: sitePolicy({ tag: `v${v}` }) });
const ITERATIONS = Number(process.env.ZG_CRASH_ITERATIONS ?? 24);

async function child(dir: string): Promise<void> {
  const r = await rig({ root: W.root, dir });
  for (let n = 1; ; n++) {
    const v = (r.store.status().highWater?.version ?? 0) + 1;
    process.stdout.write(`accepting ${n}\n`);
    await r.store.accept(bundleOf(v), { source: 'mqtt' });
  }
}

if (process.env.ZG_CRASH_CHILD) {
  child(process.env.ZG_CRASH_CHILD).catch((e) => { process.stderr.write(`child: ${(e as Error).message}\n`); process.exit(3); });
} else {
  const root = mkdtempSync(join(tmpdir(), 'zg-crash-'));
  // Our own bundled file, copied beside it: other runs of build/run-tests.mjs wipe .out/test.
  const childJs = join(__dirname, '..', '..', `crash-child-${process.pid}.js`);
  copyFileSync(__filename, childJs);

  function runAndKill(dir: string, delayMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const p = spawn(process.execPath, [childJs], { env: { ...process.env, ZG_CRASH_CHILD: dir }, stdio: ['ignore', 'pipe', 'pipe'] });
      let err = '';
      let out = '';
      let armed = false;
      p.stderr.on('data', (d) => { err += d; });
      p.stdout.on('data', (d) => {
        out += d;
        // The second activation begins only once the first one has returned: kill during it.
        if (!armed && out.includes('accepting 2\n')) { armed = true; setTimeout(() => p.kill('SIGKILL'), delayMs); }
      });
      p.on('error', reject);
      p.on('close', (code, signal) => resolve(signal === 'SIGKILL' ? 'killed' : `exit ${code}: ${err}`));
    });
  }

  // One lane: its own folder, ITERATIONS / LANES kill-restart cycles.
  async function lane(dir: string, iterations: number): Promise<{ advanced: number; last: number }> {
    let last = 0;
    let advanced = 0;
    for (let i = 0; i < iterations; i++) {
      const how = await runAndKill(dir, Math.floor(Math.random() * 30));
      assert.is(how, 'killed');
      const r = await rig({ root: W.root, dir });
      const st = r.store.status();
      assert.is(st.state, 'active', JSON.stringify(st));
      assert.equal(st.alarms, [], 'no corrupt file at boot');
      const v = st.active!.version;
      assert.ok(v > last, `one activation completed in that life, yet v${last} became v${v}`);
      advanced += 1;
      assert.is(st.active!.hash, sha256Hex(bundleOf(v)), 'exactly the signed bytes');
      assert.ok(st.highWater!.version >= v);
      assert.is(r.decider.version, st.active!.policyVersion);
      last = v;
    }
    return { advanced, last };
  }

  test(`kill -9 during activation, ${ITERATIONS} times: the active bundle is always a whole signed one, never older`, async () => {
    const LANES = 4;
    const results = await Promise.all(Array.from({ length: LANES }, (_, i) => lane(join(root, `state-${i}`), Math.ceil(ITERATIONS / LANES))));
    const advanced = results.reduce((a, r) => a + r.advanced, 0);
    console.log(`  kill -9 x ${ITERATIONS}: the active version advanced across ${advanced} kills; reached ${results.map((r) => `v${r.last}`).join(', ')}`);
    assert.is(advanced, LANES * Math.ceil(ITERATIONS / LANES));
  });

  test.after(() => { rmSync(root, { recursive: true, force: true }); rmSync(childJs, { force: true }); });
  test.run();
}
