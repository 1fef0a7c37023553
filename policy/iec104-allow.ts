/**
 * Validation of a `protocol: iec104` conduit's `allow` block (the document form), normalised into
 * Iec104Allow (iec104.ts):
 *
 *   allow:
 *     types: [interrogation, command, C_SE_NC_1, 103]  # classes (iec104-classes.ts), type names or ids
 *     commonAddresses: [1]                   # stations (CA 0..65535); default any
 *     ioas: ["1000-1099", 2001]              # information object addresses 0..16777215; default any
 *     causes: [activation, deactivation]     # request, activation, deactivation, file or 1..63;
 *                                            # default: the causes IEC 104 gives each type
 *     values: { min: 0, max: 100 }           # set-point values
 *     selectBeforeExecute: true              # an execute only after the same identity's select
 */
import type { Path } from './check';
import { IssueList, checkInt, describe, didYouMean, has, q, readBoolean, readList, readMinMax, readObject } from './check';
import { IEC104_CAUSES, IEC104_IOA_MAX, type Iec104Allow } from './iec104';
import { IEC104_CLASSES, typeClass, type Iec104Class } from './iec104-classes';
import { TypeId } from './iec104-types';
import { mergeRanges, parseAddressRange } from './validate-fields';
import type { AddressRange } from './types';

const FIELDS = ['types', 'commonAddresses', 'ioas', 'causes', 'values', 'selectBeforeExecute'];
const CONTROL_CLASSES = IEC104_CLASSES.filter((c) => c !== 'monitor');
const CONTROL_TYPE_NAMES = Object.keys(TypeId).filter((n) => typeClass(TypeId[n as keyof typeof TypeId]) !== 'monitor');
export const IOA_RANGE = { min: 0, max: IEC104_IOA_MAX, name: 'an information object address' };
const CA_RANGE = { min: 0, max: 0xffff, name: 'a common address' };

/** The type ids a written type stands for: a class, a type name (`C_SC_NA_1`) or an id; undefined when unknown. */
export function iec104Types(v: unknown): number[] | undefined {
  if (typeof v === 'number') return Number.isInteger(v) && typeClass(v) !== undefined ? [v] : undefined;
  if (typeof v !== 'string') return undefined;
  const s = v.trim();
  if ((IEC104_CLASSES as readonly string[]).includes(s.toLowerCase())) {
    const cls = s.toLowerCase() as Iec104Class;
    const out: number[] = [];
    for (let t = 0; t < 256; t++) if (typeClass(t) === cls) out.push(t);
    return out;
  }
  const up = s.toUpperCase();
  if (Object.prototype.hasOwnProperty.call(TypeId, up)) return [TypeId[up as keyof typeof TypeId]];
  if (/^\d{1,3}$/.test(s)) return iec104Types(Number(s));
  return undefined;
}

/** A cause name (`activation`) or number 1..63; undefined when neither. */
export function iec104Cause(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 1 && v <= 63 ? v : undefined;
  if (typeof v !== 'string') return undefined;
  const s = v.trim().toLowerCase();
  const named = IEC104_CAUSES[s];
  if (named !== undefined) return named;
  return /^\d{1,2}$/.test(s) ? iec104Cause(Number(s)) : undefined;
}

/** Reads an iec104 conduit's `allow`; undefined (with issues in `out`) when anything is wrong. */
export function readIec104Allow(v: unknown, path: Path, out: IssueList): Iec104Allow | undefined {
  const rec = readObject(v, path, FIELDS, out);
  if (!rec) return undefined;
  const before = out.count;
  const types = new Set<number>();
  if (!has(rec, 'types')) out.add([...path, 'types'], `required field 'types' is missing (classes like ${CONTROL_CLASSES.slice(0, 4).join(', ')}, type names like C_SC_NA_1, or type ids)`);
  else {
    const l = readList(rec.types, [...path, 'types'], out, { single: true });
    if (l) {
      if (l.items.length === 0) out.add([...path, 'types'], 'is empty: this conduit would allow no IEC 104 ASDU');
      l.items.forEach((x, i) => {
        const ts = iec104Types(x);
        if (ts === undefined) {
          out.add(l.pathOf(i), `unknown IEC 104 type ${typeof x === 'string' ? `'${q(x)}'` : describe(x)}${typeof x === 'string' ? didYouMean(x, [...CONTROL_CLASSES, ...CONTROL_TYPE_NAMES]) : ''}`);
        } else if (ts.some((t) => typeClass(t) === 'monitor')) {
          out.add(l.pathOf(i), `${typeof x === 'string' ? `'${q(x)}'` : describe(x)} is monitor direction: the station sends it and the proxy relays it; a conduit allows what the master sends`);
        } else for (const t of ts) types.add(t);
      });
    }
  }
  const allow: Iec104Allow = { types: [...types].sort((a, b) => a - b) };

  if (has(rec, 'commonAddresses') && rec.commonAddresses !== undefined) {
    const l = readList(rec.commonAddresses, [...path, 'commonAddresses'], out, { single: true });
    if (l) {
      if (l.items.length === 0) out.add([...path, 'commonAddresses'], 'is empty: leave it out to allow any common address');
      const cas = new Set<number>();
      l.items.forEach((x, i) => { const n = checkInt(x, () => l.pathOf(i), out, CA_RANGE); if (n !== undefined) cas.add(n); });
      allow.commonAddresses = [...cas].sort((a, b) => a - b);
    }
  }

  if (has(rec, 'ioas') && rec.ioas !== undefined) {
    const l = readList(rec.ioas, [...path, 'ioas'], out, { single: true });
    if (l) {
      if (l.items.length === 0) out.add([...path, 'ioas'], 'is empty: leave it out to allow any information object address');
      const rs: AddressRange[] = [];
      l.items.forEach((x, i) => { const r = parseAddressRange(x, () => l.pathOf(i), out, IOA_RANGE); if (r) rs.push(r); });
      if (rs.length) allow.ioas = mergeRanges(rs);
    }
  }

  if (has(rec, 'causes') && rec.causes !== undefined) {
    const l = readList(rec.causes, [...path, 'causes'], out, { single: true });
    if (l) {
      if (l.items.length === 0) out.add([...path, 'causes'], "is empty: leave it out to allow the causes each type takes");
      const cs = new Set<number>();
      l.items.forEach((x, i) => {
        const c = iec104Cause(x);
        if (c === undefined) out.add(l.pathOf(i), `unknown cause of transmission ${typeof x === 'string' ? `'${q(x)}'` : describe(x)} (${Object.keys(IEC104_CAUSES).join(', ')} or 1..63)${typeof x === 'string' ? didYouMean(x, Object.keys(IEC104_CAUSES)) : ''}`);
        else cs.add(c);
      });
      allow.causes = [...cs].sort((a, b) => a - b);
    }
  }

  const values = readMinMax(rec, 'values', path, out);
  if (values) allow.values = values;

  const sbo = readBoolean(rec, 'selectBeforeExecute', path, out);
  if (sbo !== undefined) allow.selectBeforeExecute = sbo;
  return out.count > before ? undefined : allow;
}
