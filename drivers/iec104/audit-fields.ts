/**
 * The `iec104` field of audit records: what an ASDU asked or reported, short enough for every
 * decision: type (id and name) and its decision class, cause with the P/N and test bits,
 * originator, common address, the IOAs (at most AUDIT_MAX_OBJECTS listed, `count` says how many
 * there were), and for commands and set-points the values, qualifiers and S/E bits. The daemon's
 * AuditEvent gains this field when the proxy is wired (issue 17, later slice).
 */
import { CommandKind, type Asdu } from './asdu';
import { typeClass } from './classes';
import type { Iec104AuditFields } from '../../protocol/audit/event';
import { typeName } from './type-ids';

/** Objects listed per record at most. */
export const AUDIT_MAX_OBJECTS = 64;

export type { Iec104AuditFields };

/** The audit `iec104` field of a parsed ASDU (call before the record is reused). */
export function auditFields(a: Asdu): Iec104AuditFields {
  const n = Math.min(a.count, AUDIT_MAX_OBJECTS);
  // Plain loops into preallocated arrays: this runs for every decision (no views, no callbacks).
  const ioa = new Array<number>(n);
  for (let i = 0; i < n; i++) ioa[i] = a.ioa[i];
  const out: Iec104AuditFields = {
    type: a.typeId, name: typeName(a.typeId), cause: a.cause, negative: a.negative, test: a.test,
    originator: a.originator, ca: a.ca, sq: a.sq, count: a.count, ioa,
  };
  const c = typeClass(a.typeId);
  if (c !== undefined) out.class = c;
  if (a.command !== CommandKind.NONE) {
    const values = new Array<number | null>(n);
    for (let i = 0; i < n; i++) { const v = a.value[i]; values[i] = Number.isFinite(v) ? v : null; }
    out.values = values;
    if (a.command !== CommandKind.BITSTRING) {
      const qualifiers = new Array<number>(n), select = new Array<boolean>(n);
      for (let i = 0; i < n; i++) { qualifiers[i] = a.qualifier[i]; select[i] = a.select[i] === 1; }
      out.qualifiers = qualifiers;
      out.select = select;
    }
  }
  return out;
}
