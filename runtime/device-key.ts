/**
 * The device's own ed25519 key: created on first start in the state folder and kept there.
 * `device-key.pem` holds the private key (PKCS#8 PEM, mode 0600), `device-key.pub` the public
 * key (SPKI PEM, 0644) for operators and the fleet to pin. Both are written the power-loss-safe
 * way: temp file in the same folder, fsync, rename, fsync of the folder.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { ZonegateError } from '../policy/errors';
import { rawFromPublicKey } from '../protocol/audit/checkpoint';
import { writeFileAtomic } from '../protocol/write-atomic';
import { DEVICE_PUBLIC_KEY_FILE } from '../protocol/device-public-key';

export const DEVICE_KEY_FILE = 'device-key.pem';

export interface DeviceKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** Raw 32-byte public key, as checkpoints carry it. */
  publicRaw: Buffer;
  /** First 16 hex digits of SHA-256 of publicRaw. */
  keyId: string;
  /** True when this call created the key. */
  created: boolean;
}

/**
 * Loads the device key from `stateDir`, creating it if absent. Rejects with ERR_STORAGE when the
 * key file exists but is not an ed25519 private key, or is readable by group or others.
 */
export async function loadOrCreateDeviceKey(options: { stateDir: string }): Promise<DeviceKey> {
  const path = join(options.stateDir, DEVICE_KEY_FILE);
  let pem: string | null = null;
  try {
    const st = await fsp.stat(path);
    if ((st.mode & 0o077) !== 0) {
      throw new ZonegateError('ERR_STORAGE', `${path} is readable by others (mode ${(st.mode & 0o777).toString(8)}); expected 600`);
    }
    pem = await fsp.readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (pem !== null) {
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey(pem);
    } catch (e) {
      throw new ZonegateError('ERR_STORAGE', `${path} is not a private key`, { cause: e });
    }
    if (privateKey.asymmetricKeyType !== 'ed25519') throw new ZonegateError('ERR_STORAGE', `${path} is a ${privateKey.asymmetricKeyType} key, not ed25519`);
    const publicKey = createPublicKey(privateKey);
    const pubPath = join(options.stateDir, DEVICE_PUBLIC_KEY_FILE);
    const pubPem = publicKey.export({ format: 'pem', type: 'spki' }) as string;
    const onDisk = await fsp.readFile(pubPath, 'utf8').catch(() => null);
    if (onDisk !== pubPem) await writeFileAtomic(options.stateDir, DEVICE_PUBLIC_KEY_FILE, pubPem, 0o644);
    return describe(privateKey, publicKey, false);
  }
  await fsp.mkdir(options.stateDir, { recursive: true, mode: 0o700 });
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  await writeFileAtomic(options.stateDir, DEVICE_KEY_FILE, privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, 0o600);
  await writeFileAtomic(options.stateDir, DEVICE_PUBLIC_KEY_FILE, publicKey.export({ format: 'pem', type: 'spki' }) as string, 0o644);
  return describe(privateKey, publicKey, true);
}

function describe(privateKey: KeyObject, publicKey: KeyObject, created: boolean): DeviceKey {
  const publicRaw = rawFromPublicKey(publicKey);
  return { privateKey, publicKey, publicRaw, keyId: createHash('sha256').update(publicRaw).digest('hex').slice(0, 16), created };
}
