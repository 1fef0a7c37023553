/**
 * Serial lines for tests: a socat pty pair (two linked pseudo-terminals standing in for an
 * RS-485 bus), and pymodbus's serial RTU server on one end.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEBIAN_PYTHON } from './modbus';

/** Why socat ptys cannot be used here, or null. */
export function socatMissing(): string | null {
  return spawnSync('socat', ['-V'], { stdio: 'ignore' }).status === 0 ? null : 'socat is not installed (apt install socat)';
}

/** Why pymodbus's serial RTU server cannot run here, or null (the exact imports the fixture uses). */
export function rtuServerMissing(): string | null {
  const r = spawnSync(DEBIAN_PYTHON, ['-c', 'import serial_asyncio; from pymodbus.server import StartAsyncSerialServer; from pymodbus.transaction import ModbusRtuFramer'], { stdio: 'ignore' });
  return r.status === 0 ? null : `${DEBIAN_PYTHON} lacks pymodbus with serial support (apt install python3-pymodbus python3-serial python3-serial-asyncio)`;
}

export interface PtyPair {
  a: string; b: string;
  stop(): Promise<void>;
  /** Ends socat: both ptys go away as an unplugged USB adapter does (reads end, writes fail EIO). */
  unplug(): Promise<void>;
  /** A new pair at the same two paths (the adapter plugged back in). */
  replug(): Promise<void>;
}

/** Two linked ptys: what is written to `a` is read from `b` and back. */
export async function ptyPair(): Promise<PtyPair> {
  const dir = mkdtempSync(join(tmpdir(), 'zg-pty-'));
  const a = join(dir, 'a'), b = join(dir, 'b');
  const start = async (): Promise<ChildProcess> => {
    const child = spawn('socat', [`pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], { stdio: 'ignore' });
    const deadline = Date.now() + 10_000;
    while (!(existsSync(a) && existsSync(b))) {
      if (Date.now() > deadline || child.exitCode !== null) { child.kill('SIGKILL'); throw new Error('socat did not create the pty pair'); }
      await new Promise((r) => setTimeout(r, 20));
    }
    return child;
  };
  let child = await start();
  return {
    a, b,
    stop: async () => { await stopChild(child); rmSync(dir, { recursive: true, force: true }); },
    unplug: () => stopChild(child),
    replug: async () => { child = await start(); },
  };
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), 2_000);
    child.once('exit', () => { clearTimeout(t); resolve(); });
    child.kill('SIGTERM');
  });
}

/** pymodbus's RTU server on `device` (units 1 and 2; others silent). */
export function startRtuServer(device: string, baud: number): Promise<{ stop(): Promise<void> }> {
  const child = spawn(DEBIAN_PYTHON, [join(process.cwd(), 'test', 'fixtures', 'modbus', 'rtu_server.py'), device, String(baud)], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let err = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`pymodbus RTU server not READY in 15 s: ${err}`)); }, 15_000);
    child.stderr!.on('data', (d) => { err += d; });
    child.stdout!.on('data', (d) => {
      if (String(d).includes('READY')) { clearTimeout(timer); resolve({ stop: () => stopChild(child) }); }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`pymodbus RTU server exited (${code}): ${err}`)); });
  });
}
