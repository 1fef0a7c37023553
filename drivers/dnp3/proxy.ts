/**
 * The DNP3 proxy driver: listens for masters in front of one outstation's DNP3 service (IEEE
 * 1815 over TCP), decides every connection and every request against the policy, forwards what
 * is allowed to the outstation unchanged and answers what is denied itself (answers.ts). Every
 * decision, malformed frame and connection event goes to the audit sink.
 */
import { RateLimitStore } from '../modbus-tcp/rate-limit';
import { checkProxyOptions, createProxyListener, positiveOption, type ProxiedConnection } from '../proxy-listener';
import { AppFragment } from './app';
import { ObjectsTextCache } from './audit-fields';
import { Dnp3Connection } from './connection';
import type { Dnp3Context } from './context';
import { SelectStore } from './select-store';
import { DEFAULT_MAX_FRAGMENT, MAX_FRAGMENT_LIMIT } from './transport';
import type { Dnp3Proxy, Dnp3ProxyOptions, Dnp3ProxyStats } from './types';

const positive = (name: string, value: number | undefined, fallback: number): number => positiveOption('createDnp3Proxy', name, value, fallback);

/**
 * Creates the proxy (call start()). Promises: nothing reaches the outstation that the decider did
 * not allow (and no OPERATE without its SELECT); a malformed stream closes only its own
 * connection; memory per connection is bounded by maxFragment and maxBufferedBytes.
 */
export function createDnp3Proxy(options: Dnp3ProxyOptions): Dnp3Proxy {
  checkProxyOptions('createDnp3Proxy', options, 'dnp3');
  const { upstream, decider } = options;
  const t = options.timeouts ?? {};
  const name = options.name ?? 'dnp3';
  const now = options.now;
  const maxFragment = Math.floor(positive('maxFragment', options.maxFragment, DEFAULT_MAX_FRAGMENT));
  if (maxFragment > MAX_FRAGMENT_LIMIT) throw new TypeError(`createDnp3Proxy: maxFragment must be at most ${MAX_FRAGMENT_LIMIT}`);

  const stats: Dnp3ProxyStats = {
    connections: 0, accepted: 0, refused: 0, requests: 0, allowed: 0, denied: 0, monitored: 0, rateLimited: 0, malformed: 0,
    forwarded: 0, responses: 0, unsolicited: 0, unsolicitedDenied: 0, linkFrames: 0, unexpectedResponses: 0, upstreamMalformed: 0,
    upstreamTimeouts: 0, upstreamFailures: 0, idleClosed: 0, droppedAudit: 0,
  };
  const listener = createProxyListener<ProxiedConnection>({
    who: 'createDnp3Proxy', name, protocol: 'dnp3', options, drainMs: t.drainMs, stats,
    open: (socket, src, srcPort, scope) => new Dnp3Connection(ctx, socket, src, srcPort, scope),
    sweepShared(at) {
      if (ctx.rate.buckets > 0) ctx.rate.prune(at);
      if (ctx.selects.size > 0) ctx.selects.prune(at);
    },
  });
  const ctx: Dnp3Context = {
    name, asset: options.asset, servicePort: options.servicePort, upstreamHost: upstream.host, upstreamPort: upstream.port,
    decider, limits: options.limits, rate: new RateLimitStore(positive('maxRateBuckets', options.maxRateBuckets, 10_000)),
    selects: new SelectStore(positive('timeouts.selectMs', t.selectMs, 10_000)), now,
    frameMs: positive('timeouts.frameMs', t.frameMs, 5_000),
    idleMs: positive('timeouts.idleMs', t.idleMs, 600_000),
    upstreamMs: positive('timeouts.upstreamMs', t.upstreamMs, 3_000),
    connectMs: positive('timeouts.connectMs', t.connectMs, 3_000),
    maxFragment,
    maxBufferedBytes: positive('maxBufferedBytes', options.maxBufferedBytes, 64 * 1024),
    stats, fragment: new AppFragment(maxFragment), objectsText: new ObjectsTextCache(), upstreamDownUntil: 0,
    emit: listener.emit,
    closed: (conn) => listener.closed(conn),
  };

  return { name, stats, sweep: listener.sweep, address: listener.address, start: listener.start, stop: listener.stop };
}
