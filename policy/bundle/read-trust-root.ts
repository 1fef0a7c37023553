/**
 * Reads a provisioned trust root: a `trust` bundle signed by a threshold of its OWN root keys
 * (TUF spec section 5.3: the first root is trusted because it was provisioned, and must still be
 * self-consistent). Its expiry is not checked here: an expired root can still be rotated away
 * from, and verifyBundle refuses new bundles under it.
 */
import { ZonegateError } from '../errors';
import { decodeEnvelope } from './decode-envelope';
import { parseBody } from './parse-body';
import { trustRootFromBody } from './parse-trust';
import { verifyThreshold } from './verify-signatures';
import type { TrustRoot } from './types';

/** Decodes and self-verifies trust-root bytes; throws ERR_TRUST_ROOT (with the cause) on any failure. */
export function readTrustRoot(bytes: Uint8Array, opts: { maxBytes?: number } = {}): TrustRoot {
  try {
    const env = decodeEnvelope(bytes, { maxBytes: opts.maxBytes ?? 1024 * 1024 });
    if (env.type !== 'trust') throw new ZonegateError('ERR_BUNDLE_TYPE', `expected a 'trust' bundle, got '${env.type.slice(0, 40)}'`);
    const body = parseBody(env.body, 'trust');
    const root = trustRootFromBody(body, bytes);
    verifyThreshold({ body: env.body, signatures: env.signatures, role: root.roles.root, roleName: 'root', keys: root.keys, what: 'trust root' });
    return root;
  } catch (e) {
    if (e instanceof ZonegateError && e.code === 'ERR_TRUST_ROOT') throw e;
    throw new ZonegateError('ERR_TRUST_ROOT', `invalid trust root: ${(e as Error).message}`, { cause: e });
  }
}
