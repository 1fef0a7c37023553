/**
 * The drivers of the RTU listeners (service modbus-rtu-gateway and modbus-rtu, drivers/modbus-rtu)
 * as the gateway runs them: built from a resolved listener, with the listener's decider, audit
 * sink and clock, and an address() for the status (a modbus-rtu listener's own end is its serial
 * device, so it reports port 0 and the gateway shows `serial:DEVICE`).
 */
import { stat } from 'node:fs/promises';
import { createRtuGateway, createRtuServer, openSerial, type SerialLine } from '../drivers/modbus-rtu';
import type { Decider } from '../policy/types';
import type { AuditSink, Driver } from '../drivers/types';
import type { ResolvedListener } from './config/resolve-listeners';

export interface RtuDriverDeps {
  decider: Decider;
  audit: AuditSink;
  now: () => number;
  /** The daemon's warn log (line and upstream trouble, rate-limited by the drivers). */
  log: (line: string) => void;
  /** The serial device went away (up false, why) or is open again: the daemon raises and clears its alarm. */
  onLine?: (up: boolean, why?: string) => void;
  /** How often a lost device is tried again (default 2,000 ms). */
  reopenMs?: number;
}

const SERIAL_OPEN = Symbol('serial-open');

/** Whether a start() failed opening the serial device (the config's serial.device), not listening. */
export function isSerialOpenError(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { [SERIAL_OPEN]?: boolean })[SERIAL_OPEN] === true;
}

async function open(line: SerialLine) {
  try {
    await stat(line.device); // a missing device said plainly, before stty says it in its words
    return await openSerial(line);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such device' : code === 'EACCES' ? 'permission denied (is the zonegate user in the dialout group?)' : (e as Error).message;
    throw Object.assign(new Error(`${line.device}: ${why}`, { cause: e }), { [SERIAL_OPEN]: true });
  }
}

export type AddressedDriver = Driver & { address(): { address?: string; port: number } };

/** The driver of an RTU listener, or null when `spec` is not one. */
export function buildRtuDriver(spec: ResolvedListener, deps: RtuDriverDeps): { driver: AddressedDriver; stats: () => Record<string, number> } | null {
  const s = spec.serial;
  if (!s || (spec.service !== 'modbus-rtu-gateway' && spec.service !== 'modbus-rtu')) return null;
  const line = { device: s.device, baud: s.baud, parity: s.parity, stopBits: s.stopBits, ...(s.interFrameMs !== undefined ? { interFrameMs: s.interFrameMs } : {}) };
  if (spec.service === 'modbus-rtu-gateway') {
    const gw = createRtuGateway({
      listen: spec.listen, line, asset: spec.asset, servicePort: spec.servicePort, ...deps, open,
      timeouts: { responseMs: s.responseMs, turnaroundMs: s.turnaroundMs },
    });
    return { driver: gw, stats: () => ({ ...gw.stats }) };
  }
  if (spec.identity === undefined) throw new TypeError('buildRtuDriver: a modbus-rtu listener needs its identity');
  const srv = createRtuServer({
    line, identity: spec.identity, asset: spec.asset, servicePort: spec.servicePort, upstream: spec.upstream, ...deps, open,
    timeouts: { upstreamMs: s.responseMs },
  });
  const driver: AddressedDriver = {
    name: srv.name,
    start: (signal) => srv.start(signal),
    stop: () => srv.stop(),
    address: () => ({ port: 0 }),
  };
  return { driver, stats: () => ({ ...srv.stats }) };
}
