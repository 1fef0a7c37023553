/**
 * The listening half the protocol proxies share (Modbus drivers/modbus-tcp/proxy.ts, DNP3
 * drivers/dnp3/proxy.ts, IEC 104 drivers/iec104/proxy.ts): accept a client, cap connections (in
 * all and per source address), decide the connection, take the conduit's fair share (Modbus),
 * audit it, hand the socket to the protocol's connection, sweep every connection's deadlines on a
 * timer (the listen step: listening-server.ts), and stop by draining (drain-connections.ts).
 * Promises: a connection the decider refused is closed before one byte is read; an audit sink
 * that throws is counted, not fatal.
 */
import type { AddressInfo, Socket } from 'node:net';
import type { Decider, Decision, Protocol, Scope, SessionFacts } from '../policy/types';
import type { AuditEvent, AuditSink } from './types';
import { drainConnections } from './drain-connections';
import { ConduitShares } from './conduit-shares';
import { globalTimers, ListeningServer, plainAddress, type SweepTimers } from './listening-server';

export { plainAddress, type SweepTimers };

/** The options every protocol proxy takes (Modbus, DNP3 and IEC 104 add their timeouts and limits). */
export interface ProxyBaseOptions<D extends Decider> {
  /** Where clients (masters) connect. Port 0 picks a free port (see address()). */
  listen: { host: string; port: number };
  /** The server, outstation or station (PLC, RTU, relay, IED) behind the proxy. */
  upstream: { host: string; port: number };
  /** The asset id of the station and its service port: the decisions' destination. */
  asset: string;
  servicePort: number;
  decider: D;
  audit: AuditSink;
  /** Per-conduit request rate limit, applied per client source address. Undefined = unlimited. */
  limits?: (conduitId: string) => { perSecond: number; burst: number } | undefined;
  /** What the runtime knows about the person behind a source (edge authentication, grants). */
  session?: (sourceIp: string) => SessionFacts | undefined;
  /** Open client connections at most (default 1,000), and per source address (default 64). */
  maxConnections?: number;
  maxConnectionsPerSource?: number;
  /** Bytes queued toward a slow peer before reading pauses (default 64 KiB). */
  maxBufferedBytes?: number;
  /** Rate-limit buckets kept at most (default 10,000). */
  maxRateBuckets?: number;
  /** Epoch milliseconds. */
  now: () => number;
  /** How often deadlines are checked (default 250 ms), and the timers used (default global). */
  sweepMs?: number;
  timers?: SweepTimers;
  /** Driver name in audit records and the runtime's bus (default: the protocol). */
  name?: string;
}

/** Checks what every proxy needs, first (TypeError naming `who`); `ask` is the decider method the protocol calls. */
export function checkProxyOptions(who: string, options: ProxyBaseOptions<Decider>, ask: 'dnp3' | 'iec104'): void {
  if (options === null || typeof options !== 'object') throw new TypeError(`${who}: options required`);
  const { listen, upstream, decider, audit } = options;
  if (!listen || typeof listen.host !== 'string' || !Number.isInteger(listen.port)) throw new TypeError(`${who}: listen {host, port} required`);
  if (!upstream || typeof upstream.host !== 'string' || !Number.isInteger(upstream.port)) throw new TypeError(`${who}: upstream {host, port} required`);
  if (typeof options.asset !== 'string' || !Number.isInteger(options.servicePort)) throw new TypeError(`${who}: asset and servicePort required`);
  if (!decider || typeof decider[ask] !== 'function' || typeof decider.connect !== 'function') throw new TypeError(`${who}: a decider with ${ask}() required`);
  if (!audit || typeof audit.record !== 'function') throw new TypeError(`${who}: audit sink required`);
  if (typeof options.now !== 'function') throw new TypeError(`${who}: now() required`);
}

/** The counters the listener keeps (the protocol's stats extend them). */
export interface ListenerStats { connections: number; accepted: number; refused: number; denied: number; droppedAudit: number }

/** What the listener needs of a protocol connection. */
export interface ProxiedConnection {
  readonly src: string;
  /** Requests forwarded and not yet answered (stop() waits for them up to drainMs). */
  readonly inFlight: number;
  sweep(now: number): void;
  drain(): void;
  close(why: string): void;
}

