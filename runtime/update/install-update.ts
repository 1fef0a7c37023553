/**
 * Installs a runtime update A/B (design.md "Signed bundles": runtime updates installed A/B with
 * automatic rollback). Check everything first, then do the work:
 *
 *   1. no trial already running (one update at a time)
 *   2. the bundle verifies (verify-update.ts: signatures of the `runtime` role, target, validity,
 *      version above the high-water mark, architecture)
 *   3. the package file has the signed size and sha256 (check-package.ts)
 *   4. the package is unpacked beside the slots (`slots/.incoming-<slot>`) and must hold
 *      zonegate.js and a VERSION equal to the signed one (when the bundle names one)
 *   5. that version is not older than the one running, unless the release is signed as a
 *      deliberate downgrade (`downgrade: true` in the signed payload): ERR_UPDATE_DOWNGRADE
 *   --- nothing has changed so far; from here on it does ---
 *   6. the high-water mark is persisted (a replayed older bundle is refused from now on, even
 *      after a rollback), the INACTIVE slot is replaced by the unpacked package (one rename)
 *   7. the trial marker is written (state folder), then `current` is switched by one rename
 *   8. the caller restarts the service (the update manager exits with UPDATE_RESTART_EXIT_CODE
 *      under systemd, or calls an injected restart in tests)
 *
 * The new version then starts under build/boot-check.sh and commits once healthy for the health
 * period (trial-guard.ts, commit-trial.ts); otherwise the next start puts the previous slot back. Every refusal is
 * journalled with its code and reason (state-files.ts) and nothing in the slots changes.
 */
import { execFile } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { dirname, join } from 'node:path';
import { ZonegateError } from '../../policy/errors';
import type { TrustRoot } from '../../policy/bundle/types';
import { checkPackage } from './check-package';
import { compareVersions } from './compare-versions';
import { otherSlot, readActiveSlot, readSlotVersion, slotPaths, switchCurrent, type Slot } from './layout';
import { UpdateState, type UpdateEvent } from './state-files';
import { verifyUpdate } from './verify-update';

/** The exit code with which the daemon asks its service manager to start it again (EX_TEMPFAIL). */
export const UPDATE_RESTART_EXIT_CODE = 75;

export interface InstallUpdateOptions {
  /** Installation root (slots/, current). */
  root: string;
  stateDir: string;
  /** The signed runtime bundle, exact bytes. */
  bundle: Uint8Array;
  /** The package file (already on local disk: a USB stick, or the assembled chunks). */
  packageFile: string;
  trustRoot: TrustRoot;
  site: string;
  device: string;
  arch: string;
  now: () => number;
  /** Where it came from, for the journal: mqtt, import. */
  source: string;
}

export interface InstallResult {
  from: Slot;
  to: Slot;
  version: string;
  previousVersion: string;
  bundleVersion: number;
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 120_000 }, (err, _out, stderr) => (err ? reject(new Error(`${cmd} ${args[0]}: ${String(stderr).trim() || err.message}`)) : resolve()));
  });
}

/**
 * Unpacks the package into `into` (emptied first) and checks what it holds: zonegate.js, and a
 * VERSION equal to the signed one when the bundle names one. Returns the VERSION (or null).
 */
async function unpackChecked(o: { file: string; into: string; signedVersion?: string }): Promise<string | null> {
  await fsp.rm(o.into, { recursive: true, force: true });
  await fsp.mkdir(o.into, { recursive: true, mode: 0o755 });
  try {
    // GNU tar refuses members with `..` and strips leading `/` by default.
    await run('tar', ['-xzf', o.file, '-C', o.into, '--no-same-owner', '--no-same-permissions']);
  } catch (e) {
    throw new ZonegateError('ERR_UPDATE_PACKAGE', `cannot unpack the package: ${(e as Error).message}`, { cause: e });
  }
  try { await fsp.access(join(o.into, 'zonegate.js')); } catch {
    throw new ZonegateError('ERR_UPDATE_PACKAGE', 'the package holds no zonegate.js; refused');
  }
  let unpacked: string | null = null;
  try { unpacked = (await fsp.readFile(join(o.into, 'VERSION'), 'utf8')).trim().slice(0, 64) || null; } catch { /* none */ }
  if (o.signedVersion !== undefined && unpacked !== o.signedVersion) {
    throw new ZonegateError('ERR_UPDATE_PACKAGE', `the package says VERSION ${unpacked ?? '(none)'}, the signed update says ${o.signedVersion}; refused`);
  }
  return unpacked;
}

