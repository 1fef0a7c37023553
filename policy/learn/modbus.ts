/**
 * Modbus/TCP in replay and learning: re-deciding a recorded request through the same hot path
 * the proxy uses, and learning per source × asset the functions, units and address ranges seen.
 * Learnt operations are split by access (reads, writes, FC 23 read-write, diagnostics), so that
 * a source that reads 0-99 and writes 1000-1019 gets two conduits, not writes to 0-99.
 */
import type { AddressRange, ModbusAllow } from '../types';
import type { ScopeState } from '../decide';
import { decideModbus, decideOperation } from '../decide';
import { modbusFunction, modbusFunctionName, modbusSubFunctionName } from '../modbus';
import { mergeWithin } from '../ranges';
import { boundaryProbes, type LearntBlock, type Observation, type OperationLearner, type ProtocolHandler } from './observed';

type Access = 'read' | 'write' | 'read-write' | 'diagnostic';
const ACCESS_ORDER: Access[] = ['read', 'write', 'read-write', 'diagnostic'];

/** FC 23's write range, which the proxy records in `detail` (drivers/modbus-tcp/connection.ts). */
function writeRange(obs: Observation): { address: number; count: number } | undefined {
  const a = obs.detail?.writeAddress, c = obs.detail?.writeCount;
  return typeof a === 'number' && typeof c === 'number' ? { address: a, count: c } : undefined;
}

/** The inclusive register range an operation touches, or undefined for functions without one. */
function rangeOf(fn: number, address: number, count: number): AddressRange | undefined {
  const f = modbusFunction(fn);
  if (!f || f.shape === 'none') return undefined;
  if (f.shape === 'range' || f.shape === 'multiple' || f.shape === 'read-write') {
    if (count < 1 || address + count - 1 > 65535) return undefined;
    return { start: address, end: address + count - 1 };
  }
  return { start: address, end: address };
}

/**
 * The request PDU of a recorded write, rebuilt from its audited values (Modbus Application
 * Protocol 6.5, 6.6, 6.11, 6.12, 6.16, 6.17), so that write bounds and coil states are checked as
 * the proxy checked them; null when the record has no values or they do not fit the request.
 */
export function writePdu(fn: number, address: number, count: number, values: readonly number[] | undefined, w?: { address: number; count: number }): Uint8Array | null {
  const f = modbusFunction(fn);
  if (!f || !Array.isArray(values)) return null;
  const coils = f.table === 'coils';
  const u16 = (b: number[], x: number): void => { b.push((x >> 8) & 0xff, x & 0xff); };
  const b: number[] = [fn];
  switch (f.shape) {
    case 'single':
      if (values.length !== 1) return null;
      u16(b, address); u16(b, coils ? (values[0] ? 0xff00 : 0) : values[0]);
      break;
    case 'multiple': {
      if (values.length !== count || count < 1) return null;
      u16(b, address); u16(b, count);
      if (coils) {
        const bytes = new Array<number>((count + 7) >> 3).fill(0);
        values.forEach((v, i) => { if (v) bytes[i >> 3] |= 1 << (i & 7); });
        b.push(bytes.length, ...bytes);
      } else { b.push(2 * count); for (const v of values) u16(b, v); }
      break;
    }
    case 'mask':
      if (values.length !== 2) return null;
      u16(b, address); u16(b, values[0]); u16(b, values[1]);
      break;
    case 'read-write':
      if (!w || values.length !== w.count || w.count < 1) return null;
      u16(b, address); u16(b, count); u16(b, w.address); u16(b, w.count); b.push(2 * w.count);
      for (const v of values) u16(b, v);
      break;
    default:
      return null;
  }
  return Uint8Array.from(b);
}

/**
 * The request PDU of a recorded FC 08 / FC 43 request, as far as the decision reads it: the
 * function code and the audited sub-function (6.8: two bytes, then a data word; 6.19: the MEI
 * type, then its two bytes); null for other functions, or when the record has no sub-function
 * (recorded before the drivers audited it: decided without, as then).
 */
