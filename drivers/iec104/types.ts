/**
 * The options and live statistics of the IEC 104 proxy driver.
 */
import type { AddressInfo } from 'node:net';
import type { Decider } from '../../policy/types';
import type { Driver } from '../types';
import type { ListenerStats, ProxyBaseOptions } from '../proxy-listener';
import type { Iec104Link } from './window';

/** A decider that answers IEC 104 questions (IndexDecider and the runtime's session decider do). */
export type Iec104Decider = Decider & Required<Pick<Decider, 'iec104' | 'iec104Station'>>;

export interface Iec104ProxyOptions extends ProxyBaseOptions<Iec104Decider> {
  timeouts?: {
    /** A started APDU must be complete within this (slowloris). Default 5,000 ms. */
    frameMs?: number;
    /** Connecting to the station must succeed within this. Default 3,000 ms. */
    connectMs?: number;
    /** An execute must follow its select within this. Default 10,000 ms. */
    selectMs?: number;
    /** stop(): how long I-frames not yet acknowledged may still be. Default 1,000 ms. */
    drainMs?: number;
    /** IEC 60870-5-104 5.5 timers, kept on both sides: t1 15,000, t2 10,000, t3 20,000 ms. */
    t1Ms?: number;
    t2Ms?: number;
    t3Ms?: number;
  };
  /** The k and w windows, both sides (defaults 12 and 8). */
  k?: number;
  w?: number;
  /** ASDUs held per direction while the receiving side's k window is full (default 64); past it the connection closes. */
  maxQueued?: number;
}

/** Live counters (they only grow, except `connections`). */
export interface Iec104ProxyStats extends ListenerStats {
  /** ASDUs from the master, each decided. */
  requests: number;
  allowed: number;
  monitored: number;
  rateLimited: number;
  /** Broken framing or sequence from the master (each closed a connection) and unknown types (each answered 44). */
  malformed: number;
  /** ASDUs forwarded to the station, and relayed from it to the master. */
  forwarded: number;
  relayed: number;
  /** ASDUs from the station that did not parse, or of a control-direction type that answers nothing the master sent (dropped, acknowledged). */
  upstreamMalformed: number;
  /** ASDUs from the station with a common address no conduit of the master's allows (dropped, acknowledged, audited as denied). */
  upstreamDenied: number;
  upstreamFailures: number;
  /** Connections closed because a peer did not acknowledge within t1. */
  t1Expired: number;
  /** Connections closed because a direction's queue passed maxQueued. */
  queueOverflows: number;
}

export interface Iec104Proxy extends Driver {
  address(): AddressInfo;
  /** The link settings both sides keep (k, w, t1/t2/t3: the options with the standard's defaults). */
  readonly link: Readonly<Iec104Link>;
  readonly stats: Readonly<Iec104ProxyStats>;
  sweep(): void;
}
