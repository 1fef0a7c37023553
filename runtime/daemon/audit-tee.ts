/**
 * The audit tee every part records into: the in-memory ring (+ stdout decision lines), the
 * monitor-mode tally and, when the config enables it, the durable AuditLog in <stateDir>/audit.
 * record() never throws; the ring can be replaced on a reload without losing what it holds.
 */
import { join } from 'node:path';
import type { AuditEvent, AuditSink } from '../../drivers/types';
import { createMemoryAudit, type MemoryAudit } from '../memory-audit';
import { createMonitorTally, type MonitorTally } from '../monitor-tally';
import { AuditLog } from '../audit/log';
import { loadOrCreateDeviceKey } from '../device-key';
import type { GatewayConfig } from '../config';
import type { Alarms } from './alarms';
import type { GatewayLog } from './events';

export interface AuditTee {
  readonly sink: AuditSink;
  readonly ring: MemoryAudit;
  readonly tally: MonitorTally;
  /** The durable log, once opened. */
  readonly log: AuditLog | undefined;
  readonly dir: string | null;
  /** A new ring (size or stdout changed); `seed` carries the old one's records over. */
  resetRing(cfg: GatewayConfig, seed?: boolean): void;
  /** Opens the durable log when `audit.enabled`; its alarms go to `alarms`. */
  open(cfg: GatewayConfig, alarms: Alarms, log: GatewayLog): Promise<void>;
  close(): Promise<void>;
}

export function createAuditTee(o: { now: () => number; writeLine?: (chunk: string) => void }): AuditTee {
  let ring: MemoryAudit = createMemoryAudit({ capacity: 10_000, write: o.writeLine });
  let durable: AuditLog | undefined;
  let dir: string | null = null;
  const tally = createMonitorTally();
  const sink: AuditSink = {
    record(e: AuditEvent): void {
      ring.record(e);
      tally.record(e);
      if (durable) { try { durable.record(e); } catch { /* AuditLog counts its own drops */ } }
    },
  };
  return {
    sink, tally,
    get ring() { return ring; },
    get log() { return durable; },
    get dir() { return dir; },
    resetRing(cfg, seed = false) {
      const write = cfg.log.decisions === 'stdout' ? o.writeLine : undefined;
      if (seed) ring.flush();
      ring = createMemoryAudit({ capacity: cfg.limits.auditRing, write, ...(seed ? { seed: ring.recent() } : {}) });
    },
    async open(cfg, alarms, log) {
      if (!cfg.parts.audit.enabled) {
        log.warn('audit.enabled is false: decisions are kept in memory only (no durable audit log)');
        return;
      }
      const key = await loadOrCreateDeviceKey({ stateDir: cfg.stateDir });
      const a = cfg.parts.audit;
      dir = join(cfg.stateDir, 'audit');
      durable = await AuditLog.open({
        dir, device: cfg.device, key: { privateKey: key.privateKey, publicRaw: key.publicRaw }, now: o.now,
        ...(a.maxBytes !== undefined ? { maxBytes: a.maxBytes } : {}),
        ...(a.segmentBytes !== undefined ? { segmentBytes: a.segmentBytes } : {}),
        ...(a.flushDelayMs !== undefined ? { flushDelayMs: a.flushDelayMs } : {}),
        ...(a.checkpointIntervalMs !== undefined ? { checkpointIntervalMs: a.checkpointIntervalMs } : {}),
        // Every raise (count and message updated) and every clear reaches here.
        onAlarm: (al) => {
          const id = `audit:${al.code}`;
          if (al.active) {
            if (!alarms.has(id)) log.warn(`audit: ${al.message}`);
            alarms.raise(id, al.code === 'audit-recovered' ? 'warning' : 'critical', al.message);
          } else if (alarms.has(id)) {
            log.info(`audit: ${al.code} cleared`);
            alarms.clear(id);
          }
          if (al.code === 'audit-write-failed') alarms.diskFull('audit', al.active && /\b(ENOSPC|EDQUOT)\b/.test(al.message) ? 'writes fail with ENOSPC' : null);
        },
      });
    },
    async close() {
      ring.flush();
      if (durable) await durable.close();
    },
  };
}
