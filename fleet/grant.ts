/**
 * Signs a time-boxed grant (or a revocation list) into a `grant` bundle on the fleet manager's
 * side. The payload is checked with the same parser a gateway runs (protocol/grant-payload.ts)
 * before signing. The bundle expires when the grant ends (or after `expiresAt` for revocations).
 */
import { ZonegateError } from '../policy/errors';
import { signBundle } from '../policy/bundle/sign';
import type { SigningKey } from '../policy/bundle/types';
import { parseGrantPayload } from '../protocol/grant-payload';

export interface SignGrantInput {
  site: string;
  targets: readonly string[];
  version: number;
  issuedAt: number;
  keys: readonly SigningKey[];
  /** The grant; omitted for a revocation-only bundle. */
  grant?: { id: string; identity: string; conduits: readonly string[]; from: number; until: number; sourceIp?: string; reason?: string };
  revoked?: readonly string[];
  /** Bundle expiry for a revocation-only bundle (default issuedAt + 365 days). */
  expiresAt?: number;
}

/** Returns the envelope bytes; throws ZonegateError ERR_USAGE / ERR_BUNDLE_DECODE for a grant a gateway would refuse. */
export function signGrant(input: SignGrantInput): Uint8Array {
  const payload: Record<string, unknown> = {};
  if (input.grant) Object.assign(payload, { ...input.grant, conduits: [...input.grant.conduits] });
  if (input.revoked && input.revoked.length) payload.revoked = [...input.revoked];
  parseGrantPayload(payload);
  if (input.grant && input.grant.until <= input.issuedAt) throw new ZonegateError('ERR_USAGE', `--until ${new Date(input.grant.until).toISOString()} is in the past`);
  const expiresAt = input.grant ? input.grant.until : input.expiresAt ?? input.issuedAt + 365 * 86_400_000;
  return signBundle({
    type: 'grant',
    body: { site: input.site, targets: [...input.targets], version: input.version, issuedAt: input.issuedAt, expiresAt, grant: payload },
    keys: input.keys,
  });
}
