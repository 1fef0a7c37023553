/**
 * The Modbus part of the report's history (registered by runtime/listeners/modbus-tcp.ts and
 * modbus-rtu.ts): its decisions are counted in the common tables (per conduit, source, asset and
 * reason); the section only says which records are Modbus requests, not connections.
 */
import type { ReportSection } from '../section';

export const modbusReportSection: ReportSection = {
  operationField: 'modbus',
  collect: () => ({}),
  tables: () => [],
};
