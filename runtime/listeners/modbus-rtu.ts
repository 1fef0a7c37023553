/**
 * The RTU services (drivers/modbus-rtu through runtime/rtu-drivers.ts): `modbus-rtu-gateway`
 * (Modbus/TCP clients onto a serial line) and `modbus-rtu` (RTU masters on a serial line onto a
 * Modbus/TCP upstream; it listens on its serial device, so it has no network address). A lost
 * serial device raises `serial-lost:<listener>` until it is back.
 */
import { buildRtuDriver, isSerialOpenError } from '../rtu-drivers';
import { listenLabel } from '../config';
import { modbusOperationText } from '../../protocol/audit/operation-text';
import { modbusReportSection } from '../report/sections/modbus';
import type { BuiltListener, DriverRegistration, ListenerDeps } from './registry';

function build(d: ListenerDeps): BuiltListener {
  const { spec } = d;
  const reopenMs = d.serialReopenMs ?? 2000;
  const rtu = buildRtuDriver(spec, {
    decider: d.decider, audit: d.audit, now: d.now, log: (line) => d.log.warn(line),
    ...(d.serialReopenMs !== undefined ? { reopenMs: d.serialReopenMs } : {}),
    onLine: (up, why) => d.alarm('serial-lost', up ? null : {
      severity: 'critical',
      message: `serial device ${spec.serial?.device} (listener ${listenLabel(spec)}, ${spec.asset}) is gone (${why}); requests on it are refused until it is back, tried every ${reopenMs} ms`,
    }),
  });
  if (!rtu) throw new TypeError(`listener ${listenLabel(spec)}: service ${spec.service} needs a serial line`);
  return spec.service === 'modbus-rtu' ? { ...rtu, label: listenLabel(spec) } : rtu;
}

const failedField = (e: unknown) => (isSerialOpenError(e) ? ['serial', 'device'] : ['listen']);

export const modbusRtuGateway: DriverRegistration = { service: 'modbus-rtu-gateway', protocol: 'modbus', create: build, failedField, auditOperation: modbusOperationText, reportSection: modbusReportSection };
export const modbusRtu: DriverRegistration = { service: 'modbus-rtu', protocol: 'modbus', network: false, create: build, failedField, auditOperation: modbusOperationText, reportSection: modbusReportSection };
