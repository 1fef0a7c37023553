/** The operation and decision names a fleet search matches (fleet/store/types.ts AuditFilter), the same for every store. */
import type { AuditRecord } from '../../protocol/audit/record';
import type { Decision } from './types';

export function operationOf(r: AuditRecord): string {
  if (r.modbus) return `modbus:${r.modbus.function}`;
  if (r.dnp3) return `dnp3:${r.dnp3.name}`;
  if (r.iec104) return `iec104:${r.iec104.type}`;
  return r.kind;
}

/** The decision a fleet search matches: a monitor-mode denial (allowed, with a reason) is `would-deny`. */
export function decisionOf(r: AuditRecord): Decision | null {
  const d = r.decision;
  if (!d || (d.decision !== 'allow' && d.decision !== 'deny')) return null;
  return d.monitor && d.reason ? 'would-deny' : d.decision;
}
