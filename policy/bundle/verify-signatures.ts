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

/**
 * One ed25519 check that verifyThresholdSteps asks its driver to make; the driver answers with
 * the result (`steps.next(true|false)`): inline with answerSignatureCheck, or off the event loop
 * with node's asynchronous crypto.verify (runtime/store/async-signatures.ts). A 64-byte signature
 * over a 1.6 MB body costs about 2 ms either way; only where it runs differs.
 */
export interface SignatureCheck {
  readonly kind: 'ed25519';
  readonly key: KeyObject;
  readonly message: Uint8Array;
  readonly sig: Uint8Array;
}

/** The synchronous answer to a SignatureCheck (strict: non-canonical signatures fail). */
export function answerSignatureCheck(c: SignatureCheck): boolean {
  return verifyEd25519(c.key, c.message, c.sig);
}

/** Returns the distinct keyIds that signed validly; throws ERR_BUNDLE_SIGNATURE below threshold. */
export function verifyThreshold(input: ThresholdInput): string[] {
  const steps = verifyThresholdSteps(input);
  let r = steps.next();
  while (!r.done) r = steps.next(answerSignatureCheck(r.value));
  return r.value;
}

/**
 * verifyThreshold as a generator that yields each signature check instead of making it; a
 * missing or non-boolean answer counts as an invalid signature. Same result, same errors.
 */
export function* verifyThresholdSteps(input: ThresholdInput): Generator<SignatureCheck, string[], boolean | undefined> {
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
    const ok = s.sig.length === 64 && (yield { kind: 'ed25519', key: keyObjectFor(keys, s.keyId, raw), message: body, sig: s.sig }) === true;
    if (ok) good.add(s.keyId);
    else invalid += 1;
  }
  if (good.size < role.threshold) {
    throw new ZonegateError('ERR_BUNDLE_SIGNATURE',
      `${what}: ${good.size} valid signature(s) by '${roleName}' keys, ${role.threshold} required` +
      (invalid ? ` (${invalid} invalid signature(s))` : ''));
  }
  return [...good];
}
