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
import { drainConnections } from '../drain-connections';

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

/** Programmer misuse of the options throws TypeError, before anything is built. */
function checkOptions(options: ModbusProxyOptions): void {
  if (options === null || typeof options !== 'object') throw new TypeError('createModbusProxy: options required');
  const { listen, upstream, decider, audit } = options;
  if (!listen || typeof listen.host !== 'string' || !Number.isInteger(listen.port)) throw new TypeError('createModbusProxy: listen {host, port} required');
  if (!upstream || typeof upstream.host !== 'string' || !Number.isInteger(upstream.port)) throw new TypeError('createModbusProxy: upstream {host, port} required');
  if (typeof options.asset !== 'string' || !Number.isInteger(options.servicePort)) throw new TypeError('createModbusProxy: asset and servicePort required');
  if (!decider || typeof decider.modbus !== 'function' || typeof decider.connect !== 'function') throw new TypeError('createModbusProxy: decider required');
  if (!audit || typeof audit.record !== 'function') throw new TypeError('createModbusProxy: audit sink required');
  if (typeof options.now !== 'function') throw new TypeError('createModbusProxy: now() required');
}

/** The context every connection of the proxy shares (connection-lifecycle.ts ProxyContext): limits, timeouts, counters, audit. */
function proxyContext(options: ModbusProxyOptions, p: { stats: ModbusProxyStats; log: LimitedLog | null; emit: ProxyContext['emit']; closed: ProxyContext['closed'] }): ProxyContext {
  const t = options.timeouts ?? {};
  const rate = new RateLimitStore(positive('maxRateBuckets', options.maxRateBuckets, 10_000));
  return {
    name: options.name ?? 'modbus-tcp', asset: options.asset, servicePort: options.servicePort,
    upstreamHost: options.upstream.host, upstreamPort: options.upstream.port,
    decider: options.decider, limits: options.limits, writeLimits: options.writeLimits, rate, now: options.now,
    frameMs: positive('timeouts.frameMs', t.frameMs, 5_000),
    idleMs: positive('timeouts.idleMs', t.idleMs, 600_000),
    upstreamMs: positive('timeouts.upstreamMs', t.upstreamMs, 3_000),
    connectMs: positive('timeouts.connectMs', t.connectMs, 3_000),
    upstreamRetryMs: positive('timeouts.upstreamRetryMs', t.upstreamRetryMs, 1_000),
    maxSilentTransactions: Math.floor(positive('maxSilentTransactions', options.maxSilentTransactions, 3)),
    log: p.log,
    maxOutstanding: Math.floor(positive('maxOutstanding', options.maxOutstanding, 16)),
    maxBufferedBytes: positive('maxBufferedBytes', options.maxBufferedBytes, 64 * 1024),
    stats: p.stats,
    upstreamDownUntil: 0,
    emit: p.emit,
    closed: p.closed,
  };
}

/**
 * Creates the proxy (not yet listening: call start()). Promises: nothing is forwarded that the
 * decider did not allow; every request gets an answer or its connection is closed; a malformed
 * frame closes only its own connection; memory per connection is bounded by the options.
 */
export function createModbusProxy(options: ModbusProxyOptions): ModbusProxy {
  checkOptions(options);
  return new ModbusProxyServer(options);
}

type Timers = NonNullable<ModbusProxyOptions['timers']>;

/** The listener: admits connections (caps, one decision, the conduit's fair share), sweeps their deadlines, drains on stop. */
class ModbusProxyServer implements ModbusProxy {
  readonly name: string;
  readonly stats: ModbusProxyStats = {
    connections: 0, accepted: 0, refused: 0, requests: 0, allowed: 0, denied: 0, monitored: 0, rateLimited: 0,
    malformed: 0, forwarded: 0, responses: 0, unexpectedResponses: 0, upstreamTimeouts: 0, upstreamFailures: 0, upstreamConnects: 0,
    idleClosed: 0, droppedAudit: 0,
  };
  private readonly o: ModbusProxyOptions;
  private readonly now: () => number;
  private readonly timers: Timers;
  private readonly sweepMs: number;
  private readonly drainMs: number;
  private readonly maxConnections: number;
  private readonly maxPerSource: number;
  private readonly connections = new Set<ConnectionLifecycle>();
  private readonly perSource = new Map<string, number>();
  private readonly shares: ConduitShares;
  private readonly log: LimitedLog | null;
  private readonly ctx: ProxyContext;
  private server: Server | null = null;
  private bound: AddressInfo | null = null;
  private sweepHandle: unknown = null;
  private stopping: Promise<void> | null = null;

  constructor(options: ModbusProxyOptions) {
    const t = options.timeouts ?? {};
    this.o = options;
    this.name = options.name ?? 'modbus-tcp';
    this.now = options.now;
    this.timers = options.timers ?? { setInterval: (fn: () => void, ms: number) => setInterval(fn, ms), clearInterval: (h: unknown) => clearInterval(h as NodeJS.Timeout) };
    this.sweepMs = positive('sweepMs', options.sweepMs, 250);
    this.drainMs = positive('timeouts.drainMs', t.drainMs, 1_000);
    this.maxConnections = positive('maxConnections', options.maxConnections, 1_000);
    this.maxPerSource = positive('maxConnectionsPerSource', options.maxConnectionsPerSource, 64);
    this.shares = new ConduitShares(this.maxConnections, options.reserveConnections);
    if (options.log !== undefined && typeof options.log !== 'function') throw new TypeError('createModbusProxy: log must be a function');
    this.log = options.log === undefined ? null : new LimitedLog({ write: options.log, now: this.now });
    this.ctx = proxyContext(options, { stats: this.stats, log: this.log, emit: this.emit, closed: (conn) => this.closed(conn) });
  }

