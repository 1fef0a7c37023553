/**
 * Break-glass (console, admin only, reason required, at most `maxMinutes`): an emergency
 * measure that is loud (a critical alarm in status, a banner on every console prompt, audit
 * records of kind 'break-glass' when it starts and ends) and time-boxed. What it allows, and
 * nothing more:
 *   1. When the signed policy expired offline and `settings.onExpiry: deny-all` stopped traffic,
 *      the LAST VERIFIED policy is enforced again until the window ends (decider.setExpired(false)),
 *      so operations can continue; it never lets through what that policy did not allow.
 *   2. With `--source IP`, the technician's laptop at IP is treated as edge-authenticated as the
 *      admin and as holding a grant for every conduit that requires one (a session in the session
 *      table with via 'break-glass'), so the maintenance conduits that name that admin's identity
 *      (or role) open for it without a fleet-issued grant.
 * When the window ends (or `break-glass end`), both are undone: deny-all returns if the policy is
 * still expired, the session ends and live connections that depended on it are re-decided.
 */
import type { AuditSink } from '../../drivers/types';
import { ZonegateError } from '../../policy/errors';
import type { SessionTable } from '../auth/sessions';
import type { Role } from '../auth/types';
import { isIP } from 'node:net';

export interface BreakGlassState {
  user: string;
  reason: string;
  startedAt: number;
  endsAt: number;
  sourceIp?: string;
}

export interface BreakGlass {
  active(): BreakGlassState | null;
  start(input: { user: string; role: Role; reason: string; minutes: number; sourceIp?: string }): BreakGlassState;
  end(opts: { by: string; why: 'ended' | 'expired' }): boolean;
  /** Ends an elapsed window; run it periodically. */
  tick(): void;
}

export interface BreakGlassOptions {
  now: () => number;
  audit: AuditSink;
  sessions: SessionTable;
  /** The expiry switch of the decider (IndexDecider.setExpired / isExpired); optional. */
  expiry?: { isExpired(): boolean; setExpired(expired: boolean): void };
  /** Whether the policy store considers the active policy expired with onExpiry deny-all. */
  policyDenyAll?: () => boolean;
  maxMinutes?: number;
  onChange?: (state: BreakGlassState | null) => void;
}

/** Builds the (inactive) break-glass switch. */
export function createBreakGlass(o: BreakGlassOptions): BreakGlass {
  const maxMinutes = o.maxMinutes ?? 240;
  let state: BreakGlassState | null = null;
  let sessionId: string | null = null;
  const record = (message: string, detail: Record<string, unknown>) => {
    try { o.audit.record({ kind: 'break-glass', at: o.now(), source: 'console', message, detail }); } catch { /* never throws */ }
  };
  const tell = () => { try { o.onChange?.(state); } catch { /* promised not to throw */ } };

  function end(opts: { by: string; why: 'ended' | 'expired' }): boolean {
    if (!state) return false;
    const was = state;
    state = null;
    if (sessionId) { o.sessions.end(sessionId, 'revoked'); sessionId = null; }
    if (o.expiry && (o.policyDenyAll?.() ?? false)) o.expiry.setExpired(true);
    record(`BREAK-GLASS ${opts.why}`, { user: was.user, by: opts.by, reason: was.reason, startedAt: was.startedAt, endsAt: was.endsAt, sourceIp: was.sourceIp });
    tell();
    return true;
  }

  return {
    active() {
      if (state && o.now() >= state.endsAt) end({ by: 'timer', why: 'expired' });
      return state;
    },
    start(input) {
      if (input.role !== 'admin') throw new ZonegateError('ERR_AUTH', 'break-glass needs the admin role');
      const reason = input.reason.trim();
      if (reason.length < 4) throw new ZonegateError('ERR_USAGE', 'break-glass needs a reason (at least 4 characters)');
      if (!Number.isInteger(input.minutes) || input.minutes < 1 || input.minutes > maxMinutes) {
        throw new ZonegateError('ERR_USAGE', `--minutes must be a whole number from 1 to ${maxMinutes}`);
      }
      if (input.sourceIp !== undefined && isIP(input.sourceIp) === 0) throw new ZonegateError('ERR_USAGE', `--source ${input.sourceIp} is not an IP address`);
      if (state) end({ by: input.user, why: 'ended' });
      const t = o.now();
      state = { user: input.user, reason, startedAt: t, endsAt: t + input.minutes * 60_000, ...(input.sourceIp ? { sourceIp: input.sourceIp } : {}) };
      const liftedDenyAll = !!o.expiry?.isExpired();
      if (liftedDenyAll) o.expiry!.setExpired(false);
      if (input.sourceIp) {
        sessionId = o.sessions.open({ sourceIp: input.sourceIp, user: input.user, role: input.role, via: 'break-glass', ttlMs: input.minutes * 60_000 }).id;
      }
      record('BREAK-GLASS started', { user: input.user, reason, minutes: input.minutes, endsAt: state.endsAt, sourceIp: input.sourceIp, liftedDenyAll });
      tell();
      return state;
    },
    end,
    tick() {
      if (state && o.now() >= state.endsAt) end({ by: 'timer', why: 'expired' });
      else if (state && o.expiry?.isExpired()) o.expiry.setExpired(false); // the store re-asserted deny-all: the window still holds
    },
  };
}
