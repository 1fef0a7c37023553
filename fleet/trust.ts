/**
 * Builds trust roots (TUF root.json, spec section 4.3) as signed `trust` bundles: root keys and
 * threshold, delegated roles `policy`, `grant`, `command`, `runtime` with their keys and
 * thresholds, a version and an expiry. A first root is signed by a threshold of its own root keys;
 * a rotation (version + 1) by a threshold of the old root's AND of the new root's root keys.
 */
import { ZonegateError } from '../policy/errors';
import { keyIdOf } from '../policy/bundle/ed25519';
import { signBundle } from '../policy/bundle/sign';
import { readTrustRoot } from '../policy/bundle/read-trust-root';
import { verifyRootRotation } from '../policy/bundle/verify-root-rotation';
import type { RoleName, SigningKey, TrustPayload, TrustRoot } from '../policy/bundle/types';

export interface RoleKeys {
  publicKeys: readonly Uint8Array[];
  threshold: number;
}

export interface TrustRootSpec {
  version: number;
  issuedAt: number;
  expiresAt: number;
  roles: { root: RoleKeys; policy: RoleKeys } & Partial<Record<Exclude<RoleName, 'root' | 'policy'>, RoleKeys>>;
}

/** The trust payload of a spec (keys deduplicated across roles). */
export function trustPayload(spec: TrustRootSpec): TrustPayload {
  const keys: Record<string, { publicKey: string }> = {};
  const roles: Record<string, { keyIds: string[]; threshold: number }> = {};
  for (const [name, r] of Object.entries(spec.roles)) {
    if (!r) continue;
    const ids = [...new Set(r.publicKeys.map((pk) => {
      const id = keyIdOf(pk);
      keys[id] = { publicKey: Buffer.from(pk).toString('hex') };
      return id;
    }))];
    if (!Number.isSafeInteger(r.threshold) || r.threshold < 1 || r.threshold > ids.length) {
      throw new ZonegateError('ERR_USAGE', `the ${name} role has ${ids.length} distinct key(s); its threshold must be 1..${ids.length}, not ${r.threshold}`);
    }
    roles[name] = { keyIds: ids, threshold: r.threshold };
  }
  return { keys, roles: roles as TrustPayload['roles'] };
}

/** Signs a root described by spec with `signers`, then reads it back as a device would. */
export function buildTrustRoot(opts: { spec: TrustRootSpec; signers: readonly SigningKey[] }): Uint8Array {
  const bytes = signBundle({
    type: 'trust',
    body: { site: '*', targets: ['*'], version: opts.spec.version, issuedAt: opts.spec.issuedAt, expiresAt: opts.spec.expiresAt, trust: trustPayload(opts.spec) },
    keys: opts.signers,
  });
  return bytes;
}

/** A first root: version 1 unless given, checked self-signed to threshold. */
export function createTrustRoot(opts: { spec: TrustRootSpec; signers: readonly SigningKey[] }): TrustRoot {
  return readTrustRoot(buildTrustRoot(opts));
}

/** A rotation of `old` (spec.version must be old.version + 1), checked as a device would check it. */
export function rotateTrustRoot(opts: { old: TrustRoot; spec: TrustRootSpec; signers: readonly SigningKey[]; now: number }): TrustRoot {
  return verifyRootRotation({ oldRoot: opts.old, bytes: buildTrustRoot(opts), now: opts.now });
}

/** The spec of an existing root (to carry roles over into a rotation). */
export function specOf(root: TrustRoot): TrustRootSpec {
  const role = (name: RoleName): RoleKeys | undefined => {
    const r = root.roles[name];
    return r ? { publicKeys: r.keyIds.map((id) => root.keys.get(id) as Uint8Array), threshold: r.threshold } : undefined;
  };
  const roles = { root: role('root') as RoleKeys, policy: role('policy') as RoleKeys } as TrustRootSpec['roles'];
  for (const n of ['grant', 'command', 'runtime'] as const) { const r = role(n); if (r) roles[n] = r; }
  return { version: root.version, issuedAt: root.issuedAt, expiresAt: root.expiresAt, roles };
}
