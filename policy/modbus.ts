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

/**
 * A sub-function: FC 08 diagnostics (section 6.8, a 2-byte sub-function code after the function
 * code) or FC 43 encapsulated interface transport (section 6.19, a 1-byte MEI type). `access`
 * says what it does to the device: `read` only reports, `diagnostic` changes its state (restart,
 * listen-only, clearing counters).
 */
export interface ModbusSubFunction {
  readonly code: number;
  readonly name: string;
  readonly access: 'read' | 'diagnostic';
}

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
  /** Functions whose PDU starts with a sub-function code: its size in bytes and the known codes (all < 32). */
  readonly subFunctionBytes?: 1 | 2;
  readonly subFunctions?: readonly ModbusSubFunction[];
}

/** Section 6.8.1: the diagnostics sub-functions. 04 silences the device until it is restarted. */
const DIAGNOSTICS_SUBS: readonly ModbusSubFunction[] = [
  { code: 0x00, name: 'return-query-data', access: 'read' },
  { code: 0x01, name: 'restart-communications-option', access: 'diagnostic' },
  { code: 0x02, name: 'return-diagnostic-register', access: 'read' },
  { code: 0x03, name: 'change-ascii-input-delimiter', access: 'diagnostic' },
  { code: 0x04, name: 'force-listen-only-mode', access: 'diagnostic' },
  { code: 0x0a, name: 'clear-counters-and-diagnostic-register', access: 'diagnostic' },
  { code: 0x0b, name: 'return-bus-message-count', access: 'read' },
  { code: 0x0c, name: 'return-bus-communication-error-count', access: 'read' },
  { code: 0x0d, name: 'return-bus-exception-error-count', access: 'read' },
  { code: 0x0e, name: 'return-server-message-count', access: 'read' },
  { code: 0x0f, name: 'return-server-no-response-count', access: 'read' },
  { code: 0x10, name: 'return-server-nak-count', access: 'read' },
  { code: 0x11, name: 'return-server-busy-count', access: 'read' },
  { code: 0x12, name: 'return-bus-character-overrun-count', access: 'read' },
  { code: 0x14, name: 'clear-overrun-counter-and-flag', access: 'diagnostic' },
];

/** Sections 6.19-6.21: MEI types of FC 43. */
const MEI_TYPES: readonly ModbusSubFunction[] = [
  { code: 0x0d, name: 'canopen-general-reference', access: 'diagnostic' },
  { code: 0x0e, name: 'read-device-identification', access: 'read' },
];

export const MODBUS_FUNCTIONS: readonly ModbusFunction[] = Object.freeze([
  { code: 1, name: 'read-coils', access: 'read', table: 'coils', shape: 'range', maxCount: 2000 },
  { code: 2, name: 'read-discrete-inputs', access: 'read', table: 'discrete-inputs', shape: 'range', maxCount: 2000 },
  { code: 3, name: 'read-holding-registers', access: 'read', table: 'holding-registers', shape: 'range', maxCount: 125 },
  { code: 4, name: 'read-input-registers', access: 'read', table: 'input-registers', shape: 'range', maxCount: 125 },
  { code: 5, name: 'write-single-coil', access: 'write', table: 'coils', shape: 'single', maxCount: 1 },
  { code: 6, name: 'write-single-register', access: 'write', table: 'holding-registers', shape: 'single', maxCount: 1 },
  { code: 7, name: 'read-exception-status', access: 'diagnostic', table: 'none', shape: 'none', maxCount: 0 },
  { code: 8, name: 'diagnostics', access: 'diagnostic', table: 'none', shape: 'none', maxCount: 0, subFunctionBytes: 2, subFunctions: DIAGNOSTICS_SUBS },
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
  { code: 43, name: 'encapsulated-interface-transport', access: 'diagnostic', table: 'none', shape: 'none', maxCount: 0, subFunctionBytes: 1, subFunctions: MEI_TYPES },
].map((f) => Object.freeze(f as ModbusFunction)));

/** Other names a policy may use for a function (`encapsulated-interface/...`). */
const FUNCTION_ALIASES: Readonly<Record<string, number>> = Object.freeze({ 'encapsulated-interface': 43 });
/** Sub-functions a policy may name without their function. */
const SUB_ALIASES: Readonly<Record<string, string>> = Object.freeze({ 'read-device-identification': 'encapsulated-interface-transport/read-device-identification' });

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

/** A function and one of its sub-functions, as a policy names them in `allow.functions`. */
export interface ModbusSubFunctionRef { fn: number; sub: number }

function functionOf(s: string): ModbusFunction | undefined {
  const alias = FUNCTION_ALIASES[s];
  if (alias !== undefined && Object.prototype.hasOwnProperty.call(FUNCTION_ALIASES, s)) return byCode[alias];
  const code = modbusFunctionCode(s);
  return code === undefined ? undefined : byCode[code];
}

/**
 * Resolves a sub-function as a policy writes it: `diagnostics/return-query-data`, `8/0`,
 * `0x08/0x0000`, `encapsulated-interface/read-device-identification`, `43/14` or the bare
 * `read-device-identification`. Undefined when it is not one (a plain function, or unknown).
 */
export function modbusSubFunction(text: string): ModbusSubFunctionRef | undefined {
  let s = text.trim().toLowerCase();
  if (Object.prototype.hasOwnProperty.call(SUB_ALIASES, s)) s = SUB_ALIASES[s];
  const slash = s.indexOf('/');
  if (slash < 0) return undefined;
  const f = functionOf(s.slice(0, slash));
  if (!f || !f.subFunctions) return undefined;
  const rest = s.slice(slash + 1);
  const named = f.subFunctions.find((x) => x.name === rest);
  if (named) return { fn: f.code, sub: named.code };
  if (/^(0x[0-9a-f]{1,4}|\d{1,5})$/.test(rest)) {
    const n = Number(rest);
    if (f.subFunctions.some((x) => x.code === n)) return { fn: f.code, sub: n };
  }
  return undefined;
}

/** Every sub-function name a policy may write (for "did you mean"). */
export function modbusSubFunctionNames(): string[] {
  const out: string[] = Object.keys(SUB_ALIASES);
  for (const f of MODBUS_FUNCTIONS) for (const x of f.subFunctions ?? []) out.push(`${f.name}/${x.name}`);
  return out;
}

/** `diagnostics/return-query-data`, or `diagnostics/0x1f` for a code the table does not name. */
export function modbusSubFunctionName(fn: number, sub: number): string {
  const f = byCode[fn & 0xff];
  const x = f?.subFunctions?.find((y) => y.code === sub);
  return `${f?.name ?? `function-${fn}`}/${x ? x.name : `0x${sub.toString(16).padStart(2, '0')}`}`;
}

/**
 * The sub-function code of a request PDU (pdu[off] is the function code), or -1 when the function
 * has none or the PDU is too short to carry it. No allocation.
 */
export function pduSubFunction(pdu: Uint8Array, off: number, len: number): number {
  const f = byCode[pdu[off]];
  const n = f?.subFunctionBytes;
  if (n === undefined || len < 1 + n) return -1;
  return n === 1 ? pdu[off + 1] : (pdu[off + 1] << 8) | pdu[off + 2];
}