export function subFunctionPdu(fn: number, sub: unknown): Uint8Array | null {
  const n = modbusFunction(fn)?.subFunctionBytes;
  if (n === undefined || typeof sub !== 'number' || !Number.isInteger(sub) || sub < 0 || sub >= 1 << (8 * n)) return null;
  return n === 1 ? Uint8Array.of(fn, sub, 0, 0) : Uint8Array.of(fn, sub >> 8, sub & 0xff, 0, 0);
}

/**
 * The addresses an access group touched: sorted, disjoint, non-adjacent inclusive intervals as
 * pairs in one Int32Array, merged as they are added (what mergeRanges makes of the raw ranges).
 * A million records over ten thousand sources and assets keep a few intervals each, not a set
 * entry per distinct request.
 */
export class IntervalList {
  private a = new Int32Array(4);
  private n = 0;

  add(start: number, end: number): void {
    const a = this.a;
    // The first interval whose end reaches start - 1 (it may merge), by binary search.
    let lo = 0, hi = this.n;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (a[2 * mid + 1] < start - 1) lo = mid + 1; else hi = mid; }
    // Intervals lo..j-1 overlap or touch [start, end]: replace them with their union.
    let j = lo;
    let s = start, e = end;
    while (j < this.n && a[2 * j] <= end + 1) { if (a[2 * j] < s) s = a[2 * j]; if (a[2 * j + 1] > e) e = a[2 * j + 1]; j++; }
    const removed = j - lo;
    if (removed === 1) { a[2 * lo] = s; a[2 * lo + 1] = e; return; }
    if (removed === 0) {
      if (2 * (this.n + 1) > a.length) { const b = new Int32Array(a.length * 2); b.set(a); this.a = b; }
      this.a.copyWithin(2 * lo + 2, 2 * lo, 2 * this.n);
      this.n++;
    } else {
      a.copyWithin(2 * lo + 2, 2 * j, 2 * this.n);
      this.n -= removed - 1;
    }
    this.a[2 * lo] = s;
    this.a[2 * lo + 1] = e;
  }

  list(): AddressRange[] {
    const out: AddressRange[] = [];
    for (let i = 0; i < this.n; i++) out.push({ start: this.a[2 * i], end: this.a[2 * i + 1] });
    return out;
  }
}

class AccessGroup {
  functions = new Set<number>();
  /** FC 08 / FC 43 requests recorded with their sub-function: `fn << 16 | sub` (learnt one by one). */
  subs = new Set<number>();
  units = new Set<number>();
  ranges = new IntervalList();
  count = 0;
  example: Record<string, unknown> | null = null;

  addRange(r: AddressRange | undefined): void {
    if (r) this.ranges.add(r.start, r.end);
  }

  rangeList(): AddressRange[] {
    return this.ranges.list();
  }
}

class ModbusLearner implements OperationLearner {
  private readonly groups = new Map<Access, AccessGroup>();
  private connects = 0;

  add(obs: Observation): void {
    const m = obs.modbus;
    if (!m) { this.connects++; return; }
    const f = modbusFunction(m.function);
    if (!f || modbusFunction(m.function)?.code !== m.function) return; // unknown codes are never learnt
    const access: Access = f.access;
    let g = this.groups.get(access);
    if (!g) { g = new AccessGroup(); this.groups.set(access, g); }
    g.count++;
    // A sub-function the record names is learnt alone (`diagnostics/return-query-data`), not the
    // whole function; records from before the drivers audited it learn the function, as then.
    if (subFunctionPdu(m.function, m.sub) !== null) g.subs.add(m.function * 0x10000 + (m.sub as number));
    else g.functions.add(m.function);
    g.units.add(m.unit);
    g.addRange(rangeOf(m.function, m.address, m.count));
    const w = writeRange(obs);
    if (w) g.addRange(rangeOf(m.function, w.address, w.count));
    // FC 23 cannot be written as a policy test request (no write range there): no example for it.
    if (g.example === null && f.shape !== 'read-write') {
      const sub = subFunctionPdu(m.function, m.sub) !== null ? { subFunction: m.sub as number } : {};
      g.example = { modbus: { function: m.function, unit: m.unit, address: m.address, count: Math.max(1, m.count), ...sub } };
    }
  }

