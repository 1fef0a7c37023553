/**
 * The Modbus/TCP proxy driver: listens for clients in front of one asset's Modbus service,
 * decides every connection and every request against the policy, forwards what is allowed to the
 * upstream PLC and answers what is denied with a Modbus exception (see exception.ts for the
 * mapping). Every decision, malformed frame and connection event goes to the audit sink.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { AuditEvent } from '../types';
import { ClientConnection, type ProxyContext } from './connection';
import type { ConnectionLifecycle } from './connection-lifecycle';
import { RateLimitStore } from './rate-limit';
import { LimitedLog } from '../log-limit';
import { ConduitShares } from '../conduit-shares';
import type { ModbusProxy, ModbusProxyOptions, ModbusProxyStats } from './types';

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new TypeError(`createModbusProxy: ${name} must be a positive number, got ${String(value)}`);
  }
  return value;
}

/** IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) as the IPv4 address the policy names. */
function plainAddress(address: string | undefined): string {
  if (address === undefined) return '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/**
 * Creates the proxy (not yet listening: call start()). Promises: nothing is forwarded that the
 * decider did not allow; every request gets an answer or its connection is closed; a malformed
 * frame closes only its own connection; memory per connection is bounded by the options.
 */
export function createModbusProxy(options: ModbusProxyOptions): ModbusProxy {
  if (options === null || typeof options !== 'object') throw new TypeError('createModbusProxy: options required');
  const { listen, upstream, decider, audit } = options;
  if (!listen || typeof listen.host !== 'string' || !Number.isInteger(listen.port)) throw new TypeError('createModbusProxy: listen {host, port} required');
  if (!upstream || typeof upstream.host !== 'string' || !Number.isInteger(upstream.port)) throw new TypeError('createModbusProxy: upstream {host, port} required');
  if (typeof options.asset !== 'string' || !Number.isInteger(options.servicePort)) throw new TypeError('createModbusProxy: asset and servicePort required');
  if (!decider || typeof decider.modbus !== 'function' || typeof decider.connect !== 'function') throw new TypeError('createModbusProxy: decider required');
  if (!audit || typeof audit.record !== 'function') throw new TypeError('createModbusProxy: audit sink required');
  if (typeof options.now !== 'function') throw new TypeError('createModbusProxy: now() required');
  const t = options.timeouts ?? {};
  const name = options.name ?? 'modbus-tcp';
  const now = options.now;
  const timers = options.timers ?? { setInterval: (fn: () => void, ms: number) => setInterval(fn, ms), clearInterval: (h: unknown) => clearInterval(h as NodeJS.Timeout) };
  const sweepMs = positive('sweepMs', options.sweepMs, 250);
  const drainMs = positive('timeouts.drainMs', t.drainMs, 1_000);
  const maxConnections = positive('maxConnections', options.maxConnections, 1_000);
  const maxPerSource = positive('maxConnectionsPerSource', options.maxConnectionsPerSource, 64);

  const stats: ModbusProxyStats = {
    connections: 0, accepted: 0, refused: 0, requests: 0, allowed: 0, denied: 0, monitored: 0, rateLimited: 0,
    malformed: 0, forwarded: 0, responses: 0, unexpectedResponses: 0, upstreamTimeouts: 0, upstreamFailures: 0, upstreamConnects: 0,
    idleClosed: 0, droppedAudit: 0,
  };
  const connections = new Set<ConnectionLifecycle>();
  const perSource = new Map<string, number>();
  const shares = new ConduitShares(maxConnections, options.reserveConnections);
  if (options.log !== undefined && typeof options.log !== 'function') throw new TypeError('createModbusProxy: log must be a function');
  const log = options.log === undefined ? null : new LimitedLog({ write: options.log, now });
  const rate = new RateLimitStore(positive('maxRateBuckets', options.maxRateBuckets, 10_000));

  const emit = (event: AuditEvent): void => {
    try {
      audit.record(event);
    } catch {
      stats.droppedAudit++;
    }
  };

  const ctx: ProxyContext = {
    name, asset: options.asset, servicePort: options.servicePort,
    upstreamHost: upstream.host, upstreamPort: upstream.port,
    decider, limits: options.limits, writeLimits: options.writeLimits, rate, now,
    frameMs: positive('timeouts.frameMs', t.frameMs, 5_000),
    idleMs: positive('timeouts.idleMs', t.idleMs, 600_000),
    upstreamMs: positive('timeouts.upstreamMs', t.upstreamMs, 3_000),
    connectMs: positive('timeouts.connectMs', t.connectMs, 3_000),
    upstreamRetryMs: positive('timeouts.upstreamRetryMs', t.upstreamRetryMs, 1_000),
    maxSilentTransactions: Math.floor(positive('maxSilentTransactions', options.maxSilentTransactions, 3)),
    log,
    maxOutstanding: Math.floor(positive('maxOutstanding', options.maxOutstanding, 16)),
    maxBufferedBytes: positive('maxBufferedBytes', options.maxBufferedBytes, 64 * 1024),
    stats,
    upstreamDownUntil: 0,
    emit,
    closed(conn) {
      if (!connections.delete(conn)) return;
      stats.connections = connections.size;
      if (conn.poolKey !== null) shares.give(conn.poolKey);
      const left = (perSource.get(conn.src) ?? 1) - 1;
      if (left <= 0) perSource.delete(conn.src); else perSource.set(conn.src, left);
    },
  };

  let server: Server | null = null;
  let bound: AddressInfo | null = null;
  let sweepHandle: unknown = null;
  let stopping: Promise<void> | null = null;

  const refuse = (socket: Socket, src: string, srcPort: number, message: string): void => {
    stats.refused++;
    emit({ kind: 'connection', at: now(), source: name, src, srcPort, asset: options.asset, port: options.servicePort, protocol: 'modbus', message });
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
      resolved = decider.connect({
        sourceIp: src, asset: options.asset, port: options.servicePort, protocol: 'modbus', session: options.session?.(src),
      }, at);
    } catch (err) {
      return refuse(socket, src, srcPort, `refused: decider failed (${err instanceof Error ? err.message : String(err)})`);
    }
    const { scope, decision } = resolved;
    emit({
      kind: 'decision', at, source: name, decision, policyVersion: scope.policyVersion, src, srcPort,
      asset: options.asset, port: options.servicePort, protocol: 'modbus', message: 'connect',
    });
    if (decision.decision !== 'allow') {
      stats.denied++;
      return refuse(socket, src, srcPort, `refused: ${decision.reason ?? 'denied'}`);
    }
    const poolKey = decision.conduit ?? `source ${src}`;
    const unfair = shares.take(poolKey, connections.size);
    if (unfair !== null) return refuse(socket, src, srcPort, unfair);
    stats.accepted++;
    perSource.set(src, fromSource + 1);
    const conn = new ClientConnection(ctx, socket, src, srcPort, scope);
    conn.poolKey = poolKey;
    connections.add(conn);
    stats.connections = connections.size;
    emit({
      kind: 'connection', at, source: name, policyVersion: scope.policyVersion, src, srcPort,
      asset: options.asset, port: options.servicePort, protocol: 'modbus', message: 'open',
      detail: { conduit: decision.conduit, identity: decision.identity, monitor: decision.monitor === true },
    });
  };

  const sweep = (): void => {
    const at = now();
    for (const conn of connections) conn.sweep(at);
    if (rate.buckets > 0) rate.prune(at);
    log?.tick();
  };

  const stop = (): Promise<void> => {
    if (stopping !== null) return stopping;
    stopping = (async () => {
      const srv = server;
      const closed = srv === null ? Promise.resolve() : new Promise<void>((resolve) => srv.close(() => resolve()));
      for (const conn of connections) conn.drain();
      // Let in-flight requests finish (real time: this runs at shutdown, not on the hot path).
      const deadline = Date.now() + drainMs;
      while (Date.now() < deadline) {
        let busy = false;
        for (const conn of connections) if (conn.inFlight > 0) { busy = true; break; }
        if (!busy) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      for (const conn of [...connections]) conn.close('proxy stopped');
      if (sweepHandle !== null) timers.clearInterval(sweepHandle);
      sweepHandle = null;
      await closed;
      emit({ kind: 'driver', at: now(), source: name, asset: options.asset, port: options.servicePort, message: 'stopped', detail: { ...stats } });
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
          emit({ kind: 'driver', at: now(), source: name, asset: options.asset, port: options.servicePort, message: `listening on ${bound.address}:${bound.port}, upstream ${upstream.host}:${upstream.port}` });
          signal.addEventListener('abort', () => { void stop(); }, { once: true });
          resolve();
        });
      });
    },
    stop,
  };
}
