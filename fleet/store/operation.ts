/** The operation name a fleet search matches (fleet/store/types.ts AuditFilter.operation). */
import type { AuditRecord } from '../../protocol/audit/record';

export function operationOf(r: AuditRecord): string {
  if (r.modbus) return `modbus:${r.modbus.function}`;
  if (r.dnp3) return `dnp3:${r.dnp3.name}`;
  if (r.iec104) return `iec104:${r.iec104.type}`;
  return r.kind;
}
