/**
 * The two peers of the Modbus proxy benchmark, each meant to run in its own process:
 * a fast minimal Modbus/TCP server (test/helpers/modbus.ts startNodeModbusServer) and a closed-loop
 * load generator (N connections, each with exactly one outstanding 12-byte FC 3 read of one
 * register, for a fixed duration), which reports its request rate and latency percentiles.
 */
import { connect, type Socket } from 'node:net';
import { startNodeModbusServer } from '../helpers/modbus';
import { percentiles } from './report';

/** Runs the Modbus server until the process is killed; prints `READY <port>`. */
export async function runBenchServer(port = 0): Promise<void> {
  const s = await startNodeModbusServer({ port });
  console.log(`READY ${s.port}`);
}

export interface LoadResult {
  connections: number;
  requests: number;
  seconds: number;
  rate: number;
  /** Round-trip latency in microseconds. */
  p50: number;
  p99: number;
  errors: number;
  /** Every response received, the warm-up's included (what the proxy served while the load ran). */
  total: number;
}

/**
 * Closed loop: every connection sends one FC 3 read (unit 1, address 0, count 1), waits for the
 * answer, sends the next. Samples taken after `warmupMs` and before `durationMs` ends count.
 */
export function runLoad(o: { port: number; connections: number; durationMs: number; warmupMs: number }): Promise<LoadResult> {
  const samples = new Float64Array(4_000_000);
  let n = 0;
  let requests = 0;
  let total = 0;
  let errors = 0;
  const t0 = process.hrtime.bigint();
  const nowUs = (): number => Number(process.hrtime.bigint() - t0) / 1000;
  let warmUs = Infinity;
  let endUs = Infinity;
  let stopped = false;
  const sockets: Socket[] = [];

  return new Promise((resolve) => {
    let open = 0;
    const one = (index: number): void => {
      const s = connect({ host: '127.0.0.1', port: o.port });
      s.setNoDelay(true);
      sockets.push(s);
      const req = Buffer.from([0, 0, 0, 0, 0, 6, 1, 3, 0, 0, 0, 1]);
      let tid = (index * 7919) & 0xffff;
      let sentAt = 0;
      let pending = 0;
      const send = (): void => {
        tid = (tid + 1) & 0xffff;
        req[0] = tid >> 8; req[1] = tid & 0xff;
        sentAt = nowUs();
        s.write(req);
      };
      s.on('connect', () => { open++; if (open === o.connections) start(); });
      const acc = Buffer.alloc(300);
      s.on('data', (d: Buffer) => {
        // One request outstanding per connection: gather its response (11 bytes, or 9 for an exception).
        d.copy(acc, pending);
        pending += d.length;
        if (pending < 6 || pending < 6 + acc.readUInt16BE(4)) return;
        if ((acc[7] & 0x80) !== 0) errors++;
        pending = 0;
        total++;
        const t = nowUs();
        if (t >= warmUs && t < endUs) {
          if (n < samples.length) samples[n++] = t - sentAt;
          requests++;
        }
        if (!stopped) send();
      });
      s.on('error', () => { errors++; });
      (s as Socket & { kick?: () => void }).kick = send;
    };
    let started = false;
    const start = (): void => {
      if (started) return;
      started = true;
      warmUs = nowUs() + o.warmupMs * 1000;
      endUs = warmUs + o.durationMs * 1000;
      for (const s of sockets) (s as Socket & { kick?: () => void }).kick!();
      setTimeout(() => {
        stopped = true;
        for (const s of sockets) s.destroy();
        const p = percentiles(samples.subarray(0, n));
        resolve({ connections: o.connections, requests, seconds: o.durationMs / 1000, rate: requests / (o.durationMs / 1000), p50: p.p50, p99: p.p99, errors, total });
      }, o.warmupMs + o.durationMs + 20);
    };
    for (let i = 0; i < o.connections; i++) one(i);
  });
}
