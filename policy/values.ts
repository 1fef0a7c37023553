/**
 * Write bounds and sub-functions in the index: per conduit, the value rules of its registers
 * (allow.values) and the coil states it allows (allow.coils) as sorted typed arrays, and the
 * sub-functions it allows one by one as bitsets. The checks read the request PDU in place
 * (Modbus Application Protocol V1.1b3 section 6: 6.5 FC 5, 6.6 FC 6, 6.11 FC 15, 6.12 FC 16,
 * 6.16 FC 22, 6.17 FC 23, 6.8 FC 8, 6.19 FC 43) and allocate nothing.
 *
 * FC 22 (mask write) sets (current AND and) OR (or AND NOT and): the register's current value is
 * unknown here, so the write is allowed only when EVERY value it can produce lies inside the
 * rule: the bits it fixes are or & ~and, the bits it leaves free are `and`, and the smallest and
 * largest results (signed or unsigned) must both be in range. A mask write to half of a 32-bit
 * pair, a single-register write to a 32-bit pair, or a multi-register write that covers half a
 * pair is refused: its value cannot be known.
 */
import type { ModbusAllow, ValueType } from './types';
import { MODBUS_FUNCTIONS } from './modbus';

export const VALUE_TYPES: readonly ValueType[] = ['uint16', 'int16', 'uint32', 'int32', 'float32'];
const T_U16 = 0, T_I16 = 1, T_U32 = 2, T_I32 = 3; // 4: float32

/** The bounds each value type can express (float32: its finite range). */
export const TYPE_LIMITS: Readonly<Record<ValueType, readonly [number, number]>> = Object.freeze({
  uint16: [0, 0xffff], int16: [-0x8000, 0x7fff], uint32: [0, 0xffffffff], int32: [-0x80000000, 0x7fffffff],
  float32: [-3.4028234663852886e38, 3.4028234663852886e38],
});

// What a function writes and where its values sit (by function code, from the table in modbus.ts).
const W_NONE = 0, W_REG_SINGLE = 1, W_REG_MULTI = 2, W_REG_MASK = 3, W_REG_RW = 4, W_COIL_SINGLE = 5, W_COIL_MULTI = 6;
const WRITE_KIND = new Uint8Array(256);
/** Functions with sub-functions: their slot in the per-conduit sub-function words, else -1. */
export const SUB_SLOT = new Int8Array(256).fill(-1);
export const SUB_SLOTS = MODBUS_FUNCTIONS.filter((f) => f.subFunctions !== undefined).length;
let nextSlot = 0;
for (const f of MODBUS_FUNCTIONS) {
  if (f.subFunctions) SUB_SLOT[f.code] = nextSlot++;
  if (f.access !== 'write' && f.access !== 'read-write') continue;
  if (f.table === 'holding-registers') {
    WRITE_KIND[f.code] = f.shape === 'single' ? W_REG_SINGLE : f.shape === 'multiple' ? W_REG_MULTI
      : f.shape === 'mask' ? W_REG_MASK : f.shape === 'read-write' ? W_REG_RW : W_NONE;
  } else if (f.table === 'coils') {
    WRITE_KIND[f.code] = f.shape === 'single' ? W_COIL_SINGLE : f.shape === 'multiple' ? W_COIL_MULTI : W_NONE;
  }
}

/** Whether write bounds can apply to this function code (reads skip the check entirely). */
export function writesValues(fn: number): boolean {
  return WRITE_KIND[fn & 0xff] !== W_NONE;
}

/** The compiled rules of every conduit (conduit c's rules: [off[c], off[c+1])). */
export interface ValueTables {
  readonly vOff: Int32Array;
  readonly vStart: Int32Array;
  readonly vEnd: Int32Array;
  readonly vType: Uint8Array;
  /** 1: low word first. */
  readonly vLittle: Uint8Array;
  readonly vMin: Float64Array;
  readonly vMax: Float64Array;
  readonly kOff: Int32Array;
  readonly kStart: Int32Array;
  readonly kEnd: Int32Array;
  /** Bit 0: off allowed; bit 1: on allowed. */
  readonly kStates: Uint8Array;
  /** Per conduit, 8 words: functions allowed only through the listed sub-functions. */
  readonly subOnly: Uint32Array;
  /** Per conduit, SUB_SLOTS words: allowed sub-function codes (all < 32) of each slot. */
  readonly subs: Uint32Array;
}

/** Builds ValueTables conduit by conduit, in conduit order. */
export class ValueTablesBuilder {
  private readonly vOff: number[] = [0];
  private readonly v = { start: [] as number[], end: [] as number[], type: [] as number[], little: [] as number[], min: [] as number[], max: [] as number[] };
  private readonly kOff: number[] = [0];
  private readonly k = { start: [] as number[], end: [] as number[], states: [] as number[] };
  private readonly subOnly: Uint32Array;
  private readonly subs: Uint32Array;
  private c = 0;

