/**
 * The TCP conduit proxy: for protocols zonegate does not inspect (HTTPS to a historian, DNP3
 * until it has its own driver). Each connection is decided once when it is accepted, with
 * `decider.connect({ sourceIp, asset, port, protocol: 'tcp' })`: deny closes it at once; allow
 * connects upstream and splices bytes both ways (splice.ts: backpressure, half-close).
 *
 * Policy swaps are re-checked lazily: recheck() re-decides every live connection and closes
 * those the active policy no longer allows. The gateway calls it after each activation; a
 * periodic timer (recheckIntervalMs) calls it too, so a schedule that ends or a grant that
 * expires also ends its connections.
 *
 * Audit: one `decision` event per accepted connection (allow or deny), one `connection` event
 * when it closes (bytes each way, duration, why), one when a cap refuses a connection.
 */
import { connect, type Server, type Socket } from 'node:net';
import type { Driver } from '../types';
import type { ConnectQuery, Decision, Scope } from '../../policy/types';
import type { HostPort, TcpConduitOptions, TcpConduitStats } from './options';
import { ReusedReadBuffer, splice, type SpliceHandle } from './splice';
import { ConduitShares } from '../conduit-shares';
import { globalTimers, ListeningServer, plainAddress } from '../listening-server';

export interface TcpConduit extends Driver {
  /** The bound address once started (the real port when listen.port was 0). */
  address(): HostPort;
  stats(): TcpConduitStats;
  /** Re-decides every live connection; closes (and audits) the ones no longer allowed. Returns how many closed. */
  recheck(): number;
}

interface Live {
  client: Socket;
  query: ConnectQuery;
  srcPort: number;
  scope: Scope;
  openedAt: number;
  handle?: SpliceHandle;
  closeReason?: string;
}

/** Builds a TCP conduit proxy; nothing listens until start(). */
export function createTcpConduit(options: TcpConduitOptions): TcpConduit {
  if (!options || typeof options.asset !== 'string' || !options.decider || !options.audit || typeof options.now !== 'function') {
    throw new TypeError('createTcpConduit: listen, upstream, asset, port, decider, audit and now are required');
  }
  return new TcpConduitProxy(options);
}

type Verdict = { scope: Scope; decision: Decision };
type AuditEvent = Parameters<TcpConduitOptions['audit']['record']>[0];

/** The proxy's state and its steps: admit (caps), decide, splice; recheck; start and stop (drain). */
class TcpConduitProxy implements TcpConduit {
  readonly name: string;
  private readonly o: TcpConduitOptions;
  private readonly idleTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly maxConnections: number;
  private readonly perSourceMax: number;
  private readonly recheckIntervalMs: number;
  private readonly drainMs: number;
  private readonly counts: TcpConduitStats = {
    accepted: 0, denied: 0, refused: 0, active: 0, closed: 0, upstreamErrors: 0, idleTimeouts: 0, revoked: 0, bytesUp: 0, bytesDown: 0,
  };
  private readonly live = new Set<Live>();
  /** Every accepted socket not yet closed (deciding, denied-closing or spliced): counted by the caps. */
  private readonly perSource = new Map<string, number>();
  private total = 0;
  private readonly shares: ConduitShares;
  private readonly net: ListeningServer;
  private bound: HostPort | undefined;
  private stopping: Promise<void> | undefined;

  constructor(options: TcpConduitOptions) {
    this.o = options;
    this.name = options.name ?? 'tcp-conduit';
    this.idleTimeoutMs = options.idleTimeoutMs ?? 600_000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
    this.maxConnections = options.maxConnections ?? 1024;
    this.perSourceMax = options.perSourceMax ?? 64;
    this.recheckIntervalMs = options.recheckIntervalMs ?? 60_000;
    this.drainMs = options.drainMs ?? 2_000;
    this.shares = new ConduitShares(this.maxConnections, options.reserveConnections);
    // The re-check runs on the listen step's sweep timer (recheckIntervalMs 0: no timer).
    this.net = new ListeningServer({
      listen: options.listen,
      server: { allowHalfOpen: true, pauseOnConnect: false },
      accept: this.onConnection,
      sweep: this.recheckIntervalMs > 0 ? { run: this.recheck, everyMs: this.recheckIntervalMs, timers: globalTimers } : null,
      failed: (e) => this.record({ kind: 'driver', at: this.o.now(), source: this.name, message: `listener error: ${e.message}` }),
      listening: (a) => {
        const bound = { host: a.address, port: a.port };
        this.bound = bound;
        const { asset, port, upstream } = this.o;
        this.record({ kind: 'driver', at: this.o.now(), source: this.name, asset, port, message: `listening on ${bound.host}:${bound.port}`, detail: { upstream: `${upstream.host}:${upstream.port}` } });
      },
      stop: () => { void this.stop(); },
    });
  }

