/**
 * A/B runtime updates end to end (the rig: ab-rig.ts): a version that crashes at start is rolled
 * back, the previous version enforces again, the audit chain survives and the bundle stays refused.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { assertEnforcing, audited, cleanUp, cli, importUpdate, lastReady, rig, skip, status } from './ab-rig';

test.after.each(cleanUp);

test('a version that crashes at start is rolled back to the previous slot, which enforces again', async () => {
  if (skip) { console.log(`skipped: ${skip}`); return; }
  const r = await rig('crash');
  const imp = importUpdate(r, { version: '0.2.0-crash', bundleVersion: 2, flavour: 'crash' });
  assert.is(imp.code, 0, imp.stderr);
  await r.sup.waitFor((s) => s.some((x) => x.version === '0.2.0-crash' && x.end === 'exit') && lastReady(s) && s[s.length - 1].version === '0.1.0-base', 'rollback to 0.1.0-base');
  const crashed = r.sup.starts.find((x) => x.version === '0.2.0-crash')!;
  assert.is(crashed.exitCode, 1);
  assert.match(crashed.stderr, /simulated crash/);
  const st = status(r);
  assert.is(st.activeSlot, 'a');
  assert.is(st.version, '0.1.0-base');
  assert.is(st.trial, null);
  assert.is(st.last?.outcome, 'rolled-back');
  assert.match(st.last!.reason, /version 0\.2\.0-crash did not become healthy after 1 start\(s\) \(last exit: exit-code\/exited\/1\); slot a \(0\.1\.0-base\) restored/);
  await assertEnforcing(r);
  const ev = await audited(r);
  assert.equal(ev.map((e) => e.detail?.outcome), ['installed', 'rolled-back']);
  assert.match(String(ev[1].message), /runtime update rolled-back: version 0\.2\.0-crash did not become healthy/);
  // The audit log in the state folder survived the update and the rollback: one chain from seq 0,
  // written by the base version before the update and again after it came back.
  const installedAt = st.journal.find((e) => e.outcome === 'installed')!.at;
  await r.sup.stop();
  const av = cli(r.dev, ['audit', 'verify', r.dev.state, '--json']);
  assert.is(av.code, 0, av.stdout + av.stderr);
  const audit = JSON.parse(av.stdout);
  assert.equal([audit.ok, audit.firstSeq, audit.startsMidChain, audit.gaps], [true, 0, false, []]);
  assert.ok(audit.firstAt < installedAt && audit.lastAt > installedAt, `records from before the update and after the rollback: ${audit.firstAt} < ${installedAt} < ${audit.lastAt}`);
  // The bundle stays refused: the high-water mark moved when it was accepted.
  const again = importUpdate(r, { version: '0.2.0-crash', bundleVersion: 2, flavour: 'crash' });
  assert.is(again.code, 1);
  assert.match(again.stdout, /ERR_BUNDLE_ROLLBACK/);
});

test.run();