  private readonly emit = (event: AuditEvent): void => {
    try {
      this.o.audit.record(event);
    } catch {
      this.stats.droppedAudit++;
    }
  };

  /** A connection ended (ProxyContext.closed): its slot, its conduit share and its source's count are free again. */
  private closed(conn: ConnectionLifecycle): void {
    if (!this.connections.delete(conn)) return;
    this.stats.connections = this.connections.size;
    if (conn.poolKey !== null) this.shares.give(conn.poolKey);
    const left = (this.perSource.get(conn.src) ?? 1) - 1;
    if (left <= 0) this.perSource.delete(conn.src); else this.perSource.set(conn.src, left);
  }

  private refuse(socket: Socket, src: string, srcPort: number, message: string): void {
    this.stats.refused++;
    this.emit({ kind: 'connection', at: this.now(), source: this.name, src, srcPort, asset: this.o.asset, port: this.o.servicePort, protocol: 'modbus', message });
    socket.on('error', () => undefined);
    socket.destroy();
  }

  /** The server's connection handler: the caps, then the connect decision, then the conduit's fair share. */
  private readonly accept = (socket: Socket): void => {
    const src = plainAddress(socket.remoteAddress);
    const srcPort = socket.remotePort ?? 0;
    if (this.stopping !== null) return this.refuse(socket, src, srcPort, 'refused: proxy stopping');
    if (this.connections.size >= this.maxConnections) return this.refuse(socket, src, srcPort, `refused: ${this.maxConnections} connections open (maxConnections)`);
    const fromSource = this.perSource.get(src) ?? 0;
    if (fromSource >= this.maxPerSource) return this.refuse(socket, src, srcPort, `refused: ${this.maxPerSource} connections open from ${src} (maxConnectionsPerSource)`);
    const at = this.now();
    const { asset, servicePort: port } = this.o;
    let resolved;
    try {
      resolved = this.o.decider.connect({ sourceIp: src, asset, port, protocol: 'modbus', session: this.o.session?.(src) }, at);
    } catch (err) {
      return this.refuse(socket, src, srcPort, `refused: decider failed (${err instanceof Error ? err.message : String(err)})`);
    }
    const { scope, decision } = resolved;
    this.emit({ kind: 'decision', at, source: this.name, decision, policyVersion: scope.policyVersion, src, srcPort, asset, port, protocol: 'modbus', message: 'connect' });
    if (decision.decision !== 'allow') {
      this.stats.denied++;
      return this.refuse(socket, src, srcPort, `refused: ${decision.reason ?? 'denied'}`);
    }
    const poolKey = decision.conduit ?? `source ${src}`;
    const unfair = this.shares.take(poolKey, this.connections.size);
    if (unfair !== null) return this.refuse(socket, src, srcPort, unfair);
    this.stats.accepted++;
    this.perSource.set(src, fromSource + 1);
    const conn = new ClientConnection(this.ctx, socket, src, srcPort, scope);
    conn.poolKey = poolKey;
    this.connections.add(conn);
    this.stats.connections = this.connections.size;
    this.emit({
      kind: 'connection', at, source: this.name, policyVersion: scope.policyVersion, src, srcPort, asset, port, protocol: 'modbus', message: 'open',
      detail: { conduit: decision.conduit, identity: decision.identity, monitor: decision.monitor === true },
    });
  };

  readonly sweep = (): void => {
    const at = this.now();
    for (const conn of this.connections) conn.sweep(at);
    if (this.ctx.rate.buckets > 0) this.ctx.rate.prune(at);
    this.log?.tick();
  };

  address(): AddressInfo {
    if (this.bound === null) throw new TypeError(`${this.name}: address() called before start() resolved`);
    return this.bound;
  }

  start(signal: AbortSignal): Promise<void> {
    if (this.server !== null) return Promise.reject(new TypeError(`${this.name}: start() called twice`));
    if (signal.aborted) return Promise.resolve();
    const srv = createServer({ noDelay: true }, this.accept);
    this.server = srv;
    return new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => { this.server = null; reject(err); };
      srv.once('error', onError);
      srv.listen({ host: this.o.listen.host, port: this.o.listen.port }, () => {
        srv.off('error', onError);
        this.listening(srv, signal);
        resolve();
      });
    });
  }

  private listening(srv: Server, signal: AbortSignal): void {
    const { asset, servicePort: port, upstream } = this.o;
    srv.on('error', (err) => this.emit({ kind: 'driver', at: this.now(), source: this.name, message: `listener error: ${err.message}` }));
    const bound = srv.address() as AddressInfo;
    this.bound = bound;
    this.sweepHandle = this.timers.setInterval(this.sweep, this.sweepMs);
    (this.sweepHandle as { unref?: () => void } | null)?.unref?.();
    this.emit({ kind: 'driver', at: this.now(), source: this.name, asset, port, message: `listening on ${bound.address}:${bound.port}, upstream ${upstream.host}:${upstream.port}` });
    signal.addEventListener('abort', () => { void this.stop(); }, { once: true });
  }

  readonly stop = (): Promise<void> => {
    if (this.stopping !== null) return this.stopping;
    this.stopping = this.drain();
    return this.stopping;
  };

  private async drain(): Promise<void> {
    await drainConnections(this.server, this.connections, this.drainMs);
    if (this.sweepHandle !== null) this.timers.clearInterval(this.sweepHandle);
    this.sweepHandle = null;
    this.emit({ kind: 'driver', at: this.now(), source: this.name, asset: this.o.asset, port: this.o.servicePort, message: 'stopped', detail: { ...this.stats } });
  }
}
