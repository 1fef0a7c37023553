/**
 * Modbus test peers: the pymodbus server fixture (a real PLC stand-in), mbpoll and the pymodbus
 * client fixture as real clients, plus a raw Node client (exact frames, pipelining, malformed
 * input) and a minimal in-process Node Modbus server (fast upstream for fuzzing and the bench).
 * Everything listens on 127.0.0.1 with a free port.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';

export const DEBIAN_PYTHON = '/usr/bin/python3';
const fixtures = (): string => join(process.cwd(), 'test/fixtures/modbus');

/**
 * The imports test/fixtures/modbus/server.py and client.py make. `import pymodbus` alone succeeds
 * on Debian without python3-serial and python3-serial-asyncio (only Recommends of
 * python3-pymodbus), while these fail; build/setup-deps.sh checks the same line.
 */
export const PYMODBUS_IMPORTS =
  'from pymodbus.server import StartAsyncTcpServer; from pymodbus.client import ModbusTcpClient; from pymodbus.datastore import ModbusSlaveContext';

let pymodbusChecked: string | null | undefined;

/** Why the pymodbus peers (server and client) cannot run here, or null when they can. */
export function pymodbusMissing(): string | null {
  if (pymodbusChecked !== undefined) return pymodbusChecked;
  if (!existsSync(DEBIAN_PYTHON)) return (pymodbusChecked = `${DEBIAN_PYTHON} not found`);
  const r = spawnSync(DEBIAN_PYTHON, ['-c', PYMODBUS_IMPORTS], { encoding: 'utf8' });
  pymodbusChecked = r.status === 0 ? null
    : `${DEBIAN_PYTHON} cannot import the pymodbus server and client (${(r.stderr || String(r.error ?? '')).trim().split('\n').pop()}); `
      + 'make test installs python3-pymodbus python3-serial python3-serial-asyncio as root';
  return pymodbusChecked;
}

/** Why mbpoll cannot run here, or null. */
export function mbpollMissing(): string | null {
  const r = spawnSync('mbpoll', ['-V'], { encoding: 'utf8' });
  return r.error ? `mbpoll not installed (${r.error.message})` : null;
}

export interface RunningServer {
  port: number;
  stop(): Promise<void>;
}

/**
 * Starts test/fixtures/modbus/server.py (holding register i = 1000 + i, input register i = 2000 + i,
 * coil i = i % 2, discrete input i = (i + 1) % 2, i in 0..199, zero-based) and waits for READY.
 */
export function startPymodbusServer(): Promise<RunningServer> {
  const child = spawn(DEBIAN_PYTHON, [join(fixtures(), 'server.py'), '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`pymodbus server not READY in 15 s: ${err}`)); }, 15_000);
    child.stderr!.on('data', (d) => { err += d; });
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /READY (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ port: Number(m[1]), stop: () => stopChild(child) });
      }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`pymodbus server exited (${code}): ${err}`)); });
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), 2_000);
    child.once('exit', () => { clearTimeout(t); resolve(); });
    child.kill('SIGTERM');
  });
}

function runCapture(cmd: string, args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout!.on('data', (d) => { stdout += d; });
    child.stderr!.on('data', (d) => { stderr += d; });
    child.on('close', (code) => { clearTimeout(t); resolve({ code, stdout, stderr }); });
  });
}

/**
 * Reads with mbpoll once: `mbpoll -m tcp -a UNIT -0 -r REF -c COUNT -t TYPE -1 -p PORT 127.0.0.1`
 * (-0: zero-based references, so `ref` is the PDU address). TYPE 4 = holding registers,
 * 3 = input registers, 0 = coils. Returns the values polled, or `error` with mbpoll's message.
 */
