/**
 * The options and live statistics of the DNP3 proxy driver.
 */
import type { AddressInfo } from 'node:net';
import type { Decider } from '../../policy/types';
import type { Driver } from '../types';
import type { ListenerStats, ProxyBaseOptions, SweepTimers } from '../proxy-listener';

export type { SweepTimers };

/** A decider that answers DNP3 questions (IndexDecider and the runtime's session decider do). */
export type Dnp3Decider = Decider & Required<Pick<Decider, 'dnp3'>>;

export interface Dnp3ProxyOptions extends ProxyBaseOptions<Dnp3Decider> {
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
  /** Largest application fragment reassembled, either direction (default 2,048 bytes). */
  maxFragment?: number;
}

/** Live counters (they only grow, except `connections`). */
export interface Dnp3ProxyStats extends ListenerStats {
  requests: number;
  allowed: number;
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
}

export interface Dnp3Proxy extends Driver {
  address(): AddressInfo;
  readonly stats: Readonly<Dnp3ProxyStats>;
  sweep(): void;
}
