/**
 * The DNP3 proxy driver: listens for masters in front of one outstation's DNP3 service (IEEE
 * 1815 over TCP), decides every connection and every request against the policy, forwards what
 * is allowed to the outstation unchanged and answers what is denied itself (answers.ts). Every
 * decision, malformed frame and connection event goes to the audit sink.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { AuditEvent } from '../types';
import { RateLimitStore } from '../modbus-tcp/rate-limit';
import { AppFragment } from './app';
import { Dnp3Connection } from './connection';
import type { Dnp3Context } from './context';
import { SelectStore } from './select-store';
import { DEFAULT_MAX_FRAGMENT, MAX_FRAGMENT_LIMIT } from './transport';
import type { Dnp3Proxy, Dnp3ProxyOptions, Dnp3ProxyStats } from './types';

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new TypeError(`createDnp3Proxy: ${name} must be a positive number, got ${String(value)}`);
  return value;
}

function plainAddress(address: string | undefined): string {
  if (address === undefined) return '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/**
 * Creates the proxy (call start()). Promises: nothing reaches the outstation that the decider did
 * not allow (and no OPERATE without its SELECT); a malformed stream closes only its own
 * connection; memory per connection is bounded by maxFragment and maxBufferedBytes.
 */
export function createDnp3Proxy(options: Dnp3ProxyOptions): Dnp3Proxy {
  if (options === null || typeof options !== 'object') throw new TypeError('createDnp3Proxy: options required');
  const { listen, upstream, decider, audit } = options;
  if (!listen || typeof listen.host !== 'string' || !Number.isInteger(listen.port)) throw new TypeError('createDnp3Proxy: listen {host, port} required');
  if (!upstream || typeof upstream.host !== 'string' || !Number.isInteger(upstream.port)) throw new TypeError('createDnp3Proxy: upstream {host, port} required');
  if (typeof options.asset !== 'string' || !Number.isInteger(options.servicePort)) throw new TypeError('createDnp3Proxy: asset and servicePort required');
  if (!decider || typeof decider.dnp3 !== 'function' || typeof decider.connect !== 'function') throw new TypeError('createDnp3Proxy: a decider with dnp3() required');
  if (!audit || typeof audit.record !== 'function') throw new TypeError('createDnp3Proxy: audit sink required');
  if (typeof options.now !== 'function') throw new TypeError('createDnp3Proxy: now() required');
  const t = options.timeouts ?? {};
  const name = options.name ?? 'dnp3';
  const now = options.now;
  const timers = options.timers ?? { setInterval: (fn: () => void, ms: number) => setInterval(fn, ms), clearInterval: (h: unknown) => clearInterval(h as NodeJS.Timeout) };
  const sweepMs = positive('sweepMs', options.sweepMs, 250);
  const drainMs = positive('timeouts.drainMs', t.drainMs, 1_000);
  const maxConnections = positive('maxConnections', options.maxConnections, 1_000);
  const maxPerSource = positive('maxConnectionsPerSource', options.maxConnectionsPerSource, 64);
  const maxFragment = Math.floor(positive('maxFragment', options.maxFragment, DEFAULT_MAX_FRAGMENT));
  if (maxFragment > MAX_FRAGMENT_LIMIT) throw new TypeError(`createDnp3Proxy: maxFragment must be at most ${MAX_FRAGMENT_LIMIT}`);

  const stats: Dnp3ProxyStats = {
    connections: 0, accepted: 0, refused: 0, requests: 0, allowed: 0, denied: 0, monitored: 0, rateLimited: 0, malformed: 0,
    forwarded: 0, responses: 0, unsolicited: 0, unsolicitedDenied: 0, linkFrames: 0, unexpectedResponses: 0, upstreamMalformed: 0,
    upstreamTimeouts: 0, upstreamFailures: 0, idleClosed: 0, droppedAudit: 0,
  };
  const connections = new Set<Dnp3Connection>();
  const perSource = new Map<string, number>();
  const emit = (event: AuditEvent): void => {
    try { audit.record(event); } catch { stats.droppedAudit++; }
  };
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
    stats, fragment: new AppFragment(maxFragment), upstreamDownUntil: 0, emit,
    closed(conn) {
      if (!connections.delete(conn)) return;
      stats.connections = connections.size;
      const left = (perSource.get(conn.src) ?? 1) - 1;
      if (left <= 0) perSource.delete(conn.src); else perSource.set(conn.src, left);
    },
  };

  let server: Server | null = null;
  let bound: AddressInfo | null = null;
  let sweepHandle: unknown = null;
  let stopping: Promise<void> | null = null;
  const base = { source: name, asset: options.asset, port: options.servicePort, protocol: 'dnp3' };

  const refuse = (socket: Socket, src: string, srcPort: number, message: string): void => {
    stats.refused++;
    emit({ kind: 'connection', at: now(), ...base, src, srcPort, message });
    socket.on('error', () => undefined);
    socket.destroy();
  };

  const accept = (socket: Socket): void => {
    const src = plainAddress(socket.remoteAddress);
    const srcPort = socket.remotePort ?? 0;
    if (stopping !== null) return refuse(socket, src, srcPort, 'refused: proxy stopping');
    if (connections.size >= maxConnections) return refuse(socket, src, srcPort, `refused: ${maxConnections} connections open (maxConnections)`);
    const fromSource = perSource.get(src) ?? 0;
    if (fromSource >= maxPerSource) return refuse(socket, src, srcPort, `refused: ${maxPerSource} connections open from ${src} (maxConnectionsPerSource)`);
    const at = now();
    let resolved;
    try {
      resolved = decider.connect({ sourceIp: src, asset: options.asset, port: options.servicePort, protocol: 'dnp3', session: options.session?.(src) }, at);
    } catch (err) {
      return refuse(socket, src, srcPort, `refused: decider failed (${err instanceof Error ? err.message : String(err)})`);
    }
    const { scope, decision } = resolved;
    emit({ kind: 'decision', at, ...base, decision, policyVersion: scope.policyVersion, src, srcPort, message: 'connect' });
    if (decision.decision !== 'allow') {
      stats.denied++;
      return refuse(socket, src, srcPort, `refused: ${decision.reason ?? 'denied'}`);
    }
    stats.accepted++;
    perSource.set(src, fromSource + 1);
    const conn = new Dnp3Connection(ctx, socket, src, srcPort, scope);
    connections.add(conn);
    stats.connections = connections.size;
    emit({
      kind: 'connection', at, ...base, policyVersion: scope.policyVersion, src, srcPort, message: 'open',
      detail: { conduit: decision.conduit, identity: decision.identity, monitor: decision.monitor === true },
    });
  };

  const sweep = (): void => {
    const at = now();
    for (const conn of connections) conn.sweep(at);
    if (ctx.rate.buckets > 0) ctx.rate.prune(at);
    if (ctx.selects.size > 0) ctx.selects.prune(at);
  };

  const stop = (): Promise<void> => {
    if (stopping !== null) return stopping;
    stopping = (async () => {
      const srv = server;
      const closed = srv === null ? Promise.resolve() : new Promise<void>((resolve) => srv.close(() => resolve()));
      for (const conn of connections) conn.drain();
      const deadline = Date.now() + drainMs; // shutdown, not the hot path: real time
      while (Date.now() < deadline && [...connections].some((c) => c.inFlight > 0)) await new Promise((r) => setTimeout(r, 10));
      for (const conn of [...connections]) conn.close('proxy stopped');
      if (sweepHandle !== null) timers.clearInterval(sweepHandle);
      sweepHandle = null;
      await closed;
      emit({ kind: 'driver', at: now(), ...base, message: 'stopped', detail: { ...stats } });
    })();
    return stopping;
  };

  return {
    name,
    stats,
    sweep,
    address(): AddressInfo {
      if (bound === null) throw new TypeError(`${name}: address() called before start() resolved`);
      return bound;
    },
    start(signal: AbortSignal): Promise<void> {
      if (server !== null) return Promise.reject(new TypeError(`${name}: start() called twice`));
      if (signal.aborted) return Promise.resolve();
      const srv = createServer({ noDelay: true }, accept);
      server = srv;
      return new Promise<void>((resolve, reject) => {
        const onError = (err: Error): void => { server = null; reject(err); };
        srv.once('error', onError);
        srv.listen({ host: listen.host, port: listen.port }, () => {
          srv.off('error', onError);
          srv.on('error', (err) => emit({ kind: 'driver', at: now(), source: name, message: `listener error: ${err.message}` }));
          bound = srv.address() as AddressInfo;
          sweepHandle = timers.setInterval(sweep, sweepMs);
          (sweepHandle as { unref?: () => void } | null)?.unref?.();
          emit({ kind: 'driver', at: now(), ...base, message: `listening on ${bound.address}:${bound.port}, upstream ${upstream.host}:${upstream.port}` });
          signal.addEventListener('abort', () => { void stop(); }, { once: true });
          resolve();
        });
      });
    },
    stop,
  };
}