export async function runMbpoll(o: { port: number; unit?: number; ref: number; count: number; type?: number }): Promise<{ values: number[]; error?: string; output: string }> {
  const r = await runCapture('mbpoll', ['-m', 'tcp', '-a', String(o.unit ?? 1), '-0', '-r', String(o.ref), '-c', String(o.count),
    '-t', String(o.type ?? 4), '-1', '-o', '2', '-p', String(o.port), '127.0.0.1'], 15_000);
  const values: number[] = [];
  for (const m of r.stdout.matchAll(/^\[(\d+)\]:\s+(-?\d+)/gm)) values.push(Number(m[2]));
  const failed = /error|fail|Illegal|exception/i.exec(r.stdout + r.stderr);
  return { values, error: r.code !== 0 || failed ? `${r.stdout}\n${r.stderr}`.trim() : undefined, output: r.stdout };
}

export interface ClientOp {
  op: 'read-holding' | 'read-input' | 'read-coils' | 'read-discrete' | 'write-register' | 'write-registers' | 'write-coil' | 'write-coils' | 'mask-write';
  unit?: number; address?: number; count?: number; value?: number; values?: number[]; and?: number; or?: number;
}
export interface ClientResult { ok: boolean; values?: number[]; exception?: number; function?: number; error?: string }

/** Runs test/fixtures/modbus/client.py against 127.0.0.1:port and returns one result per op. */
export async function runPymodbusClient(port: number, ops: ClientOp[]): Promise<ClientResult[]> {
  const r = await runCapture(DEBIAN_PYTHON, [join(fixtures(), 'client.py'), String(port), JSON.stringify(ops)], 30_000);
  try {
    const parsed = JSON.parse(r.stdout) as { results: ClientResult[]; error?: string };
    if (parsed.error) throw new Error(parsed.error);
    return parsed.results;
  } catch (err) {
    throw new Error(`pymodbus client failed (exit ${r.code}): ${r.stdout} ${r.stderr} ${(err as Error).message}`);
  }
}

// ---- raw frames ---------------------------------------------------------------------------

/** An MBAP ADU around a PDU (length field = unit + PDU; override it to build malformed frames). */
export function adu(tid: number, unit: number, pdu: number[] | Buffer, o: { protocol?: number; length?: number } = {}): Buffer {
  const p = Buffer.from(pdu);
  const b = Buffer.alloc(7 + p.length);
  b.writeUInt16BE(tid & 0xffff, 0);
  b.writeUInt16BE(o.protocol ?? 0, 2);
  b.writeUInt16BE(o.length ?? p.length + 1, 4);
  b[6] = unit;
  p.copy(b, 7);
  return b;
}

const be16 = (n: number): number[] => [(n >> 8) & 0xff, n & 0xff];
export const pdus = {
  read: (fn: number, address: number, count: number): number[] => [fn, ...be16(address), ...be16(count)],
  writeSingle: (fn: number, address: number, value: number): number[] => [fn, ...be16(address), ...be16(value)],
  writeRegisters: (address: number, values: number[]): number[] =>
    [16, ...be16(address), ...be16(values.length), values.length * 2, ...values.flatMap(be16)],
  writeCoils: (address: number, bits: number[]): number[] => {
    const bytes = new Array<number>((bits.length + 7) >> 3).fill(0);
    bits.forEach((b, i) => { if (b) bytes[i >> 3] |= 1 << (i & 7); });
    return [15, ...be16(address), ...be16(bits.length), bytes.length, ...bytes];
  },
};

/** One decoded response ADU. */
export interface Response { tid: number; unit: number; fn: number; exception?: number; registers?: number[]; raw: Buffer }

function decodeResponse(b: Buffer): Response {
  const fn = b[7];
  const r: Response = { tid: b.readUInt16BE(0), unit: b[6], fn, raw: b };
  if (fn & 0x80) r.exception = b[8];
  else if (fn === 3 || fn === 4) {
    const n = b[8] / 2;
    r.registers = Array.from({ length: n }, (_, i) => b.readUInt16BE(9 + 2 * i));
  }
  return r;
}

