/**
 * What the console is handed: small provider functions over the gateway's parts, so that the
 * shell has no knowledge of how the gateway is built (attachAccess in runtime/access/attach-access.ts
 * builds them from the real parts; tests build them by hand).
 */
import type { AuditEvent, AuditSink } from '../../drivers/types';
import type { Authenticator } from '../auth/authenticator';
import type { UserStore } from '../auth/user-store';
import type { GrantStore } from '../grants/grant-store';
import type { LocalQuarantine } from './local-quarantine';
import type { BreakGlass } from './break-glass';

/** The console's view of the gateway (`status`). */
export interface ConsoleStatus {
  device: string | null;
  site?: string | null;
  state?: string;
  policy: { version: string | null; expiresAt?: number | null; state?: string; warning?: string | null };
  listeners: { listen: string; address?: string; asset: string; service: string; state: string; error?: string }[];
  alarms: { severity: string; message: string }[];
  fleet?: { state: string; detail?: string } | null;
  sessions?: { user: string; sourceIp: string; expiresAt: number; via: string }[];
}

export interface ConsoleDeps {
  device: string;
  now: () => number;
  audit: AuditSink;
  auth: Authenticator;
  status(): ConsoleStatus;
  /** Recent audit events, oldest first (the audit ring). */
  recentAudit(limit: number): AuditEvent[];
  /** A summary of the active policy, lines of text; undefined when unknown. */
  policyShow?(): string[];
  /** Explains a request (policy/explain.ts) as lines of text; throws ZonegateError for a bad request. */
  explain?(request: unknown): string[];
  /** Accepts a signed bundle (PolicyStore.accept with source 'import'); resolves a one-line outcome. */
  importBundle?(bytes: Uint8Array): Promise<string>;
  /** Writes the audit log to a file; resolves the number of records written. Default: the ring as JSON lines. */
  exportAudit?(path: string): Promise<number>;
  grants?: Pick<GrantStore, 'list' | 'revoke' | 'accept'>;
  quarantine?: LocalQuarantine;
  breakGlass?: BreakGlass;
  users?: UserStore;
  /** Ends edge sessions of a user (after unlock/removal) — SessionTable.endUser. */
  endUserSessions?(user: string): number;
}
