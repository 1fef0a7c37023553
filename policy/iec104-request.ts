/**
 * The `iec104` part of a decision request as a person writes it (CLI `policy explain --request`,
 * a policy's `tests:`), checked and normalised, and turned into the Iec104Operation the decider
 * reads, exactly like the driver's parsed ASDUs:
 *
 *   iec104: { type: C_SC_NA_1, cause: activation, ca: 1, ioas: [1001], values: [1], select: false, selected: true }
 *
 * `ioa: 1001` and `value: 1` are the one-object forms; cause defaults to the first cause the
 * type takes (activation for commands, request for a read), ca to 1, ioas to [0].
 */
import type { Path } from './check';
import { IssueList, checkInt, describe, get, has, q, readBoolean, readObject } from './check';
import { iec104Cause, iec104Types, IOA_RANGE } from './iec104-allow';
import type { Iec104Operation, Iec104RequestSpec } from './iec104';
import { controlCauseAllowed } from './iec104-classes';

const FIELDS = ['type', 'cause', 'ca', 'ioa', 'ioas', 'value', 'values', 'select', 'selected'];

/** Reads `iec104` of a request; undefined (with issues) when anything is wrong. */
export function readIec104Request(v: unknown, path: Path, out: IssueList): Iec104RequestSpec | undefined {
  const rec = readObject(v, path, FIELDS, out);
  if (!rec) return undefined;
  const before = out.count;
  let type: number | undefined;
  const t = get(rec, 'type');
  if (t === undefined) out.add([...path, 'type'], "required field 'type' is missing");
  else {
    const ts = iec104Types(t);
    if (ts === undefined || ts.length !== 1) out.add([...path, 'type'], `must be one IEC 104 type name (C_SC_NA_1) or id, got ${typeof t === 'string' ? `'${q(t)}'` : describe(t)}`);
    else type = ts[0];
  }
  const spec: Iec104RequestSpec = { type: type ?? 0 };
  if (has(rec, 'cause')) {
    spec.cause = iec104Cause(rec.cause);
    if (spec.cause === undefined) out.add([...path, 'cause'], `must be a cause (request, activation, deactivation, file or 1..63), got ${describe(rec.cause)}`);
  }
  if (has(rec, 'ca')) spec.ca = checkInt(rec.ca, [...path, 'ca'], out, { min: 0, max: 0xffff, name: 'a common address' });
  const nums = (one: string, many: string, each: (x: unknown, p: Path) => number | undefined): number[] | undefined => {
    if (has(rec, one) && has(rec, many)) { out.add([...path, many], `give '${one}' or '${many}', not both`); return undefined; }
    if (has(rec, one)) { const n = each(rec[one], [...path, one]); return n === undefined ? undefined : [n]; }
    if (!has(rec, many)) return undefined;
    const xs = rec[many];
    if (!Array.isArray(xs) || xs.length === 0) { out.add([...path, many], `must be a non-empty list, got ${describe(xs)}`); return undefined; }
    const res: number[] = [];
    xs.forEach((x, i) => { const n = each(x, [...path, many, i]); if (n !== undefined) res.push(n); });
    return res;
  };
  const ioas = nums('ioa', 'ioas', (x, p) => checkInt(x, p, out, IOA_RANGE));
  if (ioas) spec.ioas = ioas;
  const values = nums('value', 'values', (x, p) => {
    if (typeof x === 'number' && Number.isFinite(x)) return x;
    out.add(p, `must be a number, got ${describe(x)}`);
    return undefined;
  });
  if (values) spec.values = values;
  const objects = spec.ioas?.length ?? 1;
  if (spec.values && spec.values.length !== 1 && spec.values.length !== objects) out.add([...path, 'values'], `has ${spec.values.length} values for ${objects} objects`);
  const select = readBoolean(rec, 'select', path, out);
  if (select !== undefined) spec.select = select;
  const selected = readBoolean(rec, 'selected', path, out);
  if (selected !== undefined) spec.selected = selected;
  return out.count > before ? undefined : spec;
}

/** The first cause a control-direction type takes (activation, else request, else file). */
function defaultCause(type: number): number {
  for (const c of [6, 5, 13]) if (controlCauseAllowed(type, c)) return c;
  return 6;
}

/** The decider's view of a written request. */
export function iec104Operation(spec: Iec104RequestSpec): Iec104Operation {
  const ioa = spec.ioas ?? [0];
  const value = ioa.map((_, i) => spec.values?.[spec.values.length === 1 ? 0 : i] ?? 0);
  return {
    typeId: spec.type, cause: spec.cause ?? defaultCause(spec.type), ca: spec.ca ?? 1, count: ioa.length,
    ioa, value, select: ioa.map(() => (spec.select === true ? 1 : 0)), selected: spec.selected === true,
  };
}