  constructor(conduits: number) {
    this.subOnly = new Uint32Array(conduits * 8);
    this.subs = new Uint32Array(conduits * SUB_SLOTS);
  }

  /** Adds the next conduit's allow (undefined: allow all, no rules). */
  add(allow: ModbusAllow | undefined): void {
    const c = this.c++;
    if (allow?.values) {
      for (const r of [...allow.values].sort((a, b) => a.start - b.start)) {
        this.v.start.push(r.start); this.v.end.push(r.end); this.v.type.push(VALUE_TYPES.indexOf(r.type));
        this.v.little.push(r.order === 'little' ? 1 : 0); this.v.min.push(r.min); this.v.max.push(r.max);
      }
    }
    this.vOff.push(this.v.start.length);
    if (allow?.coils) {
      for (const r of [...allow.coils].sort((a, b) => a.start - b.start)) {
        this.k.start.push(r.start); this.k.end.push(r.end); this.k.states.push((r.off ? 1 : 0) | (r.on ? 2 : 0));
      }
    }
    this.kOff.push(this.k.start.length);
    if (allow?.subFunctions) {
      for (const { fn, sub } of allow.subFunctions) {
        const slot = SUB_SLOT[fn & 0xff];
        if (slot < 0 || sub < 0 || sub > 31 || allow.functions.includes(fn)) continue;
        this.subOnly[c * 8 + (fn >>> 5)] |= 1 << (fn & 31);
        this.subs[c * SUB_SLOTS + slot] |= 1 << sub;
      }
    }
  }

  build(): ValueTables {
    return {
      vOff: Int32Array.from(this.vOff), vStart: Int32Array.from(this.v.start), vEnd: Int32Array.from(this.v.end),
      vType: Uint8Array.from(this.v.type), vLittle: Uint8Array.from(this.v.little),
      vMin: Float64Array.from(this.v.min), vMax: Float64Array.from(this.v.max),
      kOff: Int32Array.from(this.kOff), kStart: Int32Array.from(this.k.start), kEnd: Int32Array.from(this.k.end),
      kStates: Uint8Array.from(this.k.states), subOnly: this.subOnly, subs: this.subs,
    };
  }
}

/** Whether conduit c allows function fn only through some of its sub-functions. */
export function subFunctionRestricted(v: ValueTables, c: number, fn: number): boolean {
  return (v.subOnly[c * 8 + (fn >>> 5)] & (1 << (fn & 31))) !== 0;
}

/** Whether conduit c lists sub-function `sub` (-1: unknown, never listed) of fn. */
export function subFunctionAllowed(v: ValueTables, c: number, fn: number, sub: number): boolean {
  const slot = SUB_SLOT[fn & 0xff];
  return slot >= 0 && sub >= 0 && sub < 32 && (v.subs[c * SUB_SLOTS + slot] & (1 << sub)) !== 0;
}

const u16 = (b: Uint8Array, i: number): number => (b[i] << 8) | b[i + 1];

// Scratch for reading a float32 from its bits: module-private, written and read within one call.
const F32 = new Float32Array(1);
const F32_BITS = new Uint32Array(F32.buffer);

/** Checks `n` register words at pdu[p..] written from address a0 against conduit c's rules. */
function registersOk(v: ValueTables, c: number, a0: number, n: number, pdu: Uint8Array, p: number): boolean {
  let r = v.vOff[c];
  const rEnd = v.vOff[c + 1];
  let i = 0;
  while (i < n) {
    const addr = a0 + i;
    while (r < rEnd && v.vEnd[r] < addr) r++;
    if (r === rEnd) return true;
    const start = v.vStart[r];
    if (start > addr) { i += start - addr; continue; } // free registers up to the next rule
    const type = v.vType[r];
    const min = v.vMin[r], max = v.vMax[r];
    // Every register of the write inside this rule, in one tight loop.
    const last = Math.min(n, i + v.vEnd[r] - addr + 1);
    if (type === T_U16 || type === T_I16) {
      const signed = type === T_I16;
      for (; i < last; i++) {
        const w = (pdu[p + 2 * i] << 8) | pdu[p + 2 * i + 1];
        const value = signed ? (w << 16) >> 16 : w;
        if (value < min || value > max) return false;
      }
      continue;
    }
    if (((addr - start) & 1) !== 0 || ((last - i) & 1) !== 0) return false; // half a pair
    const little = v.vLittle[r] === 1;
    for (; i < last; i += 2) {
      const w0 = u16(pdu, p + 2 * i), w1 = u16(pdu, p + 2 * i + 2);
      const bits = (little ? (w1 << 16) | w0 : (w0 << 16) | w1) >>> 0;
      let value: number;
      if (type === T_U32) value = bits;
      else if (type === T_I32) value = bits | 0;
      else { F32_BITS[0] = bits; value = F32[0]; }
      if (!(value >= min && value <= max)) return false; // NaN fails too
    }
  }
  return true;
}

