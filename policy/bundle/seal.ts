/**
 * Sealed boxes for secrets inside a bundle (a user's TOTP seed, say) that only one device may
 * read: nacl.box (x25519 + xsalsa20-poly1305) from a fresh ephemeral key pair to the device's
 * box public key. Layout: ephemeral public key (32) ‖ nonce (24) ‖ box.
 */
import nacl from 'tweetnacl';
import { ZonegateError } from '../errors';

/** Encrypts `secret` so that only the holder of the device's box secret key can open it. */
export function sealToDevice(secret: Uint8Array, devicePublicBoxKey: Uint8Array): Uint8Array {
  if (devicePublicBoxKey.length !== nacl.box.publicKeyLength) throw new TypeError('a box public key is 32 bytes');
  const eph = nacl.box.keyPair();
  const nonce = nacl.randomBytes(nacl.box.nonceLength);
  const box = nacl.box(secret, nonce, devicePublicBoxKey, eph.secretKey);
  eph.secretKey.fill(0);
  const out = new Uint8Array(32 + 24 + box.length);
  out.set(eph.publicKey, 0); out.set(nonce, 32); out.set(box, 56);
  return out;
}

/** Opens a sealed box; throws ZonegateError ERR_BUNDLE_DECODE if it was not sealed to this key or was altered. */
export function openSealed(box: Uint8Array, deviceSecretBoxKey: Uint8Array): Uint8Array {
  if (deviceSecretBoxKey.length !== nacl.box.secretKeyLength) throw new TypeError('a box secret key is 32 bytes');
  if (box.length < 56 + nacl.box.overheadLength) throw new ZonegateError('ERR_BUNDLE_DECODE', 'sealed box is too short');
  const opened = nacl.box.open(box.subarray(56), box.subarray(32, 56), box.subarray(0, 32), deviceSecretBoxKey);
  if (!opened) throw new ZonegateError('ERR_BUNDLE_DECODE', 'sealed box does not open with this device key');
  return opened;
}

/** A device's box key pair (x25519), kept beside its signing key. */
export function boxKeyPair(): { publicKey: Uint8Array; secretKey: Uint8Array } {
  return nacl.box.keyPair();
}
