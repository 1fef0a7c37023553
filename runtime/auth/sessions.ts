/**
 * The session table of edge authentication (design.md: people authenticate at the edge): a
 * successful login on the login page binds the person's identity to their source address until
 * logout, timeout or revocation. One session per source address (a newer login from the same
 * address replaces the older one). facts(ip) is what the policy engine is told about that
 * source (SessionFacts: edgeAuth, identity, grant), read by the Modbus proxy at connect and by
 * the session decider whenever `generation` moved.
 */
import { randomBytes } from 'node:crypto';
import type { SessionFacts } from '../../policy/types';
import type { AuditSink } from '../../drivers/types';
import type { Role } from './types';

export interface EdgeSession {
  /** 32 random bytes, base64url: the cookie value of the login page. */
  readonly id: string;
  readonly sourceIp: string;
  /** The local user who logged in. */
  readonly user: string;
  /** The policy identity bound to the source (the user name). */
  readonly identity: string;
  readonly role: Role;
  readonly via: 'web' | 'break-glass';
  readonly createdAt: number;
  expiresAt: number;
  /** Per-session CSRF token (synchronizer pattern). */
  readonly csrf: string;
}

export type SessionEndReason = 'logout' | 'timeout' | 'revoked' | 'replaced' | 'user-removed';

export type SessionChange =
  | { kind: 'opened'; session: EdgeSession }
  | { kind: 'ended'; session: EdgeSession; reason: SessionEndReason }
  | { kind: 'grants'; };

export interface SessionTableOptions {
  now: () => number;
  audit: AuditSink;
  /** Session lifetime; default 8 h. */
  ttlMs?: number;
  /** Sessions open at most; a new login beyond it ends the oldest (audited). Default 256. */
  maxSessions?: number;
  /** The conduit ids of active grants for an identity from an address (undefined: none). */
  grants?: (identity: string, sourceIp: string, now: number) => readonly string[] | undefined;
  /** Told every change (after the table changed); must not throw. */
  onChange?: (change: SessionChange) => void;
}

export interface SessionTable {
  open(input: { sourceIp: string; user: string; role: Role; via: EdgeSession['via']; identity?: string; ttlMs?: number }): EdgeSession;
  /** The live session with this id (expired ones are ended first). */
  get(id: string): EdgeSession | undefined;
  bySource(ip: string): EdgeSession | undefined;
  end(id: string, reason: SessionEndReason): boolean;
  /** Ends every session of a user (user removed, locked, or revoked by an admin). */
  endUser(user: string, reason: SessionEndReason): number;
  /** Ends what expired; returns how many. Run it periodically. */
  sweep(): number;
  list(): EdgeSession[];
  /** What the policy engine is told about a source now. */
  facts(sourceIp: string): SessionFacts | undefined;
  /** Grows on every change of sessions or grants: deciders re-read facts when it moved. */
  readonly generation: number;
  /** Marks the grants as changed (the grant store calls it). */
  grantsChanged(): void;
}

/** Builds an empty table (sessions live in memory: a restart logs everyone out). */
export function createSessionTable(options: SessionTableOptions): SessionTable {
  const { now, audit } = options;
  const ttlMs = options.ttlMs ?? 8 * 3600_000;
  const maxSessions = options.maxSessions ?? 256;
  const byId = new Map<string, EdgeSession>();
  const byIp = new Map<string, EdgeSession>();
  let generation = 0;

  const tell = (change: SessionChange) => {
    generation += 1;
    try { options.onChange?.(change); } catch { /* promised not to throw */ }
  };
  const auditSession = (s: EdgeSession, message: string, detail: Record<string, unknown> = {}) => {
    try {
      audit.record({ kind: 'auth', at: now(), source: s.via === 'web' ? 'web' : 'console', src: s.sourceIp, message,
        detail: { user: s.user, identity: s.identity, role: s.role, via: s.via, session: s.id.slice(0, 8), expiresAt: s.expiresAt, ...detail } });
    } catch { /* AuditSink promises not to throw */ }
  };

  function end(id: string, reason: SessionEndReason): boolean {
    const s = byId.get(id);
    if (!s) return false;
    byId.delete(id);
    if (byIp.get(s.sourceIp) === s) byIp.delete(s.sourceIp);
    auditSession(s, 'session ended', { reason });
    tell({ kind: 'ended', session: s, reason });
    return true;
  }

  const live = (s: EdgeSession | undefined): EdgeSession | undefined => {
    if (!s) return undefined;
    if (now() >= s.expiresAt) { end(s.id, 'timeout'); return undefined; }
    return s;
  };

  return {
    open(input) {
      const prev = byIp.get(input.sourceIp);
      if (prev) end(prev.id, 'replaced');
      while (byId.size >= maxSessions) end(byId.keys().next().value as string, 'replaced');
      const t = now();
      const s: EdgeSession = {
        id: randomBytes(32).toString('base64url'), sourceIp: input.sourceIp, user: input.user, identity: input.identity ?? input.user,
        role: input.role, via: input.via, createdAt: t, expiresAt: t + (input.ttlMs ?? ttlMs), csrf: randomBytes(32).toString('base64url'),
      };
      byId.set(s.id, s);
      byIp.set(s.sourceIp, s);
      auditSession(s, 'session opened');
      tell({ kind: 'opened', session: s });
      return s;
    },
    get: (id) => (typeof id === 'string' ? live(byId.get(id)) : undefined),
    bySource: (ip) => live(byIp.get(ip)),
    end,
    endUser(user, reason) {
      let n = 0;
      for (const s of [...byId.values()]) if (s.user === user && end(s.id, reason)) n += 1;
      return n;
    },
    sweep() {
      const t = now();
      let n = 0;
      for (const s of [...byId.values()]) if (t >= s.expiresAt && end(s.id, 'timeout')) n += 1;
      return n;
    },
    list: () => [...byId.values()].filter((s) => now() < s.expiresAt),
    facts(sourceIp) {
      const s = live(byIp.get(sourceIp));
      if (!s) return undefined;
      // Break-glass (console, admin, time-boxed, audited) stands in for a grant on every conduit.
      if (s.via === 'break-glass') return { edgeAuth: true, identity: s.identity, grant: true };
      const g = options.grants?.(s.identity, sourceIp, now());
      return { edgeAuth: true, identity: s.identity, ...(g && g.length ? { grant: g } : {}) };
    },
    get generation() { return generation; },
    grantsChanged() { tell({ kind: 'grants' }); },
  };
}
