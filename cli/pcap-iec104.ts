/**
 * IEC 104 ASDUs out of a capture file for `policy learn --pcap`: tshark reads the capture and
 * follows TCP (pcap-tcp.ts: the payload of each segment sent to an IEC 104 port, retransmissions
 * left out); zonegate's own IEC 104 driver code then splits APDUs (start byte, length and control
 * field checked) and parses each I-format ASDU, and the observation is the audit `iec104` field
 * the proxy would have recorded for it (drivers/iec104/audit-fields.ts). Only what masters send
 * (to the port) is read, as the proxy audits it: monitor-direction types from a master and
 * ASDUs that do not parse are left out and counted; a stream that stops being IEC 104 (bad start
 * byte, length, control field) is dropped from there on and counted. Sequence numbers are not
 * checked: a capture may start in the middle of a link.
 */
import type { LearnObservation } from '../policy/learn/learn';
import { ApciSplitter, ApciFormat, APCI_BYTES, type ApciFrame } from '../drivers/iec104/apci';
import { Asdu, parseAsdu } from '../drivers/iec104/asdu';
import { auditFields } from '../drivers/iec104/audit-fields';
import { readTcpStreams, type TcpSegment } from './pcap-tcp';

interface Stream { split: ApciSplitter; at: number; src: string; dst: string; port: number; dead: boolean }

/** Streams the IEC 104 ASDUs masters sent in `file` into `each`; port 2404 always, plus `ports`. */
export async function readPcapIec104(file: string, ports: readonly number[], each: (obs: LearnObservation) => void): Promise<{ requests: number; skipped: number; brokenStreams: number }> {
  const all = [...new Set([2404, ...ports])];
  const asdu = new Asdu();
  let requests = 0, skipped = 0, broken = 0;
  const open = ({ src, dst, port }: TcpSegment): Stream => {
    const s: Stream = {
      src, dst, port, at: 0, dead: false,
      split: new ApciSplitter({
        onApdu: (f: ApciFrame) => {
          if (f.format !== ApciFormat.I) return true;
          if (!parseAsdu(f.raw, asdu, APCI_BYTES, f.rawLength)) { skipped++; return true; }
          requests++;
          each({ kind: 'request', at: s.at, src: s.src, dst: s.dst, port: s.port, protocol: 'iec104', iec104: auditFields(asdu) });
          return true;
        },
        onApciMalformed: () => { if (!s.dead) { s.dead = true; broken++; } },
      }),
    };
    return s;
  };
  await readTcpStreams(file, all, open, (s, bytes) => { s.split.push(bytes); });
  return { requests, skipped, brokenStreams: broken };
}
