/**
 * The Modbus/TCP proxy driver (see proxy.ts). The runtime's gateway calls createModbusProxy once
 * per protected Modbus service.
 */
export { createModbusProxy } from './proxy';
export type { ModbusProxy, ModbusProxyOptions, ModbusProxyStats, SweepTimers } from './types';
export { EXCEPTION_FOR_REASON, ModbusException, exceptionForReason, exceptionAdu } from './exception';
export { MbapSplitter, MBAP_MAX_ADU, MBAP_HEADER_BYTES, MBAP_MIN_LENGTH, MBAP_MAX_LENGTH, type MbapFrameHandler } from './mbap';
export { ModbusRequest, parseRequestPdu, requestWriteValues } from './pdu';
