/**
 * Builds a signed bundle: the body is encoded once as CBOR (the profile devices accept) and each
 * key signs those exact bytes (ed25519, RFC 8032). The body is checked with the same parser a
 * device runs, so a signer cannot produce a bundle every device would refuse for its shape.
 */
import { ZonegateError } from '../errors';
import { encodeCbor } from './encode-cbor';
import { keyIdOf, signEd25519 } from './ed25519';
import { parseBody } from './parse-body';
import { BUNDLE_TYPES } from './types';
import type { BundleBody, BundleType, SigningKey } from './types';

export interface SignBundleInput {
  type: BundleType;
  body: BundleBody;
  keys: readonly SigningKey[];
}

/** Returns the envelope bytes. Throws ZonegateError ERR_BUNDLE_DECODE/ERR_BUNDLE_TYPE for a body a device would refuse. */
export function signBundle(input: SignBundleInput): Uint8Array {
  if (!BUNDLE_TYPES.includes(input.type)) throw new TypeError(`unknown bundle type ${input.type}`);
  if (input.keys.length === 0) throw new TypeError('signBundle needs at least one key');
  const body = encodeCbor(input.body, { what: 'bundle body' });
  parseBody(body, input.type);
  const signatures = input.keys.map((k) => ({ keyId: keyIdOf(k.publicKey), sig: signEd25519(k.seed, body) }));
  return encodeEnvelope({ type: input.type, body, signatures });
}

/** Encodes an envelope as is (tests use it to build hostile envelopes). */
export function encodeEnvelope(env: { type: string; body: Uint8Array; signatures: readonly { keyId: string; sig: Uint8Array }[] }): Uint8Array {
  try {
    return encodeCbor({ type: env.type, body: env.body, signatures: env.signatures.map((s) => ({ keyId: s.keyId, sig: s.sig })) }, { what: 'bundle' });
  } catch (e) {
    throw new ZonegateError('ERR_BUNDLE_DECODE', `cannot encode bundle: ${(e as Error).message}`, { cause: e });
  }
}