export interface ProxyListenerOptions<C extends ProxiedConnection> {
  /** Names the creator in option errors (`createDnp3Proxy`). */
  who: string;
  name: string;
  protocol: Protocol;
  /** The proxy's own options, checked (checkProxyOptions); sweepMs, maxConnections and maxConnectionsPerSource are read here. */
  options: ProxyBaseOptions<Decider>;
  /** stop(): how long requests in flight may still finish (default 1,000 ms). */
  drainMs: number | undefined;
  stats: ListenerStats;
  /** Builds the protocol's connection of an allowed client. */
  open(socket: Socket, src: string, srcPort: number, scope: Scope, decision: Decision): C;
  /** Sweeps what the connections share (rate buckets, selects), after the connections. */
  sweepShared?(now: number): void;
  /** Settings the `listening on` audit record carries (an IEC 104 listener's link: k, w, t1/t2/t3). */
  startDetail?: Record<string, unknown>;
  /**
   * Fair shares of the pool per conduit (drivers/conduit-shares.ts: the last `reserve` slots of
   * maxConnections, default a quarter, for conduits holding few connections). The Modbus proxy's.
   */
  fairShares?: { reserve: number | undefined };
  /**
   * Where the records put asset, port and protocol, kept per driver so the stored records (and
   * `audit show --json`) stay as they were: 'where-first' (DNP3, IEC 104; the default) before the
   * client's address, 'client-first' (Modbus) after it, and its driver records (listening,
   * stopped) carry no protocol.
   */
  layout?: 'where-first' | 'client-first';
}

export interface ProxyListener<C extends ProxiedConnection> {
  emit(event: AuditEvent): void;
  /** A connection closed: forget it. */
  closed(conn: C): void;
  sweep(): void;
  address(): AddressInfo;
  start(signal: AbortSignal): Promise<void>;
  stop(): Promise<void>;
}

/** A positive finite number option, or the fallback when undefined; TypeError otherwise. */
export function positiveOption(who: string, name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new TypeError(`${who}: ${name} must be a positive number, got ${String(value)}`);
  return value;
}

/** The listener of one protocol proxy (not yet listening: start()). */
export function createProxyListener<C extends ProxiedConnection>(o: ProxyListenerOptions<C>): ProxyListener<C> {
  return new ListenerServer(o);
}

const NOTHING = Object.freeze({});

/** Admits connections (caps, one decision, the conduit's fair share), sweeps their deadlines, drains on stop. */
class ListenerServer<C extends ProxiedConnection> implements ProxyListener<C> {
  private readonly drainMs: number;
  private readonly maxConnections: number;
  private readonly maxPerSource: number;
  private readonly audit: AuditSink;
  private readonly connections = new Set<C>();
  private readonly perSource = new Map<string, number>();
  private readonly shares: ConduitShares | null;
  /** The conduit whose share each connection holds (with fairShares). */
  private readonly poolKeys = new Map<C, string>();
  /** asset, port and protocol: before or after the client's fields (layout). */
  private readonly before: { asset?: string; port?: number; protocol?: Protocol };
  private readonly after: { asset?: string; port?: number; protocol?: Protocol };
  /** What a driver record (listening, stopped) names. */
  private readonly driver: { source: string; asset: string; port: number; protocol?: Protocol };
  private readonly net: ListeningServer;
  private stopping: Promise<void> | null = null;

  constructor(private readonly o: ProxyListenerOptions<C>) {
    const opts = o.options;
    const sweepMs = positiveOption(o.who, 'sweepMs', opts.sweepMs, 250);
    this.drainMs = positiveOption(o.who, 'timeouts.drainMs', o.drainMs, 1_000);
    this.maxConnections = positiveOption(o.who, 'maxConnections', opts.maxConnections, 1_000);
    this.maxPerSource = positiveOption(o.who, 'maxConnectionsPerSource', opts.maxConnectionsPerSource, 64);
    this.shares = o.fairShares ? new ConduitShares(this.maxConnections, o.fairShares.reserve) : null;
    this.audit = opts.audit;
    const where = { asset: opts.asset, port: opts.servicePort, protocol: o.protocol };
    const clientFirst = o.layout === 'client-first';
    this.before = clientFirst ? NOTHING : where;
    this.after = clientFirst ? where : NOTHING;
    this.driver = clientFirst ? { source: o.name, asset: opts.asset, port: opts.servicePort } : { source: o.name, ...where };
    this.net = new ListeningServer({
      listen: opts.listen,
      server: { noDelay: true },
      accept: this.accept,
      sweep: { run: this.sweep, everyMs: sweepMs, timers: opts.timers ?? globalTimers },
      failed: (err) => this.emit({ kind: 'driver', at: opts.now(), source: o.name, message: `listener error: ${err.message}` }),
      listening: (bound) => this.emit({
        kind: 'driver', at: opts.now(), ...this.driver,
        message: `listening on ${bound.address}:${bound.port}, upstream ${opts.upstream.host}:${opts.upstream.port}`, ...(o.startDetail ? { detail: o.startDetail } : {}),
      }),
      stop: () => { void this.stop(); },
    });
  }

