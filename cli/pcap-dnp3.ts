/**
 * DNP3 requests out of a capture file for `policy learn --pcap`: Debian's tshark reads the capture
 * and follows TCP (`-T fields`: time, addresses, destination port, stream number, payload bytes of
 * each segment sent to a DNP3 port, retransmissions left out); zonegate's own DNP3 driver code then
 * splits link frames (every CRC checked), reassembles transport segments and parses the
 * application fragment, and the observation is the audit `dnp3` field the proxy would have
 * recorded for that request (drivers/dnp3/audit-fields.ts). A stream that stops being DNP3 (bad
 * CRC, torn frame) is dropped from there on and counted.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { ZonegateError } from '../policy/errors';
import type { LearnObservation } from '../policy/learn/learn';
import { LinkSplitter, type LinkFrame } from '../drivers/dnp3/link';
import { Reassembler } from '../drivers/dnp3/transport';
import { AppFragment, parseFragment } from '../drivers/dnp3/app';
import { auditFields } from '../drivers/dnp3/audit-fields';
import { dnp3Function } from '../drivers/dnp3/functions';

const FIELDS = ['frame.time_epoch', 'ip.src', 'ipv6.src', 'ip.dst', 'ipv6.dst', 'tcp.dstport', 'tcp.stream', 'tcp.payload'] as const;

interface Stream { split: LinkSplitter; reasm: Reassembler; at: number; src: string; dst: string; port: number; dead: boolean }

/** Streams the DNP3 requests of `file` into `each`; port 20000 always, plus `ports`. */
export async function readPcapDnp3(file: string, ports: readonly number[], each: (obs: LearnObservation) => void): Promise<{ requests: number; brokenStreams: number }> {
  const all = [...new Set([20000, ...ports])];
  const args = ['-r', file, '-n', '-Y', `tcp.len > 0 && !tcp.analysis.retransmission && tcp.dstport in {${all.join(' ')}}`, '-T', 'fields',
    '-E', 'separator=/t', '-E', 'occurrence=f', ...FIELDS.flatMap((x) => ['-e', x])];
  const p = spawn('tshark', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  p.stderr.on('data', (d) => { if (err.length < 4000) err += d; });
  const frag = new AppFragment(2048);
  const streams = new Map<string, Stream>();
  let requests = 0, broken = 0;
  const open = (key: string, src: string, dst: string, port: number): Stream => {
    const s: Stream = {
      src, dst, port, at: 0, dead: false, reasm: new Reassembler(),
      split: new LinkSplitter({
        onLinkFrame: (f: LinkFrame) => {
          if (f.dataLength === 0 || !f.primary) return true;
          const r = s.reasm.push(f.src, f.dest, f.data, f.dataLength);
          if (r.kind === 'malformed') { s.dead = true; broken++; return false; }
          if (r.kind !== 'fragment') return true;
          if (parseFragment(r.data, 0, r.length, frag) !== null || !frag.known || dnp3Function(frag.fn)?.response === true) return true;
          requests++;
          each({ kind: 'request', at: s.at, src: s.src, dst: s.dst, port: s.port, protocol: 'dnp3', dnp3: auditFields(frag, r.src, r.dest) });
          return true;
        },
        onLinkMalformed: () => { if (!s.dead) { s.dead = true; broken++; } },
      }),
    };
    streams.set(key, s);
    return s;
  };
  const rl = createInterface({ input: p.stdout });
  rl.on('line', (line) => {
    const f = line.split('\t');
    if (f.length < FIELDS.length || f[7] === '') return;
    const src = f[1] || f[2], dst = f[3] || f[4], port = Number(f[5]);
    if (!src || !dst || !Number.isInteger(port)) return;
    const key = `${f[6]}|${src}`;
    const s = streams.get(key) ?? open(key, src, dst, port);
    if (s.dead) return;
    const at = Math.round(Number(f[0]) * 1000);
    s.at = Number.isFinite(at) ? at : 0;
    s.split.push(Buffer.from(f[7].replace(/:/g, ''), 'hex'));
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    p.on('error', (e: NodeJS.ErrnoException) => reject(new ZonegateError('ERR_FILE', `cannot read ${file}: ${e.code === 'ENOENT' ? 'tshark is not installed (Debian package tshark)' : e.message}`, { cause: e })));
    p.on('close', resolve);
  });
  if (code !== 0) throw new ZonegateError('ERR_FILE', `tshark could not read ${file}: ${err.trim().split('\n').pop() ?? `exit ${code}`}`);
  return { requests, brokenStreams: broken };
}
