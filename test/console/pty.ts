/** A socat pseudo-terminal pair in a private temp folder: one end for the console, one for the "technician". */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { openSerial, type SerialPort } from '../../runtime/console/serial';

/** Why socat cannot run here, or null. */
export function socatMissing(): string | null {
  const r = spawnSync('socat', ['-V'], { encoding: 'utf8' });
  return r.error ? `socat not installed (${r.error.message})` : null;
}

export interface PtyPair { device: string; terminal: string; stop(): Promise<void> }

/** Starts `socat -d -d pty,raw,echo=0,link=DIR/console pty,raw,echo=0,link=DIR/terminal` and waits for both links. */
export async function startPtyPair(dir: string): Promise<PtyPair> {
  const device = join(dir, 'console-tty'), terminal = join(dir, 'terminal-tty');
  const child: ChildProcess = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${device}`, `pty,raw,echo=0,link=${terminal}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => { err += d; });
  const deadline = Date.now() + 5_000;
  while (!(existsSync(device) && existsSync(terminal))) {
    if (Date.now() > deadline || child.exitCode !== null) { child.kill('SIGKILL'); throw new Error(`socat did not make the pty pair: ${err}`); }
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    device, terminal,
    stop: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) { resolve(); return; }
      const t = setTimeout(() => child.kill('SIGKILL'), 2_000);
      child.once('exit', () => { clearTimeout(t); resolve(); });
      child.kill('SIGTERM');
    }),
  };
}

/** The technician's terminal program on the other end: send bytes, wait for text. */
export class Terminal {
  private text = '';
  private mark = 0;
  private readonly decoder = new StringDecoder('utf8');
  private constructor(readonly port: SerialPort) {
    port.input.on('data', (d: Buffer) => { this.text += this.decoder.write(d); });
  }

  static async open(path: string): Promise<Terminal> {
    return new Terminal(await openSerial({ path, baud: 115200 }));
  }

  send(data: string | Buffer | number[]): void {
    this.port.output.write(Array.isArray(data) ? Buffer.from(data) : data);
  }

  /** Waits until the output after the last expect() matches `re`; returns that output and moves past the match. */
  async expect(re: RegExp, timeoutMs = 8_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const seen = this.text.slice(this.mark);
      const m = re.exec(seen);
      if (m) { this.mark += m.index + m[0].length; return seen.slice(0, m.index + m[0].length); }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${re} in ${JSON.stringify(seen.slice(-600))}`);
      await new Promise((r) => setTimeout(r, 15));
    }
  }

  close(): void { this.port.close(); }
}