  address(): HostPort {
    if (!this.bound) throw new TypeError(`${this.name}: not started`);
    return this.bound;
  }

  stats(): TcpConduitStats {
    return { ...this.counts };
  }

  private record(ev: AuditEvent): void {
    try { this.o.audit.record(ev); } catch { /* AuditSink promises not to throw */ }
  }

  private release(ip: string): void {
    this.total -= 1;
    const n = (this.perSource.get(ip) ?? 1) - 1;
    if (n <= 0) this.perSource.delete(ip); else this.perSource.set(ip, n);
  }

  private auditDecision(c: { query: ConnectQuery; srcPort: number }, decision: Decision, scope: Scope, message?: string): void {
    const { asset, port } = this.o;
    this.record({
      kind: 'decision', at: this.o.now(), source: this.name, decision, policyVersion: scope.policyVersion,
      src: c.query.sourceIp, srcPort: c.srcPort, asset, port, protocol: 'tcp', ...(message ? { message } : {}),
    });
  }

  /** A refused connection (a cap, stopping, the conduit's fair share): audited, then destroyed. */
  private refuse(client: Socket, ip: string, srcPort: number, message: string, limit: number): void {
    this.counts.refused += 1;
    this.record({ kind: 'connection', at: this.o.now(), source: this.name, src: ip, srcPort, asset: this.o.asset, port: this.o.port, protocol: 'tcp', message, detail: { limit } });
    client.destroy();
  }

  /** The server's connection handler: caps, then one decision, then the fair share, then the splice. */
  private readonly onConnection = (client: Socket): void => {
    const ip = plainAddress(client.remoteAddress);
    const srcPort = client.remotePort ?? 0;
    // Caps first: a flood is refused before it costs a decision.
    const fromSource = this.perSource.get(ip) ?? 0;
    const full = this.total >= this.maxConnections;
    if (this.stopping || full || fromSource >= this.perSourceMax) {
      const why = this.stopping ? 'refused: stopping' : full ? 'refused: listener connection cap' : 'refused: per-source connection cap';
      this.refuse(client, ip, srcPort, why, full ? this.maxConnections : this.perSourceMax);
      return;
    }
    this.total += 1;
    this.perSource.set(ip, fromSource + 1);
    client.once('close', () => this.release(ip));
    client.on('error', () => { /* reset by the peer: counted on close */ });

    const query: ConnectQuery = { sourceIp: ip, asset: this.o.asset, port: this.o.port, protocol: 'tcp' };
    const verdict = this.decide(query);
    this.auditDecision({ query, srcPort }, verdict.decision, verdict.scope);
    if (verdict.decision.decision !== 'allow') {
      this.counts.denied += 1;
      client.destroy();
      return;
    }
    // Fair share of the pool per conduit (conduit-shares.ts); `total` already counts this socket.
    const poolKey = verdict.decision.conduit ?? `source ${ip}`;
    const unfair = this.shares.take(poolKey, this.total - 1);
    if (unfair !== null) { this.refuse(client, ip, srcPort, unfair, this.maxConnections - this.shares.reserve); return; }
    client.once('close', () => this.shares.give(poolKey));
    this.counts.accepted += 1;
    this.counts.active += 1;
    const c: Live = { client, query, srcPort, scope: verdict.scope, openedAt: this.o.now() };
    this.live.add(c);
    this.spliceUpstream(c, verdict.decision.conduit);
  };

  /** One decision; the Decider promises not to throw, and if it does the connection fails closed. */
  private decide(query: ConnectQuery): Verdict {
    try {
      return this.o.decider.connect(query, this.o.now());
    } catch (e) {
      this.record({ kind: 'driver', at: this.o.now(), source: this.name, message: `decider failed: ${(e as Error).message}` });
      return { scope: { policyVersion: 'unknown', identity: null }, decision: { decision: 'deny', conduit: null, reason: 'malformed', identity: null } };
    }
  }

