/**
 * The fleet's ed25519 signing keys as files. A key pair is two JSON files:
 * `NAME.key` (mode 0600) `{ "type": "zonegate-ed25519-private", "keyId", "publicKey", "seed" }` and
 * `NAME.pub` `{ "type": "zonegate-ed25519-public", "keyId", "publicKey" }`, hex-encoded raw keys.
 * The keyId is policy/bundle's keyIdOf (first 16 bytes of sha256 of the raw public key, in hex).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ZonegateError } from '../policy/errors';
import { keyIdOf, publicKeyOfSeed } from '../policy/bundle/ed25519';
import type { SigningKey } from '../policy/bundle/types';

/** A key read from a file: always the public part, the seed only from a private key file. */
export interface KeyFile {
  keyId: string;
  publicKey: Uint8Array;
  seed?: Uint8Array;
  file: string;
}

/** A fresh random signing key. */
export function generateSigningKey(): SigningKey {
  const seed = new Uint8Array(randomBytes(32));
  return { seed, publicKey: publicKeyOfSeed(seed) };
}

/** Writes NAME.key (0600, refusing to overwrite) and NAME.pub into dir; returns their paths and keyId. */
export async function writeKeyPair(opts: { dir: string; name: string; key: SigningKey }): Promise<{ keyId: string; privateFile: string; publicFile: string }> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(opts.name)) throw new ZonegateError('ERR_USAGE', `key name '${opts.name}' must be letters, digits, '.', '_' or '-'`);
  const keyId = keyIdOf(opts.key.publicKey);
  const publicKey = Buffer.from(opts.key.publicKey).toString('hex');
  await fsp.mkdir(opts.dir, { recursive: true });
  const privateFile = join(opts.dir, `${opts.name}.key`);
  const publicFile = join(opts.dir, `${opts.name}.pub`);
  try {
    await fsp.writeFile(privateFile, `${JSON.stringify({ type: 'zonegate-ed25519-private', keyId, publicKey, seed: Buffer.from(opts.key.seed).toString('hex') }, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new ZonegateError('ERR_USAGE', `${privateFile} exists; refusing to overwrite a key`);
    throw e;
  }
  await fsp.chmod(privateFile, 0o600);
  await fsp.writeFile(publicFile, `${JSON.stringify({ type: 'zonegate-ed25519-public', keyId, publicKey }, null, 2)}\n`);
  return { keyId, privateFile, publicFile };
}

/**
 * The git work tree a path lies in (the nearest folder upwards holding `.git`), or null. A private
 * key written there is one `git add -A` away from a public repository.
 */
export function gitWorkTreeOf(path: string): string | null {
  for (let dir = resolve(path); ; dir = dirname(dir)) {
    if (existsSync(join(dir, '.git'))) return dir;
    if (dirname(dir) === dir) return null;
  }
}

/** Reads a .key or .pub file; throws ZonegateError ERR_USAGE naming the file when it is not one. */
export async function readKeyFile(file: string): Promise<KeyFile> {
  let text: string;
  try { text = await fsp.readFile(file, 'utf8'); } catch (e) {
    throw new ZonegateError('ERR_USAGE', `cannot read key file ${file}: ${(e as Error).message}`);
  }
  const bad = (msg: string): never => { throw new ZonegateError('ERR_USAGE', `${file} is not a zonegate key file: ${msg}`); };
  let doc: Record<string, unknown>;
  try { doc = JSON.parse(text) as Record<string, unknown>; } catch { return bad('not JSON'); }
  if (doc.type !== 'zonegate-ed25519-private' && doc.type !== 'zonegate-ed25519-public') bad(`unknown type ${String(doc.type)}`);
  if (typeof doc.publicKey !== 'string' || !/^[0-9a-f]{64}$/.test(doc.publicKey)) bad('publicKey is not 64 hex digits');
  const publicKey = new Uint8Array(Buffer.from(doc.publicKey as string, 'hex'));
  const keyId = keyIdOf(publicKey);
  if (doc.keyId !== undefined && doc.keyId !== keyId) bad('keyId does not match the public key');
  if (doc.type === 'zonegate-ed25519-public') return { keyId, publicKey, file };
  if (typeof doc.seed !== 'string' || !/^[0-9a-f]{64}$/.test(doc.seed)) return bad('seed is not 64 hex digits');
  const seed = new Uint8Array(Buffer.from(doc.seed, 'hex'));
  if (Buffer.compare(Buffer.from(publicKeyOfSeed(seed)), Buffer.from(publicKey)) !== 0) bad('seed does not match publicKey');
  return { keyId, publicKey, seed, file };
}

/** The signing key of a private key file; throws ERR_USAGE for a public one. */
export function signingKeyOf(k: KeyFile): SigningKey {
  if (!k.seed) throw new ZonegateError('ERR_USAGE', `${k.file} is a public key; signing needs the .key file`);
  return { seed: k.seed, publicKey: k.publicKey };
}
