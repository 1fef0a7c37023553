/**
 * Modbus RTU over serial lines: `service: modbus-rtu-gateway` (Modbus/TCP clients onto an RTU
 * line, gateway.ts) and `service: modbus-rtu` (RTU masters on a serial port to a Modbus/TCP
 * upstream, server.ts). Requests are parsed, decided and audited by the same code as the TCP proxy.
 */
export { createRtuGateway, type RtuGateway, type RtuGatewayOptions } from './gateway';
export { crc16, crcValid, rtuFrame } from './crc';
export { openSerial, openReopening, sttyArgs, BAUD_RATES, type SerialLine, type SerialPort, type ReopeningPort, type LineStateEvents } from './serial';
export { interFrameMs, rtuRequestLength, rtuResponseLength } from './rtu-frame';
export { createRtuServer, type RtuServer, type RtuServerOptions } from './server';
