/**
 * ed25519 with node:crypto (RFC 8032): KeyObjects from raw 32-byte keys through the fixed DER
 * prefixes of SPKI (RFC 8410 section 4) and PKCS#8 (RFC 8410 section 7), key ids, sign, verify.
 * node:crypto (OpenSSL) rejects non-canonical signatures (S ≥ L, RFC 8032 section 5.1.7), which
 * tweetnacl accepts; that is why devices verify here.
 */
import { Buffer } from 'node:buffer';
import { createHash, createPrivateKey, createPublicKey, sign as cryptoSign, verify as cryptoVerify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** keyId of a raw 32-byte public key: lower hex of the first 16 bytes of its sha256. */
export function keyIdOf(publicKey: Uint8Array): string {
  if (publicKey.length !== 32) throw new TypeError('an ed25519 public key is 32 bytes');
  return createHash('sha256').update(publicKey).digest('hex').slice(0, 32);
}

/** A node:crypto public KeyObject from a raw 32-byte key. */
export function publicKeyObject(publicKey: Uint8Array): KeyObject {
  if (publicKey.length !== 32) throw new TypeError('an ed25519 public key is 32 bytes');
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
}

/** A node:crypto private KeyObject from a raw 32-byte seed. */
export function privateKeyObject(seed: Uint8Array): KeyObject {
  if (seed.length !== 32) throw new TypeError('an ed25519 seed is 32 bytes');
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

/** The raw 32-byte public key of a seed. */
export function publicKeyOfSeed(seed: Uint8Array): Uint8Array {
  const spki = createPublicKey(privateKeyObject(seed)).export({ format: 'der', type: 'spki' });
  return new Uint8Array(spki.subarray(SPKI_PREFIX.length));
}

/** The 64-byte signature of `message` by `seed`. */
export function signEd25519(seed: Uint8Array, message: Uint8Array): Uint8Array {
  return new Uint8Array(cryptoSign(null, message, privateKeyObject(seed)));
}

/** True iff `sig` is a valid, canonical ed25519 signature of `message` by `key`. Never throws. */
export function verifyEd25519(key: KeyObject, message: Uint8Array, sig: Uint8Array): boolean {
  if (sig.length !== 64) return false;
  try { return cryptoVerify(null, message, key, sig); } catch { return false; }
}

/** Lower hex sha256 of bytes. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