  readonly emit = (event: AuditEvent): void => {
    try { this.audit.record(event); } catch { this.o.stats.droppedAudit++; }
  };

  readonly closed = (conn: C): void => {
    if (!this.connections.delete(conn)) return;
    this.o.stats.connections = this.connections.size;
    if (this.shares !== null) {
      const poolKey = this.poolKeys.get(conn);
      if (poolKey !== undefined) { this.poolKeys.delete(conn); this.shares.give(poolKey); }
    }
    const left = (this.perSource.get(conn.src) ?? 1) - 1;
    if (left <= 0) this.perSource.delete(conn.src); else this.perSource.set(conn.src, left);
  };

  private refuse(socket: Socket, src: string, srcPort: number, message: string): void {
    this.o.stats.refused++;
    this.emit({ kind: 'connection', at: this.o.options.now(), source: this.o.name, ...this.before, src, srcPort, ...this.after, message });
    socket.on('error', () => undefined);
    socket.destroy();
  }

  /** The server's connection handler: the caps, then the connect decision, then the fair share, then the protocol's connection. */
  private readonly accept = (socket: Socket): void => {
    const { stats, options, name: source } = this.o;
    const { asset, servicePort } = options;
    const src = plainAddress(socket.remoteAddress);
    const srcPort = socket.remotePort ?? 0;
    if (this.stopping !== null) return this.refuse(socket, src, srcPort, 'refused: proxy stopping');
    if (this.connections.size >= this.maxConnections) return this.refuse(socket, src, srcPort, `refused: ${this.maxConnections} connections open (maxConnections)`);
    const fromSource = this.perSource.get(src) ?? 0;
    if (fromSource >= this.maxPerSource) return this.refuse(socket, src, srcPort, `refused: ${this.maxPerSource} connections open from ${src} (maxConnectionsPerSource)`);
    const at = options.now();
    let resolved;
    try {
      resolved = options.decider.connect({ sourceIp: src, asset, port: servicePort, protocol: this.o.protocol, session: options.session?.(src) }, at);
    } catch (err) {
      return this.refuse(socket, src, srcPort, `refused: decider failed (${err instanceof Error ? err.message : String(err)})`);
    }
    const { scope, decision } = resolved;
    const { policyVersion } = scope;
    this.emit({ kind: 'decision', at, source, ...this.before, decision, policyVersion, src, srcPort, ...this.after, message: 'connect' });
    if (decision.decision !== 'allow') {
      stats.denied++;
      return this.refuse(socket, src, srcPort, `refused: ${decision.reason ?? 'denied'}`);
    }
    const poolKey = decision.conduit ?? `source ${src}`;
    const unfair = this.shares === null ? null : this.shares.take(poolKey, this.connections.size);
    if (unfair !== null) return this.refuse(socket, src, srcPort, unfair);
    stats.accepted++;
    this.perSource.set(src, fromSource + 1);
    const conn = this.o.open(socket, src, srcPort, scope, decision);
    if (this.shares !== null) this.poolKeys.set(conn, poolKey);
    this.connections.add(conn);
    stats.connections = this.connections.size;
    this.emit({
      kind: 'connection', at, source, ...this.before, policyVersion, src, srcPort, ...this.after, message: 'open',
      detail: { conduit: decision.conduit, identity: decision.identity, monitor: decision.monitor === true },
    });
  };

  readonly sweep = (): void => {
    const at = this.o.options.now();
    for (const conn of this.connections) conn.sweep(at);
    this.o.sweepShared?.(at);
  };

  // address, start, stop, sweep and emit are arrow properties: the proxies hand them on unbound.
  readonly address = (): AddressInfo => {
    const bound = this.net.bound;
    if (bound === null) throw new TypeError(`${this.o.name}: address() called before start() resolved`);
    return bound;
  };

  readonly start = (signal: AbortSignal): Promise<void> => {
    if (this.net.server !== null) return Promise.reject(new TypeError(`${this.o.name}: start() called twice`));
    if (signal.aborted) return Promise.resolve();
    return this.net.listen(signal);
  };

  readonly stop = (): Promise<void> => {
    if (this.stopping !== null) return this.stopping;
    this.stopping = this.drain();
    return this.stopping;
  };

  private async drain(): Promise<void> {
    await drainConnections(this.net.server, this.connections, this.drainMs);
    this.net.stopSweep();
    this.emit({ kind: 'driver', at: this.o.options.now(), ...this.driver, message: 'stopped', detail: { ...this.o.stats } });
  }
}
