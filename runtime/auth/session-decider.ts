/**
 * A Decider in front of the gateway's IndexDecider that knows about people and local measures:
 * connect() tells the policy the session facts of the source (edge login, identity, grants) and
 * refuses quarantined assets and identities; modbus() and recheck() notice, by one integer
 * compare on the hot path, that sessions, grants or the local quarantine changed since the
 * scope last looked, and only then re-read the facts (IndexDecider.refreshSession). So a logout,
 * an ended session or a revoked grant takes effect on the connection's next request, and a TCP
 * conduit's recheck() closes what depended on it.
 */
import type { ConnectQuery, Decider, Decision, Scope, SessionFacts } from '../../policy/types';

/** What the wrapper needs of the IndexDecider (policy/decider.ts). */
export interface InnerDecider extends Decider {
  refreshSession(scope: Scope, session: SessionFacts | undefined): void;
  recheck(scope: Scope, nowMs: number): Decision;
  scopeIdentity(scope: Scope): string | null;
  scopeDevice(scope: Scope): string | null;
}

export interface SessionDeciderOptions {
  inner: InnerDecider;
  /** Session facts of a source now (SessionTable.facts). */
  facts: (sourceIp: string) => SessionFacts | undefined;
  /** Grows whenever facts or the quarantine may have changed. */
  generation: () => number;
  /** Locally quarantined asset or identity ids (console `quarantine add`). */
  quarantined?: (id: string) => boolean;
}

export interface SessionDecider extends Decider {
  recheck(scope: Scope, nowMs: number): Decision;
}

interface Meta { ip: string; asset: string; gen: number; blocked: boolean }

/** Wraps `inner`; hand the result to the drivers instead of the IndexDecider. */
export function createSessionDecider(options: SessionDeciderOptions): SessionDecider {
  const { inner, facts, generation } = options;
  const quarantined = options.quarantined ?? (() => false);
  const meta = new WeakMap<Scope, Meta>();

  // The source is the logged-in person and the device bound to the address: quarantine of either cuts it off.
  const blockedNow = (scope: Scope, m: Meta) => quarantined(m.asset)
    || [inner.scopeIdentity(scope), inner.scopeDevice(scope)].some((id) => id !== null && quarantined(id));
  const deny = (scope: Scope): Decision => ({ decision: 'deny', conduit: null, reason: 'quarantined', identity: scope.identity });
  const refresh = (scope: Scope): Meta | undefined => {
    const m = meta.get(scope);
    if (m === undefined) return undefined;
    const g = generation();
    if (m.gen !== g) {
      inner.refreshSession(scope, facts(m.ip));
      m.blocked = blockedNow(scope, m);
      m.gen = g;
    }
    return m;
  };

  return {
    connect(query: ConnectQuery, nowMs: number) {
      const gen = generation();
      const session = facts(query.sourceIp) ?? query.session;
      const r = inner.connect({ ...query, session }, nowMs);
      const m: Meta = { ip: query.sourceIp, asset: query.asset, gen, blocked: false };
      m.blocked = blockedNow(r.scope, m);
      meta.set(r.scope, m);
      return m.blocked ? { scope: r.scope, decision: deny(r.scope) } : r;
    },
    modbus(scope, fn, unit, address, count, nowMs, writeAddress, writeCount) {
      const m = refresh(scope);
      if (m !== undefined && m.blocked) return deny(scope);
      return inner.modbus(scope, fn, unit, address, count, nowMs, writeAddress, writeCount);
    },
    dnp3(scope, op, nowMs) {
      const m = refresh(scope);
      if (m !== undefined && m.blocked) return deny(scope);
      return inner.dnp3 ? inner.dnp3(scope, op, nowMs) : deny(scope);
    },
    iec104(scope, op, nowMs) {
      const m = refresh(scope);
      if (m !== undefined && m.blocked) return deny(scope);
      return inner.iec104 ? inner.iec104(scope, op, nowMs) : deny(scope);
    },
    iec104Station(scope, op, nowMs) {
      const m = refresh(scope);
      if (m !== undefined && m.blocked) return deny(scope);
      return inner.iec104Station ? inner.iec104Station(scope, op, nowMs) : deny(scope);
    },
    operation(scope, op, nowMs) {
      const m = refresh(scope);
      if (m !== undefined && m.blocked) return deny(scope);
      return inner.operation !== undefined ? inner.operation(scope, op, nowMs)
        : inner.modbus(scope, op.fn, op.unit, op.address, op.count, nowMs, op.writeCount === 0 ? undefined : op.writeAddress, op.writeCount === 0 ? undefined : op.writeCount);
    },
    recheck(scope, nowMs) {
      const m = refresh(scope);
      if (m !== undefined && m.blocked) return deny(scope);
      return inner.recheck(scope, nowMs);
    },
  };
}
