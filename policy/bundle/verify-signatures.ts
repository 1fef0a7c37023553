/**
 * Counts the signatures over the raw body bytes that a role's threshold needs (TUF spec section
 * 5.3.4 / 5.4: a threshold of distinct keys of the role). Signatures by keys outside the role are
 * ignored; several signatures with the same keyId count once (and only the keyId identifies a
 * signer: signature bytes are malleable in other verifiers and never used as identifiers).
 */
import { ZonegateError } from '../errors';
import { publicKeyObject, verifyEd25519 } from './ed25519';
import type { KeyObject } from 'node:crypto';
import type { BundleSignature, RoleName, RoleSpec } from './types';

// KeyObjects built once per trust root's key map (createPublicKey per verify cost ~8% of an
// accept). Weak, so a rotated-away root's keys go with it; the raw keys of a parsed root are
// never mutated.
const keyObjects = new WeakMap<ReadonlyMap<string, Uint8Array>, Map<string, KeyObject>>();

function keyObjectFor(keys: ReadonlyMap<string, Uint8Array>, keyId: string, raw: Uint8Array): KeyObject {
  let m = keyObjects.get(keys);
  if (!m) { m = new Map(); keyObjects.set(keys, m); }
  let k = m.get(keyId);
  if (!k) { k = publicKeyObject(raw); m.set(keyId, k); }
  return k;
}

export interface ThresholdInput {
  body: Uint8Array;
  signatures: readonly BundleSignature[];
  /** The role's spec, or undefined when the trust root delegates nothing for it. */
  role: RoleSpec | undefined;
  roleName: RoleName;
  /** keyId → raw 32-byte public key, from the trust root. */
  keys: ReadonlyMap<string, Uint8Array>;
  /** "bundle", "new trust root", ... for messages. */
  what?: string;
}

/** Returns the distinct keyIds that signed validly; throws ERR_BUNDLE_SIGNATURE below threshold. */
export function verifyThreshold(input: ThresholdInput): string[] {
  const { body, signatures, role, roleName, keys } = input;
  const what = input.what ?? 'bundle';
  if (!role || role.keyIds.length === 0) {
    throw new ZonegateError('ERR_BUNDLE_SIGNATURE', `${what}: the trust root delegates no keys for the '${roleName}' role`);
  }
  const inRole = new Set(role.keyIds);
  const good = new Set<string>();
  let invalid = 0;
  for (const s of signatures) {
    if (!inRole.has(s.keyId) || good.has(s.keyId)) continue;
    const raw = keys.get(s.keyId);
    if (!raw) continue;
    if (verifyEd25519(keyObjectFor(keys, s.keyId, raw), body, s.sig)) good.add(s.keyId);
    else invalid += 1;
  }
  if (good.size < role.threshold) {
    throw new ZonegateError('ERR_BUNDLE_SIGNATURE',
      `${what}: ${good.size} valid signature(s) by '${roleName}' keys, ${role.threshold} required` +
      (invalid ? ` (${invalid} invalid signature(s))` : ''));
  }
  return [...good];
}
