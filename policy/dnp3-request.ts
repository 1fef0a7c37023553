/**
 * The `dnp3` part of a decision request as a person writes it (CLI `policy explain --request`,
 * a policy's `tests:`), checked and normalised, and turned into the Dnp3Operation the decider
 * reads, exactly like the driver's parsed fragments:
 *
 *   dnp3: { function: direct-operate, source: 1, destination: 10,
 *           objects: [{ group: 12, variation: 1, indices: [3], control: trip },
 *                     { group: 41, variation: 2, start: 0, stop: 1, values: [5, 7] },
 *                     { group: 60, variation: 1 }] }
 */
import type { Path } from './check';
import { IssueList, checkInt, describe, didYouMean, get, has, q, readObject } from './check';
import { CROB_OPERATIONS, DNP3_FUNCTIONS, dnp3FunctionCode, type Dnp3Operation, type Dnp3RequestObject, type Dnp3RequestSpec } from './dnp3';

const FIELDS = ['function', 'source', 'destination', 'objects'];
const OBJECT_FIELDS = ['group', 'variation', 'start', 'stop', 'indices', 'values', 'control'];
const INDEX = { min: 0, max: 0xffffffff, name: 'a point index' };

/** Reads `dnp3` of a request; undefined (with issues) when anything is wrong. */
export function readDnp3Request(v: unknown, path: Path, out: IssueList): Dnp3RequestSpec | undefined {
  const rec = readObject(v, path, FIELDS, out);
  if (!rec) return undefined;
  const before = out.count;
  let fn: number | undefined;
  const f = get(rec, 'function');
  if (f === undefined) out.add([...path, 'function'], "required field 'function' is missing");
  else if (typeof f === 'number') fn = checkInt(f, [...path, 'function'], out, { min: 0, max: 255, name: 'a function code' });
  else if (typeof f === 'string') {
    fn = dnp3FunctionCode(f);
    if (fn === undefined && /^(0x[0-9a-f]{1,2}|\d{1,3})$/i.test(f.trim()) && Number(f.trim()) <= 255) fn = Number(f.trim());
    if (fn === undefined) out.add([...path, 'function'], `unknown DNP3 function '${q(f)}'${didYouMean(f, DNP3_FUNCTIONS.map((x) => x.name))}`);
  } else out.add([...path, 'function'], `must be a function name or code, got ${describe(f)}`);
  const spec: Dnp3RequestSpec = { function: fn ?? 0 };
  if (has(rec, 'source')) spec.source = checkInt(rec.source, [...path, 'source'], out, { min: 0, max: 0xffff, name: 'a link address' });
  if (has(rec, 'destination')) spec.destination = checkInt(rec.destination, [...path, 'destination'], out, { min: 0, max: 0xffff, name: 'a link address' });
  if (has(rec, 'objects')) {
    const objs = rec.objects;
    if (!Array.isArray(objs)) out.add([...path, 'objects'], `must be a list of object headers, got ${describe(objs)}`);
    else spec.objects = objs.map((o, i) => readObjectHeader(o, [...path, 'objects', i], out)).filter((o): o is Dnp3RequestObject => o !== undefined);
  }
  return out.count > before ? undefined : spec;
}

function readObjectHeader(v: unknown, path: Path, out: IssueList): Dnp3RequestObject | undefined {
  const rec = readObject(v, path, OBJECT_FIELDS, out);
  if (!rec) return undefined;
  const before = out.count;
  const byte = (k: string, name: string): number | undefined => {
    if (!has(rec, k)) { out.add([...path, k], `required field '${k}' is missing`); return undefined; }
    return checkInt(rec[k], [...path, k], out, { min: 0, max: 255, name });
  };
  const group = byte('group', 'a group');
  const variation = byte('variation', 'a variation');
  const o: Dnp3RequestObject = { group: group ?? 0, variation: variation ?? 0 };
  if (has(rec, 'start') || has(rec, 'stop')) {
    o.start = checkInt(get(rec, 'start'), [...path, 'start'], out, INDEX);
    o.stop = checkInt(get(rec, 'stop') ?? get(rec, 'start'), [...path, 'stop'], out, INDEX);
    if (o.start !== undefined && o.stop !== undefined && o.stop < o.start) out.add([...path, 'stop'], `stop ${o.stop} is below start ${o.start}`);
  }
  const nums = (k: string, range?: { min: number; max: number; name: string }): number[] | undefined => {
    if (!has(rec, k)) return undefined;
    const xs = rec[k];
    if (!Array.isArray(xs)) { out.add([...path, k], `must be a list, got ${describe(xs)}`); return undefined; }
    const res: number[] = [];
    xs.forEach((x, i) => {
      if (range) { const n = checkInt(x, [...path, k, i], out, range); if (n !== undefined) res.push(n); }
      else if (typeof x === 'number' && Number.isFinite(x)) res.push(x);
      else out.add([...path, k, i], `must be a number, got ${describe(x)}`);
    });
    return res;
  };
  const indices = nums('indices', INDEX);
  if (indices) o.indices = indices;
  if (indices && o.start !== undefined) out.add([...path, 'indices'], 'give a range (start, stop) or indices, not both');
  const values = nums('values');
  if (values) o.values = values;
  if (has(rec, 'control')) {
    const c = rec.control;
    const code = typeof c === 'string' ? CROB_OPERATIONS[c.trim().toLowerCase()] : typeof c === 'number' && Number.isInteger(c) && c >= 0 && c <= 255 ? c : undefined;
    if (code === undefined) out.add([...path, 'control'], `must be a CROB operation (${Object.keys(CROB_OPERATIONS).join(', ')}) or a control code, got ${describe(c)}`);
    else o.control = code;
  }
  const points = o.indices?.length ?? (o.start !== undefined && o.stop !== undefined ? o.stop - o.start + 1 : 0);
  if (o.values && o.values.length !== points) out.add([...path, 'values'], `has ${o.values.length} values for ${points} points`);
  return out.count > before ? undefined : o;
}

/** The decider's view of a written request (points listed for index lists and for g12/g41 ranges). */
export function dnp3Operation(spec: Dnp3RequestSpec): Dnp3Operation {
  const objs = spec.objects ?? [];
  const group: number[] = [], variation: number[] = [], lo: number[] = [], hi: number[] = [], ptOff: number[] = [0], ptIndex: number[] = [], ptValue: number[] = [];
  for (const o of objs) {
    group.push(o.group);
    variation.push(o.variation);
    const control = o.group === 12 || o.group === 41;
    if (o.indices) {
      lo.push(o.indices.length ? Math.min(...o.indices) : -1);
      hi.push(o.indices.length ? Math.max(...o.indices) : -1);
      o.indices.forEach((x, i) => { ptIndex.push(x); ptValue.push(o.values?.[i] ?? o.control ?? NaN); });
    } else if (o.start !== undefined && o.stop !== undefined) {
      lo.push(o.start);
      hi.push(o.stop);
      if (control && o.stop - o.start < 65536) {
        for (let x = o.start, i = 0; x <= o.stop; x++, i++) { ptIndex.push(x); ptValue.push(o.values?.[i] ?? o.control ?? NaN); }
      }
    } else { lo.push(-1); hi.push(-1); }
    ptOff.push(ptIndex.length);
  }
  return { fn: spec.function, source: spec.source ?? 1, destination: spec.destination ?? 10, headers: objs.length, group, variation, lo, hi, ptOff, ptIndex, ptValue };
}