  /** Connects upstream and splices both ways, with the connect and idle timeouts; audits the close. */
  private spliceUpstream(c: Live, conduit: string | null): void {
    const { client } = c;
    // Upstream bytes are read into a reused buffer (splice.ts ReusedReadBuffer).
    const reader = new ReusedReadBuffer(client);
    const upstream = connect({ host: this.o.upstream.host, port: this.o.upstream.port, allowHalfOpen: true, onread: reader.onread });
    upstream.setNoDelay(true);
    client.setNoDelay(true);
    let connected = false;
    const connectTimer = setTimeout(() => {
      if (!connected) { c.closeReason = 'upstream connect timeout'; this.counts.upstreamErrors += 1; upstream.destroy(); client.destroy(); }
    }, this.connectTimeoutMs);
    upstream.once('connect', () => { connected = true; clearTimeout(connectTimer); });
    upstream.once('error', (e: NodeJS.ErrnoException) => {
      if (!connected && !c.closeReason) { c.closeReason = `upstream unreachable: ${e.code ?? e.message}`; this.counts.upstreamErrors += 1; }
    });
    if (this.idleTimeoutMs > 0) {
      // Node resets a socket's timeout on every read and write of it, so the client socket sees
      // the traffic of both directions.
      client.setTimeout(this.idleTimeoutMs, () => {
        if (!c.closeReason) c.closeReason = 'idle timeout';
        this.counts.idleTimeouts += 1;
        c.handle?.destroy();
      });
    }
    c.handle = splice(client, upstream, { bReader: reader });
    c.handle.done.then(({ error }) => {
      clearTimeout(connectTimer);
      this.closed(c, conduit, error);
    });
  }

  /** A spliced connection ended: counted and audited (bytes each way, duration, why). */
  private closed(c: Live, conduit: string | null, error: Error | null | undefined): void {
    this.live.delete(c);
    this.counts.active -= 1;
    this.counts.closed += 1;
    const up = c.client.bytesRead, down = c.client.bytesWritten;
    this.counts.bytesUp += up; this.counts.bytesDown += down;
    this.record({
      kind: 'connection', at: this.o.now(), source: this.name, policyVersion: c.scope.policyVersion,
      src: c.query.sourceIp, srcPort: c.srcPort, asset: this.o.asset, port: this.o.port, protocol: 'tcp',
      message: 'closed',
      detail: {
        bytesUp: up, bytesDown: down, durationMs: this.o.now() - c.openedAt,
        reason: c.closeReason ?? (error ? `error: ${(error as NodeJS.ErrnoException).code ?? error.message}` : 'end'),
        conduit,
      },
    });
  }

  readonly recheck = (): number => {
    let closed = 0;
    for (const c of this.live) {
      if (c.closeReason) continue;
      let v: Verdict;
      try { v = this.o.decider.connect(c.query, this.o.now()); } catch { continue; }
      c.scope = v.scope;
      if (v.decision.decision === 'allow') continue;
      // A re-decision that closes a connection is a decision: audited like the first one.
      this.auditDecision(c, v.decision, v.scope, 'revoked: re-checked against the active policy');
      c.closeReason = `revoked: ${v.decision.reason ?? 'denied'}`;
      this.counts.revoked += 1;
      closed += 1;
      c.handle?.destroy();
    }
    return closed;
  };

  start(signal: AbortSignal): Promise<void> {
    if (this.net.server) return Promise.reject(new TypeError(`${this.name}: already started`));
    if (signal.aborted) return Promise.reject(new Error(`${this.name}: start aborted`));
    return this.net.listen(signal);
  }

  stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    this.stopping = this.drainAndClose(this.net.server);
    return this.stopping;
  }

  private async drainAndClose(srv: Server | null): Promise<void> {
    this.net.stopSweep();
    if (!srv) return;
    const closedServer = new Promise<void>((r) => srv.close(() => r()));
    // Drain: let open connections finish for drainMs, then cut what is left.
    if (this.live.size > 0) {
      const all = Promise.all([...this.live].map((c) => c.handle?.done));
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((r) => { timer = setTimeout(r, this.drainMs); });
      await Promise.race([all, grace]);
      if (timer) clearTimeout(timer);
      for (const c of this.live) { if (!c.closeReason) c.closeReason = 'gateway stopping'; c.handle?.destroy(); }
      await all;
    }
    await closedServer;
    this.record({ kind: 'driver', at: this.o.now(), source: this.name, asset: this.o.asset, port: this.o.port, message: 'stopped' });
  }
}
