/**
 * The DNP3 part of the semantic diff (diff.ts): two dnp3 conduits' `allow` compared field by
 * field, with what a field left out means (dnp3.ts Dnp3Allow: no allow block = every
 * well-formed request and unsolicited responses; no masters/outstations/objects/controls = any;
 * a group without points = any index; no values = any value).
 */
import type { Dnp3Allow, Dnp3ObjectRef, Dnp3Range } from './dnp3';
import { CROB_OPERATIONS, DNP3_FUNCTIONS, dnp3FunctionName } from './dnp3';
import { formatRanges, subtractRanges } from './ranges';

type Effect = 'widens' | 'narrows' | 'changes';
type Add = (what: string, effect: Effect, detail: string, affects: string) => void;

const REQUEST_FUNCTIONS = DNP3_FUNCTIONS.filter((f) => f.response !== true).map((f) => f.code);
const ALL_INDICES: Dnp3Range[] = [{ start: 0, end: 0xffffffff }];
const CROB_NAMES = new Map(Object.entries(CROB_OPERATIONS).map(([k, v]) => [v, k]));
const ref = (r: Dnp3ObjectRef): string => (r.variation === 0 ? `g${r.group}` : `g${r.group}v${r.variation}`);
const minus = <T>(a: readonly T[], b: readonly T[]): T[] => { const s = new Set(b); return a.filter((x) => !s.has(x)); };
const list = (xs: readonly (string | number)[]): string => xs.join(', ');

/** `function object` pairs a block allows, or undefined for any object. */
function objectPairs(a: Dnp3Allow): string[] | undefined {
  if (a.objects === undefined) return undefined;
  if (Array.isArray(a.objects)) { const refs = a.objects; return a.functions.flatMap((f) => refs.map((r) => `${dnp3FunctionName(f)} ${ref(r)}`)); }
  const per = a.objects;
  return Object.keys(per).flatMap((k) => per[k].map((r) => `${dnp3FunctionName(Number(k))} ${ref(r)}`));
}

function sets(add: Add, what: string, o: readonly string[] | undefined, n: readonly string[] | undefined, scope: string, noun: string): void {
  if (o === undefined && n === undefined) return;
  if (o === undefined) { add(what, 'narrows', `any → ${list(n as string[])}`, `${scope}: ${noun} other than ${list(n as string[])} no longer allowed`); return; }
  if (n === undefined) { add(what, 'widens', `${list(o)} → any`, `${scope}: any ${noun} now allowed`); return; }
  const a = minus(n, o), r = minus(o, n);
  if (a.length) add(what, 'widens', `+ ${list(a)}`, `${scope}: ${noun} ${list(a)} now allowed`);
  if (r.length) add(what, 'narrows', `- ${list(r)}`, `${scope}: ${noun} ${list(r)} no longer allowed`);
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
  const vo = o?.values, vn = n?.values;
  if ((vo?.min ?? -Infinity) !== (vn?.min ?? -Infinity) || (vo?.max ?? Infinity) !== (vn?.max ?? Infinity)) {
    const lo = (vn?.min ?? -Infinity) < (vo?.min ?? -Infinity), hi = (vn?.max ?? Infinity) > (vo?.max ?? Infinity);
    const tighter = (vn?.min ?? -Infinity) > (vo?.min ?? -Infinity) || (vn?.max ?? Infinity) < (vo?.max ?? Infinity);
    const effect: Effect = (lo || hi) && tighter ? 'changes' : lo || hi ? 'widens' : 'narrows';
    const text = (v: { min: number; max: number } | undefined): string => (v ? `${v.min}..${v.max}` : 'any');
    add('values', effect, `${text(vo)} → ${text(vn)}`, `${scope}: analog output (g41) values ${effect === 'widens' ? 'outside the old bounds now allowed' : effect === 'narrows' ? 'outside the new bounds no longer allowed' : 'inside one bound and not the other'}`);
  }
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
