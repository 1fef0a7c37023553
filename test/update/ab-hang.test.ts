/**
 * A/B runtime updates end to end (the rig: ab-rig.ts): a version that never becomes ready is
 * killed at the start deadline and rolled back; the previous version enforces again.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { assertEnforcing, cleanUp, importUpdate, lastReady, rig, skip, status } from './ab-rig';

test.after.each(cleanUp);

test('a version that never becomes ready is killed at the start deadline and rolled back', async () => {
  if (skip) { console.log(`skipped: ${skip}`); return; }
  const r = await rig('hang');
  const imp = importUpdate(r, { version: '0.2.0-hang', bundleVersion: 2, flavour: 'hang' });
  assert.is(imp.code, 0, imp.stderr);
  await r.sup.waitFor((s) => s.some((x) => x.version === '0.2.0-hang' && x.end === 'timeout') && lastReady(s) && s[s.length - 1].version === '0.1.0-base', 'rollback after the deadline', 90_000);
  const st = status(r);
  assert.is(st.activeSlot, 'a');
  assert.is(st.last?.outcome, 'rolled-back');
  assert.match(st.last!.reason, /0\.2\.0-hang did not become healthy after 1 start\(s\) \(last exit: timeout\/killed\/SIGKILL\)/);
  await assertEnforcing(r);
});

test.run();
