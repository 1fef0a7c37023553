/**
 * The options of a TCP conduit proxy: the same shape as the Modbus proxy's (listen, upstream,
 * asset, service port, decider, audit, clock), with the limits of a byte-splicing proxy.
 */
import type { Decider } from '../../policy/types';
import type { AuditSink } from '../types';

export interface HostPort { host: string; port: number }

export interface TcpConduitOptions {
  /** Where clients connect (port 0 picks a free port; see address()). */
  listen: HostPort;
  /** Where the asset really is. */
  upstream: HostPort;
  /** The policy asset this listener stands for. */
  asset: string;
  /** The asset service's port, as the policy names it (not the listen port). */
  port: number;
  decider: Decider;
  audit: AuditSink;
  now: () => number;
  /** Close a connection after this long with no byte either way. Default 10 minutes; 0 = never. */
  idleTimeoutMs?: number;
  /** Give up connecting upstream after this long. Default 5 s. */
  connectTimeoutMs?: number;
  /** Live connections on this listener; over it a new one is refused (and audited). Default 1024. */
  maxConnections?: number;
  /** The last slots of maxConnections kept for conduits holding few connections (default a quarter; drivers/conduit-shares.ts). */
  reserveConnections?: number;
  /** Live connections from one source address. Default 64. */
  perSourceMax?: number;
  /** Re-decide every live connection this often (schedules end, grants expire). Default 60 s; 0 = only on recheck(). */
  recheckIntervalMs?: number;
  /** stop(): how long open connections may finish before they are destroyed. Default 2 s. */
  drainMs?: number;
  /** The driver name in audit events and logs. Default `tcp-conduit`. */
  name?: string;
}

/** Counters a listener reports in the gateway's status. */
export interface TcpConduitStats {
  accepted: number;
  denied: number;
  refused: number;
  active: number;
  closed: number;
  upstreamErrors: number;
  idleTimeouts: number;
  revoked: number;
  bytesUp: number;
  bytesDown: number;
}
