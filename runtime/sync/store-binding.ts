/**
 * Wires the sync to the gateway's PolicyStore (runtime/store): the store verifies and activates
 * what the sync hands it, and the status document reads the store's active policy, last error
 * and alarms. Grants go to the `grant` handler (the gateway passes access.acceptGrant, which
 * verifies them under the grant role); commands go to the `command` handler (the gateway passes
 * runtime/commands/command-handler.ts: verified under the command role, quarantine and users
 * applied through the access layer). A kind without a handler is refused with a clear error (and
 * shows in the status), never silently dropped.
 */
import { ZonegateError } from '../../policy/errors';
import type { PolicyStore } from '../store/policy-store';
import type { SyncHandlers, PayloadMeta } from './mqtt-sync';
import type { GatewayState } from '../../protocol/mqtt/status';

export interface StoreBindingOptions {
  store: PolicyStore;
  grant?: (bytes: Uint8Array, meta: PayloadMeta) => Promise<void>;
  command?: (bytes: Uint8Array, meta: PayloadMeta) => Promise<void>;
}

const unsupported = (kind: string) => async (): Promise<void> => {
  throw new ZonegateError('ERR_BUNDLE_TYPE', `this gateway has no ${kind} handler yet; the ${kind} bundle was not applied`);
};

/** Handlers that pass raw bytes to the store: policy → accept (source 'mqtt'), trust → acceptTrust. */
export function storeHandlers(options: StoreBindingOptions): SyncHandlers {
  const { store } = options;
  return {
    policy: async (bytes) => { await store.accept(bytes, { source: 'mqtt' }); },
    trust: async (bytes) => { await store.acceptTrust(bytes); },
    grant: options.grant ?? unsupported('grant'),
    command: options.command ?? unsupported('command'),
  };
}

/**
 * The status fields the store knows: active version, hash, expiry, alarms, last error.
 * `fileEnforcing`: a lab policyFile enforces while the store has nothing; then the status says
 * `unsigned-policy`, not `no-policy` (which would claim everything is denied).
 */
export function storeState(store: PolicyStore, o: { fileEnforcing?: () => boolean } = {}): () => GatewayState {
  return () => {
    const s = store.status();
    const alarms = [...new Set(s.alarms.map((a) => a.kind as string))];
    if (s.state === 'no-policy') alarms.push(o.fileEnforcing?.() ? 'unsigned-policy' : 'no-policy');
    if (s.state === 'expired-deny-all' && !alarms.includes('policy-expired')) alarms.push('policy-expired');
    return {
      policyVersion: s.active?.version ?? null,
      policyHash: s.active?.hash ?? null,
      policyExpiresAt: s.active?.expiresAt ?? null,
      alarms,
      lastError: s.lastError ? { at: s.lastError.at, code: String(s.lastError.code), message: s.lastError.message } : null,
    };
  };
}
