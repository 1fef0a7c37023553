/**
 * Users that arrive signed inside a bundle (a `users` list in a `command` bundle's payload, or in
 * a policy bundle's companion command): `{ name, role, passwordHash, totpSealed? }`. The password
 * is only ever an argon2id PHC string with at least this gateway's parameters; a TOTP seed is
 * sealed to this device's box key (policy/bundle/seal.ts: sealToDevice) as bytes (CBOR bstr) or
 * base64 text, and opened here. Nothing is applied unless every entry is valid.
 *
 * Plugs in where the gateway accepts `command` bundles (after verifyBundle with expectType
 * 'command'): `acceptBundleUsers({ list: body.command.users, ... })` then
 * `UserStore.replaceBundleUsers(records)`; attachAccess exposes it as `access.acceptUsers`.
 */
import { ZonegateError } from '../../policy/errors';
import { openSealed } from '../../policy/bundle/seal';
import { isAcceptableHash } from '../../protocol/web/password';
import { base32Encode } from '../../protocol/web/totp';
import { ROLES } from './types';
import type { Role, UserRecord } from './types';

const NAME = /^[a-z][a-z0-9._-]{0,31}$/;
export const MAX_BUNDLE_USERS = 256;

/** Validates the list and opens the sealed seeds; throws ERR_BUNDLE_DECODE listing every problem. */
export function acceptBundleUsers(opts: { list: unknown; boxSecretKey: Uint8Array | null; now: number }): UserRecord[] {
  const issues: { path: string; message: string }[] = [];
  if (!Array.isArray(opts.list) || opts.list.length > MAX_BUNDLE_USERS) {
    throw new ZonegateError('ERR_BUNDLE_DECODE', `users: not a list of at most ${MAX_BUNDLE_USERS} users`);
  }
  const out: UserRecord[] = [];
  const seen = new Set<string>();
  opts.list.forEach((u: unknown, i: number) => {
    const path = `users[${i}]`;
    const bad = (m: string) => issues.push({ path, message: m });
    if (u === null || typeof u !== 'object' || Array.isArray(u)) { bad('not a mapping'); return; }
    const r = u as Record<string, unknown>;
    for (const k of Object.keys(r)) if (!['name', 'role', 'passwordHash', 'totpSealed'].includes(k)) bad(`unknown field '${k.slice(0, 40)}'`);
    if (typeof r.name !== 'string' || !NAME.test(r.name)) bad('name is not a user name');
    else if (seen.has(r.name)) bad(`user '${r.name}' listed twice`);
    else seen.add(r.name);
    if (typeof r.role !== 'string' || !(ROLES as readonly string[]).includes(r.role)) bad(`role is not one of ${ROLES.join(', ')}`);
    if (typeof r.passwordHash !== 'string' || !isAcceptableHash(r.passwordHash)) bad('passwordHash is not an argon2id PHC string with at least m=19456,t=2');
    let totpSecret: string | undefined;
    if (r.totpSealed !== undefined) {
      const box = r.totpSealed instanceof Uint8Array ? r.totpSealed : typeof r.totpSealed === 'string' ? new Uint8Array(Buffer.from(r.totpSealed, 'base64')) : null;
      if (!box) bad('totpSealed is neither bytes nor base64');
      else if (!opts.boxSecretKey) bad('totpSealed given but this gateway has no box key');
      else {
        try {
          const seed = openSealed(box, opts.boxSecretKey);
          if (seed.length < 10 || seed.length > 64) bad('the sealed TOTP seed is not 10-64 bytes');
          else totpSecret = base32Encode(seed);
        } catch (e) { bad((e as Error).message); }
      }
    }
    if (issues.length === 0) {
      out.push({
        name: r.name as string, role: r.role as Role, passwordHash: r.passwordHash as string, origin: 'bundle',
        createdAt: opts.now, updatedAt: opts.now, ...(totpSecret ? { totpSecret } : {}),
      });
    }
  });
  if (issues.length) throw new ZonegateError('ERR_BUNDLE_DECODE', `users: ${issues.length} problem(s)`, { issues });
  return out;
}