  blocks(slack: number): LearntBlock[] {
    const used = ACCESS_ORDER.filter((a) => this.groups.has(a));
    if (used.length === 0) {
      // Connections that never sent a request: a conduit that lets them connect and do nothing.
      return [{ suffix: '', fields: { allow: { functions: [] } }, example: {}, probes: [], count: this.connects }];
    }
    return used.map((access) => {
      const g = this.groups.get(access) as AccessGroup;
      const functions = [...g.functions].sort((a, b) => a - b);
      const units = [...g.units].sort((a, b) => a - b);
      const ranges = mergeWithin(g.rangeList(), slack);
      const allow: ModbusAllow = { functions, units };
      const subFunctions = [...g.subs].sort((a, b) => a - b).map((x) => ({ fn: Math.floor(x / 0x10000), sub: x % 0x10000 })).filter((x) => !g.functions.has(x.fn));
      if (subFunctions.length > 0) allow.subFunctions = subFunctions;
      if (ranges.length > 0) allow.addresses = ranges;
      // Boundary probes: the first address-carrying function just outside the ranges (observed.ts).
      const probeFn = functions.find((fn) => { const s = modbusFunction(fn)?.shape; return s !== undefined && s !== 'none' && s !== 'read-write'; });
      const probes: Record<string, unknown>[] = [];
      if (probeFn !== undefined) {
        for (const address of boundaryProbes(ranges, 65535)) probes.push({ modbus: { function: probeFn, unit: units[0], address, count: 1 } });
      }
      // And per function learnt only through some sub-functions, the first one it did not see.
      for (const fn of new Set(subFunctions.map((x) => x.fn))) {
        const other = modbusFunction(fn)?.subFunctions?.find((x) => !subFunctions.some((y) => y.fn === fn && y.sub === x.code));
        if (other) probes.push({ modbus: { function: fn, unit: units[0] ?? 1, address: 0, count: 1, subFunction: other.code } });
      }
      return { suffix: access, fields: { allow }, example: g.example ?? {}, probes, count: g.count };
    });
  }
}

export const modbusHandler: ProtocolHandler = {
  recordProtocol: 'modbus',
  policyProtocol: 'modbus',
  isOperation: (obs) => obs.modbus !== undefined,
  decideOperation(scope: ScopeState, obs: Observation, at: number) {
    const m = obs.modbus;
    if (!m) return null;
    const w = writeRange(obs);
    const pdu = writePdu(m.function, m.address, m.count, m.values, w) ?? subFunctionPdu(m.function, m.sub);
    if (pdu !== null) {
      return decideOperation(scope, { fn: m.function, unit: m.unit, address: m.address, count: m.count, writeAddress: w?.address ?? 0, writeCount: w?.count ?? 0, pdu, pduOffset: 0, pduLength: pdu.length }, at);
    }
    return w ? decideModbus(scope, m.function, m.unit, m.address, m.count, at, w.address, w.count)
      : decideModbus(scope, m.function, m.unit, m.address, m.count, at);
  },
  describe(obs) {
    const m = obs.modbus;
    if (!m) return 'connect';
    const w = writeRange(obs);
    const name = subFunctionPdu(m.function, m.sub) !== null ? modbusSubFunctionName(m.function, m.sub as number) : modbusFunctionName(m.function);
    return `${name} unit ${m.unit} @${m.address}${m.count > 1 ? `+${m.count}` : ''}${w ? ` write @${w.address}+${w.count}` : ''}`;
  },
  newLearner: () => new ModbusLearner(),
};
