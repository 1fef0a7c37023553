/**
 * Opens the policy store of a gateway from its config: the state folder (`stateDir`), the device
 * and site, and the provisioned trust root. The config's `trustRoot` block is a mapping
 * `{ file: PATH }` (PATH relative to the config file's folder); runtime/config.ts reserves
 * `trustRoot` as a mapping, so the plain `trustRoot: PATH` form is not used.
 */
import { promises as fsp } from 'node:fs';
import { resolve } from 'node:path';
import { ZonegateError } from '../../policy/errors';
import type { PolicyIndex } from '../../policy/compile';
import type { AuditSink } from '../../drivers/types';
import type { GatewayConfig } from '../config';
import { FsBlobStore } from './fs-blob-store';
import { TrustStore } from './trust-store';
import { PolicyStore, type StoreEventBus } from './policy-store';

/** The provisioned trust root's absolute path from the config, or null when none is configured. */
export function trustRootPath(config: Pick<GatewayConfig, 'dir' | 'reserved'>): string | null {
  const block = config.reserved.trustRoot;
  if (!block) return null;
  const file = block.file;
  if (typeof file !== 'string' || file === '') {
    throw new ZonegateError('ERR_CONFIG_INVALID', 'trustRoot.file must name the provisioned trust root file (root.json or root.cbor)');
  }
  return resolve(config.dir, file);
}

/**
 * Opens (and boots) the store of this gateway; `activate` receives every index change. `listen`
 * runs before boot, so that what boot finds (a corrupt or rolled-back file: alarms, the activation
 * from disk) reaches the caller's handlers too.
 */
export async function openGatewayStore(opts: {
  config: Pick<GatewayConfig, 'dir' | 'reserved' | 'stateDir' | 'device' | 'site'>;
  now: () => number;
  audit?: AuditSink;
  activate?: (index: PolicyIndex | null) => void;
  listen?: (store: PolicyStore) => void;
  /** Where the store's events go (the daemon's bus); handlers registered there before the call hear boot too. */
  bus?: StoreEventBus;
}): Promise<PolicyStore> {
  const { config } = opts;
  const path = trustRootPath(config);
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
