/**
 * What the gateway says about itself: GatewayStatus (status(), status.json, the MQTT status) and
 * its parts. Types only, so that the status file writer and the update trial read them without
 * importing the daemon (runtime/gateway.ts builds them).
 */
import type { MonitorTally } from './monitor-tally';
import type { ResolvedListener, ListenerProblem } from './config/resolve-listeners';
import type { MemoryAuditStats } from './memory-audit';
import type { PolicyStoreStatus } from './store/policy-store';
import type { AuditStatus } from './audit/log';
import type { SyncStatus } from './sync/mqtt-sync';
import type { AccessStatus } from './access/attach-access';
import type { UpdateReceiver } from './update/update-receiver';
import type { UpdateStatus } from './update/update-status';
import type { Iec104Link } from '../drivers/iec104/window';

export interface Alarm {
  id: string;
  severity: 'warning' | 'critical';
  message: string;
  /** Epoch milliseconds when it was raised. */
  since: number;
}

export interface ListenerStatus {
  key: string;
  listen: string;
  /** The bound address (differs from `listen` for port 0). */
  address?: string;
  asset: string;
  service: ResolvedListener['service'];
  servicePort: number;
  upstream: string;
  state: 'starting' | 'up' | 'failed' | 'stopping' | 'stopped';
  error?: string;
  stats?: Record<string, number>;
  /** iec104: the link settings both sides of each connection keep (k, w, t1/t2/t3 in ms; defaults filled in). */
  iec104?: Iec104Link;
}

/** Which policy enforces: signed (the store), file (lab), or none (deny all). */
export type PolicyKind = 'signed' | 'file';
export type EnforcementState = 'enforcing' | 'no-policy' | 'expired-deny-all' | 'expired-enforcing';

export interface NftablesStatus {
  enabled: boolean;
  /** sha256 of the ruleset last applied, and when. */
  appliedSha256: string | null;
  appliedAt: number | null;
  keptAt: string | null;
  /** Conduits the kernel cannot carry (left denied). */
  skipped: { conduit: string; reason: string }[];
  lastError: { at: number; code: string; message: string } | null;
  /**
   * Read back from the kernel: hits per conduit (new connections forwarded, or redirected to a
   * proxy serving that conduit alone), redirects shared by several conduits (counted once), drops.
   */
  counters?: {
    at: number;
    byConduit: Record<string, { packets: number; bytes: number }>;
    shared?: Record<string, { packets: number; bytes: number; conduits: string[]; more: number }>;
    drops?: Record<string, { packets: number; bytes: number }>;
  } | null;
  /** Zones without interfaces, and the like: the ruleset stays closed, but they deserve a look. */
  warnings?: string[];
  /** Interfaces the ruleset names that this device does not have (also an alarm). */
  missingInterfaces?: string[];
}

/**
 * A plain object (JSON-safe) describing the running gateway; later issues add fields. The gateway
 * always fills every field; those added with the policy store, audit log, sync and nftables are
 * optional in the type only so that status fixtures written before them still type-check.
 */
export interface GatewayStatus {
  device: string | null;
  site: string | null;
  state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' | 'failed';
  startedAt: number | null;
  uptimeMs: number;
  /** Epoch ms when this snapshot was taken. */
  at?: number;
  runtimeVersion?: string;
  config: { file: string; loadedAt: number | null; reloads: number; failedReloads: number };
  policy: {
    version: string | null;
    /** `signed` (policy store), `file` (lab policy file) or null (nothing: deny all). */
    source: PolicyKind | null;
    /** The policy file while it enforces. */
    file: string | null;
    /** Set while an unsigned policy file is enforcing. */
    warning: string | null;
    enforcement?: EnforcementState;
    activatedAt: number | null;
    conduits: number;
    /** Expiry of the signed bundle (epoch ms), null otherwise. */
    expiresAt?: number | null;
    /** The last refused policy or config, kept until the next successful activation. */
    lastError: { at: number; code: string; message: string; issues: string[] } | null;
    /** The policy store (signed bundles), null without `trustRoot`. */
    store?: PolicyStoreStatus | null;
  };
  listeners: ListenerStatus[];
  /** Per conduit: requests monitor mode let through that enforcing would deny, since start. */
  monitor?: ReturnType<MonitorTally['snapshot']>;
  /** Listeners the policy does not fit (signed mode), or that cannot stand. */
  listenerProblems?: ListenerProblem[];
  alarms: Alarm[];
  /** The in-memory ring and the stdout lines. */
  audit: MemoryAuditStats;
  /** The durable audit log, null when `audit.enabled: false` or before start. */
  auditLog?: (AuditStatus & { dir: string }) | null;
  /** MQTT sync, null without `mqtt`. */
  sync?: SyncStatus | null;
  nftables?: NftablesStatus | null;
  /** Runtime updates: A/B slots, the version on trial, the last outcome (e.g. a rollback and why). */
  update?: (UpdateStatus & { receiver: ReturnType<UpdateReceiver['status']> | null }) | null;
  /** Where this status is written. */
  statusFile?: string | null;
  /** Edge sessions, grants, break-glass, login page (runtime/access/attach-access.ts); null before start. */
  access?: AccessStatus | null;
}
