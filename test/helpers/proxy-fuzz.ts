// What the proxy fuzz tests share (dnp3-fuzz, iec104-proxy-fuzz): sending one planned byte stream
// through a real socket in random-sized writes (or one byte at a time), and finding the malformed
// records of each fuzz connection in the audit events by its source port (ports are reused once
// the proxy closed first: the k-th connection from a port is the k-th the proxy accepted from it).
import { connect } from 'node:net';
import type { AuditEvent } from '../../drivers/types';

/** A fuzz connection as the client saw it: its local port and the how-manieth connection from that port. */
export interface Sent { port: number; nth: number }

export interface FuzzSender {
  /**
   * Sends `stream` from `localAddress`; resolves once the connection closed. `proxyCloses`: the
   * client never ends it; `whole`: in one write (what must arrive in one read, e.g. a window overrun).
   */
  send(port: number, localAddress: string, stream: Buffer, how: { oneByte: boolean; proxyCloses: boolean; whole?: boolean }): Promise<Sent>;
}

export function fuzzSender(rnd: () => number): FuzzSender {
  const fromPort = new Map<number, number>();
  return {
    send(port, localAddress, stream, how) {
      return new Promise((resolve) => {
        const s = connect({ host: '127.0.0.1', port, localAddress });
        const sent: Sent = { port: 0, nth: 0 };
        s.on('error', () => undefined);
        s.on('data', () => undefined);
        s.on('close', () => resolve(sent));
        s.on('connect', () => {
          sent.port = s.localPort ?? 0;
          sent.nth = fromPort.get(sent.port) ?? 0;
          fromPort.set(sent.port, sent.nth + 1);
          let at = 0;
          const next = (): void => {
            if (s.destroyed) return;
            if (at >= stream.length) { if (!how.proxyCloses) s.end(); return; }
            const n = how.whole === true ? stream.length : how.oneByte ? 1 : 1 + Math.floor(rnd() * (rnd() < 0.3 ? 8 : 300));
            s.write(stream.subarray(at, at + n));
            at += n;
            setImmediate(next);
          };
          next();
        });
      });
    },
  };
}

/** The malformed records (kind malformed, or a decision denied as malformed) of each connection from `src`, keyed `port/nth`. */
export function malformedByConnection(events: readonly AuditEvent[], src: string): Map<string, AuditEvent[]> {
  const out = new Map<string, AuditEvent[]>();
  const accepted = new Map<number, number>();
  for (const e of events) {
    if (e.src !== src) continue;
    const p = e.srcPort ?? 0;
    if (e.kind === 'decision' && e.message === 'connect') { accepted.set(p, (accepted.get(p) ?? 0) + 1); continue; }
    if (!(e.kind === 'malformed' || e.decision?.reason === 'malformed')) continue;
    const key = `${p}/${(accepted.get(p) ?? 1) - 1}`;
    const l = out.get(key) ?? [];
    l.push(e);
    out.set(key, l);
  }
  return out;
}