/** Installs and switches; throws ZonegateError (and journals it) when anything is refused. */
export async function installUpdate(options: InstallUpdateOptions): Promise<InstallResult> {
  const state = await UpdateState.open(options.stateDir);
  await state.ingestShellResult();
  const now = options.now;
  let bundleVersion: number | null = null;
  let version: string | null = null;
  const active = await readActiveSlot(options.root);
  const previousVersion = active ? (await readSlotVersion(options.root, active)) ?? 'unknown' : 'unknown';
  let staging: string | undefined;
  try {
    if (!active) throw new ZonegateError('ERR_UPDATE_INSTALL', `${slotPaths(options.root).current} is not a link to slots/a or slots/b; install with install.sh first`);
    const trial = await state.readTrial();
    if (trial) throw new ZonegateError('ERR_UPDATE_INSTALL', `version ${trial.version} is still on trial in slot ${trial.to}; one update at a time`);
    const upd = verifyUpdate({
      bytes: options.bundle, trustRoot: options.trustRoot, site: options.site, device: options.device,
      arch: options.arch, highWater: await state.highWater(), now: now(),
    });
    bundleVersion = upd.version;
    version = upd.payload.version ?? `bundle-v${upd.version}`;
    await checkPackage({ file: options.packageFile, payload: upd.payload });

    // Everything is checked before anything changes: the package is unpacked beside the slots
    // first, so a refusal leaves the inactive slot and the high-water mark as they were.
    const to = otherSlot(active);
    const dir = slotPaths(options.root).slots[to];
    staging = join(dirname(dir), `.incoming-${to}`);
    const unpacked = await unpackChecked({ file: options.packageFile, into: staging, signedVersion: upd.payload.version });
    version = unpacked ?? version;
    const order = compareVersions(version, previousVersion);
    if (order === -1 && upd.payload.downgrade !== true) {
      throw new ZonegateError('ERR_UPDATE_DOWNGRADE', `the package holds zonegate ${version}, older than ${previousVersion} in the active slot; refused (a deliberate downgrade must be signed as one: fleet release --downgrade)`);
    }

    await state.setHighWater(upd.version);
    await fsp.rm(dir, { recursive: true, force: true });
    await fsp.rename(staging, dir);
    staging = undefined;
    await state.writeTrial({ from: active, to, version, previousVersion, bundleVersion: upd.version, sha256: upd.payload.sha256, at: now(), attempts: 0 });
    await switchCurrent({ root: options.root, slot: to });
    await state.append({ outcome: 'installed', at: now(), version, previousVersion, bundleVersion: upd.version, reason: `installed into slot ${to}; on trial until healthy`, source: options.source });
    return { from: active, to, version, previousVersion, bundleVersion: upd.version };
  } catch (e) {
    if (staging) await fsp.rm(staging, { recursive: true, force: true }).catch(() => undefined);
    const err = e instanceof ZonegateError ? e : new ZonegateError('ERR_UPDATE_INSTALL', (e as Error).message, { cause: e });
    await state.append({ outcome: 'refused', at: now(), version, previousVersion, bundleVersion, reason: err.message, code: err.code, source: options.source }).catch(() => undefined);
    throw err;
  }
}

export type { UpdateEvent };
