/**
 * What the update commands need from a gateway config: device, site, state folder and the
 * current trust root (the persisted rotation or the provisioned file, runtime/store/trust-store.ts).
 */
import { promises as fsp } from 'node:fs';
import { ZonegateError } from '../../policy/errors';
import type { TrustRoot } from '../../policy/bundle/types';
import { loadConfig } from '../config';
import { FsBlobStore } from '../store/fs-blob-store';
import { TrustStore } from '../store/trust-store';

export interface UpdateContext {
  device: string;
  site: string;
  stateDir: string;
  trustRoot: () => TrustRoot;
}

/** Loads the config and opens the trust root (ERR_CONFIG_INVALID, ERR_TRUST_ROOT). */
export async function openUpdateContext(configFile: string): Promise<UpdateContext> {
  const config = await loadConfig(configFile);
  const path = config.parts.trustRootFile;
  let provisioned: Uint8Array | null = null;
  if (path) {
    try { provisioned = new Uint8Array(await fsp.readFile(path)); } catch (e) {
      throw new ZonegateError('ERR_TRUST_ROOT', `cannot read the trust root ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  const trust = await TrustStore.open({ blobs: await FsBlobStore.open({ dir: config.stateDir }), provisioned });
  return { device: config.device, site: config.site, stateDir: config.stateDir, trustRoot: () => trust.current() };
}

/** Only the state folder (status and commit need no trust root). */
export async function stateDirOf(configFile: string): Promise<string> {
  return (await loadConfig(configFile)).stateDir;
}
