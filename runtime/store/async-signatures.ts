/**
 * Answers the signature checks of policy/bundle's step generators off the event loop: node's
 * crypto.verify with a callback runs on libuv's thread pool (Node >= 15.12), so the ~2 ms an
 * ed25519 check of a 1.6 MB body takes is not a stall for the proxies. Same strictness as the
 * synchronous answer: wrong length or any error is an invalid signature.
 */
import { verify as cryptoVerify } from 'node:crypto';
import type { SignatureCheck } from '../../policy/bundle/verify-signatures';

/** Resolves true when the signature verifies; never rejects. */
export function answerSignatureCheckAsync(c: SignatureCheck): Promise<boolean> {
  if (c.kind !== 'ed25519' || c.sig.length !== 64) return Promise.resolve(false);
  return new Promise((resolve) => {
    try {
      cryptoVerify(null, c.message, c.key, c.sig, (err, ok) => resolve(!err && ok === true));
    } catch {
      resolve(false);
    }
  });
}
