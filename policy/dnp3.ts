/**
 * DNP3 facts the policy and the driver share (IEEE 1815-2012): the application function codes
 * (section 4.2.2.5, table 4-4), CROB operations (table 11-11), the normalised `allow` block of a
 * `protocol: dnp3` conduit and the operation the driver hands the decider. One table of
 * facts. Everything else (the parser, the policy's names, the proxy's answers, audit records)
 * reads this table instead of switching on codes. The names are the policy's public format.
 *
 * data: whether the object headers of a request with this function carry object data
 *   (WRITE, SELECT, OPERATE... do; READ, FREEZE, ASSIGN_CLASS, ENABLE_UNSOLICITED name points
 *   only; FREEZE_AT_TIME carries one g50 time object, see app.ts).
 * answer: whether the outstation answers it with a RESPONSE (the *-no-ack codes and CONFIRM do not).
 */
export interface Dnp3Function {
  readonly code: number;
  readonly name: string;
  readonly data: boolean;
  readonly answer: boolean;
  /** Sent by the outstation (responses), not by the master. */
  readonly response?: boolean;
}

const F = (code: number, name: string, data: boolean, answer = true, response = false): Dnp3Function =>
  Object.freeze(response ? { code, name, data, answer, response } : { code, name, data, answer });

export const DNP3_FUNCTIONS: readonly Dnp3Function[] = Object.freeze([
  F(0, 'confirm', false, false),
  F(1, 'read', false),
  F(2, 'write', true),
  F(3, 'select', true),
  F(4, 'operate', true),
  F(5, 'direct-operate', true),
  F(6, 'direct-operate-no-ack', true, false),
  F(7, 'immediate-freeze', false),
  F(8, 'immediate-freeze-no-ack', false, false),
  F(9, 'freeze-clear', false),
  F(10, 'freeze-clear-no-ack', false, false),
  F(11, 'freeze-at-time', false),
  F(12, 'freeze-at-time-no-ack', false, false),
  F(13, 'cold-restart', false),
  F(14, 'warm-restart', false),
  F(15, 'initialize-data', false),
  F(16, 'initialize-application', true),
  F(17, 'start-application', true),
  F(18, 'stop-application', true),
  F(19, 'save-configuration', true),
  F(20, 'enable-unsolicited', false),
  F(21, 'disable-unsolicited', false),
  F(22, 'assign-class', false),
  F(23, 'delay-measure', false),
  F(24, 'record-current-time', false),
  F(25, 'open-file', true),
  F(26, 'close-file', true),
  F(27, 'delete-file', true),
  F(28, 'get-file-info', true),
  F(29, 'authenticate-file', true),
  F(30, 'abort-file', true),
  F(31, 'activate-config', true),
  F(32, 'authenticate-request', true),
  F(33, 'authenticate-request-no-ack', true, false),
  F(129, 'response', true, false, true),
  F(130, 'unsolicited-response', true, false, true),
  F(131, 'authenticate-response', true, false, true),
]);

export const FC = Object.freeze({
  CONFIRM: 0, READ: 1, WRITE: 2, SELECT: 3, OPERATE: 4, DIRECT_OPERATE: 5, DIRECT_OPERATE_NO_ACK: 6,
  FREEZE_AT_TIME: 11, FREEZE_AT_TIME_NO_ACK: 12, COLD_RESTART: 13, ENABLE_UNSOLICITED: 20, DISABLE_UNSOLICITED: 21,
  ASSIGN_CLASS: 22, DELAY_MEASURE: 23, RESPONSE: 129, UNSOLICITED_RESPONSE: 130, AUTHENTICATE_RESPONSE: 131,
});

const byCode: (Dnp3Function | undefined)[] = new Array(256).fill(undefined);
const byName = new Map<string, Dnp3Function>();
for (const f of DNP3_FUNCTIONS) { byCode[f.code] = f; byName.set(f.name, f); }

/** The table row of a function code, or undefined for codes IEEE 1815 does not define. */
export function dnp3Function(code: number): Dnp3Function | undefined {
  return byCode[code & 0xff];
}

/** A function's name, or `function-N` for an unknown code. */
export function dnp3FunctionName(code: number): string {
  return byCode[code & 0xff]?.name ?? `function-${code}`;
}

