/**
 * Accepts a new trust root only when (TUF spec section 5.3.4–5.3.5): it is a `trust` bundle signed
 * by a threshold of the OLD root's root keys AND a threshold of its own root keys, its version is
 * exactly old + 1, and it has not expired. The old root may itself have expired (a device that was
 * offline past the expiry must still be able to rotate).
 */
import { ZonegateError } from '../errors';
import { decodeEnvelope } from './decode-envelope';
import { parseBody } from './parse-body';
import { trustRootFromBody } from './parse-trust';
import { verifyThreshold } from './verify-signatures';
import { checkTarget } from './verify';
import type { TrustRoot } from './types';

export interface RootRotationInput {
  oldRoot: TrustRoot;
  bytes: Uint8Array;
  /** Epoch ms. */
  now: number;
  maxBytes?: number;
  /** This device's site and id: a rotation that names others is refused (ERR_BUNDLE_TARGET). */
  site?: string;
  device?: string;
}

/** Returns the new root or throws (ERR_TRUST_ROOT for version/expiry, ERR_BUNDLE_* for the envelope). */
export function verifyRootRotation(input: RootRotationInput): TrustRoot {
  const { oldRoot, bytes, now } = input;
  const env = decodeEnvelope(bytes, { maxBytes: input.maxBytes ?? 1024 * 1024 });
  if (env.type !== 'trust') throw new ZonegateError('ERR_BUNDLE_TYPE', `expected a 'trust' bundle, got '${env.type.slice(0, 40)}'`);
  verifyThreshold({ body: env.body, signatures: env.signatures, role: oldRoot.roles.root, roleName: 'root', keys: oldRoot.keys, what: `new trust root (old root v${oldRoot.version} keys)` });
  const body = parseBody(env.body, 'trust');
  checkTarget(body, { site: input.site, device: input.device });
  const next = trustRootFromBody(body, bytes);
  verifyThreshold({ body: env.body, signatures: env.signatures, role: next.roles.root, roleName: 'root', keys: next.keys, what: 'new trust root (its own root keys)' });
  if (next.version !== oldRoot.version + 1) {
    throw new ZonegateError('ERR_TRUST_ROOT', `new trust root is v${next.version}, expected exactly v${oldRoot.version + 1}`);
  }
  if (now >= next.expiresAt) {
    throw new ZonegateError('ERR_TRUST_ROOT', `new trust root v${next.version} expired at ${new Date(next.expiresAt).toISOString()}`);
  }
  return next;
}
