/**
 * Installs a runtime update A/B (design.md "Signed bundles": runtime updates installed A/B with
 * automatic rollback). Check everything first, then do the work:
 *
 *   1. no trial already running (one update at a time)
 *   2. the bundle verifies (verify-update.ts: signatures of the `runtime` role, target, validity,
 *      version above the high-water mark, architecture)
 *   3. the package file has the signed size and sha256 (check-package.ts)
 *   4. the high-water mark is persisted (a replayed older bundle is refused from now on, even
 *      after a rollback)
 *   5. the package is unpacked into the INACTIVE slot, which must then hold zonegate.js and a
 *      VERSION equal to the signed one (when the bundle names one)
 *   6. the trial marker is written (state folder), then `current` is switched by one rename
 *   7. the caller restarts the service (the update manager exits with UPDATE_RESTART_EXIT_CODE
 *      under systemd, or calls an injected restart in tests)
 *
 * The new version then starts under build/boot-check.sh and commits once healthy
 * (commit-trial.ts); otherwise the next start puts the previous slot back. Every refusal is
 * journalled with its code and reason (state-files.ts) and nothing in the slots changes.
 */
import { execFile } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { ZonegateError } from '../../policy/errors';
import type { TrustRoot } from '../../policy/bundle/types';
import { checkPackage } from './check-package';
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

/** Installs and switches; throws ZonegateError (and journals it) when anything is refused. */
export async function installUpdate(options: InstallUpdateOptions): Promise<InstallResult> {
  const state = await UpdateState.open(options.stateDir);
  await state.ingestShellResult();
  const now = options.now;
  let bundleVersion: number | null = null;
  let version: string | null = null;
  const active = await readActiveSlot(options.root);
  const previousVersion = active ? (await readSlotVersion(options.root, active)) ?? 'unknown' : 'unknown';
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
    await state.setHighWater(upd.version);

    const to = otherSlot(active);
    const dir = slotPaths(options.root).slots[to];
    await fsp.rm(dir, { recursive: true, force: true });
    await fsp.mkdir(dir, { recursive: true, mode: 0o755 });
    try {
      // GNU tar refuses members with `..` and strips leading `/` by default.
      await run('tar', ['-xzf', options.packageFile, '-C', dir, '--no-same-owner', '--no-same-permissions']);
    } catch (e) {
      throw new ZonegateError('ERR_UPDATE_PACKAGE', `cannot unpack the package into slot ${to}: ${(e as Error).message}`, { cause: e });
    }
    const unpacked = await readSlotVersion(options.root, to);
    try { await fsp.access(join(dir, 'zonegate.js')); } catch {
      throw new ZonegateError('ERR_UPDATE_PACKAGE', 'the package holds no zonegate.js; refused');
    }
    if (upd.payload.version !== undefined && unpacked !== upd.payload.version) {
      throw new ZonegateError('ERR_UPDATE_PACKAGE', `the package says VERSION ${unpacked ?? '(none)'}, the signed update says ${upd.payload.version}; refused`);
    }
    version = unpacked ?? version;
    await state.writeTrial({ from: active, to, version, previousVersion, bundleVersion: upd.version, sha256: upd.payload.sha256, at: now(), attempts: 0 });
    await switchCurrent({ root: options.root, slot: to });
    await state.append({ outcome: 'installed', at: now(), version, previousVersion, bundleVersion: upd.version, reason: `installed into slot ${to}; on trial until healthy`, source: options.source });
    return { from: active, to, version, previousVersion, bundleVersion: upd.version };
  } catch (e) {
    const err = e instanceof ZonegateError ? e : new ZonegateError('ERR_UPDATE_INSTALL', (e as Error).message, { cause: e });
    await state.append({ outcome: 'refused', at: now(), version, previousVersion, bundleVersion, reason: err.message, code: err.code, source: options.source }).catch(() => undefined);
    throw err;
  }
}

export type { UpdateEvent };