/** FC 22 on one register: every value the mask can produce must be inside the rule. */
function maskOk(v: ValueTables, c: number, addr: number, and: number, or: number): boolean {
  for (let r = v.vOff[c], e = v.vOff[c + 1]; r < e; r++) {
    if (v.vEnd[r] < addr) continue;
    if (v.vStart[r] > addr) return true;
    const type = v.vType[r];
    if (type !== T_U16 && type !== T_I16) return false;
    const fixed = or & ~and & 0xffff;
    let lo: number, hi: number;
    if (type === T_U16) { lo = fixed; hi = fixed | and; } else if ((and & 0x8000) !== 0) {
      lo = ((fixed | 0x8000) << 16) >> 16; // sign set, other free bits clear
      hi = fixed | (and & 0x7fff); // sign clear, other free bits set
    } else { lo = (fixed << 16) >> 16; hi = ((fixed | and) << 16) >> 16; }
    return lo >= v.vMin[r] && hi <= v.vMax[r];
  }
  return true;
}

/** Checks coil states: `state(i)` of n coils from a0; bits at pdu[p..] (FC 15) or one state. */
function coilsOk(v: ValueTables, c: number, a0: number, n: number, pdu: Uint8Array, p: number, single: number): boolean {
  let r = v.kOff[c];
  const rEnd = v.kOff[c + 1];
  for (let i = 0; i < n; i++) {
    const addr = a0 + i;
    while (r < rEnd && v.kEnd[r] < addr) r++;
    if (r === rEnd) return true;
    if (v.kStart[r] > addr) continue;
    const on = single >= 0 ? single : (pdu[p + (i >> 3)] >> (i & 7)) & 1;
    if ((v.kStates[r] & (on === 1 ? 2 : 1)) === 0) return false;
  }
  return true;
}

/** Whether one of conduit c's rules (coils or registers) covers an address in lo..hi. */
function ruleCovers(starts: Int32Array, ends: Int32Array, a: number, b: number, lo: number, hi: number): boolean {
  for (let r = a; r < b; r++) if (starts[r] <= hi && ends[r] >= lo) return true;
  return false;
}

/**
 * Whether the values a write request carries are inside conduit c's rules. `pdu` null (values
 * unknown) passes only when no rule covers the written addresses lo..hi; a PDU too short for its
 * values fails.
 */
export function writeValuesAllowed(v: ValueTables, c: number, fn: number, pdu: Uint8Array | null, off: number, len: number, lo: number, hi: number): boolean {
  const kind = WRITE_KIND[fn & 0xff];
  if (kind === W_NONE) return true;
  const coils = kind === W_COIL_SINGLE || kind === W_COIL_MULTI;
  if (coils ? v.kOff[c] === v.kOff[c + 1] : v.vOff[c] === v.vOff[c + 1]) return true;
  if (pdu === null) {
    return coils ? !ruleCovers(v.kStart, v.kEnd, v.kOff[c], v.kOff[c + 1], lo, hi)
      : !ruleCovers(v.vStart, v.vEnd, v.vOff[c], v.vOff[c + 1], lo, hi);
  }
  switch (kind) {
    case W_REG_SINGLE: return len >= 5 && registersOk(v, c, u16(pdu, off + 1), 1, pdu, off + 3);
    case W_REG_MULTI: {
      const n = len >= 6 ? u16(pdu, off + 3) : 0;
      return n >= 1 && len >= 6 + 2 * n && registersOk(v, c, u16(pdu, off + 1), n, pdu, off + 6);
    }
    case W_REG_RW: {
      const n = len >= 10 ? u16(pdu, off + 7) : 0;
      return n >= 1 && len >= 10 + 2 * n && registersOk(v, c, u16(pdu, off + 5), n, pdu, off + 10);
    }
    case W_REG_MASK: return len >= 7 && maskOk(v, c, u16(pdu, off + 1), u16(pdu, off + 3), u16(pdu, off + 5));
    case W_COIL_SINGLE: {
      if (len < 5) return false;
      const w = u16(pdu, off + 3);
      return (w === 0xff00 || w === 0) && coilsOk(v, c, u16(pdu, off + 1), 1, pdu, 0, w === 0xff00 ? 1 : 0);
    }
    default: { // W_COIL_MULTI
      const n = len >= 6 ? u16(pdu, off + 3) : 0;
      return n >= 1 && len >= 6 + ((n + 7) >> 3) && coilsOk(v, c, u16(pdu, off + 1), n, pdu, off + 6, -1);
    }
  }
}
