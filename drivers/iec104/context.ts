/**
 * What every connection of one IEC 104 proxy shares. Built once by proxy.ts.
 */
import type { AuditEvent } from '../types';
import type { RateLimitStore } from '../modbus-tcp/rate-limit';
import type { Iec104SelectStore } from './select-store';
import type { WindowOptions } from './window';
import type { Iec104Decider, Iec104ProxyStats } from './types';
import type { ProxiedConnection } from '../proxy-listener';

export interface Iec104Context {
  readonly name: string;
  readonly asset: string;
  readonly servicePort: number;
  readonly upstreamHost: string;
  readonly upstreamPort: number;
  readonly decider: Iec104Decider;
  readonly limits: ((conduitId: string) => { perSecond: number; burst: number } | undefined) | undefined;
  readonly rate: RateLimitStore;
  readonly selects: Iec104SelectStore;
  readonly now: () => number;
  readonly frameMs: number;
  readonly connectMs: number;
  /** k, w and the timers; the role is set per side. */
  readonly window: Omit<WindowOptions, 'role'>;
  readonly maxQueued: number;
  readonly maxBufferedBytes: number;
  /** What every connection reads its station's bytes into (one read handled at a time). */
  readonly readBuffer: Buffer;
  readonly stats: Iec104ProxyStats;
  emit(event: AuditEvent): void;
  closed(conn: ProxiedConnection): void;
}
