/**
 * A small Modbus/TCP server that behaves like a PLC for labs and the demo: 10,000 holding
 * registers, input registers, coils and discrete inputs; input registers 0..9 follow a slow
 * process (feeder current, voltage, temperature) so reads show changing values.
 * Modbus Application Protocol V1.1b3 sections 6.1-6.12, 6.17; MBAP per the TCP guide V1.0b.
 */
import { createServer, type Server, type Socket, type AddressInfo } from 'node:net';
import { modbusFunction } from '../../policy/modbus';

export interface PlcSimOptions {
  host: string;
  port: number;
  /** Unit ids this PLC answers; others get exception 0x0B. Default: all. */
  units?: number[];
  now?: () => number;
}

export interface PlcSim {
  readonly holding: Uint16Array;
  readonly input: Uint16Array;
  readonly coils: Uint8Array;
  readonly discrete: Uint8Array;
  address(): AddressInfo;
  close(): Promise<void>;
  /** Requests served, by function code. */
  readonly served: Map<number, number>;
}

const SIZE = 10_000;

/** Starts the PLC listening. */
export async function startPlcSim(opts: PlcSimOptions): Promise<PlcSim> {
  const plc = new PlcMemory(opts);
  const sockets = new Set<Socket>();
  const server: Server = createServer((sock) => {
    sockets.add(sock);
    let buf: Buffer = Buffer.alloc(0);
    sock.on('data', (d) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      while (buf.length >= 7) {
        const len = buf.readUInt16BE(4);
        if (buf.readUInt16BE(2) !== 0 || len < 2 || len > 254) { sock.destroy(); return; }
        if (buf.length < 6 + len) break;
        sock.write(plc.answer(buf.subarray(0, 6 + len)));
        buf = buf.subarray(6 + len);
      }
    });
    sock.on('error', () => sock.destroy());
    sock.on('close', () => sockets.delete(sock));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => { server.off('error', reject); resolve(); });
  });
  return {
    holding: plc.holding, input: plc.input, coils: plc.coils, discrete: plc.discrete, served: plc.served,
    address: () => server.address() as AddressInfo,
    close: () => new Promise<void>((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()); }),
  };
}

/** The PLC's tables and its answer to one request ADU (an exception for what it does not serve). */
class PlcMemory {
  readonly holding = new Uint16Array(SIZE);
  readonly input = new Uint16Array(SIZE);
  readonly coils = new Uint8Array(SIZE);
  readonly discrete = new Uint8Array(SIZE);
  readonly served = new Map<number, number>();
  private readonly now: () => number;
  private readonly units: Set<number> | null;

  constructor(opts: PlcSimOptions) {
    this.now = opts.now ?? Date.now;
    this.units = opts.units ? new Set(opts.units) : null;
    for (let i = 0; i < SIZE; i++) this.holding[i] = 1000 + (i % 1000);
  }

  private processValues(): void {
    const { input, discrete } = this;
    const t = this.now() / 1000;
    input[0] = Math.round(4200 + 300 * Math.sin(t / 7));        // feeder current, 0.1 A
    input[1] = Math.round(13800 + 40 * Math.sin(t / 11));      // voltage, V
    input[2] = Math.round(450 + 20 * Math.sin(t / 30));        // transformer oil temp, 0.1 °C
    for (let i = 3; i < 10; i++) input[i] = (input[i] + 1) & 0xffff;
    discrete[0] = input[0] > 4400 ? 1 : 0;
  }

  answer(req: Buffer): Buffer {
    const tid = req.readUInt16BE(0), unit = req[6], fn = req[7];
    this.served.set(fn, (this.served.get(fn) ?? 0) + 1);
    const exc = (code: number) => frame(tid, unit, Buffer.from([fn | 0x80, code]));
    if (this.units && !this.units.has(unit)) return exc(0x0b);
    const f = modbusFunction(fn);
    if (!f || req.length < 12) return exc(0x01);
    const a = req.readUInt16BE(8), q = req.readUInt16BE(10);
    this.processValues();
    const pdu = f.shape === 'range' ? this.read(fn, f.table, a, q) : this.write(req, fn, f.shape, a, q);
    return typeof pdu === 'number' ? exc(pdu) : frame(tid, unit, pdu);
  }

  // Reads of one table (sections 6.1-6.4): the PDU, or an exception code.
  private read(fn: number, table: string | undefined, a: number, q: number): Buffer | number {
    if (q < 1 || a + q > SIZE) return 0x02;
    if (table === 'coils' || table === 'discrete-inputs') {
      const src = table === 'coils' ? this.coils : this.discrete;
      const out = Buffer.alloc(Math.ceil(q / 8));
      for (let i = 0; i < q; i++) if (src[a + i]) out[i >> 3] |= 1 << (i & 7);
      return Buffer.concat([Buffer.from([fn, out.length]), out]);
    }
    return this.registers(fn, table === 'holding-registers' ? this.holding : this.input, a, q);
  }

  private registers(fn: number, src: Uint16Array, a: number, q: number): Buffer {
    const out = Buffer.alloc(2 + 2 * q);
    out[0] = fn; out[1] = 2 * q;
    for (let i = 0; i < q; i++) out.writeUInt16BE(src[a + i], 2 + 2 * i);
    return out;
  }

  // Writes (sections 6.5, 6.6, 6.11, 6.12, 6.16, 6.17): the echoed PDU or the read part, or an exception code.
  private write(req: Buffer, fn: number, shape: string, a: number, q: number): Buffer | number {
    const { holding, coils } = this;
    switch (shape) {
      case 'single': {
        if (a >= SIZE) return 0x02;
        if (fn === 5) { if (q !== 0 && q !== 0xff00) return 0x03; coils[a] = q ? 1 : 0; }
        else holding[a] = q;
        return req.subarray(7, 12);
      }
      case 'multiple': {
        if (q < 1 || a + q > SIZE || req.length < 13) return 0x02;
        const data = req.subarray(13);
        if (fn === 15) for (let i = 0; i < q; i++) coils[a + i] = (data[i >> 3] >> (i & 7)) & 1;
        else for (let i = 0; i < q; i++) holding[a + i] = data.readUInt16BE(2 * i);
        return req.subarray(7, 12);
      }
      case 'mask': {
        if (a >= SIZE || req.length < 14) return 0x02;
        const and = req.readUInt16BE(10), or = req.readUInt16BE(12);
        holding[a] = (holding[a] & and) | (or & ~and & 0xffff);
        return req.subarray(7, 14);
      }
      case 'read-write': {
        if (req.length < 17) return 0x03;
        const wa = req.readUInt16BE(12), wq = req.readUInt16BE(14);
        if (a + q > SIZE || wa + wq > SIZE) return 0x02;
        for (let i = 0; i < wq; i++) holding[wa + i] = req.readUInt16BE(17 + 2 * i);
        return this.registers(fn, holding, a, q);
      }
      default:
        return 0x01;
    }
  }
}

function frame(tid: number, unit: number, pdu: Buffer): Buffer {
  const out = Buffer.alloc(7 + pdu.length);
  out.writeUInt16BE(tid, 0);
  out.writeUInt16BE(0, 2);
  out.writeUInt16BE(pdu.length + 1, 4);
  out[6] = unit;
  pdu.copy(out, 7);
  return out;
}
