/**
 * The device's public key as operators and the fleet pin it: the file name the gateway writes it
 * under beside its private key (runtime/device-key.ts) and the reader that accepts it as SPKI PEM,
 * 64 hex digits or base64 of the 32 raw bytes, the form audit checkpoints carry.
 */
import { createPublicKey } from 'node:crypto';
import { ZonegateError } from '../policy/errors';
import { rawFromPublicKey } from './audit/checkpoint';

export const DEVICE_PUBLIC_KEY_FILE = 'device-key.pub';

/**
 * Reads a device public key for verification: an SPKI PEM (device-key.pub), or 32 raw bytes as
 * 64 hex digits or base64. Throws ERR_USAGE naming the file when it is none of these.
 */
export function parseDevicePublicKey(text: string, source: string): Buffer {
  const t = text.trim();
  if (t.startsWith('-----BEGIN')) {
    try {
      const k = createPublicKey(t);
      if (k.asymmetricKeyType === 'ed25519') return rawFromPublicKey(k);
    } catch { /* fall through to the error below */ }
  } else if (/^[0-9a-fA-F]{64}$/.test(t)) {
    return Buffer.from(t, 'hex');
  } else {
    const b = Buffer.from(t, 'base64');
    if (b.length === 32) return b;
  }
  throw new ZonegateError('ERR_USAGE', `${source} is not an ed25519 public key (SPKI PEM, 64 hex digits or base64 of 32 bytes)`);
}
