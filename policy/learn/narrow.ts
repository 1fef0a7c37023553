/**
 * Narrowing a base conduit to the traffic it allowed: the learnt blocks' functions, units, address
 * ranges and ports, each intersected with what the conduit allows, so a narrowed conduit never
 * allows anything it did not allow before.
 */
import type { AddressRange, Conduit, ModbusAllow } from '../types';
import { MODBUS_FUNCTIONS } from '../modbus';
import { mergeRanges, subtractRanges } from '../ranges';
import type { LearntBlock } from './observed';

const intersect = (a: readonly AddressRange[], b: readonly AddressRange[]): AddressRange[] => subtractRanges(a, subtractRanges(a, b));
const ALL: AddressRange[] = [{ start: 0, end: 65535 }];

/** The conduit narrowed to `blocks`, and whether anything changed. */
export function narrowConduit(c: Conduit, blocks: readonly LearntBlock[]): { conduit: Conduit; changed: boolean } {
  const out: Conduit = { ...c };
  if (c.protocol === 'modbus') {
    const fns = new Set<number>(), units = new Set<number>();
    const ranges: AddressRange[] = [];
    let anyAddressFree = false;
    for (const b of blocks) {
      const a = b.fields.allow;
      if (!a) continue;
      a.functions.forEach((f) => fns.add(f));
      a.units?.forEach((u) => units.add(u));
      if (a.addresses) ranges.push(...a.addresses); else if (a.functions.length) anyAddressFree = true;
    }
    const was: ModbusAllow = c.allow ?? { functions: MODBUS_FUNCTIONS.map((f) => f.code) };
    const allow: ModbusAllow = { functions: was.functions.filter((f) => fns.has(f)) };
    const u = [...units].filter((x) => was.units === undefined || was.units.includes(x)).sort((x, y) => x - y);
    if (u.length) allow.units = u; else if (was.units) allow.units = was.units;
    if (!anyAddressFree && ranges.length) allow.addresses = intersect(mergeRanges(ranges), was.addresses ?? ALL);
    else if (was.addresses) allow.addresses = was.addresses;
    out.allow = allow;
  } else {
    const ports = new Set<number>();
    for (const b of blocks) b.fields.ports?.forEach((p) => ports.add(p));
    const kept = [...ports].filter((p) => c.ports === undefined || c.ports.includes(p)).sort((x, y) => x - y);
    if (kept.length) out.ports = kept;
  }
  return { conduit: out, changed: JSON.stringify(out) !== JSON.stringify(c) };
}
