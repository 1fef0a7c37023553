/**
 * Validation of a `protocol: dnp3` conduit's `allow` block (the document form), normalised into
 * Dnp3Allow (dnp3.ts):
 *
 *   allow:
 *     functions: [read, select, operate]        # names of dnp3.ts or codes; confirm is implied
 *     masters: [1]                              # link addresses the master may send from (0..65519)
 *     outstations: [10]                         # link addresses it may reach
 *     objects: [g1, g30v1, g60]                 # or per function: { read: [g60, g1], write: [g50v1, g80v1] }
 *     points: { g12: ["0-7"], g41: [0, 1] }     # indices allowed per group; other groups any index
 *     values: { min: 0, max: 100 }              # analog output (g41) values
 *     controls: [pulse-on, latch-on, trip, close]  # CROB operations (g12)
 *     unsolicited: true                         # relay unsolicited responses (default false)
 */
import type { Path } from './check';
import { IssueList, checkInt, describe, didYouMean, get, has, isRecord, q, readBoolean, readMinMax, readObject } from './check';
import { CROB_OPERATIONS, DNP3_FUNCTIONS, dnp3FunctionCode, type Dnp3Allow, type Dnp3ObjectRef, type Dnp3Range } from './dnp3';
import { mergeRanges, parseAddressRange } from './validate-fields';

const FIELDS = ['functions', 'masters', 'outstations', 'objects', 'points', 'values', 'controls', 'unsolicited'];
const REQUEST_FUNCTIONS = DNP3_FUNCTIONS.filter((f) => f.response !== true).map((f) => f.name);
/** Link addresses 0xFFF0..0xFFFF are reserved (broadcast, self address). */
const LINK_ADDRESS = { min: 0, max: 0xffef, name: 'a DNP3 link address' };

function list(v: unknown, path: Path, out: IssueList): unknown[] | undefined {
  if (Array.isArray(v)) return v;
  if (v !== undefined && v !== null && typeof v !== 'object') return [v];
  out.add(path, `must be a list, got ${describe(v)}`);
  return undefined;
}

/** `g12`, `g12v1` (variation 0 means any). */
export function parseObjectRef(v: unknown): Dnp3ObjectRef | undefined {
  if (typeof v !== 'string') return undefined;
  const m = /^\s*g(\d{1,3})(?:v(\d{1,3}))?\s*$/i.exec(v);
  if (!m) return undefined;
  const group = Number(m[1]), variation = m[2] === undefined ? 0 : Number(m[2]);
  return group <= 255 && variation <= 255 ? { group, variation } : undefined;
}

function objectList(v: unknown, path: Path, out: IssueList): Dnp3ObjectRef[] | undefined {
  const items = list(v, path, out);
  if (!items) return undefined;
  if (items.length === 0) out.add(path, 'is empty: leave it out to allow any object');
  const res: Dnp3ObjectRef[] = [];
  items.forEach((x, i) => {
    const r = parseObjectRef(x);
    if (r) res.push(r);
    else out.add(Array.isArray(v) ? [...path, i] : path, `must be an object like "g12" or "g12v1", got ${describe(x)}`);
  });
  return res;
}

function addresses(rec: Record<string, unknown>, key: string, path: Path, out: IssueList): number[] | undefined {
  if (!has(rec, key) || rec[key] === undefined) return undefined;
  const items = list(rec[key], [...path, key], out);
  if (!items) return undefined;
  if (items.length === 0) out.add([...path, key], 'is empty: leave it out to allow any link address');
  const res: number[] = [];
  items.forEach((x, i) => {
    const n = checkInt(x, Array.isArray(rec[key]) ? [...path, key, i] : [...path, key], out, LINK_ADDRESS);
    if (n !== undefined && !res.includes(n)) res.push(n);
  });
  return res.sort((a, b) => a - b);
}

/** Reads a dnp3 conduit's `allow`; undefined (with issues in `out`) when anything is wrong. */
export function readDnp3Allow(v: unknown, path: Path, out: IssueList): Dnp3Allow | undefined {
  const rec = readObject(v, path, FIELDS, out);
  if (!rec) return undefined;
  const before = out.count;
  const functions = readFunctions(rec, path, out);
  const allow: Dnp3Allow = { functions };
  const masters = addresses(rec, 'masters', path, out);
  if (masters) allow.masters = masters;
  const outstations = addresses(rec, 'outstations', path, out);
  if (outstations) allow.outstations = outstations;
  const objects = readObjects(rec, functions, path, out);
  if (objects) allow.objects = objects;
  const points = readPoints(rec, path, out);
  if (points) allow.points = points;
  const values = readMinMax(rec, 'values', path, out);
  if (values) allow.values = values;
  const controls = readControls(rec, path, out);
  if (controls) allow.controls = controls;
  const uns = readBoolean(rec, 'unsolicited', path, out);
  if (uns !== undefined) allow.unsolicited = uns;
  return out.count > before ? undefined : allow;
}

