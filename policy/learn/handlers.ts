/**
 * The protocols replay and learning know, by the `protocol` their drivers record. A new driver
 * adds its ProtocolHandler here.
 */
import type { ProtocolHandler } from './observed';
import { modbusHandler } from './modbus';
import { tcpHandler } from './tcp';
import { dnp3Handler } from './dnp3';
import { iec104Handler } from './iec104';

export const PROTOCOL_HANDLERS: ReadonlyMap<string, ProtocolHandler> = new Map([
  [modbusHandler.recordProtocol, modbusHandler],
  [tcpHandler.recordProtocol, tcpHandler],
  [dnp3Handler.recordProtocol, dnp3Handler],
  [iec104Handler.recordProtocol, iec104Handler],
]);
