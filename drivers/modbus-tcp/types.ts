/**
 * The options and live statistics of the Modbus/TCP proxy driver.
 */
import type { AddressInfo } from 'node:net';
import type { Decider } from '../../policy/types';
import type { Driver } from '../types';
import type { ProxyBaseOptions, SweepTimers } from '../proxy-listener';

export type { SweepTimers };

/** The options of the Modbus proxy: those every protocol proxy takes (drivers/proxy-listener.ts), and Modbus's own. */
export interface ModbusProxyOptions extends ProxyBaseOptions<Decider> {
  /** Per-conduit write rate limit (FC 5, 6, 15, 16, 21, 22, 23), per client source, on top of `limits`. */
  writeLimits?: (conduitId: string) => { perSecond: number; burst: number } | undefined;
  timeouts?: {
    /** A started frame must be complete within this (slowloris). Default 5,000 ms. */
    frameMs?: number;
    /** A connection with nothing outstanding and no traffic is closed after this. Default 600,000 ms. */
    idleMs?: number;
    /**
     * An upstream response must come within this, else exception 0B for that transaction alone.
     * A unit the policy does not allow is answered 0B after this too (it looks absent). Default 3,000 ms.
     */
    upstreamMs?: number;
    /** Connecting to the upstream must succeed within this, else exception 0A. Default 3,000 ms. */
    connectMs?: number;
    /** After the upstream refused, answer 0A without retrying for this long. Default 1,000 ms. */
    upstreamRetryMs?: number;
    /** stop(): how long in-flight requests may still finish. Default 1,000 ms. */
    drainMs?: number;
  };
  /**
   * The last slots of maxConnections kept for conduits that hold few connections (default a
   * quarter), so the hosts of one conduit cannot lock another identity out (drivers/conduit-shares.ts).
   */
  reserveConnections?: number;
  /**
   * Forwarded transactions in a row left unanswered (no upstream frame between them) after which
   * the upstream connection counts as half-open and is dropped (default 3).
   */
  maxSilentTransactions?: number;
  /** The daemon's log: upstream timeouts, dropped replies and closes, rate-limited (10 a minute). */
  log?: (line: string) => void;
  /** Requests outstanding upstream per connection before reading pauses (default 16). */
  maxOutstanding?: number;
  /** Driver name in audit records and the runtime's bus. Default `modbus-tcp`. */
  name?: string;
}

/** Live counters (read them any time; they only grow, except `connections`). */
export interface ModbusProxyStats {
  /** Client connections open now. */
  connections: number;
  accepted: number;
  /** Connections refused at accept: policy, caps, or stopping. */
  refused: number;
  requests: number;
  allowed: number;
  denied: number;
  /** Allowed in monitor mode although the conduit would deny. */
  monitored: number;
  rateLimited: number;
  /** Framing errors, slowloris and upstream framing errors (each closed a connection). */
  malformed: number;
  forwarded: number;
  responses: number;
  /** Upstream responses that matched no outstanding request (dropped). */
  unexpectedResponses: number;
  upstreamTimeouts: number;
  upstreamFailures: number;
  /** Upstream connections opened (one per client connection while the upstream stays healthy). */
  upstreamConnects: number;
  idleClosed: number;
  /** Audit events lost because the sink threw. */
  droppedAudit: number;
}

/** The proxy: a Driver, where it listens, its counters, and a deadline check tests can call. */
export interface ModbusProxy extends Driver {
  /** The bound address; throws TypeError before start() resolved. */
  address(): AddressInfo;
  readonly stats: Readonly<ModbusProxyStats>;
  /** Checks every connection's deadlines against now() (also run every sweepMs). */
  sweep(): void;
}
