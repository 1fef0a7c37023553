/**
 * DNP3 requests out of a capture file for `policy learn --pcap`: Debian's tshark reads the capture
 * and follows TCP (pcap-tcp.ts: the payload of each segment sent to a DNP3 port, retransmissions
 * left out); zonegate's own DNP3 driver code then
 * splits link frames (every CRC checked), reassembles transport segments and parses the
 * application fragment, and the observation is the audit `dnp3` field the proxy would have
 * recorded for that request (drivers/dnp3/audit-fields.ts). A stream that stops being DNP3 (bad
 * CRC, torn frame) is dropped from there on and counted.
 */
import type { LearnObservation } from '../policy/learn/learn';
import { LinkSplitter, type LinkFrame } from '../drivers/dnp3/link';
import { Reassembler } from '../drivers/dnp3/transport';
import { AppFragment, parseFragment } from '../drivers/dnp3/app';
import { auditFields } from '../drivers/dnp3/audit-fields';
import { dnp3Function } from '../drivers/dnp3/functions';
import { readTcpStreams, type TcpSegment } from './pcap-tcp';

interface Stream { split: LinkSplitter; reasm: Reassembler; at: number; src: string; dst: string; port: number; dead: boolean }

/** Streams the DNP3 requests of `file` into `each`; port 20000 always, plus `ports`. */
export async function readPcapDnp3(file: string, ports: readonly number[], each: (obs: LearnObservation) => void): Promise<{ requests: number; brokenStreams: number }> {
  const all = [...new Set([20000, ...ports])];
  const frag = new AppFragment(2048);
  let requests = 0, broken = 0;
  const open = ({ src, dst, port }: TcpSegment): Stream => {
    const s: Stream = {
      src, dst, port, at: 0, dead: false, reasm: new Reassembler(),
      split: new LinkSplitter({
        onLinkFrame: (f: LinkFrame) => {
          if (f.dataLength === 0 || !f.primary) return true;
          const r = s.reasm.push(f.src, f.dest, f.data, f.dataLength);
          if (r.kind === 'malformed') { s.dead = true; broken++; return false; }
          if (r.kind !== 'fragment') return true;
          if (parseFragment(r.data, r.offset, r.length, frag) !== null || !frag.known || dnp3Function(frag.fn)?.response === true) return true;
          requests++;
          each({ kind: 'request', at: s.at, src: s.src, dst: s.dst, port: s.port, protocol: 'dnp3', dnp3: auditFields(frag, r.src, r.dest) });
          return true;
        },
        onLinkMalformed: () => { if (!s.dead) { s.dead = true; broken++; } },
      }),
    };
    return s;
  };
  await readTcpStreams(file, all, open, (s, bytes) => { s.split.push(bytes); });
  return { requests, brokenStreams: broken };
}
