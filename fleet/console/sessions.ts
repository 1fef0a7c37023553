/**
 * The console's sessions: a random 256-bit id (the cookie), the user and role, a CSRF token of
 * its own (synchronizer pattern), the source address it was opened from (a cookie presented from
 * another address is ignored), an idle timeout and a hard maximum. At most 1,000; the oldest goes.
 */
import { randomBytes } from 'node:crypto';
import type { ConsoleRole } from './users';

export interface ConsoleSession { id: string; user: string; role: ConsoleRole; csrf: string; ip: string; created: number; used: number }

export class ConsoleSessions {
  private readonly byId = new Map<string, ConsoleSession>();
  constructor(private readonly o: { idleMs: number; maxMs: number; now?: () => number }) {}
  private now(): number { return (this.o.now ?? Date.now)(); }

  open(o: { user: string; role: ConsoleRole; ip: string }): ConsoleSession {
    const t = this.now();
    const s: ConsoleSession = { ...o, id: randomBytes(32).toString('base64url'), csrf: randomBytes(24).toString('base64url'), created: t, used: t };
    this.byId.set(s.id, s);
    if (this.byId.size > 1000) this.byId.delete(this.byId.keys().next().value as string);
    return s;
  }

  /** The live session of this id from this address (its idle clock restarts), or undefined. */
  get(id: string | undefined, ip: string): ConsoleSession | undefined {
    if (!id || id.length !== 43) return undefined;
    const s = this.byId.get(id);
    if (!s) return undefined;
    const t = this.now();
    if (t - s.used > this.o.idleMs || t - s.created > this.o.maxMs) { this.byId.delete(id); return undefined; }
    if (s.ip !== ip) return undefined;
    s.used = t;
    return s;
  }

  end(id: string): void { this.byId.delete(id); }

  /** Ends every session of `user` (removed from the user file). */
  endUser(user: string): void { for (const [id, s] of this.byId) if (s.user === user) this.byId.delete(id); }
}
