/**
 * The daemon's log and the events its parts tell each other on the one bus (runtime/bus.ts).
 * A leaf: the parts and the driver registry import it, it imports none of them.
 */
import type { Issue } from '../../policy/errors';
import type { StoreBusEvents } from '../store/policy-store';
import type { AccessChange } from '../access/attach-access';

/** Human-readable operational messages (the CLI writes them to stderr). */
export interface GatewayLog {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** What the parts tell each other. */
export interface GatewayEvents extends StoreBusEvents {
  'policy-activated': { version: string; previous: string | null; source: string };
  'policy-refused': { source: string; error: { code: string; message: string; issues: readonly Issue[] } };
  'listener-up': { key: string };
  'listener-down': { key: string; error?: string };
  'reloaded': { ok: boolean };
  /** An edge session, grant, local quarantine or break-glass change (attachAccess onSessionChange). */
  'session-changed': AccessChange;
}

