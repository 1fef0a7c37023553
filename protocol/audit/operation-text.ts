/**
 * The OPERATION text `audit show` (and the SIEM export) prints for a record a protocol driver
 * wrote: one formatter per protocol, each answering only for the records that carry its fields.
 * A driver registration names its formatter (runtime/listeners/registry.ts `auditOperation`);
 * BUILTIN_OPERATION_TEXT is the table of the built-in ones for code that has no registry
 * (the fleet's SIEM export: fleet/ does not import runtime/).
 */
import type { AuditRecord } from './record';

/** The OPERATION text of `r`, or undefined when `r` carries none of this protocol's fields. */
export type OperationText = (r: AuditRecord) => string | undefined;

export const modbusOperationText: OperationText = (r) => {
  const m = r.modbus;
  return m ? `fc${m.function} unit ${m.unit} @${m.address}${m.count > 0 ? `+${m.count}` : ''}` : undefined;
};

export const dnp3OperationText: OperationText = (r) => {
  const d = r.dnp3;
  return d ? `dnp3 ${d.name} ${d.source}→${d.destination}${d.objects.length ? ` ${d.objects.join(', ')}` : ''}${d.values?.some((v) => v === v) ? ` = ${d.values.join(' ')}` : ''}` : undefined;
};

export const iec104OperationText: OperationText = (r) => {
  const i = r.iec104;
  return i ? `iec104 ${i.name} cause ${i.cause} ca ${i.ca}${i.ioa.length ? ` ioa ${i.ioa.join(',')}${i.count > i.ioa.length ? ` (+${i.count - i.ioa.length})` : ''}` : ''}${i.values?.length ? ` = ${i.values.join(' ')}` : ''}${i.select?.some((x) => x) ? ' select' : ''}` : undefined;
};

/** The built-in drivers' formatters, in the order the driver registry lists them. */
export const BUILTIN_OPERATION_TEXT: readonly OperationText[] = [modbusOperationText, dnp3OperationText, iec104OperationText];

/** The first formatter's text for `r`; a record no formatter answers for shows its protocol/port. */
export function operationText(r: AuditRecord, formatters: readonly OperationText[]): string {
  for (const f of formatters) {
    const text = f(r);
    if (text !== undefined) return text;
  }
  return [r.protocol, r.port].filter((x) => x !== undefined).join('/');
}