/** A raw Modbus/TCP client: sends exact bytes, collects responses, sees the connection close. */
export class RawClient {
  readonly responses: Response[] = [];
  closed = false;
  private buf = Buffer.alloc(0);
  private waiters: (() => void)[] = [];

  private constructor(readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      while (this.buf.length >= 6) {
        const total = 6 + this.buf.readUInt16BE(4);
        if (this.buf.length < total) break;
        this.responses.push(decodeResponse(this.buf.subarray(0, total)));
        this.buf = this.buf.subarray(total);
      }
      this.wake();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => { this.closed = true; this.wake(); });
  }

  static open(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port }, () => { s.off('error', reject); resolve(new RawClient(s)); });
      s.once('error', reject);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  send(b: Buffer): void { this.socket.write(b); }

  /** Waits until `n` responses arrived in total, or the connection closed, or timeoutMs passed. */
  async waitFor(n: number, timeoutMs = 5_000): Promise<Response[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.responses.length < n && !this.closed && Date.now() < deadline) {
      await new Promise<void>((r) => { this.waiters.push(r); setTimeout(r, 50); });
    }
    return this.responses;
  }

  async waitClosed(timeoutMs = 5_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline) await new Promise<void>((r) => { this.waiters.push(r); setTimeout(r, 50); });
    return this.closed;
  }

  /** Sends one request and returns its response (by transaction id). */
  async request(b: Buffer, timeoutMs = 5_000): Promise<Response | undefined> {
    const tid = b.readUInt16BE(0);
    const before = this.responses.length;
    this.send(b);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.responses.slice(before).find((r) => r.tid === tid);
      if (found || this.closed || Date.now() >= deadline) return found;
      await new Promise<void>((r) => { this.waiters.push(r); setTimeout(r, 50); });
    }
  }

  close(): void { this.socket.destroy(); }
}

// ---- a minimal Node Modbus server ---------------------------------------------------------

/** Holding registers (i = 1000 + i initially) of the Node server, 0..65535. */
export interface NodeModbusServer { port: number; registers: Uint16Array; server: Server; connections: Set<Socket>; stop(): Promise<void> }

/**
 * A minimal, fast Modbus/TCP server: FC 3/4 read holding registers, FC 6/16 write them, anything
 * else exception 01. Frames are parsed in place; responses to one chunk go out in one write.
 * `silent: true` accepts connections and reads but never answers (a half-open PLC).
 */
export function startNodeModbusServer(o: { port?: number; silent?: boolean } = {}): Promise<NodeModbusServer> {
  const registers = new Uint16Array(65536);
  for (let i = 0; i < 65536; i++) registers[i] = (1000 + i) & 0xffff;
  const connections = new Set<Socket>();
  const server = createServer({ noDelay: true }, (sock) => {
    connections.add(sock);
    sock.on('close', () => connections.delete(sock));
    sock.on('error', () => undefined);
    let pending: Buffer | null = null;
    sock.on('data', (chunk: Buffer) => {
      if (o.silent) return;
      const b = pending ? Buffer.concat([pending, chunk]) : chunk;
      pending = null;
      let at = 0;
      const out: Buffer[] = [];
      while (b.length - at >= 7) {
        const total = 6 + ((b[at + 4] << 8) | b[at + 5]);
        if (total < 8 || total > 260) { sock.destroy(); return; }
        if (b.length - at < total) break;
        out.push(answer(b, at, total, registers));
        at += total;
      }
      if (at < b.length) pending = Buffer.from(b.subarray(at));
      if (out.length === 1) sock.write(out[0]); else if (out.length > 1) sock.write(Buffer.concat(out));
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: o.port ?? 0 }, () => {
      resolve({
        port: (server.address() as AddressInfo).port, registers, server, connections,
        stop: () => new Promise<void>((r) => { for (const s of connections) s.destroy(); server.close(() => r()); }),
      });
    });
  });
}

