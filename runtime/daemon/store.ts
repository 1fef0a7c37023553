/**
 * The policy store as the daemon opens it (with `trustRoot`): its events arrive on the daemon's
 * bus (`store:*`); this part turns them into the one alarm model, the status and the log. The
 * store swaps the index synchronously inside its activation through `activate`, which makes it
 * the effective policy (and reconciles the listeners).
 */
import { formatIssue } from '../../policy/errors';
import type { GatewayConfig } from '../config';
import { openGatewayStore } from '../store/open-gateway-store';
import type { Core } from './core';
import type { EffectivePolicy } from './effective-policy';

const OWNER = 'policy-store';

/** Opens and boots the store (sets core.store) when the config has a trust root. */
export async function openStore(core: Core, cfg: GatewayConfig, effective: EffectivePolicy, writeStatus: () => void): Promise<void> {
  if (!cfg.parts.trustRootFile) return;
  const { bus, alarms, log } = core;
  // Registered before boot: a corrupt or rolled-back file found at boot is logged and alarmed.
  bus.on('store:refused', OWNER, (err) => {
    core.lastError = { at: err.at, code: String(err.code), message: err.message, issues: err.issues.map(formatIssue) };
    alarms.raise('policy-refused', 'warning', `bundle refused (${err.source}), the active policy stays: ${err.code}: ${err.message}`);
    log.error(`bundle refused (${err.source}): ${err.code}: ${err.message} (still enforcing ${effective.current.version ?? 'no policy'})`);
    core.sync?.refreshStatus();
    writeStatus();
  });
  bus.on('store:activated', OWNER, (a) => {
    core.lastError = null;
    alarms.clear('policy-refused');
    // A verified bundle replaced whatever was broken on disk or unverifiable under the root.
    if (a.source !== 'boot') for (const k of ['bundle-corrupt', 'policy-unverifiable', 'policy-rollback', 'policy-conflict']) alarms.clear(`store:${k}`);
    log.info(`bundle v${a.version} (${a.policyVersion}) activated from ${a.source}, expires ${new Date(a.expiresAt).toISOString()}`);
    core.sync?.refreshStatus();
  });
  bus.on('store:alarm', OWNER, (a) => {
    if (a.kind !== 'policy-expired') alarms.raise(`store:${a.kind}`, a.kind === 'policy-conflict' ? 'warning' : 'critical', a.message);
    log.warn(`policy store alarm ${a.kind}: ${a.message}`);
    core.sync?.refreshStatus();
  });
  core.store = await openGatewayStore({
    config: cfg, now: core.now, audit: core.audit.sink, bus,
    // Swapped synchronously inside the store's activation; core.store is set only after boot.
    activate: (index) => { effective.storeActivated(index); if (core.store) effective.apply({ reconcile: true }); },
  });
}
