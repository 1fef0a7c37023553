/**
 * A/B runtime updates end to end (the rig: ab-rig.ts): a good version is kept. The rollback of a
 * crashing one is in ab-rollback.test.ts (two files run in parallel: together they took 62 s
 * beside a second suite).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { assertEnforcing, audited, cleanUp, cli, importUpdate, lastReady, pendingAudit, rig, skip, status } from './ab-rig';

test.after.each(cleanUp);

test('an update to a good version is installed in slot b, becomes ready, commits and is kept', async () => {
  if (skip) { console.log(`skipped: ${skip}`); return; }
  const r = await rig('good');
  const imp = importUpdate(r, { version: '0.2.0', bundleVersion: 2 });
  assert.is(imp.code, 0, imp.stderr + imp.stdout);
  const out = JSON.parse(imp.stdout);
  assert.equal([out.outcome, out.from, out.to, out.version, out.previousVersion], ['installed', 'a', 'b', '0.2.0', '0.1.0-base']);
  await r.sup.waitFor((s) => lastReady(s) && s[s.length - 1].version === '0.2.0', '0.2.0 to become ready');
  const st = status(r);
  assert.is(st.activeSlot, 'b');
  assert.is(st.version, '0.2.0');
  assert.is(st.trial, null, 'committed: no trial left');
  assert.is(st.highWater, 2);
  assert.equal(st.journal.map((e) => e.outcome), ['installed', 'committed']);
  assert.equal(st.slots, { a: '0.1.0-base', b: '0.2.0' }, 'the previous version stays in slot a');
  // The running process is the new bundle (its version string was patched).
  const v = cli(r.dev, ['version']);
  assert.match(v.stdout, /0\.2\.0/);
  await assertEnforcing(r);
  // The policy and state folder survived: same trust root, same policy file, state kept.
  assert.ok(existsSync(join(r.dev.state, 'runtime.hwm')));
  const ev = await audited(r);
  assert.equal(ev.map((e) => [e.kind, e.source, e.detail?.outcome]), [['config', 'update', 'installed'], ['config', 'update', 'committed']]);
  assert.equal(await pendingAudit(r), [], 'each outcome is audited once');
});

test.run();