type Rec = Record<string, unknown>;

// `functions`: request function names or codes, sorted, each once.
function readFunctions(rec: Rec, path: Path, out: IssueList): number[] {
  const functions: number[] = [];
  if (!has(rec, 'functions')) {
    out.add([...path, 'functions'], "required field 'functions' is missing (names like read, select, operate, direct-operate, or codes)");
    return functions;
  }
  const items = list(rec.functions, [...path, 'functions'], out);
  if (!items) return functions;
  if (items.length === 0) out.add([...path, 'functions'], 'is empty: this conduit would allow no DNP3 request');
  items.forEach((f, i) => {
    const code = typeof f === 'string' || typeof f === 'number' ? dnp3FunctionCode(f) : undefined;
    const at = Array.isArray(rec.functions) ? [...path, 'functions', i] : [...path, 'functions'];
    if (code === undefined || code >= 129) {
      out.add(at, `unknown DNP3 request function ${typeof f === 'string' ? `'${q(f)}'` : describe(f)}${typeof f === 'string' ? didYouMean(f, REQUEST_FUNCTIONS) : ''}`);
    } else if (!functions.includes(code)) functions.push(code);
  });
  return functions.sort((a, b) => a - b);
}

// `objects`: one list for every function, or a mapping from function names (each in `functions`) to lists.
function readObjects(rec: Rec, functions: readonly number[], path: Path, out: IssueList): Dnp3Allow['objects'] | undefined {
  if (!has(rec, 'objects') || rec.objects === undefined) return undefined;
  const o = rec.objects;
  if (Array.isArray(o) || typeof o === 'string') return objectList(o, [...path, 'objects'], out);
  const m = readObject(o, [...path, 'objects'], REQUEST_FUNCTIONS, out, 'a list of objects, or a mapping from function names to lists');
  if (!m) return undefined;
  const per: Record<string, Dnp3ObjectRef[]> = Object.create(null) as Record<string, Dnp3ObjectRef[]>;
  for (const name of Object.keys(m)) {
    const code = dnp3FunctionCode(name);
    if (code === undefined) continue; // reported by readObject
    if (!functions.includes(code)) out.add([...path, 'objects', name], `function '${q(name)}' is not in functions: add it there, or remove this entry`);
    const refs = objectList(get(m, name), [...path, 'objects', name], out);
    if (refs) per[String(code)] = refs;
  }
  return per;
}

// `points`: a mapping from groups (g12) to index ranges, merged.
function readPoints(rec: Rec, path: Path, out: IssueList): Record<string, Dnp3Range[]> | undefined {
  if (!has(rec, 'points') || rec.points === undefined) return undefined;
  const p = isRecord(rec.points) ? rec.points : undefined;
  if (!p) {
    out.add([...path, 'points'], `must be a mapping from groups like g12 to index ranges, got ${describe(rec.points)}`);
    return undefined;
  }
  const points: Record<string, Dnp3Range[]> = Object.create(null) as Record<string, Dnp3Range[]>;
  for (const key of Object.keys(p)) {
    const ref = parseObjectRef(key);
    if (!ref || ref.variation !== 0) { out.add([...path, 'points', key], `must be a group like g12 (no variation), got '${q(key)}'`); continue; }
    const items = list(get(p, key), [...path, 'points', key], out);
    if (!items) continue;
    if (items.length === 0) { out.add([...path, 'points', key], 'is empty: leave the group out to allow any index'); continue; }
    const rs: Dnp3Range[] = [];
    items.forEach((x, i) => {
      const r = parseAddressRange(x, Array.isArray(get(p, key)) ? [...path, 'points', key, i] : [...path, 'points', key], out);
      if (r) rs.push(r);
    });
    points[`g${ref.group}`] = mergeRanges(rs);
  }
  return points;
}

// `controls`: CROB operation names, as sorted codes.
function readControls(rec: Rec, path: Path, out: IssueList): number[] | undefined {
  if (!has(rec, 'controls') || rec.controls === undefined) return undefined;
  const items = list(rec.controls, [...path, 'controls'], out);
  if (!items) return undefined;
  if (items.length === 0) out.add([...path, 'controls'], 'is empty: leave it out to allow any CROB operation');
  const codes: number[] = [];
  items.forEach((x, i) => {
    const code = typeof x === 'string' ? CROB_OPERATIONS[x.trim().toLowerCase()] : undefined;
    if (code === undefined) {
      out.add(Array.isArray(rec.controls) ? [...path, 'controls', i] : [...path, 'controls'],
        `unknown CROB operation ${typeof x === 'string' ? `'${q(x)}'` : describe(x)}${typeof x === 'string' ? didYouMean(x, Object.keys(CROB_OPERATIONS)) : ''}`);
    } else if (!codes.includes(code)) codes.push(code);
  });
  return codes.sort((a, b) => a - b);
}
