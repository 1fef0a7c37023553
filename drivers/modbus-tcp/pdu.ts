/**
 * Request PDU parsing by shape (Modbus Application Protocol Specification V1.1b3, section 6).
 * The shape of each function comes from the one table in policy/modbus.ts; this file only knows
 * how each shape lays out its bytes. Parsing reads the frame in place into a reused record.
 */
import { modbusFunction, pduSubFunction } from '../../policy/modbus';
import type { ModbusOperation } from '../../policy/types';
import type { AuditEvent } from '../types';

/** One parsed request; a connection reuses one instance for every frame (the decider reads it as a ModbusOperation). */
export class ModbusRequest implements ModbusOperation {
  /** Function code (PDU byte 0). */
  fn = 0;
  /** Unit id (set by the framing: MBAP byte 6, RTU byte 0). */
  unit = 0;
  /** The frame the PDU lies in, at pduOffset, pduLength bytes (function code first). */
  pdu: Uint8Array | null = null;
  pduOffset = 0;
  pduLength = 0;
  /** First data address (FC 23: the read range) and quantity; 0 where the function has none. */
  address = 0;
  count = 0;
  /** FC 23 only: the write range. */
  writeAddress = 0;
  writeCount = 0;
  /** Whether policy/modbus.ts knows the function code (unknown ones are answered 01). */
  known = false;
  /** Whether the function writes (audit records the values written). */
  writes = false;
  /**
   * A value the specification forbids although the MBAP length delimits the frame (FC 5 value
   * other than 0x0000/0xFF00, FC 15/16/23 quantity out of range or byte count disagreeing with the
   * quantity or with the bytes that follow). Answered with exception 03, not closed.
   */
  invalid: string | null = null;
}

const u16 = (b: Buffer, i: number): number => (b[i] << 8) | b[i + 1];

/**
 * Parses the PDU at buf[pdu .. pdu+pduLength) into `out`. Returns null when the bytes agree with
 * the function's shape, else a message saying what disagrees (a framing error: the driver closes
 * the connection). Unknown function codes and shape `none` parse with address 0, count 0 and any
 * length; the policy decides them.
 */
export function parseRequestPdu(buf: Buffer, pdu: number, pduLength: number, out: ModbusRequest): string | null {
  const fn = buf[pdu];
  out.fn = fn;
  out.pdu = buf;
  out.pduOffset = pdu;
  out.pduLength = pduLength;
  out.address = 0;
  out.count = 0;
  out.writeAddress = 0;
  out.writeCount = 0;
  out.invalid = null;
  const f = modbusFunction(fn);
  if (f === undefined || fn !== f.code) {
    out.known = false;
    out.writes = false;
    return null;
  }
  out.known = true;
  out.writes = f.access === 'write' || f.access === 'read-write';
  switch (f.shape) {
    case 'range': // 6.1-6.4: fc, start, quantity
      if (pduLength !== 5) return `${f.name}: PDU is ${pduLength} bytes, expected 5`;
      out.address = u16(buf, pdu + 1);
      out.count = u16(buf, pdu + 3);
      return null;
    case 'single': { // 6.5, 6.6: fc, address, value
      if (pduLength !== 5) return `${f.name}: PDU is ${pduLength} bytes, expected 5`;
      out.address = u16(buf, pdu + 1);
      out.count = 1;
      const value = u16(buf, pdu + 3);
      if (f.table === 'coils' && value !== 0x0000 && value !== 0xff00) {
        out.invalid = `${f.name}: value 0x${value.toString(16).padStart(4, '0')} is neither 0x0000 nor 0xFF00`;
      }
      return null;
    }
    case 'multiple': { // 6.11, 6.12: fc, start, quantity, byte count, values
      // The MBAP length delimits the frame; a byte count or quantity that disagrees with it or with
      // the limits is a request error (exception 03, figures 23 and 24), not a framing error.
      if (pduLength < 6) return `${f.name}: PDU is ${pduLength} bytes, expected at least 6`;
      out.address = u16(buf, pdu + 1);
      const n = u16(buf, pdu + 3);
      out.count = n;
      const byteCount = buf[pdu + 5];
      const expected = f.table === 'coils' ? (n + 7) >> 3 : 2 * n;
      if (n < 1 || n > f.maxCount) out.invalid = `${f.name}: quantity ${n} outside 1..${f.maxCount}`;
      else if (byteCount !== expected) out.invalid = `${f.name}: byte count ${byteCount} does not match quantity ${n} (expected ${expected})`;
      else if (pduLength !== 6 + byteCount) out.invalid = `${f.name}: byte count ${byteCount} but ${pduLength - 6} value bytes follow`;
      return null;
    }
    case 'mask': // 6.16: fc, address, and-mask, or-mask
      if (pduLength !== 7) return `${f.name}: PDU is ${pduLength} bytes, expected 7`;
      out.address = u16(buf, pdu + 1);
      out.count = 1;
      return null;
    case 'read-write': { // 6.17: fc, read start, read qty, write start, write qty, byte count, values
      if (pduLength < 10) return `${f.name}: PDU is ${pduLength} bytes, expected at least 10`;
      out.address = u16(buf, pdu + 1);
      out.count = u16(buf, pdu + 3);
      out.writeAddress = u16(buf, pdu + 5);
      const n = u16(buf, pdu + 7);
      out.writeCount = n;
      const byteCount = buf[pdu + 9];
      const max = f.maxWriteCount ?? f.maxCount;
      if (n < 1 || n > max) out.invalid = `${f.name}: write quantity ${n} outside 1..${max}`;
      else if (byteCount !== 2 * n) out.invalid = `${f.name}: byte count ${byteCount} does not match write quantity ${n} (expected ${2 * n})`;
      else if (pduLength !== 10 + byteCount) out.invalid = `${f.name}: byte count ${byteCount} but ${pduLength - 10} value bytes follow`;
      return null;
    }
    case 'fifo': // 6.18: fc, FIFO pointer address
      if (pduLength !== 3) return `${f.name}: PDU is ${pduLength} bytes, expected 3`;
      out.address = u16(buf, pdu + 1);
      out.count = 1;
      return null;
    default: // 'none': diagnostics, identification, file records: no address to check here
      return null;
  }
}

