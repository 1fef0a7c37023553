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
  /** The device went away (a USB adapter unplugged, the other end of a pty closed): once. */
  on(event: 'lost', fn: (why: string) => void): void;
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
    let closed = false, lost: string | null = null;
    const lostFns: Array<(why: string) => void> = [];
    const lose = (why: string) => {
      if (closed || lost !== null) return;
      lost = why;
      for (const fn of lostFns) fn(why);
    };
    // A tty whose device is gone reads end-of-file (a pty) or fails with EIO/ENXIO (a USB adapter).
    input.on('end', () => lose('the device closed (end of input)'));
    input.on('error', (e: NodeJS.ErrnoException) => { if (e.code === 'EIO' || e.code === 'ENXIO' || e.code === 'ENODEV') lose(`the device failed (${e.code})`); });
    output.on('error', (e: NodeJS.ErrnoException) => { if (e.code === 'EIO' || e.code === 'ENXIO' || e.code === 'ENODEV') lose(`the device failed (${e.code})`); });
    return {
      on(event: 'data' | 'error' | 'lost', fn: (x: never) => void): void {
        if (event === 'data') input.on('data', fn as (c: Buffer) => void);
        else if (event === 'lost') lostFns.push(fn as (why: string) => void);
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

/** What a line that reopens itself tells its owner. */
export interface LineStateEvents {
  /** The device went away; requests are refused until it is back. */
  down(why: string): void;
  /** The device is open again. */
  up(): void;
}

/** A serial port that reopens its device after losing it; `up` says whether it is open now. */
export interface ReopeningPort extends SerialPort {
  readonly up: boolean;
}

/**
 * Opens `line` (a failure here fails the caller's start, as a bad listen address does) and keeps
 * it open: when the device goes away (the adapter unplugged, the cable's USB end pulled) the port
 * is closed, `down` is told once, and the device path is tried again every `retryMs` until it
 * opens (`up`). Data and error handlers stay attached across reopenings; writes while down are
 * dropped (the caller refuses requests while `up` is false).
 */
export async function openReopening(
  line: SerialLine, open: (line: SerialLine) => Promise<SerialPort>, events: LineStateEvents, retryMs = 2_000,
): Promise<ReopeningPort> {
  const dataFns: Array<(c: Buffer) => void> = [], errorFns: Array<(e: Error) => void> = [], lostFns: Array<(why: string) => void> = [];
  let current: SerialPort | null = null;
  let closed = false;
  let timer: NodeJS.Timeout | null = null;
  const attach = (p: SerialPort) => {
    current = p;
    p.on('data', (c) => { if (current === p) for (const fn of dataFns) fn(c); });
    p.on('error', (e) => { if (current === p) for (const fn of errorFns) fn(e); });
    p.on('lost', (why) => {
      if (current !== p || closed) return;
      current = null;
      p.close();
      for (const fn of lostFns) fn(why);
      events.down(why);
      retry();
    });
  };
  const retry = () => {
    timer = setTimeout(() => {
      timer = null;
      if (closed) return;
      open(line).then((p) => {
        if (closed) { p.close(); return; }
        attach(p);
        events.up();
      }, () => { if (!closed) retry(); });
    }, retryMs);
    timer.unref();
  };
  attach(await open(line));
  return {
    get up() { return current !== null; },
    on(event: 'data' | 'error' | 'lost', fn: (x: never) => void): void {
      if (event === 'data') dataFns.push(fn as (c: Buffer) => void);
      else if (event === 'lost') lostFns.push(fn as (why: string) => void);
      else errorFns.push(fn as (e: Error) => void);
    },
    write(b: Buffer): void { current?.write(b); },
    close(): void {
      closed = true;
      if (timer !== null) clearTimeout(timer);
      timer = null;
      current?.close();
      current = null;
    },
  };
}
