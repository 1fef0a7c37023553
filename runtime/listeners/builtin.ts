/** Every protocol driver zonegate ships, registered by its service name (registry.ts). */
import { DriverRegistry } from './registry';
import { modbusTcp } from './modbus-tcp';
import { modbusRtu, modbusRtuGateway } from './modbus-rtu';
import { dnp3 } from './dnp3';
import { iec104 } from './iec104';
import { tcpConduit } from './tcp-conduit';

/** A registry holding the built-in drivers; callers may register more. */
export function builtinDrivers(): DriverRegistry {
  return new DriverRegistry()
    .register(modbusTcp)
    .register(tcpConduit)
    .register(dnp3)
    .register(iec104)
    .register(modbusRtuGateway)
    .register(modbusRtu);
}
