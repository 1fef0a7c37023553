/**
 * SIGHUP: reload the config, the policy file and the policy store, and reconcile the listeners.
 * The new config and policy are built beside the old ones; on any failure the old policy and
 * listeners stay and the error is logged with file:line:col, audited and alarmed. Settings read
 * once at start (device, site, stateDir, trustRoot, audit, mqtt, console) keep their running
 * values and raise `restart-required`. One reload applies the nftables ruleset once.
 */
import { ZonegateError, formatIssue } from '../../policy/errors';
import { loadConfig, type GatewayConfig } from '../config';
import type { ResolvedListener } from '../config/resolve-listeners';
import { createFilePolicySource, type LoadedPolicy, type PolicySource } from '../policy-source';
import type { Listeners, ReconcileResult } from '../listeners/running';
import { describeError, type Core } from './core';
import type { EffectivePolicy } from './effective-policy';

export interface ReloadResult {
  ok: boolean;
  /** The error that kept the old policy and listeners, if any. */
  error?: ZonegateError | Error;
  policyChanged?: boolean;
  listeners?: ReconcileResult;
}

/** Settings read once at start; a reload that changes them is told to restart. */
function restartOnly(a: GatewayConfig, b: GatewayConfig): string[] {
  const out: string[] = [];
  if (a.device !== b.device) out.push('device');
  if (a.site !== b.site) out.push('site');
  if (a.stateDir !== b.stateDir) out.push('stateDir');
  for (const k of ['trustRootFile', 'audit', 'mqtt'] as const) if (JSON.stringify(a.parts[k]) !== JSON.stringify(b.parts[k])) out.push(k === 'trustRootFile' ? 'trustRoot' : k);
  // The login page, consoles and login limits are bound once (attachAccess); users reload on SIGHUP.
  if (JSON.stringify(a.parts.console) !== JSON.stringify(b.parts.console)) out.push('console');
  return out;
}

/** `cfg` with the running values of what only a restart changes; raises or clears restart-required. */
function keepRestartOnly(core: Core, prev: GatewayConfig, cfg: GatewayConfig): { cfg: GatewayConfig; needRestart: string[] } {
  const needRestart = restartOnly(prev, cfg);
  if (needRestart.length === 0) { core.alarms.clear('restart-required'); return { cfg, needRestart }; }
  core.alarms.raise('restart-required', 'warning', `changed ${needRestart.join(', ')}: takes effect after a restart`);
  core.log.warn(`reload: ${needRestart.join(', ')} changed; these take effect only after a restart (the running values stay)`);
  const kept: GatewayConfig = { ...cfg, device: prev.device, site: prev.site, stateDir: prev.stateDir, parts: { ...cfg.parts, trustRootFile: prev.parts.trustRootFile, audit: prev.parts.audit, mqtt: prev.parts.mqtt, console: prev.parts.console } };
  return { cfg: kept, needRestart };
}

interface Loaded { cfg: GatewayConfig; file?: LoadedPolicy; source?: PolicySource; specs: ResolvedListener[] }

/** Loads and checks everything a reload needs, changing nothing the daemon runs on (but the store). */
async function load(core: Core, effective: EffectivePolicy, listeners: Listeners): Promise<Loaded> {
  const cfg = await loadConfig(core.options.configFile, { services: listeners.registry.protocols() });
  if (!cfg.policyFile && !core.store) {
    throw new ZonegateError('ERR_CONFIG_INVALID', `gateway config ${cfg.file}: no policy source`, {
      issues: [{ file: cfg.file, path: 'policyFile', message: "'policyFile' was removed and no trustRoot was configured at start", ...(cfg.locate([]) ?? {}) }],
    });
  }
  let file: LoadedPolicy | undefined, source: PolicySource | undefined;
  if (cfg.policyFile) {
    source = createFilePolicySource({ file: cfg.policyFile, now: core.now });
    file = await source.load();
  }
  // The store re-reads and re-verifies what is on disk (`bundle import` wrote it, then sent SIGHUP).
  if (core.store) await core.store.reload();
  return { cfg, file, source, specs: listeners.specsFor(cfg, effective.choose(file)) };
}

function refused(core: Core, effective: EffectivePolicy, e: unknown): ReloadResult {
  core.failedReloads += 1;
  const d = describeError(e);
  const version = effective.current.version ?? undefined;
  core.lastError = { at: core.now(), code: d.code, message: d.message, issues: d.issues.map(formatIssue) };
  core.alarms.raise('policy-refused', 'warning', `reload refused, the previous policy stays: ${d.message}`);
  core.logError(`reload refused (still enforcing ${effective.current.version ?? 'no policy'})`, e);
  core.record({ kind: 'policy', policyVersion: version, message: 'reload refused', detail: { code: d.code, error: d.message, issues: core.lastError.issues } });
  core.record({ kind: 'config', policyVersion: version, message: 'config reload refused', detail: { file: core.options.configFile, code: d.code } });
  void core.bus.emit('policy-refused', { source: core.options.configFile, error: d });
  void core.bus.emit('reloaded', { ok: false });
  return { ok: false, error: e as Error };
}

/** One reload, start to end (the gateway runs them one at a time, inside an nftables hold). */
export async function reloadGateway(core: Core, p: { effective: EffectivePolicy; listeners: Listeners; writeStatus: () => void }): Promise<ReloadResult> {
  const { effective, listeners, log } = { ...p, log: core.log };
  if (core.state !== 'running') {
    log.warn(`reload ignored: the gateway is ${core.state}`);
    return { ok: false, error: new Error(`gateway is ${core.state}`) };
  }
  core.reloads += 1;
  log.info(`reloading ${core.options.configFile}`);
  const keyBefore = effective.key;
  let next: Loaded;
  try { next = await load(core, effective, listeners); } catch (e) { return refused(core, effective, e); }
  const prev = core.config!;
  const { cfg, needRestart } = keepRestartOnly(core, prev, next.cfg);
  core.config = cfg;
  core.configLoadedAt = core.now();
  core.options.setLogLevel?.(cfg.log.level);
  // Drivers write through the tee, which reads its ring on every record: the new ring takes over at once.
  if (cfg.limits.auditRing !== prev.limits.auditRing || cfg.log.decisions !== prev.log.decisions) core.audit.resetRing(cfg, true);
  effective.setFile(next.file, next.source);
  // `zonegate user add/remove/passwd` wrote the user store, then sent SIGHUP.
  if (core.access) { try { await core.access.reload(); } catch (e) { core.logError('users not reloaded', e); } }
  effective.apply({ reconcile: false });
  // The store may have activated already inside store.reload(): compare with before the reload.
  const policyChanged = effective.key !== keyBefore;
  const version = effective.current.version;
  if (!policyChanged) log.info(`policy unchanged (${version ?? 'none'})`);
  core.alarms.clear('policy-refused');
  core.lastError = null;
  const result = (await listeners.queue.run(() => listeners.reconcile(cfg, next.specs))) ?? { started: 0, stopped: 0, kept: 0, failed: 0 };
  core.record({ kind: 'config', policyVersion: version ?? undefined, message: 'reloaded', detail: { ...result, policyChanged, file: cfg.file, restartRequired: needRestart } });
  log.info(`reload done: policy ${version ?? 'none'}${policyChanged ? ' activated' : ' unchanged'}; listeners ${result.kept} kept, ${result.started} started, ${result.stopped} stopped, ${result.failed} failed`);
  p.writeStatus();
  void core.bus.emit('reloaded', { ok: true });
  return { ok: true, policyChanged, listeners: result };
}
