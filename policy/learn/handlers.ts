/**
 * The protocols replay and learning know, by the `protocol` their drivers record. A new driver
 * (DNP3, IEC 60870-5-104) adds its ProtocolHandler here.
 */
import type { ProtocolHandler } from './observed';
import { modbusHandler } from './modbus';
import { tcpHandler } from './tcp';

export const PROTOCOL_HANDLERS: ReadonlyMap<string, ProtocolHandler> = new Map([
  [modbusHandler.recordProtocol, modbusHandler],
  [tcpHandler.recordProtocol, tcpHandler],
]);
