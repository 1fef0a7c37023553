/**
 * `zonegate bundle import FILE --config GATEWAY.yaml [--json]`: the offline path (a bundle on a USB
 * stick). Runs the same store checks as an MQTT delivery into the gateway's stateDir (policy
 * bundles through PolicyStore.accept, trust bundles through acceptTrust), then, if a daemon is
 * running (pid file `<stateDir>/zonegate.pid`, checked to name the daemon that wrote it:
 * daemon-signal.ts), sends it SIGHUP so it reloads the store from disk.
 */
import type { Command } from './framework';
import { usageError } from './framework';
import { ZonegateError } from '../policy/errors';
import { decodeEnvelope } from '../policy/bundle/decode-envelope';
import { DEFAULT_MAX_BUNDLE_BYTES } from '../policy/bundle/types';
import { trustFileBytes } from '../policy/bundle/trust-file';
import { loadConfig } from '../runtime/config';
import { openGatewayStore } from '../runtime/store/open-gateway-store';
import { signalDaemonVerbose } from '../runtime/store/daemon-signal';
import { readCapped } from './bundle-verify';

export const bundleImportCommand: Command = {
  path: ['bundle', 'import'],
  summary: "import a signed bundle from a file into this gateway's policy store (offline update)",
  usage: 'bundle import FILE --config GATEWAY.yaml [--json]',
  description: `
Checks FILE exactly as the gateway checks a bundle from MQTT (size, signatures against the
gateway's trust root, type, site and device, version above the high-water mark, validity, the
policy's validation, compilation and embedded tests) and, when all pass, stores it in the
gateway's stateDir as the active bundle. A trust-root rotation bundle is accepted when it is
signed by a threshold of the current and of the new root keys and is exactly one version newer.
If the gateway daemon is running it is sent SIGHUP and reloads the store. Exit 0 imported (or
already active), 1 refused with the reason; the running policy is unchanged on refusal.`,
  options: {
    config: { type: 'string', value: 'FILE', description: 'the gateway config (stateDir, device, site, trustRoot)' },
  },
  positionals: { min: 1, max: 1 },
  json: true,
  async run(ctx) {
    const file = ctx.positionals[0];
    if (typeof ctx.options.config !== 'string') throw usageError('--config GATEWAY.yaml is required');
    const config = await loadConfig(ctx.options.config);
    const bytes = trustFileBytes(await readCapped(file, DEFAULT_MAX_BUNDLE_BYTES, 'bundle'));
    const store = await openGatewayStore({ config, now: Date.now });
    const type = decodeEnvelope(bytes).type;
    let result: Record<string, unknown>;
    if (type === 'trust') {
      const root = await store.acceptTrust(bytes);
      result = { ok: true, outcome: root.outcome === 'unchanged' ? 'trust-unchanged' : 'trust-rotated', trustRoot: { version: root.version, sha256: root.hash, expiresAt: new Date(root.expiresAt).toISOString() } };
    } else if (type === 'policy') {
      const r = await store.accept(bytes, { source: 'import' });
      result = { ok: true, outcome: r.outcome, version: r.active.version, policyVersion: r.active.policyVersion, sha256: r.active.hash, expiresAt: new Date(r.active.expiresAt).toISOString() };
    } else {
      throw new ZonegateError('ERR_BUNDLE_TYPE', `'${type.slice(0, 40)}' bundles are not imported by this command (policy and trust only)`);
    }
    // Only the daemon that wrote the pid file is signalled, never whatever process has that pid now.
    const d = await signalDaemonVerbose(config.stateDir);
    result.daemon = d.pid !== null ? `signalled (pid ${d.pid})` : d.why === 'no pid file' ? 'not running' : `not running (${d.why})`;
    if (ctx.json) { ctx.printJson(result); return 0; }
    if (result.outcome === 'trust-rotated' || result.outcome === 'trust-unchanged') {
      const t = result.trustRoot as { version: number; sha256: string };
      ctx.out(`${result.outcome === 'trust-unchanged' ? 'already active' : 'imported'}: trust root v${t.version} (${t.sha256.slice(0, 16)}) into ${config.stateDir}; daemon ${result.daemon as string}`);
    } else {
      ctx.out(`${result.outcome === 'unchanged' ? 'already active' : 'imported'}: policy ${result.policyVersion as string} into ${config.stateDir}, expires ${result.expiresAt as string}; daemon ${result.daemon as string}`);
    }
    return 0;
  },
};
