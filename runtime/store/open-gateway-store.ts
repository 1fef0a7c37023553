/**
 * Opens the policy store of a gateway from its config: the state folder (`stateDir`), the device
 * and site, and the provisioned trust root (the config's `trustRoot: { file }`, read at load into
 * `parts.trustRootFile`, runtime/config/blocks.ts).
 */
import { promises as fsp } from 'node:fs';
import { ZonegateError } from '../../policy/errors';
import type { PolicyIndex } from '../../policy/compile';
import type { AuditSink } from '../../drivers/types';
import type { GatewayConfig } from '../config';
import { FsBlobStore } from './fs-blob-store';
import { TrustStore } from './trust-store';
import { PolicyStore, type StoreEventBus } from './policy-store';

/**
 * Opens (and boots) the store of this gateway; `activate` receives every index change. `listen`
 * runs before boot, so that what boot finds (a corrupt or rolled-back file: alarms, the activation
 * from disk) reaches the caller's handlers too.
 */
export async function openGatewayStore(opts: {
  config: Pick<GatewayConfig, 'stateDir' | 'device' | 'site'> & { parts: Pick<GatewayConfig['parts'], 'trustRootFile'> };
  now: () => number;
  audit?: AuditSink;
  activate?: (index: PolicyIndex | null) => void;
  listen?: (store: PolicyStore) => void;
  /** Where the store's events go (the daemon's bus); handlers registered there before the call hear boot too. */
  bus?: StoreEventBus;
}): Promise<PolicyStore> {
  const { config } = opts;
  const path = config.parts.trustRootFile;
  let provisioned: Uint8Array | null = null;
  if (path) {
    try { provisioned = new Uint8Array(await fsp.readFile(path)); } catch (e) {
      throw new ZonegateError('ERR_TRUST_ROOT', `cannot read the trust root ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  const blobs = await FsBlobStore.open({ dir: config.stateDir });
  const trust = await TrustStore.open({ blobs, provisioned });
  const store = new PolicyStore({ blobs, trust, device: config.device, site: config.site, now: opts.now, audit: opts.audit, activate: opts.activate, ...(opts.bus ? { bus: opts.bus } : {}) });
  opts.listen?.(store);
  await store.boot();
  return store;
}