/**
 * A request's `modbus` audit fields, as both Modbus drivers record them: function, unit, address,
 * count; the values a write carries; and `sub`, FC 08's diagnostics sub-function (Modbus
 * Application Protocol 6.8) or FC 43's MEI type (6.19), only for those (replay re-decides
 * sub-function conduits from it). Call only after parseRequestPdu accepted the frame.
 */
export function requestAuditFields(buf: Buffer, pdu: number, pduLength: number, req: ModbusRequest, unit: number): NonNullable<AuditEvent['modbus']> {
  const m: NonNullable<AuditEvent['modbus']> = {
    function: req.fn, unit, address: req.address, count: req.count,
    values: req.writes ? requestWriteValues(buf, pdu, pduLength, req) : undefined,
  };
  const sub = pduSubFunction(buf, pdu, pduLength);
  if (sub >= 0) m.sub = sub;
  return m;
}

/**
 * The values a write request carries, for the audit record: coils as 0/1, registers as numbers,
 * FC 22 as [andMask, orMask], FC 23 its write registers. Undefined for requests that write nothing.
 * Call only after parseRequestPdu accepted the frame; a request it marked invalid yields the values
 * its bytes hold (never more than the frame carries).
 */
export function requestWriteValues(buf: Buffer, pdu: number, pduLength: number, req: ModbusRequest): number[] | undefined {
  if (!req.writes) return undefined;
  const f = modbusFunction(req.fn);
  if (f === undefined) return undefined;
  switch (f.shape) {
    case 'single': {
      const v = u16(buf, pdu + 3);
      return [f.table === 'coils' ? (v === 0xff00 ? 1 : 0) : v];
    }
    case 'multiple': {
      const room = pduLength - 6;
      const n = Math.max(0, Math.min(req.count, f.table === 'coils' ? room * 8 : room >> 1));
      const values = new Array<number>(n);
      if (f.table === 'coils') {
        for (let i = 0; i < n; i++) values[i] = (buf[pdu + 6 + (i >> 3)] >> (i & 7)) & 1;
      } else {
        for (let i = 0; i < n; i++) values[i] = u16(buf, pdu + 6 + 2 * i);
      }
      return values;
    }
    case 'mask':
      return [u16(buf, pdu + 3), u16(buf, pdu + 5)];
    case 'read-write': {
      const n = Math.max(0, Math.min(req.writeCount, (pduLength - 10) >> 1));
      const values = new Array<number>(n);
      for (let i = 0; i < n; i++) values[i] = u16(buf, pdu + 10 + 2 * i);
      return values;
    }
    default:
      return pduLength > 1 ? Array.from(buf.subarray(pdu + 1, pdu + pduLength)) : [];
  }
}
