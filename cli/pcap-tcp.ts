/**
 * The TCP payloads of a capture file, for the `policy learn --pcap` readers whose protocol
 * zonegate's own driver code parses (DNP3, IEC 104): Debian's tshark reads the capture and
 * follows TCP (`-T fields`: time, addresses, destination port, stream number, payload bytes of
 * each segment sent to one of `ports`, retransmissions left out); each segment goes to `each`
 * in capture order.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { ZonegateError } from '../policy/errors';

const FIELDS = ['frame.time_epoch', 'ip.src', 'ipv6.src', 'ip.dst', 'ipv6.dst', 'tcp.dstport', 'tcp.stream', 'tcp.payload'] as const;

/** One TCP segment toward a service port: `stream` names the connection and direction. */
export interface TcpSegment { stream: string; at: number; src: string; dst: string; port: number; bytes: Buffer }

/** Streams the payload segments of `file` sent to one of `ports` into `each`. */
export async function readTcpSegments(file: string, ports: readonly number[], each: (s: TcpSegment) => void): Promise<void> {
  const args = ['-r', file, '-n', '-Y', `tcp.len > 0 && !tcp.analysis.retransmission && tcp.dstport in {${ports.join(' ')}}`, '-T', 'fields',
    '-E', 'separator=/t', '-E', 'occurrence=f', ...FIELDS.flatMap((x) => ['-e', x])];
  const p = spawn('tshark', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  p.stderr.on('data', (d) => { if (err.length < 4000) err += d; });
  const rl = createInterface({ input: p.stdout });
  rl.on('line', (line) => {
    const f = line.split('\t');
    if (f.length < FIELDS.length || f[7] === '') return;
    const src = f[1] || f[2], dst = f[3] || f[4], port = Number(f[5]);
    if (!src || !dst || !Number.isInteger(port)) return;
    const at = Math.round(Number(f[0]) * 1000);
    each({ stream: `${f[6]}|${src}`, at: Number.isFinite(at) ? at : 0, src, dst, port, bytes: Buffer.from(f[7].replace(/:/g, ''), 'hex') });
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    p.on('error', (e: NodeJS.ErrnoException) => reject(new ZonegateError('ERR_FILE', `cannot read ${file}: ${e.code === 'ENOENT' ? 'tshark is not installed (Debian package tshark)' : e.message}`, { cause: e })));
    p.on('close', resolve);
  });
  if (code !== 0) throw new ZonegateError('ERR_FILE', `tshark could not read ${file}: ${err.trim().split('\n').pop() ?? `exit ${code}`}`);
}

/** Per-connection state of a reader: `dead` once the stream stopped being its protocol, `at` the time of the segment in hand. */
export interface StreamState { dead: boolean; at: number }

/** Like readTcpSegments, with one state per stream (`open` on its first segment); dead streams are skipped. */
export async function readTcpStreams<S extends StreamState>(file: string, ports: readonly number[], open: (seg: TcpSegment) => S, push: (s: S, bytes: Buffer) => void): Promise<void> {
  const streams = new Map<string, S>();
  await readTcpSegments(file, ports, (seg) => {
    let s = streams.get(seg.stream);
    if (s === undefined) { s = open(seg); streams.set(seg.stream, s); }
    if (s.dead) return;
    s.at = seg.at;
    push(s, seg.bytes);
  });
}