/** Resolves a policy's function name (`direct-operate`) or code (5, "5", "0x05") to its code. */
export function dnp3FunctionCode(nameOrCode: string | number): number | undefined {
  if (typeof nameOrCode === 'number') return Number.isInteger(nameOrCode) && byCode[nameOrCode & 0xff] && nameOrCode >= 0 && nameOrCode <= 255 ? nameOrCode : undefined;
  const s = nameOrCode.trim().toLowerCase();
  const named = byName.get(s);
  if (named) return named.code;
  if (/^(0x[0-9a-f]{1,2}|\d{1,3})$/.test(s)) {
    const n = Number(s);
    return n <= 255 && byCode[n] ? n : undefined;
  }
  return undefined;
}

/**
 * CROB operations a conduit may allow (IEEE 1815-2012 table 11-11): the control code with its
 * clear and queue bits masked off (code & 0xCF): trip-close code << 6 | operation type.
 */
export const CROB_OPERATIONS: Readonly<Record<string, number>> = Object.freeze(Object.assign(Object.create(null) as Record<string, number>, {
  'nul': 0x00, 'pulse-on': 0x01, 'pulse-off': 0x02, 'latch-on': 0x03, 'latch-off': 0x04, 'close': 0x41, 'trip': 0x81,
}));
export const CROB_CODE_MASK = 0xcf;

/** An object a conduit allows: group and variation (0: any variation). */
export interface Dnp3ObjectRef { group: number; variation: number }

/** An inclusive point index interval. */
export interface Dnp3Range { start: number; end: number }

/** The normalised `allow` of a `protocol: dnp3` conduit (see dnp3-allow.ts for the document form). */
export interface Dnp3Allow {
  /** Function codes; CONFIRM (0) is always allowed with any other. */
  functions: number[];
  /** Link addresses the master may use as its source, and the outstation addresses it may reach; undefined = any. */
  masters?: number[];
  outstations?: number[];
  /** Objects allowed with every function, or per function code; undefined = any object. */
  objects?: Dnp3ObjectRef[] | Record<string, Dnp3ObjectRef[]>;
  /** Point indices allowed per group (`g12`, `g41`...), sorted and merged; a group not listed = any index. */
  points?: Record<string, Dnp3Range[]>;
  /** Analog output values (g41) allowed, inclusive. */
  values?: { min: number; max: number };
  /** CROB operations allowed (codes of CROB_OPERATIONS). */
  controls?: number[];
  /** Whether unsolicited responses from the outstation are relayed (default false with an allow block). */
  unsolicited?: boolean;
}

/**
 * One DNP3 request as the driver hands it to the decider (drivers/dnp3/app.ts AppFragment fills
 * it): link addresses (source: the master, destination: the outstation, also for unsolicited
 * responses), the function, and per object header its group, variation and the index range it
 * covers (lo/hi, -1: none); points of header h are ptIndex/ptValue[ptOff[h] .. ptOff[h + 1]),
 * with ptValue the CROB control code (g12) or analog output value (g41), NaN otherwise.
 */
export interface Dnp3Operation {
  readonly fn: number;
  readonly source: number;
  readonly destination: number;
  readonly headers: number;
  readonly group: ArrayLike<number>;
  readonly variation: ArrayLike<number>;
  readonly lo: ArrayLike<number>;
  readonly hi: ArrayLike<number>;
  readonly ptOff: ArrayLike<number>;
  readonly ptIndex: ArrayLike<number>;
  readonly ptValue: ArrayLike<number>;
}

/** A DNP3 request as a person writes it (`policy explain --request`, a policy's `tests:`). */
export interface Dnp3RequestSpec {
  /** Normalised to the code. */
  function: number;
  /** Link addresses: the master's (default 1) and the outstation's (default 10). */
  source?: number;
  destination?: number;
  objects?: Dnp3RequestObject[];
}

/** One object header of a written request: a range, an index list, or neither (all points). */
export interface Dnp3RequestObject {
  group: number;
  variation: number;
  start?: number;
  stop?: number;
  indices?: number[];
  /** g41: one value per point; g12: one CROB control code per point (or `control` for all). */
  values?: number[];
  control?: number;
}
