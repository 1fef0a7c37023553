/**
 * Opens a serial device (or a pseudo-terminal) for the console: `stty -F DEV SPEED raw -echo`
 * (so the line discipline is ours: no kernel echo, no line editing, no signals), then the device
 * as a tty stream (libuv polls it; no thread-pool thread sits in a blocking read).
 */
import { execFile } from 'node:child_process';
import { openSync, closeSync, constants } from 'node:fs';
import { ReadStream, WriteStream } from 'node:tty';
import { ZonegateError } from '../../policy/errors';

export interface SerialPort {
  input: ReadStream;
  output: WriteStream;
  close(): void;
}

const SPEEDS = new Set([1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400]);

/** Configures and opens `path`; throws ERR_USAGE when it is not a terminal device or stty fails. */
export async function openSerial(opts: { path: string; baud?: number }): Promise<SerialPort> {
  const baud = opts.baud ?? 115200;
  if (!SPEEDS.has(baud)) throw new ZonegateError('ERR_USAGE', `unsupported speed ${baud}: one of ${[...SPEEDS].join(', ')}`);
  await new Promise<void>((resolve, reject) => {
    execFile('stty', ['-F', opts.path, String(baud), 'raw', '-echo', '-echoe', '-echok', '-echoctl', 'clocal'], { timeout: 5_000 }, (err, _o, stderr) => {
      if (err) reject(new ZonegateError('ERR_USAGE', `cannot configure ${opts.path} with stty: ${String(stderr).trim() || err.message}`));
      else resolve();
    });
  });
  let rfd = -1, wfd = -1;
  try {
    rfd = openSync(opts.path, constants.O_RDWR | constants.O_NOCTTY);
    wfd = openSync(opts.path, constants.O_RDWR | constants.O_NOCTTY);
  } catch (e) {
    if (rfd >= 0) closeSync(rfd);
    throw new ZonegateError('ERR_USAGE', `cannot open ${opts.path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const input = new ReadStream(rfd);
  const output = new WriteStream(wfd);
  return {
    input, output,
    close() {
      input.destroy();
      output.destroy();
    },
  };
}
