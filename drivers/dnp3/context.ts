/**
 * What every connection of one DNP3 proxy shares. Built once by proxy.ts.
 */
import type { AuditEvent } from '../types';
import type { RateLimitStore } from '../modbus-tcp/rate-limit';
import type { SelectStore } from './select-store';
import type { Dnp3Decider, Dnp3ProxyStats } from './types';
import type { ProxiedConnection } from '../proxy-listener';
import type { AppFragment } from './app';
import type { ObjectsTextCache } from './audit-fields';

export interface Dnp3Context {
  readonly name: string;
  readonly asset: string;
  readonly servicePort: number;
  readonly upstreamHost: string;
  readonly upstreamPort: number;
  readonly decider: Dnp3Decider;
  readonly limits: ((conduitId: string) => { perSecond: number; burst: number } | undefined) | undefined;
  readonly rate: RateLimitStore;
  readonly selects: SelectStore;
  readonly now: () => number;
  readonly frameMs: number;
  readonly idleMs: number;
  readonly upstreamMs: number;
  readonly connectMs: number;
  readonly maxFragment: number;
  readonly maxBufferedBytes: number;
  readonly stats: Dnp3ProxyStats;
  /**
   * The one parsed-fragment record every connection uses, both directions (~66 KiB of typed
   * arrays at the default maxFragment: one per connection would cost that per idle connection).
   * Safe because a fragment is parsed, decided, audited and answered in one synchronous call.
   */
  readonly fragment: AppFragment;
  /** The audit text of the last well-formed request's object headers (shared like `fragment`). */
  readonly objectsText: ObjectsTextCache;
  /** Until when the outstation counts as unreachable (frames are not sent). */
  upstreamDownUntil: number;
  emit(event: AuditEvent): void;
  closed(conn: ProxiedConnection): void;
}
