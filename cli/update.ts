/**
 * `zonegate update import|status|commit`: runtime updates on the device (runtime/update).
 *   import BUNDLE PACKAGE   the USB stick path: verify, install A/B, restart the service into it
 *   status                  slots, versions, the trial in progress, the last outcomes and why
 *   commit                  keep the running trial version now (the daemon commits itself after
 *                           its health period: runtime/update/trial-guard.ts)
 */
import { execFile } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import type { Command, CommandContext } from './framework';
import { usageError } from './framework';
import { ZonegateError } from '../policy/errors';
import { signalDaemon } from '../runtime/store/daemon-signal';
import { installUpdate } from '../runtime/update/install-update';
import { commitTrial } from '../runtime/update/commit-trial';
import { readUpdateStatus } from '../runtime/update/update-status';
import { packageArchOf } from '../protocol/update/device-arch';
import { installRoot } from '../runtime/update/install-root';
import { openUpdateContext, stateDirOf } from '../runtime/update/open-update-context';
import { RUNTIME_BUNDLE_MAX_BYTES } from '../protocol/update/topics';
import { readCapped } from './bundle-verify';

const common = {
  config: { type: 'string' as const, value: 'FILE', description: 'the gateway config (device, site, stateDir, trustRoot)' },
  root: { type: 'string' as const, value: 'DIR', description: 'installation root with slots/ and current (default: this slot\'s, or /opt/zonegate)' },
};

function rootOf(ctx: CommandContext): string {
  return installRoot({ flag: typeof ctx.options.root === 'string' ? ctx.options.root : undefined, env: process.env, script: __filename });
}

function configOf(ctx: CommandContext): string {
  if (typeof ctx.options.config !== 'string') throw usageError('--config GATEWAY.yaml is required');
  return ctx.options.config;
}

/**
 * As root, writing into a state folder the service user owns would leave files the daemon cannot
 * read (they are 0600): refuse and say how to run it.
 */
async function refuseForeignOwner(stateDir: string): Promise<void> {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return;
  let uid: number;
  try { uid = (await fsp.stat(stateDir)).uid; } catch { return; }
  if (uid !== 0) throw usageError(`${stateDir} belongs to uid ${uid}, not root: run this as the service user (sudo -u zonegate zonegate update import ...)`);
}

/** SIGTERM to the daemon of the pid file (Restart=always starts the new slot), else systemctl restart. */
async function restartService(stateDir: string): Promise<string> {
  // Only the daemon that wrote the pid file, never a process that reuses a stale pid (daemon-signal.ts).
  const pid = await signalDaemon(stateDir, 'SIGTERM');
  if (pid !== null) return `daemon pid ${pid} stopped; the service manager starts the new version`;
  const ok = await new Promise<boolean>((resolve) => execFile('systemctl', ['try-restart', 'zonegate.service'], { timeout: 30_000 }, (e) => resolve(!e)));
  return ok ? 'systemctl try-restart zonegate.service done' : 'no running daemon found: start zonegate.service to run the new version';
}

export const updateImportCommand: Command = {
  path: ['update', 'import'],
  summary: 'install a signed runtime update from files (USB stick) into the inactive slot',
  usage: 'update import BUNDLE PACKAGE --config GATEWAY.yaml [--root DIR] [--no-restart] [--json]',
  description: `
Verifies BUNDLE (a runtime bundle signed by the trust root's runtime role, for this site and
device, not expired, version above every runtime bundle accepted before, for this architecture),
checks PACKAGE against the signed sha256 and size, unpacks it into the inactive slot, marks it
on trial and switches ROOT/current to it, then restarts the service. The new version must reach
READY (policy enforcing, listeners up) and then stay healthy (watchdog pinged, a policy active)
for the config's update.healthPeriodMs (default 5 minutes), when it keeps itself; a crash, a
missed watchdog or a lost policy before that puts the previous slot back at the next start.
A runtime older than the active slot's is refused unless signed as a deliberate downgrade.
Run it as the service user (sudo -u zonegate ...): the state folder and the slots are its own.
Exit 0 installed, 1 refused (nothing in the slots changed; the reason is in update status).`,
  options: { ...common, 'no-restart': { type: 'boolean', description: 'do not restart the service' } },
  positionals: { min: 2, max: 2 },
  json: true,
  async run(ctx) {
    const [bundleFile, packageFile] = ctx.positionals;
    const root = rootOf(ctx);
    const uc = await openUpdateContext(configOf(ctx));
    await refuseForeignOwner(uc.stateDir);
    const arch = packageArchOf(process.arch);
    if (!arch) throw new ZonegateError('ERR_UPDATE_INSTALL', `no packages exist for ${process.arch}`);
    const bundle = await readCapped(bundleFile, RUNTIME_BUNDLE_MAX_BYTES, 'runtime bundle');
    const r = await installUpdate({ root, stateDir: uc.stateDir, bundle, packageFile, trustRoot: uc.trustRoot(), site: uc.site, device: uc.device, arch, now: Date.now, source: 'import' });
    const restart = ctx.options['no-restart'] ? 'not restarted (--no-restart)' : await restartService(uc.stateDir);
    if (ctx.json) ctx.printJson({ ok: true, outcome: 'installed', ...r, restart });
    else ctx.out(`installed zonegate ${r.version} (bundle v${r.bundleVersion}) into slot ${r.to}, on trial; previous ${r.previousVersion} stays in slot ${r.from}; ${restart}`);
    return 0;
  },
};

export const updateStatusCommand: Command = {
  path: ['update', 'status'],
  summary: 'show the A/B slots, the running version, a trial in progress and the last update outcomes',
  usage: 'update status --config GATEWAY.yaml [--root DIR] [--json]',
  options: common,
  json: true,
  async run(ctx) {
    const s = await readUpdateStatus({ root: rootOf(ctx), stateDir: await stateDirOf(configOf(ctx)) });
    if (ctx.json) { ctx.printJson(s); return 0; }
    ctx.out(`running: ${s.version ?? '(none)'} from slot ${s.activeSlot ?? '?'} of ${s.root} (slot a: ${s.slots.a ?? '-'}, slot b: ${s.slots.b ?? '-'}); runtime bundles accepted up to v${s.highWater}`);
    if (s.trial) ctx.out(`on trial: ${s.trial.version} in slot ${s.trial.to} since ${new Date(s.trial.at).toISOString()}, ${s.trial.attempts} start(s); rolls back to ${s.trial.previousVersion} unless healthy`);
    for (const e of s.journal.slice(-5)) ctx.out(`${new Date(e.at).toISOString()}  ${e.outcome.padEnd(11)} ${e.version ?? '?'}${e.code ? `  ${e.code}` : ''}  ${e.reason}`);
    return 0;
  },
};

export const updateCommitCommand: Command = {
  path: ['update', 'commit'],
  summary: 'keep the version on trial now (the daemon does it itself after its health period)',
  usage: 'update commit --config GATEWAY.yaml [--root DIR] [--json]',
  options: common,
  json: true,
  async run(ctx) {
    const r = await commitTrial({ root: rootOf(ctx), stateDir: await stateDirOf(configOf(ctx)), now: Date.now });
    if (ctx.json) ctx.printJson({ ok: true, ...r });
    else ctx.out(r.outcome === 'committed' ? `committed: ${r.event!.reason}` : r.outcome === 'no-trial' ? 'no update on trial' : 'the version on trial is not the one running; left for boot-check');
    return 0;
  },
};
