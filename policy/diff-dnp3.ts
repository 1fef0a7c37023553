/**
 * The DNP3 part of the semantic diff (diff.ts): two dnp3 conduits' `allow` compared field by
 * field, with what a field left out means (dnp3.ts Dnp3Allow: no allow block = every
 * well-formed request and unsolicited responses; no masters/outstations/objects/controls = any;
 * a group without points = any index; no values = any value).
 */
import type { Dnp3Allow, Dnp3ObjectRef, Dnp3Range } from './dnp3';
import { CROB_OPERATIONS, DNP3_FUNCTIONS, dnp3FunctionName } from './dnp3';
import { formatRanges, subtractRanges } from './ranges';
import { bounds, list, sets, type Add } from './diff-sets';

const REQUEST_FUNCTIONS = DNP3_FUNCTIONS.filter((f) => f.response !== true).map((f) => f.code);
/**
 * Every index. Written `end` first: an object literal `{ start, end }` holding a number past the
 * small-integer range (0xffffffff) would turn the shared `{ start, end }` shape's fields into
 * boxed doubles for the whole process: 16 more bytes in each of a large policy's ranges.
 */
const ALL_INDICES: Dnp3Range[] = [{ end: 0xffffffff, start: 0 }];
const CROB_NAMES = new Map(Object.entries(CROB_OPERATIONS).map(([k, v]) => [v, k]));
const ref = (r: Dnp3ObjectRef): string => (r.variation === 0 ? `g${r.group}` : `g${r.group}v${r.variation}`);

/** `function object` pairs a block allows, or undefined for any object. */
function objectPairs(a: Dnp3Allow): string[] | undefined {
  if (a.objects === undefined) return undefined;
  if (Array.isArray(a.objects)) { const refs = a.objects; return a.functions.flatMap((f) => refs.map((r) => `${dnp3FunctionName(f)} ${ref(r)}`)); }
  const per = a.objects;
  return Object.keys(per).flatMap((k) => per[k].map((r) => `${dnp3FunctionName(Number(k))} ${ref(r)}`));
}

/** Adds the changes between two dnp3 conduits' allow blocks. */
export function diffDnp3Allow(o: Dnp3Allow | undefined, n: Dnp3Allow | undefined, add: Add, scope: string): void {
  const fo = (o?.functions ?? REQUEST_FUNCTIONS).map(dnp3FunctionName), fn = (n?.functions ?? REQUEST_FUNCTIONS).map(dnp3FunctionName);
  sets(add, 'functions', fo, fn, scope, 'functions');
  sets(add, 'masters', o?.masters?.map(String), n?.masters?.map(String), scope, 'master link addresses');
  sets(add, 'outstations', o?.outstations?.map(String), n?.outstations?.map(String), scope, 'outstation link addresses');
  sets(add, 'objects', o ? objectPairs(o) : undefined, n ? objectPairs(n) : undefined, scope, 'objects');
  const groups = [...new Set([...Object.keys(o?.points ?? {}), ...Object.keys(n?.points ?? {})])].sort();
  for (const g of groups) {
    const po = o?.points?.[g] ?? ALL_INDICES, pn = n?.points?.[g] ?? ALL_INDICES;
    const pa = subtractRanges(pn, po), pr = subtractRanges(po, pn);
    if (pa.length) add('points', 'widens', `${g} + ${formatRanges(pa)}`, `${scope}: ${g} indices ${formatRanges(pa)} now allowed`);
    if (pr.length) add('points', 'narrows', `${g} - ${formatRanges(pr)}`, `${scope}: ${g} indices ${formatRanges(pr)} no longer allowed`);
  }
  bounds(add, 'values', o?.values, n?.values, scope, 'analog output (g41) values');
  const name = (c: number): string => CROB_NAMES.get(c) ?? String(c);
  sets(add, 'controls', o?.controls?.map(name), n?.controls?.map(name), scope, 'CROB operations');
  const uo = o === undefined || o.unsolicited === true, un = n === undefined || n.unsolicited === true;
  if (uo !== un) add('unsolicited', un ? 'widens' : 'narrows', `${uo} → ${un}`, `${scope}: unsolicited responses from the outstation ${un ? 'now relayed' : 'no longer relayed'}`);
}

/** `dnp3 read, direct-operate masters 1 outstations 10 g12 0-7` for summaries. */
export function dnp3Summary(a: Dnp3Allow | undefined): string {
  if (a === undefined) return 'any operation';
  const parts = [a.functions.map(dnp3FunctionName).join(', ')];
  if (a.masters) parts.push(`masters ${list(a.masters)}`);
  if (a.outstations) parts.push(`outstations ${list(a.outstations)}`);
  for (const [g, rs] of Object.entries(a.points ?? {})) parts.push(`${g} ${formatRanges(rs)}`);
  if (a.values) parts.push(`values ${a.values.min}..${a.values.max}`);
  if (a.controls) parts.push(`controls ${a.controls.map((c) => CROB_NAMES.get(c) ?? c).join(', ')}`);
  if (a.unsolicited) parts.push('unsolicited');
  return parts.join(' ');
}
