/**
 * Verifies a signed bundle, checking everything before believing anything (design.md "Signed
 * bundles and the trust root"; TUF spec section 5): size cap, envelope decode (bounded pre-scan),
 * signature threshold of the type's delegated role over the RAW body bytes, then the body:
 * type, target (site and device), validity window. Version/high-water checks belong to the store
 * that remembers versions.
 */
import { ZonegateError } from '../errors';
import { decodeEnvelope } from './decode-envelope';
import { sha256Hex } from './ed25519';
import { parseBody } from './parse-body';
import { verifyThreshold } from './verify-signatures';
import { BUNDLE_TYPES, ROLE_FOR_TYPE } from './types';
import type { BundleBody, BundleType, TrustRoot, VerifiedBundle } from './types';

export interface VerifyBundleOptions {
  trustRoot: TrustRoot;
  /** Refuse any other type (ERR_BUNDLE_TYPE). */
  expectType?: BundleType;
  /** This device's id: the bundle must target it or '*'. Undefined skips the device check. */
  device?: string;
  /** This device's site: the bundle must name it or '*'. Undefined skips the site check. */
  site?: string;
  /** Epoch ms. */
  now: number;
  maxBytes?: number;
  /** Skip the validity window of the bundle and the trust root (a store re-verifying what it activated before). */
  ignoreExpiry?: boolean;
}

/** Returns the verified bundle or throws ZonegateError (ERR_BUNDLE_SIZE, _DECODE, _SIGNATURE, _TYPE, _TARGET, _EXPIRED, ERR_TRUST_ROOT). */
export function verifyBundle(bytes: Uint8Array, opts: VerifyBundleOptions): VerifiedBundle {
  const steps = verifyBundleSteps(bytes, opts);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/**
 * verifyBundle in two slices: it yields once, after the envelope and the signatures were checked
 * and before the body is decoded (the longest part of a big bundle), then returns the same result
 * (or throws the same error) as verifyBundle. `bytes` must not change until it is done.
 */
export function* verifyBundleSteps(bytes: Uint8Array, opts: VerifyBundleOptions): Generator<void, VerifiedBundle, void> {
  const env = decodeEnvelope(bytes, { maxBytes: opts.maxBytes });
  if (!(BUNDLE_TYPES as readonly string[]).includes(env.type)) {
    throw new ZonegateError('ERR_BUNDLE_TYPE', `unknown bundle type '${env.type.slice(0, 40)}'`);
  }
  const type = env.type as BundleType;
  const root = opts.trustRoot;
  if (!opts.ignoreExpiry && opts.now >= root.expiresAt) {
    throw new ZonegateError('ERR_TRUST_ROOT', `the trust root v${root.version} expired at ${new Date(root.expiresAt).toISOString()}; rotate it`);
  }
  const roleName = ROLE_FOR_TYPE[type];
  const keyIds = verifyThreshold({ body: env.body, signatures: env.signatures, role: root.roles[roleName], roleName, keys: root.keys });
  yield;
  const body = parseBody(env.body, type);
  if (opts.expectType !== undefined && type !== opts.expectType) {
    throw new ZonegateError('ERR_BUNDLE_TYPE', `expected a '${opts.expectType}' bundle, got '${type}'`);
  }
  checkTarget(body, opts);
  if (!opts.ignoreExpiry) checkValidity(body, opts.now);
  return { type, body, bytes, keyIds, hash: sha256Hex(bytes) };
}

/** Throws ERR_BUNDLE_TARGET unless the body names this site (or '*') and this device (or '*'). */
export function checkTarget(body: BundleBody, where: { site?: string; device?: string }): void {
  if (where.site !== undefined && body.site !== '*' && body.site !== where.site) {
    throw new ZonegateError('ERR_BUNDLE_TARGET', `bundle is for site '${body.site}', this is '${where.site}'`);
  }
  if (where.device !== undefined && !body.targets.includes('*') && !body.targets.includes(where.device)) {
    throw new ZonegateError('ERR_BUNDLE_TARGET', `bundle targets ${body.targets.slice(0, 5).join(', ')}${body.targets.length > 5 ? ', ...' : ''}, not '${where.device}'`);
  }
}

/** Throws ERR_BUNDLE_EXPIRED when now ≥ expiresAt or now < notBefore. */
export function checkValidity(body: BundleBody, now: number): void {
  if (now >= body.expiresAt) {
    throw new ZonegateError('ERR_BUNDLE_EXPIRED', `bundle v${body.version} expired at ${new Date(body.expiresAt).toISOString()}`);
  }
  if (body.notBefore !== undefined && now < body.notBefore) {
    throw new ZonegateError('ERR_BUNDLE_EXPIRED', `bundle v${body.version} is not valid before ${new Date(body.notBefore).toISOString()}`);
  }
}
