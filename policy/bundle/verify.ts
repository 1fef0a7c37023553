/**
 * Verifies a signed bundle, checking everything before believing anything (design.md "Signed
 * bundles and the trust root"; TUF spec section 5): size cap, envelope decode (bounded pre-scan),
 * signature threshold of the type's delegated role over the RAW body bytes, then the body:
 * type, target (site and device), validity window. Version/high-water checks belong to the store
 * that remembers versions.
 */
import { ZonegateError } from '../errors';
import { decodeEnvelope } from './decode-envelope';
import { createHash } from 'node:crypto';
import { parseBodySteps } from './parse-body';
import { answerSignatureCheck, verifyThresholdSteps } from './verify-signatures';
import type { SignatureCheck } from './verify-signatures';
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

/** Bytes hashed between two yields of verifyBundleSteps. */
const HASH_SLICE = 256 * 1024;

/** Returns the verified bundle or throws ZonegateError (ERR_BUNDLE_SIZE, _DECODE, _SIGNATURE, _TYPE, _TARGET, _EXPIRED, ERR_TRUST_ROOT). */
export function verifyBundle(bytes: Uint8Array, opts: VerifyBundleOptions): VerifiedBundle {
  const steps = verifyBundleSteps(bytes, opts);
  let r = steps.next();
  while (!r.done) r = steps.next(r.value ? answerSignatureCheck(r.value) : undefined);
  return r.value;
}

/**
 * verifyBundle in slices: it yields after the envelope decode, each signature check as a
 * SignatureCheck for the driver to answer (next(true|false); see verify-signatures.ts), while the
 * body is decoded (parseBodySteps, every DECODE_SLICE items) and while the bytes are hashed
 * (every HASH_SLICE bytes), then returns the same result (or throws the same error) as
 * verifyBundle. A plain yield (undefined) only asks for a turn of the loop. `bytes` must not
 * change until it is done.
 */
export function* verifyBundleSteps(bytes: Uint8Array, opts: VerifyBundleOptions): Generator<SignatureCheck | undefined, VerifiedBundle, boolean | undefined> {
  const env = decodeEnvelope(bytes, { maxBytes: opts.maxBytes });
  yield;
  if (!(BUNDLE_TYPES as readonly string[]).includes(env.type)) {
    throw new ZonegateError('ERR_BUNDLE_TYPE', `unknown bundle type '${env.type.slice(0, 40)}'`);
  }
  const type = env.type as BundleType;
  const root = opts.trustRoot;
  if (!opts.ignoreExpiry && opts.now >= root.expiresAt) {
    throw new ZonegateError('ERR_TRUST_ROOT', `the trust root v${root.version} expired at ${new Date(root.expiresAt).toISOString()}; rotate it`);
  }
  const roleName = ROLE_FOR_TYPE[type];
  const keyIds = yield* verifyThresholdSteps({ body: env.body, signatures: env.signatures, role: root.roles[roleName], roleName, keys: root.keys });
  yield;
  const body = yield* parseBodySteps(env.body, type);
  if (opts.expectType !== undefined && type !== opts.expectType) {
    throw new ZonegateError('ERR_BUNDLE_TYPE', `expected a '${opts.expectType}' bundle, got '${type}'`);
  }
  checkTarget(body, opts);
  if (!opts.ignoreExpiry) checkValidity(body, opts.now);
  // The content hash in pieces too (a 10,000-conduit bundle is 1.6 MB, about 1 ms to hash).
  const h = createHash('sha256');
  for (let off = 0; off < bytes.length; off += HASH_SLICE) {
    h.update(bytes.subarray(off, Math.min(bytes.length, off + HASH_SLICE)));
    if (off + HASH_SLICE < bytes.length) yield;
  }
  return { type, body, bytes, keyIds, hash: h.digest('hex') };
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