function answer(b: Buffer, at: number, total: number, regs: Uint16Array): Buffer {
  const fn = b[at + 7];
  const head = (pduLen: number): Buffer => {
    const r = Buffer.allocUnsafe(7 + pduLen);
    r[0] = b[at]; r[1] = b[at + 1]; r[2] = 0; r[3] = 0; r[4] = 0; r[5] = pduLen + 1; r[6] = b[at + 6];
    return r;
  };
  const exc = (code: number): Buffer => { const r = head(2); r[7] = fn | 0x80; r[8] = code; return r; };
  const addr = (b[at + 8] << 8) | b[at + 9];
  const qty = (b[at + 10] << 8) | b[at + 11];
  if ((fn === 3 || fn === 4) && total === 12) {
    if (qty < 1 || qty > 125) return exc(3);
    if (addr + qty > 65536) return exc(2);
    const r = head(2 + 2 * qty);
    r[7] = fn; r[8] = 2 * qty;
    for (let i = 0; i < qty; i++) { const v = regs[addr + i]; r[9 + 2 * i] = v >> 8; r[10 + 2 * i] = v & 0xff; }
    return r;
  }
  if (fn === 6 && total === 12) {
    regs[addr] = qty;
    const r = head(5);
    b.copy(r, 7, at + 7, at + 12);
    return r;
  }
  if (fn === 16 && total >= 13 && total === 13 + b[at + 12]) {
    for (let i = 0; i < qty; i++) regs[(addr + i) & 0xffff] = (b[at + 13 + 2 * i] << 8) | b[at + 14 + 2 * i];
    const r = head(5);
    b.copy(r, 7, at + 7, at + 12);
    return r;
  }
  return exc(1);
}

/**
 * A real Modbus server for a test (holding register i = 1000 + i): pymodbus when Debian's python
 * has it, else the Node one (said so). Its stop goes into `cleanups`; resolves to its port.
 */
export async function modbusUpstream(cleanups: (() => unknown)[]): Promise<number> {
  const missing = pymodbusMissing();
  if (missing === null) {
    const s = await startPymodbusServer();
    cleanups.push(() => s.stop());
    return s.port;
  }
  console.log(`  (pymodbus unavailable: ${missing}; using the Node Modbus server)`);
  const s = await startNodeModbusServer();
  cleanups.push(() => s.stop());
  return s.port;
}

/** The pymodbus serial-gateway stand-in (test/fixtures/modbus/gateway-server.py). */
export interface PymodbusGateway extends RunningServer {
  /** TCP connections the server accepted so far. */
  connects(): number;
}

/**
 * Starts test/fixtures/modbus/gateway-server.py: only `units` exist (default [1]), absent units
 * get no answer (ignore_missing_slaves), and a holding-register read covering `ignore` is never
 * answered. Waits for READY.
 */
export function startPymodbusGateway(o: { units?: number[]; ignore?: number } = {}): Promise<PymodbusGateway> {
  const args = [join(fixtures(), 'gateway-server.py'), '0', '--units', (o.units ?? [1]).join(',')];
  if (o.ignore !== undefined) args.push('--ignore', String(o.ignore));
  const child = spawn(DEBIAN_PYTHON, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let connects = 0;
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    let ready = false;
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`pymodbus gateway not READY in 15 s: ${err}`)); }, 15_000);
    child.stderr!.on('data', (d) => { err += d; });
    child.stdout!.on('data', (d) => {
      out += d;
      const lines = out.split('\n');
      out = lines.pop()!;
      for (const line of lines) {
        if (line === 'CONNECT') connects++;
        const m = /^READY (\d+)$/.exec(line);
        if (m && !ready) {
          ready = true;
          clearTimeout(timer);
          resolve({ port: Number(m[1]), connects: () => connects, stop: () => stopChild(child) });
        }
      }
    });
    child.on('exit', (code) => { clearTimeout(timer); if (!ready) reject(new Error(`pymodbus gateway exited (${code}): ${err}`)); });
  });
}
