/**
 * Modbus exception responses (Modbus Application Protocol Specification V1.1b3, section 7) and
 * the mapping from zonegate's deny reasons to exception codes. The client learns only the code;
 * the audit record keeps the reason.
 */
import type { DenyReason } from '../../policy/types';

/** Exception codes of section 7 that the proxy sends. */
export const ModbusException = Object.freeze({
  IllegalFunction: 0x01,
  IllegalDataAddress: 0x02,
  IllegalDataValue: 0x03,
  ServerDeviceBusy: 0x06,
  GatewayPathUnavailable: 0x0a,
  GatewayTargetFailedToRespond: 0x0b,
});

/**
 * The exception code a denied request is answered with:
 *   function-not-allowed                                   01 illegal function
 *   address-out-of-range                                   02 illegal data address
 *   malformed (spec-forbidden quantity or value)           03 illegal data value (section 6: "quantity" checks)
 *   value-out-of-range (a write outside allow.values/coils) 03 illegal data value
 *   rate-limited                                           06 server device busy (the client retries later)
 *   unit-not-allowed                                       0A gateway path unavailable (no path to that unit id)
 *   no-conduit, quarantined, edge-auth-required, grant-required, outside-schedule, port-not-allowed,
 *   unknown-destination, no-policy, policy-expired         01 illegal function: "you may not do this
 *                                                          here"; nothing about why is disclosed
 * A function code policy/modbus.ts does not know is answered 01 whatever the reason (the policy
 * says malformed). Upstream failures (not policy): connection refused or not accepted in time 0A,
 * no response in time, closed or garbled answers 0B.
 */
export const EXCEPTION_FOR_REASON: Readonly<Record<DenyReason, number>> = Object.freeze({
  'no-conduit': ModbusException.IllegalFunction,
  'function-not-allowed': ModbusException.IllegalFunction,
  'unit-not-allowed': ModbusException.GatewayPathUnavailable,
  'address-out-of-range': ModbusException.IllegalDataAddress,
  'value-out-of-range': ModbusException.IllegalDataValue,
  'port-not-allowed': ModbusException.IllegalFunction,
  'outside-schedule': ModbusException.IllegalFunction,
  'edge-auth-required': ModbusException.IllegalFunction,
  'grant-required': ModbusException.IllegalFunction,
  'quarantined': ModbusException.IllegalFunction,
  'malformed': ModbusException.IllegalDataValue,
  'rate-limited': ModbusException.ServerDeviceBusy,
  'unknown-destination': ModbusException.IllegalFunction,
  'no-policy': ModbusException.IllegalFunction,
  'policy-expired': ModbusException.IllegalFunction,
  // DNP3 reasons (a Modbus request never gets them)
  'object-not-allowed': ModbusException.IllegalFunction,
  'select-required': ModbusException.IllegalFunction,
  // IEC 104 reason
  'cause-not-allowed': ModbusException.IllegalFunction,
});

/** The exception code for a deny reason (01 for a reason this table does not know). */
export function exceptionForReason(reason: DenyReason | null): number {
  return (reason !== null && EXCEPTION_FOR_REASON[reason]) || ModbusException.IllegalFunction;
}

/**
 * A complete exception ADU (section 7 and MBAP 3.1.3): the request's transaction id and unit id,
 * function code | 0x80, the exception code. 9 bytes.
 */
export function exceptionAdu(transactionId: number, unit: number, fn: number, code: number): Buffer {
  const b = Buffer.allocUnsafe(9);
  b[0] = (transactionId >> 8) & 0xff;
  b[1] = transactionId & 0xff;
  b[2] = 0;
  b[3] = 0;
  b[4] = 0;
  b[5] = 3;
  b[6] = unit & 0xff;
  b[7] = (fn | 0x80) & 0xff;
  b[8] = code & 0xff;
  return b;
}
