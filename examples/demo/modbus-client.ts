/**
 * A tiny Modbus/TCP client for the demo: it can bind a chosen loopback source address, which is
 * how one machine plays the HMI (127.10.0.5), the engineering workstation and the enterprise.
 */
import { connect, type Socket } from 'node:net';

export interface ModbusReply {
  ok: boolean;
  /** Registers or coils read, for reads. */
  values?: number[];
  /** Exception code, when the reply was an exception. */
  exception?: number;
}

export class DemoModbusClient {
  private tid = 0;
  private buf = Buffer.alloc(0);
  private waiting = new Map<number, (r: Buffer) => void>();
  private closed = false;

  private constructor(private readonly sock: Socket) {
    sock.on('data', (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      while (this.buf.length >= 7 && this.buf.length >= 6 + this.buf.readUInt16BE(4)) {
        const len = 6 + this.buf.readUInt16BE(4);
        const frame = this.buf.subarray(0, len);
        this.buf = this.buf.subarray(len);
        const cb = this.waiting.get(frame.readUInt16BE(0));
        this.waiting.delete(frame.readUInt16BE(0));
        cb?.(frame);
      }
    });
    sock.on('close', () => { this.closed = true; for (const cb of this.waiting.values()) cb(Buffer.alloc(0)); this.waiting.clear(); });
    sock.on('error', () => undefined);
  }

  static open(opts: { host: string; port: number; localAddress?: string }): Promise<DemoModbusClient> {
    return new Promise((resolve, reject) => {
      const sock = connect({ host: opts.host, port: opts.port, localAddress: opts.localAddress });
      sock.once('connect', () => resolve(new DemoModbusClient(sock)));
      sock.once('error', reject);
    });
  }

  get isClosed(): boolean { return this.closed; }

  /** Sends raw bytes (the demo's malformed frame) and resolves when the gateway closes or answers. */
  sendRaw(bytes: Buffer, waitMs = 1500): Promise<'closed' | 'open'> {
    this.sock.write(bytes);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(this.closed ? 'closed' : 'open'), waitMs);
      this.sock.once('close', () => { clearTimeout(t); resolve('closed'); });
    });
  }

  readHolding(unit: number, address: number, count: number): Promise<ModbusReply> {
    const pdu = Buffer.alloc(5);
    pdu[0] = 3; pdu.writeUInt16BE(address, 1); pdu.writeUInt16BE(count, 3);
    return this.request(unit, pdu);
  }

  readInput(unit: number, address: number, count: number): Promise<ModbusReply> {
    const pdu = Buffer.alloc(5);
    pdu[0] = 4; pdu.writeUInt16BE(address, 1); pdu.writeUInt16BE(count, 3);
    return this.request(unit, pdu);
  }

  writeRegister(unit: number, address: number, value: number): Promise<ModbusReply> {
    const pdu = Buffer.alloc(5);
    pdu[0] = 6; pdu.writeUInt16BE(address, 1); pdu.writeUInt16BE(value, 3);
    return this.request(unit, pdu);
  }

  close(): void { this.sock.destroy(); }

  private request(unit: number, pdu: Buffer): Promise<ModbusReply> {
    if (this.closed) return Promise.resolve({ ok: false });
    const tid = (this.tid = (this.tid + 1) & 0xffff);
    const adu = Buffer.alloc(7 + pdu.length);
    adu.writeUInt16BE(tid, 0); adu.writeUInt16BE(0, 2); adu.writeUInt16BE(pdu.length + 1, 4); adu[6] = unit;
    pdu.copy(adu, 7);
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.waiting.delete(tid); resolve({ ok: false }); }, 5000);
      this.waiting.set(tid, (frame) => {
        clearTimeout(timer);
        if (frame.length < 9) return resolve({ ok: false });
        const fn = frame[7];
        if (fn & 0x80) return resolve({ ok: false, exception: frame[8] });
        if (fn === 3 || fn === 4) {
          const n = frame[8] / 2;
          const values: number[] = [];
          for (let i = 0; i < n; i++) values.push(frame.readUInt16BE(9 + 2 * i));
          return resolve({ ok: true, values });
        }
        resolve({ ok: true });
      });
      this.sock.write(adu);
    });
  }
}
