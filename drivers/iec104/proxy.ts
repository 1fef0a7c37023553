/**
 * The IEC 104 proxy driver: listens for controlling stations in front of one RTU's IEC
 * 60870-5-104 service, decides every connection and every ASDU the master sends against the
 * policy, forwards what is allowed to the station and answers what is denied itself with a
 * negative confirmation (connection.ts, answers.ts). What the station sends is relayed when it is
 * of monitor direction or answers what the master sent, with a common address the master's
 * conduits allow (station-check.ts), else dropped. Every decision, malformed frame and
 * connection event goes to the audit sink.
 */
import { RateLimitStore } from '../modbus-tcp/rate-limit';
import { checkProxyOptions, createProxyListener, positiveOption, type ProxiedConnection } from '../proxy-listener';
import { Iec104Connection } from './connection';
import type { Iec104Context } from './context';
import { Iec104SelectStore } from './select-store';
import type { Iec104Proxy, Iec104ProxyOptions, Iec104ProxyStats } from './types';
import { IEC104_LINK_DEFAULTS, type Iec104Link } from './window';

const positive = (name: string, value: number | undefined, fallback: number): number => positiveOption('createIec104Proxy', name, value, fallback);

/**
 * Creates the proxy (call start()). Promises: no ASDU reaches the station that the decider did
 * not allow (and, where the conduit says selectBeforeExecute, no execute without its select);
 * every refused ASDU is answered and acknowledged, so the master's window keeps moving; a broken
 * stream closes only its own connection; memory per connection is bounded (maxQueued APDUs per
 * direction, maxBufferedBytes).
 */
export function createIec104Proxy(options: Iec104ProxyOptions): Iec104Proxy {
  checkProxyOptions('createIec104Proxy', options, 'iec104');
  const { upstream, decider } = options;
  const t = options.timeouts ?? {};
  const name = options.name ?? 'iec104';
  const now = options.now;

  const stats: Iec104ProxyStats = {
    connections: 0, accepted: 0, refused: 0, requests: 0, allowed: 0, denied: 0, monitored: 0, rateLimited: 0, malformed: 0,
    forwarded: 0, relayed: 0, upstreamMalformed: 0, upstreamDenied: 0, upstreamFailures: 0, t1Expired: 0, queueOverflows: 0, droppedAudit: 0,
  };
  const d = IEC104_LINK_DEFAULTS;
  const link: Iec104Link = Object.freeze({ k: options.k ?? d.k, w: options.w ?? d.w, t1Ms: t.t1Ms ?? d.t1Ms, t2Ms: t.t2Ms ?? d.t2Ms, t3Ms: t.t3Ms ?? d.t3Ms });
  const listener = createProxyListener<ProxiedConnection>({
    who: 'createIec104Proxy', name, protocol: 'iec104', options, drainMs: t.drainMs, stats, startDetail: { iec104: link },
    open: (socket, src, srcPort, scope) => new Iec104Connection(ctx, socket, src, srcPort, scope),
    sweepShared(at) {
      if (ctx.rate.buckets > 0) ctx.rate.prune(at);
      if (ctx.selects.size > 0) ctx.selects.prune(at);
    },
  });
  const ctx: Iec104Context = {
    name, asset: options.asset, servicePort: options.servicePort, upstreamHost: upstream.host, upstreamPort: upstream.port,
    decider, limits: options.limits, rate: new RateLimitStore(positive('maxRateBuckets', options.maxRateBuckets, 10_000)),
    selects: new Iec104SelectStore({ timeoutMs: positive('timeouts.selectMs', t.selectMs, 10_000) }), now,
    frameMs: positive('timeouts.frameMs', t.frameMs, 5_000),
    connectMs: positive('timeouts.connectMs', t.connectMs, 3_000),
    window: { k: options.k, w: options.w, t1Ms: t.t1Ms, t2Ms: t.t2Ms, t3Ms: t.t3Ms },
    maxQueued: Math.floor(positive('maxQueued', options.maxQueued, 64)),
    maxBufferedBytes: positive('maxBufferedBytes', options.maxBufferedBytes, 64 * 1024),
    readBuffer: Buffer.allocUnsafeSlow(16 * 1024),
    stats,
    emit: listener.emit,
    closed: (conn) => listener.closed(conn),
  };
  return { name, stats, link, sweep: listener.sweep, address: listener.address, start: listener.start, stop: listener.stop };
}
