/**
 * Reads a trust bundle's payload (TUF root.json `keys` and `roles`, spec section 4.3): every key
 * is a raw ed25519 public key whose keyId must match its hash; every role lists known keyIds and a
 * threshold 1 ≤ t ≤ |keyIds|. The `root` and `policy` roles are required; `grant`, `command`,
 * `runtime` may be absent, and bundles of those types then never verify.
 */
import { Buffer } from 'node:buffer';
import { ZonegateError } from '../errors';
import { keyIdOf, sha256Hex } from './ed25519';
import { isMap } from './decode-envelope';
import type { CborValue } from './decode-cbor';
import { ROLE_NAMES } from './types';
import type { BundleBody, RoleName, RoleSpec, TrustRoles, TrustRoot } from './types';

/** Builds a TrustRoot from a verified trust body; throws ERR_TRUST_ROOT on a malformed payload. */
export function trustRootFromBody(body: BundleBody, bytes: Uint8Array): TrustRoot {
  const bad = (msg: string): never => { throw new ZonegateError('ERR_TRUST_ROOT', `trust root: ${msg}`); };
  const t = body.trust as unknown as CborValue;
  if (!isMap(t)) return bad('no trust payload');
  if (!isMap(t.keys)) return bad('keys is not a map');
  if (!isMap(t.roles)) return bad('roles is not a map');
  const keys = new Map<string, Uint8Array>();
  for (const [id, k] of Object.entries(t.keys)) {
    if (!isMap(k) || typeof k.publicKey !== 'string' || !/^[0-9a-f]{64}$/.test(k.publicKey)) bad(`keys.${id}.publicKey is not 64 lower-case hex digits`);
    const raw = new Uint8Array(Buffer.from((k as { publicKey: string }).publicKey, 'hex'));
    if (keyIdOf(raw) !== id) bad(`keys.${id} does not match the hash of its public key`);
    keys.set(id, raw);
  }
  const roles: Partial<Record<RoleName, RoleSpec>> = {};
  for (const name of Object.keys(t.roles)) {
    if (!(ROLE_NAMES as readonly string[]).includes(name)) bad(`unknown role '${name}'`);
    const r = t.roles[name];
    if (!isMap(r) || !Array.isArray(r.keyIds) || typeof r.threshold !== 'number') return bad(`roles.${name} needs keyIds and threshold`);
    const ids = r.keyIds as CborValue[];
    if (ids.length === 0) bad(`roles.${name}.keyIds is empty`);
    const uniq = new Set<string>();
    for (const id of ids) {
      if (typeof id !== 'string' || !keys.has(id)) bad(`roles.${name}.keyIds names unknown key ${String(id)}`);
      if (uniq.has(id as string)) bad(`roles.${name}.keyIds lists ${String(id)} twice`);
      uniq.add(id as string);
    }
    const th = r.threshold as number;
    if (!Number.isSafeInteger(th) || th < 1 || th > ids.length) bad(`roles.${name}.threshold must be 1..${ids.length}`);
    roles[name as RoleName] = { keyIds: ids as string[], threshold: th };
  }
  if (!roles.root) bad('the root role is required');
  if (!roles.policy) bad('the policy role is required');
  return {
    version: body.version, issuedAt: body.issuedAt, expiresAt: body.expiresAt,
    keys, roles: roles as TrustRoles, bytes, hash: sha256Hex(bytes),
  };
}
