/**
 * DNP3 application function codes (IEEE 1815-2012 section 4.2.2.5, table 4-4): one table of
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
