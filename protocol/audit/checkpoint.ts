/**
 * Signing and checking audit checkpoints with ed25519 (node:crypto). Protocol code: the fleet
 * uses verifyCheckpoint and publicKeyFromRaw to check uploaded logs.
 */
import { createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { checkpointMessage, type CheckpointBody } from './record';

// RFC 8410 §4: SubjectPublicKeyInfo of an Ed25519 key is this prefix followed by the 32 raw bytes.
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** The KeyObject of a raw 32-byte ed25519 public key; throws TypeError on a wrong length. */
export function publicKeyFromRaw(raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new TypeError(`ed25519 public key must be 32 bytes, got ${raw.length}`);
  return createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

/** The raw 32 bytes of an ed25519 public KeyObject. */
export function rawFromPublicKey(key: KeyObject): Buffer {
  const der = key.export({ format: 'der', type: 'spki' });
  return Buffer.from(der.subarray(der.length - 32));
}

/** Signs a checkpoint of the chain head with the device key. */
export function signCheckpoint(c: { device: string; seq: number; head: Uint8Array; at: number }, key: { privateKey: KeyObject; publicRaw: Uint8Array }): CheckpointBody {
  const sig = sign(null, checkpointMessage(c), key.privateKey);
  return { device: c.device, key: key.publicRaw, seq: c.seq, head: c.head, at: c.at, sig };
}

/** True when the checkpoint's signature verifies under `publicRaw` (32 raw bytes). Never throws. */
export function verifyCheckpoint(c: CheckpointBody, publicRaw: Uint8Array): boolean {
  try {
    if (!(c.sig instanceof Uint8Array) || c.sig.length !== 64) return false;
    return verify(null, checkpointMessage(c), publicKeyFromRaw(publicRaw), c.sig);
  } catch {
    return false;
  }
}
