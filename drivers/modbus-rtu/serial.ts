/**
 * A serial device as a byte stream: the line is configured with stty (speed, 8 data bits,
 * parity, stop bits, raw, no echo, no modem control) and opened read-write without becoming the
 * controlling terminal. Node has no serial API; tty streams over the fds read and write without
 * blocking a thread-pool thread. Works with real UARTs, USB adapters and socat ptys alike.
 */
import { execFile } from 'node:child_process';
import { constants, openSync, closeSync } from 'node:fs';
import { ReadStream, WriteStream } from 'node:tty';

/** Line settings (Modbus over Serial Line V1.02, section 2.5.1: default even parity, 1 stop bit). */
export interface SerialLine {
  device: string;
  baud: number;
  parity: 'none' | 'even' | 'odd';
  stopBits: 1 | 2;
  /** The silence that ends a frame, when the line's devices need more than 3.5 characters (default interFrameMs()). */
  interFrameMs?: number;
}

export const BAUD_RATES: readonly number[] = [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400];

/** The stty arguments for a line. */
export function sttyArgs(line: SerialLine): string[] {
  return [
    '-F', line.device, String(line.baud), 'cs8',
    line.parity === 'none' ? '-parenb' : 'parenb', line.parity === 'odd' ? 'parodd' : '-parodd',
    line.stopBits === 2 ? 'cstopb' : '-cstopb', 'raw', '-echo', 'clocal', '-crtscts', '-ixon', '-ixoff',
  ];
}

/** An open serial line: bytes in through `data` events, out through write(). */
export interface SerialPort {
  on(event: 'data', fn: (chunk: Buffer) => void): void;
  on(event: 'error', fn: (err: Error) => void): void;
  write(b: Buffer): void;
  close(): void;
}

/** Configures and opens a serial device (one fd to read, one to write: libuv's tty handles are one-way). */
export async function openSerial(line: SerialLine): Promise<SerialPort> {
  await new Promise<void>((resolve, reject) => {
    execFile('stty', sttyArgs(line), { timeout: 5_000 }, (err, _out, stderr) => {
      if (err) reject(new Error(`stty ${line.device}: ${String(stderr).trim() || err.message}`));
      else resolve();
    });
  });
  const flags = constants.O_RDWR | constants.O_NOCTTY | constants.O_NONBLOCK;
  const rfd = openSync(line.device, flags);
  let wfd = -1;
  try {
    wfd = openSync(line.device, flags);
    const input = new ReadStream(rfd);
    const output = new WriteStream(wfd);
    let closed = false;
    return {
      on(event: 'data' | 'error', fn: (x: never) => void): void {
        if (event === 'data') input.on('data', fn as (c: Buffer) => void);
        else { input.on('error', fn as (e: Error) => void); output.on('error', fn as (e: Error) => void); }
      },
      write(b: Buffer): void { if (!closed) output.write(b); },
      close(): void {
        if (closed) return;
        closed = true;
        input.destroy();
        output.destroy();
      },
    };
  } catch (e) {
    closeSync(rfd);
    if (wfd >= 0) closeSync(wfd);
    throw e;
  }
}
