/**
 * A/B runtime updates end to end (the rig: ab-rig.ts): a package whose hash differs from the
 * signed one and an older runtime are refused, with the previous version enforcing. A version that
 * never becomes ready: ab-hang.test.ts (it waits out a start deadline; in one file with these two
 * it took 73 s beside a second suite).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { assertEnforcing, audited, cleanUp, importUpdate, lastReady, rig, skip, status } from './ab-rig';

test.after.each(cleanUp);

test('a package whose hash differs from the signed one is refused before anything is unpacked', async () => {
  if (skip) { console.log(`skipped: ${skip}`); return; }
  const r = await rig('hash');
  const imp = importUpdate(r, { version: '0.2.0', bundleVersion: 2, tamper: true });
  assert.is(imp.code, 1);
  const err = JSON.parse(imp.stdout);
  assert.is(err.code, 'ERR_UPDATE_PACKAGE');
  assert.match(err.message, /sha256 [0-9a-f]{16}…, the signed update says [0-9a-f]{16}…; refused/);
  assert.not.ok(existsSync(join(r.dev.root, 'slots/b/VERSION')), 'nothing was unpacked into the inactive slot');
  const st = status(r);
  assert.equal([st.activeSlot, st.version, st.trial, st.highWater], ['a', '0.1.0-base', null, 0]);
  assert.equal([st.last?.outcome, st.last?.code], ['refused', 'ERR_UPDATE_PACKAGE']);
  assert.is(r.sup.starts.length, 1, 'the running gateway was never restarted');
  await assertEnforcing(r);
  const ev = await audited(r);
  assert.equal(ev.map((e) => [e.detail?.outcome, e.detail?.code]), [['refused', 'ERR_UPDATE_PACKAGE']]);
});

test('an older runtime bundle is refused after a newer one was installed', async () => {
  if (skip) { console.log(`skipped: ${skip}`); return; }
  const r = await rig('older');
  assert.is(importUpdate(r, { version: '0.3.0', bundleVersion: 3 }).code, 0);
  await r.sup.waitFor((s) => lastReady(s) && s[s.length - 1].version === '0.3.0', '0.3.0 to become ready');
  const starts = r.sup.starts.length;
  const imp = importUpdate(r, { version: '0.2.5', bundleVersion: 2 });
  assert.is(imp.code, 1);
  const err = JSON.parse(imp.stdout);
  assert.is(err.code, 'ERR_BUNDLE_ROLLBACK');
  assert.match(err.message, /runtime bundle v2 is not newer than v3, the newest this device accepted; refused/);
  const st = status(r);
  assert.equal([st.activeSlot, st.version, st.trial, st.highWater], ['b', '0.3.0', null, 3]);
  assert.equal([st.last?.outcome, st.last?.code], ['refused', 'ERR_BUNDLE_ROLLBACK']);
  assert.is(r.sup.starts.length, starts, 'no restart');
  await assertEnforcing(r);
});

test.run();
