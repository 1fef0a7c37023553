/**
 * A/B runtime updates end to end, with real processes: a device laid out by build/install.sh in a
 * temp folder, the systemd stand-in of helpers.ts (boot-check.sh, READY over a real notify socket,
 * `update commit`, start deadline, Restart=always), updates imported with the real CLI
 * (`zonegate update import`, the USB path) and Modbus requests through the running gateway to a
 * PLC simulator. Only the good version is kept; every other ends with the previous version
 * running and enforcing, and `update status` says why.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { startPlcSim, type PlcSim } from '../../runtime/lab/plc-sim';
import { auditUpdateOutcomes } from '../../runtime/update/audit-outcomes';
import { readAuditRecords } from '../../runtime/audit/query';
import type { AuditEvent } from '../../drivers/types';
import type { UpdateStatus } from '../../runtime/update/update-status';
import {
  freePort, hasPrereqs, installDevice, LAB_POLICY, makePackage, modbusRequest, notifySocket, runtimeBundle, supervise,
  tempDir, trustWorld, type Device, type Flavour, type Supervisor,
} from './helpers';

const skip = hasPrereqs();
const cleanups: (() => Promise<unknown> | unknown)[] = [];
test.after.each(async () => { while (cleanups.length) { try { await cleanups.pop()!(); } catch { /* keep cleaning */ } } });

const world = trustWorld();
/** The start deadline of the stand-in (systemd's TimeoutStartSec): generous, the machine is shared. */
const START_TIMEOUT_MS = 15_000;
/** The hang flavour never sends READY, whatever the load: its deadline can be short. */
const startTimeout = (version: string) => (version.endsWith('-hang') ? 3_000 : START_TIMEOUT_MS);

interface Rig { dir: string; dev: Device; sup: Supervisor; plc: PlcSim }

/** A device running 0.1.0 from slot a, READY and committed. */
async function rig(tag: string): Promise<Rig> {
  const dir = tempDir(tag);
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const plc = await startPlcSim({ host: '127.0.0.1', port: 0 });
  cleanups.push(() => plc.close());
  const v1 = makePackage({ dir, version: '0.1.0-base' });
  const dev = installDevice({ dir, pkg: v1.file, root: world.root, listenPort: await freePort(), upstreamPort: plc.address().port, policy: LAB_POLICY });
  const notify = await notifySocket(dir);
  cleanups.push(() => notify.close());
  const sup = supervise({ dev, notify, startTimeoutMs: startTimeout });
  cleanups.push(() => sup.stop());
  await sup.waitFor((s) => s.length === 1 && s[0].end === 'ready', 'the base version to become ready');
  assert.is(sup.starts[0].slot, 'a');
  return { dir, dev, sup, plc };
}

function cli(dev: Device, args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(join(dev.root, 'current/bin/zonegate'), args, { env: { ...process.env, ZONEGATE_NODE: process.execPath }, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function importUpdate(r: Rig, o: { version: string; bundleVersion: number; flavour?: Flavour; tamper?: boolean }) {
  const pkg = makePackage({ dir: r.dir, version: o.version, flavour: o.flavour });
  const bundleFile = join(r.dir, `runtime-${o.bundleVersion}-${o.version}.bundle`);
  writeFileSync(bundleFile, runtimeBundle({ key: world.runtimeKey, version: o.bundleVersion, pkg: pkg.bytes, packageVersion: o.version }));
  if (o.tamper) {
    // Same size, one byte changed: the hash no longer matches what was signed.
    const b = Buffer.from(pkg.bytes);
    b[b.length - 10] ^= 0xff;
    writeFileSync(pkg.file, b);
  }
  return cli(r.dev, ['update', 'import', bundleFile, pkg.file, '--config', r.dev.config, '--root', r.dev.root, '--json']);
}

function status(r: Rig): UpdateStatus {
  const s = cli(r.dev, ['update', 'status', '--config', r.dev.config, '--root', r.dev.root, '--json']);
  assert.is(s.code, 0, s.stderr);
  return JSON.parse(s.stdout) as UpdateStatus;
}

/** Allowed read answered by the PLC; denied write answered locally with exception 01. */
async function assertEnforcing(r: Rig): Promise<void> {
  const ok = await modbusRequest(r.dev.listenPort, [3, 0, 0, 0, 2]);
  if (ok === 'closed') throw new assert.Assertion({ message: 'the allowed read got no answer', generated: false, operator: 'ok', expects: 'an answer', actual: 'closed' });
  assert.is(ok.fn, 3, 'read holding registers answered');
  assert.is(ok.data.readUInt16BE(1), 1000, 'register 0 of the simulator');
  const denied = await modbusRequest(r.dev.listenPort, [6, 0, 0, 0, 7]);
  assert.ok(denied !== 'closed' && denied.fn === 0x86 && denied.exception === 1, `denied write: ${JSON.stringify(denied)}`);
  assert.is(r.plc.served.get(6) ?? 0, 0, 'the write never reached the PLC');
}

/** Outcomes not yet in the audit log (the daemon audits them at its next start). */
function pendingAudit(r: Rig): Promise<AuditEvent[]> {
  const events: AuditEvent[] = [];
  return auditUpdateOutcomes({ stateDir: r.dev.state, audit: { record: (e) => { events.push(e); } } }).then(() => events);
}

/** Every update outcome: those the daemon put in its durable audit log at start, then the pending ones. */
async function audited(r: Rig): Promise<AuditEvent[]> {
  const dir = join(r.dev.state, 'audit');
  const logged = existsSync(dir) ? (await readAuditRecords(dir, {})).records.filter((x) => x.kind === 'config' && x.source === 'update') : [];
  return [...(logged as unknown as AuditEvent[]), ...(await pendingAudit(r))];
}

const lastReady = (s: { end: string }[]) => s.length > 1 && s[s.length - 1].end === 'ready';

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
