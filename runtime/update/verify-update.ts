/**
 * Checks a runtime update bundle before anything is unpacked (design.md "Signed bundles and the
 * trust root", in that order): size, decode, the `runtime` role's signature threshold, type,
 * site and device, validity window (verifyBundle), then the version strictly above the persisted
 * high-water mark (TUF spec 5.4: no rollback) and the architecture of this device.
 */
import { ZonegateError } from '../../policy/errors';
import { verifyBundle } from '../../policy/bundle/verify';
import type { RuntimePayload, TrustRoot, VerifiedBundle } from '../../policy/bundle/types';

export interface VerifyUpdateOptions {
  bytes: Uint8Array;
  trustRoot: TrustRoot;
  site: string;
  device: string;
  /** This device's package architecture (device-arch.ts). */
  arch: string;
  /** The persisted high-water mark of runtime bundle versions. */
  highWater: number;
  now: number;
}

/** A verified runtime update: the bundle and its payload. */
export interface VerifiedUpdate {
  bundle: VerifiedBundle;
  payload: RuntimePayload;
  version: number;
}

/** Returns the verified update or throws ZonegateError (the verifyBundle codes, ERR_BUNDLE_ROLLBACK, ERR_BUNDLE_TARGET). */
export function verifyUpdate(options: VerifyUpdateOptions): VerifiedUpdate {
  const bundle = verifyBundle(options.bytes, {
    trustRoot: options.trustRoot, expectType: 'runtime', site: options.site, device: options.device, now: options.now,
  });
  const payload = bundle.body.runtime;
  if (!payload) throw new ZonegateError('ERR_BUNDLE_DECODE', 'runtime bundle has no runtime payload');
  const version = bundle.body.version;
  if (version <= options.highWater) {
    throw new ZonegateError('ERR_BUNDLE_ROLLBACK', `runtime bundle v${version} is not newer than v${options.highWater}, the newest this device accepted; refused`);
  }
  if (payload.arch !== options.arch) {
    throw new ZonegateError('ERR_BUNDLE_TARGET', `runtime bundle v${version} is for ${payload.arch}, this device is ${options.arch}`);
  }
  return { bundle, payload, version };
}
