/**
 * The write-bound fields of a conduit's `allow` (values.ts compiles and checks them):
 *
 *   values:                                   # per register range, what a write may carry
 *     "1000-1019": "0-500"                    # uint16 (a range with a negative bound: int16)
 *     "1020-1023": { type: float32, range: "0-60.5", order: big }   # pairs 1020/1021, 1022/1023
 *     "1030-1031": { type: int32, range: "-100000..100000", order: little }
 *   coils: { "0-9": off, "10-15": [on, off], "16": on }
 *
 * `order` is the word order of 32-bit pairs: big (the default) puts the high word in the lower
 * register. Ranges are "lo-hi" or "lo..hi" (either may be negative or, for float32, decimal).
 */
import type { CoilRule, ValueRule, ValueType } from './types';
import { IssueList, describe, didYouMean, get, has, q, readObject } from './check';
import type { Path } from './check';
import { TYPE_LIMITS, VALUE_TYPES } from './values';
import { parseAddressRange } from './validate-fields';

const VALUE_FIELDS = ['type', 'range', 'order'];
const NUM = String.raw`-?\d+(?:\.\d+)?(?:e[+-]?\d+)?`;
const RANGE = new RegExp(`^\\s*(${NUM})\\s*(?:(?:\\.\\.|-)\\s*(${NUM})\\s*)?$`, 'i');

function readBounds(v: unknown, type: ValueType | undefined, path: Path, out: IssueList): { min: number; max: number; type: ValueType } | undefined {
  let min: number, max: number;
  if (typeof v === 'number' && Number.isFinite(v)) { min = v; max = v; } else if (typeof v === 'string' && RANGE.test(v)) {
    const m = RANGE.exec(v) as RegExpExecArray;
    min = Number(m[1]);
    max = m[2] === undefined ? min : Number(m[2]);
  } else {
    out.add(path, `must be a value range like "0-500", "-100..100" or "0-60.5", got ${describe(v)}`);
    return undefined;
  }
  if (min > max) { out.add(path, `value range ${describe(v)} is empty: ${min} is after ${max}`); return undefined; }
  const t: ValueType = type ?? (min < 0 ? 'int16' : 'uint16');
  const [lo, hi] = TYPE_LIMITS[t];
  if (t !== 'float32' && (!Number.isInteger(min) || !Number.isInteger(max))) { out.add(path, `${t} values are integers, got ${describe(v)} (use type: float32)`); return undefined; }
  if (min < lo || max > hi) { out.add(path, `value range ${describe(v)} does not fit ${t} (${lo}..${hi})`); return undefined; }
  return { min, max, type: t };
}

/** `allow.values`: register range → value range; undefined with issues. */
export function readValueRules(v: unknown, path: Path, out: IssueList): ValueRule[] | undefined {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    out.add(path, `must be a mapping of register ranges to value ranges, like { "1000-1019": "0-500" }, got ${describe(v)}`);
    return undefined;
  }
  const rec = v as Record<string, unknown>;
  const before = out.count;
  const rules: ValueRule[] = [];
  for (const key of Object.keys(rec)) {
    const p = [...path, key];
    const range = parseAddressRange(key, p, out);
    const spec = rec[key];
    let type: ValueType | undefined;
    let order: 'big' | 'little' = 'big';
    let bounds: unknown = spec;
    if (spec !== null && typeof spec === 'object' && !Array.isArray(spec)) {
      const s = readObject(spec, p, VALUE_FIELDS, out);
      if (!s) continue;
      const t = get(s, 'type');
      if (t !== undefined) {
        if (typeof t === 'string' && (VALUE_TYPES as readonly string[]).includes(t)) type = t as ValueType;
        else { out.add([...p, 'type'], `must be one of ${VALUE_TYPES.join(', ')}, got ${describe(t)}${typeof t === 'string' ? didYouMean(t, VALUE_TYPES) : ''}`); continue; }
      }
      const o = get(s, 'order');
      if (o !== undefined) {
        if (o === 'big' || o === 'little') order = o;
        else { out.add([...p, 'order'], `must be 'big' (high word first) or 'little', got ${describe(o)}`); continue; }
      }
      if (!has(s, 'range')) { out.add([...p, 'range'], "required field 'range' is missing (like \"0-500\")"); continue; }
      bounds = s.range;
      p.push('range');
    }
    const b = readBounds(bounds, type, p, out);
    if (!range || !b) continue;
    const wide = b.type === 'uint32' || b.type === 'int32' || b.type === 'float32';
    if (wide && (range.end - range.start + 1) % 2 !== 0) {
      out.add([...path, key], `register range "${q(key)}" has an odd number of registers; ${b.type} values take two registers each`);
      continue;
    }
    rules.push({ start: range.start, end: range.end, type: b.type, order, min: b.min, max: b.max });
  }
  rules.sort((a, b) => a.start - b.start);
  for (let i = 1; i < rules.length; i++) {
    if (rules[i].start <= rules[i - 1].end) {
      out.add(path, `register ranges ${rules[i - 1].start}-${rules[i - 1].end} and ${rules[i].start}-${rules[i].end} overlap: give each register one rule`);
      break;
    }
  }
  if (Object.keys(rec).length === 0) out.add(path, 'is empty: leave it out to allow any value');
  return out.count > before ? undefined : rules;
}

/** `allow.coils`: coil range → on | off | any | [on, off]. */
export function readCoilRules(v: unknown, path: Path, out: IssueList): CoilRule[] | undefined {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    out.add(path, `must be a mapping of coil ranges to states, like { "0-9": off, "10": [on, off] }, got ${describe(v)}`);
    return undefined;
  }
  const rec = v as Record<string, unknown>;
  const before = out.count;
  const rules: CoilRule[] = [];
  for (const key of Object.keys(rec)) {
    const p = [...path, key];
    const range = parseAddressRange(key, p, out);
    const states = Array.isArray(rec[key]) ? rec[key] as unknown[] : [rec[key]];
    let on = false, off = false, ok = states.length > 0;
    for (const s of states) {
      if (s === 'on' || s === true) on = true;
      else if (s === 'off' || s === false) off = true;
      else if (s === 'any') { on = true; off = true; } else ok = false;
    }
    if (!ok) { out.add(p, `must be on, off, any or a list of them, got ${describe(rec[key])}`); continue; }
    if (range) rules.push({ start: range.start, end: range.end, on, off });
  }
  rules.sort((a, b) => a.start - b.start);
  for (let i = 1; i < rules.length; i++) {
    if (rules[i].start <= rules[i - 1].end) {
      out.add(path, `coil ranges ${rules[i - 1].start}-${rules[i - 1].end} and ${rules[i].start}-${rules[i].end} overlap: give each coil one rule`);
      break;
    }
  }
  if (Object.keys(rec).length === 0) out.add(path, 'is empty: leave it out to allow either state');
  return out.count > before ? undefined : rules;
}
