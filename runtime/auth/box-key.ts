/**
 * The device's box key pair (x25519, nacl.box) that the fleet seals secrets to (TOTP seeds of
 * users in bundles: policy/bundle/seal.ts). Kept in the state folder as `device-box.key` (32
 * secret bytes, hex, mode 0600 through the BlobStore) and made on first use; the public half is
 * what provisioning reads (`publicKey`, hex).
 */
import nacl from 'tweetnacl';
import { ZonegateError } from '../../policy/errors';
import type { BlobStore } from '../store/blob-store';

export const BOX_KEY_BLOB = 'device-box.key';

/** Loads or creates the box key pair. */
export async function loadOrCreateBoxKey(blobs: BlobStore): Promise<{ publicKey: Uint8Array; secretKey: Uint8Array; created: boolean }> {
  const raw = await blobs.read(BOX_KEY_BLOB);
  if (raw) {
    const hex = Buffer.from(raw).toString('utf8').trim();
    if (!/^[0-9a-f]{64}$/.test(hex)) throw new ZonegateError('ERR_STORAGE', `${BOX_KEY_BLOB} is not 64 hex digits`);
    const kp = nacl.box.keyPair.fromSecretKey(new Uint8Array(Buffer.from(hex, 'hex')));
    return { ...kp, created: false };
  }
  const kp = nacl.box.keyPair();
  await blobs.write(BOX_KEY_BLOB, Buffer.from(`${Buffer.from(kp.secretKey).toString('hex')}\n`));
  return { ...kp, created: true };
}
