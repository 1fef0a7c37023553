/**
 * A/B runtime updates end to end (the rig: ab-rig.ts): a good version is kept, a crashing one is
 * rolled back and the previous version enforces again.
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
