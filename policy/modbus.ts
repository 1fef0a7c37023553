/**
 * The Modbus function codes that zonegate knows: one table of facts (Modbus Application Protocol
 * Specification V1.1b3, section 6). Everything else (the validator's names, the compiler's
 * bitsets, the proxy's PDU parser, audit records) reads this table instead of switching on codes.
 *
 * shape: how the request PDU addresses data (section 6.x request layout):
 *   range      fc, start(2), quantity(2)                                  (FC 1-4)
 *   single     fc, address(2), value(2)                                   (FC 5, 6)
 *   multiple   fc, start(2), quantity(2), byteCount(1), values(byteCount) (FC 15, 16)
 *   mask       fc, address(2), andMask(2), orMask(2)                      (FC 22)
 *   read-write fc, readStart(2), readQty(2), writeStart(2), writeQty(2), byteCount(1), values (FC 23)
 *   fifo       fc, fifoPointer(2)                                         (FC 24)
 *   none       no data address (diagnostics, identification, serial-line functions)
 */

export type ModbusShape = 'range' | 'single' | 'multiple' | 'mask' | 'read-write' | 'fifo' | 'none';
export type ModbusTable = 'coils' | 'discrete-inputs' | 'holding-registers' | 'input-registers' | 'file' | 'none';

export interface ModbusFunction {
  readonly code: number;
  readonly name: string;
  readonly access: 'read' | 'write' | 'read-write' | 'diagnostic';
  readonly table: ModbusTable;
  readonly shape: ModbusShape;
  /** Largest quantity the specification allows in one request (reads; writes for `multiple`). */
  readonly maxCount: number;
  /** For read-write (FC 23): largest write quantity. */
  readonly maxWriteCount?: number;
}

export const MODBUS_FUNCTIONS: readonly ModbusFunction[] = Object.freeze([
  { code: 1, name: 'read-coils', access: 'read', table: 'coils', shape: 'range', maxCount: 2000 },
  { code: 2, name: 'read-discrete-inputs', access: 'read', table: 'discrete-inputs', shape: 'range', maxCount: 2000 },
  { code: 3, name: 'read-holding-registers', access: 'read', table: 'holding-registers', shape: 'range', maxCount: 125 },
  { code: 4, name: 'read-input-registers', access: 'read', table: 'input-registers', shape: 'range', maxCount: 125 },
  { code: 5, name: 'write-single-coil', access: 'write', table: 'coils', shape: 'single', maxCount: 1 },
  { code: 6, name: 'write-single-register', access: 'write', table: 'holding-registers', shape: 'single', maxCount: 1 },
  { code: 7, name: 'read-exception-status', access: 'diagnostic', table: 'none', shape: 'none', maxCount: 0 },
  { code: 8, name: 'diagnostics', access: 'diagnostic', table: 'none', shape: 'none', maxCount: 0 },
  { code: 11, name: 'get-comm-event-counter', access: 'diagnostic', table: 'none', shape: 'none', maxCount: 0 },
  { code: 12, name: 'get-comm-event-log', access: 'diagnostic', table: 'none', shape: 'none', maxCount: 0 },
  { code: 15, name: 'write-multiple-coils', access: 'write', table: 'coils', shape: 'multiple', maxCount: 1968 },
  { code: 16, name: 'write-multiple-registers', access: 'write', table: 'holding-registers', shape: 'multiple', maxCount: 123 },
  { code: 17, name: 'report-server-id', access: 'diagnostic', table: 'none', shape: 'none', maxCount: 0 },
  { code: 20, name: 'read-file-record', access: 'read', table: 'file', shape: 'none', maxCount: 0 },
  { code: 21, name: 'write-file-record', access: 'write', table: 'file', shape: 'none', maxCount: 0 },
  { code: 22, name: 'mask-write-register', access: 'write', table: 'holding-registers', shape: 'mask', maxCount: 1 },
  { code: 23, name: 'read-write-multiple-registers', access: 'read-write', table: 'holding-registers', shape: 'read-write', maxCount: 125, maxWriteCount: 121 },
  { code: 24, name: 'read-fifo-queue', access: 'read', table: 'holding-registers', shape: 'fifo', maxCount: 31 },
  { code: 43, name: 'encapsulated-interface-transport', access: 'diagnostic', table: 'none', shape: 'none', maxCount: 0 },
].map((f) => Object.freeze(f as ModbusFunction)));

const byCode: (ModbusFunction | undefined)[] = new Array(256).fill(undefined);
const byName = new Map<string, ModbusFunction>();
for (const f of MODBUS_FUNCTIONS) { byCode[f.code] = f; byName.set(f.name, f); }

/** The table row of a function code, or undefined for codes zonegate does not know. */
export function modbusFunction(code: number): ModbusFunction | undefined {
  return byCode[code & 0xff];
}

/** Resolves a policy's function name (`read-coils`) or code (3, "3", "0x03") to its code. */
export function modbusFunctionCode(nameOrCode: string | number): number | undefined {
  if (typeof nameOrCode === 'number') return Number.isInteger(nameOrCode) && byCode[nameOrCode] ? nameOrCode : undefined;
  const s = nameOrCode.trim().toLowerCase();
  const named = byName.get(s);
  if (named) return named.code;
  if (/^(0x[0-9a-f]{1,2}|\d{1,3})$/.test(s)) {
    const n = Number(s);
    return byCode[n] ? n : undefined;
  }
  return undefined;
}

export function modbusFunctionName(code: number): string {
  return byCode[code & 0xff]?.name ?? `function-${code}`;
}

/**
 * Whether a request's quantity is one the specification allows for this function
 * (a count of 0 or above the function's maximum is malformed). Functions without a range pass.
 */
export function modbusCountValid(code: number, count: number): boolean {
  const f = byCode[code & 0xff];
  if (!f) return false;
  if (f.shape === 'none' || f.shape === 'fifo') return true;
  return count >= 1 && count <= f.maxCount;
}
