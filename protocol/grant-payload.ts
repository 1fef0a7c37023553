/**
 * The payload of a signed `grant` bundle (design.md "Signed bundles": grants are time-boxed vendor
 * access): one grant `{ id, identity, conduits, from, until, sourceIp?, reason? }`, a revocation
 * list `{ revoked: [grantId...] }`, or both. Times are epoch ms; the bundle's own expiresAt is at
 * least `until`.
 */
import { isIP } from 'node:net';
import { ZonegateError } from '../policy/errors';

export interface Grant {
  id: string;
  /** The policy identity (a person or vendor account) the grant is for. */
  identity: string;
  /** Conduit ids the grant opens (each must also require a grant in the policy). */
  conduits: string[];
  from: number;
  until: number;
  /** When named, only a session from this address benefits. */
  sourceIp?: string;
  reason?: string;
}

export interface GrantPayload {
  grant?: Grant;
  revoked: string[];
}

const ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
/** Revocation ids per bundle at most. */
export const MAX_REVOKED_PER_BUNDLE = 1_000;

/** Reads the payload; throws ERR_BUNDLE_DECODE naming every problem. */
export function parseGrantPayload(v: Record<string, unknown>): GrantPayload {
  const issues: string[] = [];
  const has = (k: string) => Object.prototype.hasOwnProperty.call(v, k);
  const out: GrantPayload = { revoked: [] };
  for (const k of Object.keys(v)) {
    if (!['id', 'identity', 'conduits', 'from', 'until', 'sourceIp', 'reason', 'revoked'].includes(k)) issues.push(`unknown field '${k.slice(0, 40)}'`);
  }
  if (has('revoked')) {
    const r = v.revoked;
    if (!Array.isArray(r) || r.length > MAX_REVOKED_PER_BUNDLE || !r.every((x) => typeof x === 'string' && ID.test(x))) {
      issues.push(`revoked is not a list of at most ${MAX_REVOKED_PER_BUNDLE} grant ids`);
    } else out.revoked = [...(r as string[])];
  }
  if (has('id') || has('identity') || has('conduits')) {
    const { id, identity, conduits, from, until, sourceIp, reason } = v;
    if (typeof id !== 'string' || !ID.test(id)) issues.push('id is not a grant id (1-64 of A-Z a-z 0-9 . _ : -)');
    if (typeof identity !== 'string' || !ID.test(identity)) issues.push('identity is not an identity id');
    if (!Array.isArray(conduits) || conduits.length === 0 || conduits.length > 256 || !conduits.every((c) => typeof c === 'string' && ID.test(c))) {
      issues.push('conduits is not a non-empty list of conduit ids');
    }
    for (const [k, t] of [['from', from], ['until', until]] as const) {
      if (typeof t !== 'number' || !Number.isSafeInteger(t) || t < 0) issues.push(`${k} is not epoch milliseconds`);
    }
    if (typeof from === 'number' && typeof until === 'number' && until <= from) issues.push('until is not after from');
    if (sourceIp !== undefined && (typeof sourceIp !== 'string' || isIP(sourceIp) === 0)) issues.push('sourceIp is not an IP address');
    if (reason !== undefined && (typeof reason !== 'string' || reason.length > 500)) issues.push('reason is not a string of at most 500 characters');
    if (issues.length === 0) {
      out.grant = {
        id: id as string, identity: identity as string, conduits: [...(conduits as string[])], from: from as number, until: until as number,
        ...(sourceIp !== undefined ? { sourceIp: sourceIp as string } : {}), ...(reason !== undefined ? { reason: reason as string } : {}),
      };
    }
  } else if (!has('revoked')) issues.push('neither a grant (id, identity, conduits, from, until) nor a revoked list');
  if (issues.length) throw new ZonegateError('ERR_BUNDLE_DECODE', `grant bundle: ${issues.join('; ')}`, { issues: issues.map((m) => ({ path: 'grant', message: m })) });
  return out;
}
