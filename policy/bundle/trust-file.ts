/**
 * A trust-root file is either the raw CBOR envelope (root.cbor) or a JSON wrapper (root.json):
 * `{ "zonegateTrustRoot": 1, "bundle": "<base64 of the exact envelope bytes>", "root": {...} }`
 * where `root` is a readable copy for people and is never read back: only `bundle` is verified.
 */
import { Buffer } from 'node:buffer';
import { ZonegateError } from '../errors';
import type { TrustRoot } from './types';

/** The envelope bytes inside a trust-root file's bytes (CBOR as is, or the JSON wrapper's bundle). */
export function trustFileBytes(file: Uint8Array): Uint8Array {
  let i = 0;
  while (i < file.length && (file[i] === 0x20 || file[i] === 0x0a || file[i] === 0x0d || file[i] === 0x09)) i++;
  if (file[i] !== 0x7b) return file; // not '{': raw CBOR
  let doc: unknown;
  try { doc = JSON.parse(Buffer.from(file).toString('utf8')); } catch (e) {
    throw new ZonegateError('ERR_TRUST_ROOT', `trust root file is not valid JSON: ${(e as Error).message}`);
  }
  const b = (doc as { bundle?: unknown } | null)?.bundle;
  if (typeof b !== 'string' || (doc as { zonegateTrustRoot?: unknown }).zonegateTrustRoot !== 1) {
    throw new ZonegateError('ERR_TRUST_ROOT', 'trust root JSON needs "zonegateTrustRoot": 1 and a base64 "bundle"');
  }
  return new Uint8Array(Buffer.from(b, 'base64'));
}

/** The JSON wrapper text of a trust root (exact bytes in base64, plus a readable summary). */
export function trustFileJson(root: TrustRoot): string {
  const roles: Record<string, unknown> = {};
  for (const [name, r] of Object.entries(root.roles)) if (r) roles[name] = { keyIds: r.keyIds, threshold: r.threshold };
  const keys: Record<string, unknown> = {};
  for (const [id, k] of root.keys) keys[id] = { publicKey: Buffer.from(k).toString('hex') };
  return `${JSON.stringify({
    zonegateTrustRoot: 1,
    bundle: Buffer.from(root.bytes).toString('base64'),
    root: { version: root.version, issuedAt: new Date(root.issuedAt).toISOString(), expiresAt: new Date(root.expiresAt).toISOString(), keys, roles, sha256: root.hash },
  }, null, 2)}\n`;
}
