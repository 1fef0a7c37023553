/**
 * Narrowing a base conduit to the traffic it allowed: the learnt blocks' functions, units, address
 * ranges and ports, each intersected with what the conduit allows, so a narrowed conduit never
 * allows anything it did not allow before.
 */
import type { AddressRange, Conduit, ModbusAllow } from '../types';
import { MODBUS_FUNCTIONS } from '../modbus';
import { mergeRanges, subtractRanges } from '../ranges';
import type { LearntBlock } from './observed';
import type { Dnp3Allow, Dnp3ObjectRef, Dnp3Range } from '../dnp3';
import type { Iec104Allow } from '../iec104';

const sorted = (xs: Iterable<number>): number[] => [...new Set(xs)].sort((a, b) => a - b);
const within = (xs: number[] | undefined, was: number[] | undefined): number[] | undefined => {
  if (xs === undefined) return was;
  const kept = was === undefined ? xs : xs.filter((x) => was.includes(x));
  return kept.length ? kept : was;
};

const usesGroup = (a: Dnp3Allow, g: number): boolean => a.objects === undefined
  || (Array.isArray(a.objects) ? a.objects : Object.values(a.objects).flat()).some((r) => r.group === g);

/**
 * An iec104 conduit's allow narrowed to the learnt blocks, inside what it allowed: types, common
 * addresses and IOAs seen (a block that saw only station-wide types keeps the conduit's IOAs),
 * set-point bounds; causes and selectBeforeExecute are restrictions of their own, kept.
 */
function narrowIec104(was: Iec104Allow | undefined, learnt: readonly Iec104Allow[]): Iec104Allow {
  const types = sorted(learnt.flatMap((a) => a.types)).filter((t) => was === undefined || was.types.includes(t));
  const out: Iec104Allow = { types: types.length ? types : was?.types ?? [100] };
  const cas = within(sorted(learnt.flatMap((a) => a.commonAddresses ?? [])), was?.commonAddresses);
  if (cas && cas.length) out.commonAddresses = cas;
  const seen = learnt.flatMap((a) => a.ioas ?? []);
  const ioas = seen.length ? intersect(mergeRanges(seen), was?.ioas ?? ALL_IOAS) : was?.ioas;
  if (ioas && ioas.length) out.ioas = ioas;
  if (was?.causes) out.causes = was.causes;
  const values = narrowBounds(learnt, was?.values);
  if (values) out.values = values;
  if (was?.selectBeforeExecute !== undefined) out.selectBeforeExecute = was.selectBeforeExecute;
  return out;
}
const ALL_IOAS = [{ start: 0, end: 0xffffff }];

type Bounds = { min: number; max: number };
/** Learnt value bounds kept inside the conduit's: `was` when nothing was learnt, undefined when they do not meet. */
function narrowBounds(learnt: readonly { values?: Bounds }[], was: Bounds | undefined): Bounds | undefined {
  const vs = learnt.map((a) => a.values).filter((v): v is Bounds => v !== undefined);
  if (vs.length === 0) return was;
  const min = Math.max(Math.min(...vs.map((v) => v.min)), was?.min ?? -Infinity);
  const max = Math.min(Math.max(...vs.map((v) => v.max)), was?.max ?? Infinity);
  return min <= max ? { min, max } : undefined;
}

/**
 * A dnp3 conduit's allow narrowed to the learnt blocks (traffic it allowed): every field is the
 * union of what was learnt, kept inside what the conduit allowed (a field learning left open keeps
 * the conduit's own restriction), so the result never allows more than the conduit did.
 */
function narrowDnp3(was: Dnp3Allow | undefined, learnt: readonly Dnp3Allow[]): Dnp3Allow {
  const functions = sorted(learnt.flatMap((a) => a.functions)).filter((f) => was === undefined || f === 0 || was.functions.includes(f));
  const out: Dnp3Allow = { functions: functions.length ? functions : was?.functions ?? [0] };
  const masters = within(learnt.every((a) => a.masters) ? sorted(learnt.flatMap((a) => a.masters ?? [])) : undefined, was?.masters);
  if (masters) out.masters = masters;
  const outstations = within(learnt.every((a) => a.outstations) ? sorted(learnt.flatMap((a) => a.outstations ?? [])) : undefined, was?.outstations);
  if (outstations) out.outstations = outstations;
  // Objects per function, as learnt (every object seen was allowed by the conduit then).
  if (learnt.every((a) => a.objects !== undefined && !Array.isArray(a.objects))) {
    const per: Record<string, Dnp3ObjectRef[]> = {};
    for (const a of learnt) for (const [k, refs] of Object.entries(a.objects as Record<string, Dnp3ObjectRef[]>)) {
      if (!out.functions.includes(Number(k))) continue;
      const seen = new Set((per[k] ?? []).map((r) => (r.group << 8) | r.variation));
      per[k] = [...(per[k] ?? []), ...refs.filter((r) => !seen.has((r.group << 8) | r.variation))];
    }
    out.objects = per;
  } else if (was?.objects !== undefined) out.objects = was.objects;
  // Points: learnt groups intersected with the conduit's; its other restricted groups kept.
  const points: Record<string, Dnp3Range[]> = {};
  const groups = new Set([...Object.keys(was?.points ?? {}), ...learnt.flatMap((a) => Object.keys(a.points ?? {}))]);
  for (const g of [...groups].sort()) {
    // A block that used the group without restricting its indices (a read of all points) leaves it open.
    const using = learnt.filter((a) => a.points?.[g] !== undefined || usesGroup(a, Number(g.slice(1))));
    const seen = using.length > 0 && using.every((a) => a.points?.[g] !== undefined) ? mergeRanges(using.flatMap((a) => a.points?.[g] ?? [])) : undefined;
    const base = was?.points?.[g];
    const r = seen && base ? intersect(seen, base) : seen ?? base;
    if (r && r.length) points[g] = r;
  }
  if (Object.keys(points).length) out.points = points;
  const values = narrowBounds(learnt, was?.values);
  if (values) out.values = values;
  const controls = within(learnt.some((a) => a.controls) ? sorted(learnt.flatMap((a) => a.controls ?? [])) : undefined, was?.controls);
  if (controls) out.controls = controls;
  const uns = learnt.some((a) => a.unsolicited === true) && (was === undefined || was.unsolicited === true);
  if (uns) out.unsolicited = true;
  return out;
}

