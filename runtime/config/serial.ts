/**
 * The `serial:` block of the RTU listeners (service modbus-rtu-gateway and modbus-rtu):
 *   serial: { device, baud, parity?, stopBits?, dataBits?, interFrameMs?, responseMs?, turnaroundMs? }
 * Defaults follow Modbus over Serial Line V1.02 section 2.5.1: even parity, 1 stop bit, 8 data
 * bits (RTU has no other), a frame ends after 3.5 character times of silence (1.75 ms above 19200
 * baud, never under 2 ms here). responseMs: how long a unit (modbus-rtu-gateway) or the Modbus/TCP
 * upstream (modbus-rtu) has to answer, else exception 0B; turnaroundMs: the pause after a broadcast.
 */
import { isAbsolute } from 'node:path';
import { IssueList, checkInt, get, has, readObject, readString, type Path } from '../../policy/check';
import { BAUD_RATES } from '../../drivers/modbus-rtu/serial';

export interface SerialConfig {
  /** Absolute path of the serial device (/dev/ttyUSB0, /dev/ttyAMA0, a pty). */
  device: string;
  baud: number;
  parity: 'none' | 'even' | 'odd';
  stopBits: 1 | 2;
  /** Set only when written; otherwise computed from baud, parity and stop bits. */
  interFrameMs?: number;
  responseMs: number;
  turnaroundMs: number;
}

const SERIAL_KEYS = ['device', 'baud', 'parity', 'stopBits', 'dataBits', 'interFrameMs', 'responseMs', 'turnaroundMs'];
export const SERIAL_DEFAULTS = Object.freeze({ parity: 'even' as const, stopBits: 1 as const, responseMs: 1_000, turnaroundMs: 100 });

/** Validates `serial` at `path` (the listener's path + 'serial'); undefined when it has problems (reported to `out`). */
export function readSerial(v: unknown, path: Path, out: IssueList): SerialConfig | undefined {
  const rec = readObject(v, path, SERIAL_KEYS, out, 'a mapping { device, baud, parity, stopBits }');
  if (!rec) return undefined;
  const before = out.count;
  const device = readString(rec, 'device', path, out, { required: true });
  if (device !== undefined && !isAbsolute(device)) out.add([...path, 'device'], `must be an absolute path (e.g. /dev/ttyUSB0), got ${JSON.stringify(device)}`);
  let baud: number | undefined;
  if (!has(rec, 'baud')) out.add([...path, 'baud'], `required field 'baud' is missing (one of ${BAUD_RATES.join(', ')})`);
  else if (!BAUD_RATES.includes(get(rec, 'baud') as number)) out.add([...path, 'baud'], `must be one of ${BAUD_RATES.join(', ')}, got ${JSON.stringify(get(rec, 'baud'))}`);
  else baud = get(rec, 'baud') as number;
  const parityText = readString(rec, 'parity', path, out);
  if (parityText !== undefined && !['none', 'even', 'odd'].includes(parityText)) out.add([...path, 'parity'], `must be one of none, even, odd, got ${JSON.stringify(parityText)}`);
  let stopBits: 1 | 2 = SERIAL_DEFAULTS.stopBits;
  if (has(rec, 'stopBits')) {
    const sb = get(rec, 'stopBits');
    if (sb !== 1 && sb !== 2) out.add([...path, 'stopBits'], `must be 1 or 2, got ${JSON.stringify(sb)}`); else stopBits = sb;
  }
  if (has(rec, 'dataBits') && get(rec, 'dataBits') !== 8) out.add([...path, 'dataBits'], `Modbus RTU characters have 8 data bits, got ${JSON.stringify(get(rec, 'dataBits'))}`);
  const ms = (key: string, min: number, max: number): number | undefined =>
    has(rec, key) ? checkInt(get(rec, key), [...path, key], out, { min, max, name: 'a duration in milliseconds' }) : undefined;
  const interFrameMs = ms('interFrameMs', 2, 1_000);
  const responseMs = ms('responseMs', 10, 60_000);
  const turnaroundMs = ms('turnaroundMs', 0, 10_000);
  if (out.count > before || device === undefined || baud === undefined) return undefined;
  return {
    device, baud, parity: (parityText as SerialConfig['parity'] | undefined) ?? SERIAL_DEFAULTS.parity, stopBits,
    ...(interFrameMs !== undefined ? { interFrameMs } : {}),
    responseMs: responseMs ?? SERIAL_DEFAULTS.responseMs, turnaroundMs: turnaroundMs ?? SERIAL_DEFAULTS.turnaroundMs,
  };
}
