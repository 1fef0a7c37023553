/**
 * The request PDU of a decision request as a person writes it (`policy explain`, `policy test`):
 * the bytes a Modbus master would send for that operation (Modbus Application Protocol V1.1b3
 * section 6), so that sub-function and value checks read requests from the CLI exactly as they
 * read them from the wire. Only what those checks read is encoded.
 */
import type { DecisionRequest } from './types';
import { modbusFunction } from './modbus';

type Op = NonNullable<DecisionRequest['modbus']>;

/** A sub-function given as a code or a name of function fn's table, or -1. */
export function subFunctionCode(fn: number, sub: number | string | undefined): number {
  if (sub === undefined) return -1;
  if (typeof sub === 'number') return Number.isInteger(sub) && sub >= 0 && sub <= 0xffff ? sub : -1;
  const s = sub.trim().toLowerCase();
  const named = modbusFunction(fn)?.subFunctions?.find((x) => x.name === s);
  if (named) return named.code;
  return /^(0x[0-9a-f]{1,4}|\d{1,5})$/.test(s) && Number(s) <= 0xffff ? Number(s) : -1;
}

/**
 * The PDU of `op` for function `fn`, or null when the request says nothing a check could read
 * (no sub-function for FC 8/43, no values for a write): the checks then treat it as unknown.
 */
export function encodeRequestPdu(fn: number, op: Op): Uint8Array | null {
  const f = modbusFunction(fn);
  if (!f || f.code !== fn) return null;
  if (f.subFunctionBytes !== undefined) {
    const sub = subFunctionCode(fn, op.subFunction);
    if (sub < 0) return null;
    return f.subFunctionBytes === 1 ? Uint8Array.of(fn, sub & 0xff, 0, 0) : Uint8Array.of(fn, sub >> 8, sub & 0xff, 0, 0);
  }
  const values = op.values;
  if (values === undefined || values.length === 0) return null;
  if (f.access !== 'write' && f.access !== 'read-write') return null;
  const address = op.address ?? 0;
  const words = (start: number, n: number, head: number[]): Uint8Array => {
    const b = new Uint8Array(head.length + 2 * n);
    b.set(head);
    for (let i = 0; i < n; i++) { const w = (values[i] ?? 0) & 0xffff; b[head.length + 2 * i] = w >> 8; b[head.length + 2 * i + 1] = w & 0xff; }
    return b;
  };
  const hi = (x: number): number => (x >> 8) & 0xff;
  const lo = (x: number): number => x & 0xff;
  switch (f.shape) {
    case 'single':
      if (f.table === 'coils') return Uint8Array.of(fn, hi(address), lo(address), values[0] ? 0xff : 0, 0);
      return words(0, 1, [fn, hi(address), lo(address)]);
    case 'mask': return words(0, 2, [fn, hi(address), lo(address)]);
    case 'multiple': {
      const n = op.count ?? values.length;
      if (f.table === 'coils') {
        const bc = (n + 7) >> 3;
        const b = new Uint8Array(6 + bc);
        b.set([fn, hi(address), lo(address), hi(n), lo(n), bc]);
        for (let i = 0; i < n; i++) if (values[i]) b[6 + (i >> 3)] |= 1 << (i & 7);
        return b;
      }
      return words(0, n, [fn, hi(address), lo(address), hi(n), lo(n), (2 * n) & 0xff]);
    }
    case 'read-write': {
      const n = op.writeCount ?? values.length;
      const wa = op.writeAddress ?? address;
      const rc = op.count ?? 1;
      return words(0, n, [fn, hi(address), lo(address), hi(rc), lo(rc), hi(wa), lo(wa), hi(n), lo(n), (2 * n) & 0xff]);
    }
    default: return null;
  }
}
