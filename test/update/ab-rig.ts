/**
 * The rig of the A/B update tests (ab.test.ts, ab-refused.test.ts): a device installed in a temp
 * folder and run by the systemd stand-in, the CLI, and what to assert. A/B runtime updates end to
 * end, with real processes: a device laid out by build/install.sh in a
 * temp folder, the systemd stand-in of helpers.ts (boot-check.sh, READY over a real notify socket,
 * `update commit`, start deadline, Restart=always), updates imported with the real CLI
 * (`zonegate update import`, the USB path) and Modbus requests through the running gateway to a
 * PLC simulator. Only the good version is kept; every other ends with the previous version
 * running and enforcing, and `update status` says why.
 */
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { startPlcSim, type PlcSim } from '../../runtime/lab/plc-sim';
import { auditUpdateOutcomes } from '../../runtime/update/audit-outcomes';
import { readAuditRecords } from '../../protocol/audit/query';
import type { AuditEvent } from '../../drivers/types';
import type { UpdateStatus } from '../../runtime/update/update-status';
import {
  freePort, hasPrereqs, installDevice, LAB_POLICY, makePackage, modbusRequest, notifySocket, runtimeBundle, supervise,
  tempDir, trustWorld, type Device, type Flavour, type Supervisor,
} from './helpers';

export const skip = hasPrereqs();
/** Undone after each test (each test file registers `test.after.each(cleanUp)`). */
export const cleanups: (() => Promise<unknown> | unknown)[] = [];
export async function cleanUp(): Promise<void> { while (cleanups.length) { try { await cleanups.pop()!(); } catch { /* keep cleaning */ } } }

export const world = trustWorld();
/** The start deadline of the stand-in (systemd's TimeoutStartSec): generous, the machine is shared. */
const START_TIMEOUT_MS = 15_000;
/** The hang flavour never sends READY, whatever the load: its deadline can be short. */
const startTimeout = (version: string) => (version.endsWith('-hang') ? 3_000 : START_TIMEOUT_MS);

export interface Rig { dir: string; dev: Device; sup: Supervisor; plc: PlcSim }

/** A device running 0.1.0 from slot a, READY and committed. */
export async function rig(tag: string): Promise<Rig> {
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

export function cli(dev: Device, args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(join(dev.root, 'current/bin/zonegate'), args, { env: { ...process.env, ZONEGATE_NODE: process.execPath }, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function importUpdate(r: Rig, o: { version: string; bundleVersion: number; flavour?: Flavour; tamper?: boolean }) {
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

export function status(r: Rig): UpdateStatus {
  const s = cli(r.dev, ['update', 'status', '--config', r.dev.config, '--root', r.dev.root, '--json']);
  assert.is(s.code, 0, s.stderr);
  return JSON.parse(s.stdout) as UpdateStatus;
}

/** Allowed read answered by the PLC; denied write answered locally with exception 01. */
export async function assertEnforcing(r: Rig): Promise<void> {
  const ok = await modbusRequest(r.dev.listenPort, [3, 0, 0, 0, 2]);
  if (ok === 'closed') throw new assert.Assertion({ message: 'the allowed read got no answer', generated: false, operator: 'ok', expects: 'an answer', actual: 'closed' });
  assert.is(ok.fn, 3, 'read holding registers answered');
  assert.is(ok.data.readUInt16BE(1), 1000, 'register 0 of the simulator');
  const denied = await modbusRequest(r.dev.listenPort, [6, 0, 0, 0, 7]);
  assert.ok(denied !== 'closed' && denied.fn === 0x86 && denied.exception === 1, `denied write: ${JSON.stringify(denied)}`);
  assert.is(r.plc.served.get(6) ?? 0, 0, 'the write never reached the PLC');
}

/** Outcomes not yet in the audit log (the daemon audits them at its next start). */
export function pendingAudit(r: Rig): Promise<AuditEvent[]> {
  const events: AuditEvent[] = [];
  return auditUpdateOutcomes({ stateDir: r.dev.state, audit: { record: (e) => { events.push(e); } } }).then(() => events);
}

/** Every update outcome: those the daemon put in its durable audit log at start, then the pending ones. */
export async function audited(r: Rig): Promise<AuditEvent[]> {
  const dir = join(r.dev.state, 'audit');
  const logged = existsSync(dir) ? (await readAuditRecords(dir, {})).records.filter((x) => x.kind === 'config' && x.source === 'update') : [];
  return [...(logged as unknown as AuditEvent[]), ...(await pendingAudit(r))];
}

export const lastReady = (s: { end: string }[]) => s.length > 1 && s[s.length - 1].end === 'ready';