const intersect = (a: readonly AddressRange[], b: readonly AddressRange[]): AddressRange[] => subtractRanges(a, subtractRanges(a, b));
const ALL: AddressRange[] = [{ start: 0, end: 65535 }];

/** The conduit narrowed to `blocks`, and whether anything changed. */
export function narrowConduit(c: Conduit, blocks: readonly LearntBlock[]): { conduit: Conduit; changed: boolean } {
  const out: Conduit = { ...c };
  if (c.protocol === 'modbus') {
    const fns = new Set<number>(), units = new Set<number>();
    const subs: { fn: number; sub: number }[] = [];
    const ranges: AddressRange[] = [];
    let anyAddressFree = false;
    for (const b of blocks) {
      const a = b.fields.allow;
      if (!a) continue;
      a.functions.forEach((f) => fns.add(f));
      if (a.subFunctions) subs.push(...a.subFunctions);
      a.units?.forEach((u) => units.add(u));
      if (a.addresses) ranges.push(...a.addresses); else if (a.functions.length) anyAddressFree = true;
    }
    const was: ModbusAllow = c.allow ?? { functions: MODBUS_FUNCTIONS.map((f) => f.code) };
    const allow: ModbusAllow = { functions: was.functions.filter((f) => fns.has(f)) };
    // Sub-functions: a whole FC 08/43 the traffic used only through some sub-functions narrows to
    // those; listed ones stay when seen, or when their function was seen in records without one.
    const seen = (fn: number, sub: number) => subs.some((x) => x.fn === fn && x.sub === sub);
    const narrowedSubs = [
      ...subs.filter((x) => was.functions.includes(x.fn) && !fns.has(x.fn)),
      ...(was.subFunctions ?? []).filter((x) => seen(x.fn, x.sub) || fns.has(x.fn)),
    ].filter((x, i, all) => all.findIndex((y) => y.fn === x.fn && y.sub === x.sub) === i).sort((x, y) => x.fn - y.fn || x.sub - y.sub);
    const u = [...units].filter((x) => was.units === undefined || was.units.includes(x)).sort((x, y) => x - y);
    if (u.length) allow.units = u; else if (was.units) allow.units = was.units;
    if (!anyAddressFree && ranges.length) allow.addresses = intersect(mergeRanges(ranges), was.addresses ?? ALL);
    else if (was.addresses) allow.addresses = was.addresses;
    // Write bounds and coil states are restrictions of their own: kept as they were.
    if (was.values) allow.values = was.values;
    if (was.coils) allow.coils = was.coils;
    if (narrowedSubs.length) allow.subFunctions = narrowedSubs;
    out.allow = allow;
  } else if (c.protocol === 'dnp3') {
    const learnt = blocks.map((b) => b.fields.dnp3).filter((a): a is Dnp3Allow => a !== undefined);
    if (learnt.length) out.dnp3 = narrowDnp3(c.dnp3, learnt);
  } else if (c.protocol === 'iec104') {
    const learnt = blocks.map((b) => b.fields.iec104).filter((a): a is Iec104Allow => a !== undefined);
    if (learnt.length) out.iec104 = narrowIec104(c.iec104, learnt);
  } else {
    const ports = new Set<number>();
    for (const b of blocks) b.fields.ports?.forEach((p) => ports.add(p));
    const kept = [...ports].filter((p) => c.ports === undefined || c.ports.includes(p)).sort((x, y) => x - y);
    if (kept.length) out.ports = kept;
  }
  return { conduit: out, changed: JSON.stringify(out) !== JSON.stringify(c) };
}
