/**
 * The options and live statistics of the DNP3 proxy driver.
 */
import type { AddressInfo } from 'node:net';
import type { Decider, SessionFacts } from '../../policy/types';
import type { AuditSink, Driver } from '../types';
import type { SweepTimers } from '../proxy-listener';

export type { SweepTimers };

/** A decider that answers DNP3 questions (IndexDecider and the runtime's session decider do). */
export type Dnp3Decider = Decider & Required<Pick<Decider, 'dnp3'>>;

export interface Dnp3ProxyOptions {
  /** Where masters connect. Port 0 picks a free port (see address()). */
  listen: { host: string; port: number };
  /** The outstation (RTU, relay, IED) behind the proxy. */
  upstream: { host: string; port: number };
  /** The asset id of the outstation and its DNP3 service port: the decisions' destination. */
  asset: string;
  servicePort: number;
  decider: Dnp3Decider;
  audit: AuditSink;
  /** Per-conduit request rate limit, applied per client source address. Undefined = unlimited. */
  limits?: (conduitId: string) => { perSecond: number; burst: number } | undefined;
  /** What the runtime knows about the person behind a source (edge authentication, grants). */
  session?: (sourceIp: string) => SessionFacts | undefined;
  timeouts?: {
    /** A started link frame or fragment must be complete within this (slowloris). Default 5,000 ms. */
    frameMs?: number;
    /** A connection with nothing outstanding and no traffic is closed after this. Default 600,000 ms. */
    idleMs?: number;
    /** The outstation's response must start within this, else the request is given up (audited). Default 3,000 ms. */
    upstreamMs?: number;
    /** Connecting to the outstation must succeed within this. Default 3,000 ms. */
    connectMs?: number;
    /** An OPERATE must follow its SELECT within this (IEEE 1815 select timeout). Default 10,000 ms. */
    selectMs?: number;
    /** stop(): how long outstanding requests may still finish. Default 1,000 ms. */
    drainMs?: number;
  };
  /** Open client connections at most (default 1,000), and per source address (default 64). */
  maxConnections?: number;
  maxConnectionsPerSource?: number;
  /** Largest application fragment reassembled, either direction (default 2,048 bytes). */
  maxFragment?: number;
  /** Bytes queued toward a slow peer before reading pauses (default 64 KiB). */
  maxBufferedBytes?: number;
  /** Rate-limit buckets kept at most (default 10,000). */
  maxRateBuckets?: number;
  /** Epoch milliseconds. */
  now: () => number;
  /** How often deadlines are checked (default 250 ms), and the timers used (default global). */
  sweepMs?: number;
  timers?: SweepTimers;
  /** Driver name in audit records and the runtime's bus. Default `dnp3`. */
  name?: string;
}

/** Live counters (they only grow, except `connections`). */
export interface Dnp3ProxyStats {
  connections: number;
  accepted: number;
  refused: number;
  requests: number;
  allowed: number;
  denied: number;
  monitored: number;
  rateLimited: number;
  /** Link or transport errors (each closed a connection) and malformed fragments (each answered). */
  malformed: number;
  forwarded: number;
  /** Solicited response fragments relayed to the master. */
  responses: number;
  unsolicited: number;
  unsolicitedDenied: number;
  /** Link frames without application data (link status, reset, ack) relayed either way. */
  linkFrames: number;
  /** Response fragments that answered no outstanding request (dropped). */
  unexpectedResponses: number;
  /** Malformed fragments from the outstation (dropped). */
  upstreamMalformed: number;
  upstreamTimeouts: number;
  upstreamFailures: number;
  idleClosed: number;
  droppedAudit: number;
}

export interface Dnp3Proxy extends Driver {
  address(): AddressInfo;
  readonly stats: Readonly<Dnp3ProxyStats>;
  sweep(): void;
}
