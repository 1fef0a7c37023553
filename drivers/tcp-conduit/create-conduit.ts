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
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { Driver } from '../types';
import type { ConnectQuery, Decision, Scope } from '../../policy/types';
import type { HostPort, TcpConduitOptions, TcpConduitStats } from './options';
import { ReusedReadBuffer, splice, type SpliceHandle } from './splice';
import { ConduitShares } from '../conduit-shares';

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

/** Strips the IPv4-mapped prefix a dual-stack socket reports (RFC 4291 section 2.5.5.2). */
function plainIp(addr: string | undefined): string {
  if (!addr) return '';
  return addr.startsWith('::ffff:') && addr.includes('.') ? addr.slice(7) : addr;
}

/** Builds a TCP conduit proxy; nothing listens until start(). */
export function createTcpConduit(options: TcpConduitOptions): TcpConduit {
  if (!options || typeof options.asset !== 'string' || !options.decider || !options.audit || typeof options.now !== 'function') {
    throw new TypeError('createTcpConduit: listen, upstream, asset, port, decider, audit and now are required');
  }
  const name = options.name ?? 'tcp-conduit';
  const { decider, audit, now, asset, port } = options;
  const idleTimeoutMs = options.idleTimeoutMs ?? 600_000;
  const connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
  const maxConnections = options.maxConnections ?? 1024;
  const perSourceMax = options.perSourceMax ?? 64;
  const recheckIntervalMs = options.recheckIntervalMs ?? 60_000;
  const drainMs = options.drainMs ?? 2_000;

  const stats: TcpConduitStats = {
    accepted: 0, denied: 0, refused: 0, active: 0, closed: 0, upstreamErrors: 0, idleTimeouts: 0, revoked: 0, bytesUp: 0, bytesDown: 0,
  };
  const live = new Set<Live>();
  /** Every accepted socket not yet closed (deciding, denied-closing or spliced): counted by the caps. */
  const perSource = new Map<string, number>();
  let total = 0;
  const shares = new ConduitShares(maxConnections, options.reserveConnections);
  let server: Server | undefined;
  let bound: HostPort | undefined;
  let recheckTimer: NodeJS.Timeout | undefined;
  let stopping: Promise<void> | undefined;

  const record = (ev: Parameters<typeof audit.record>[0]) => { try { audit.record(ev); } catch { /* AuditSink promises not to throw */ } };

  const release = (ip: string) => {
    total -= 1;
    const n = (perSource.get(ip) ?? 1) - 1;
    if (n <= 0) perSource.delete(ip); else perSource.set(ip, n);
  };

  const auditDecision = (c: { query: ConnectQuery; srcPort: number }, decision: Decision, scope: Scope, message?: string) => record({
    kind: 'decision', at: now(), source: name, decision, policyVersion: scope.policyVersion,
    src: c.query.sourceIp, srcPort: c.srcPort, asset, port, protocol: 'tcp', ...(message ? { message } : {}),
  });

  function onConnection(client: Socket): void {
    const ip = plainIp(client.remoteAddress);
    const srcPort = client.remotePort ?? 0;
    // Caps first: a flood is refused before it costs a decision.
    const fromSource = perSource.get(ip) ?? 0;
    if (stopping || total >= maxConnections || fromSource >= perSourceMax) {
      stats.refused += 1;
      record({
        kind: 'connection', at: now(), source: name, src: ip, srcPort, asset, port, protocol: 'tcp',
        message: stopping ? 'refused: stopping' : total >= maxConnections ? 'refused: listener connection cap' : 'refused: per-source connection cap',
        detail: { limit: total >= maxConnections ? maxConnections : perSourceMax },
      });
      client.destroy();
      return;
    }
    total += 1;
    perSource.set(ip, fromSource + 1);
    client.once('close', () => release(ip));
    client.on('error', () => { /* reset by the peer: counted on close */ });

    const query: ConnectQuery = { sourceIp: ip, asset, port, protocol: 'tcp' };
    let verdict: { scope: Scope; decision: Decision };
    try {
      verdict = decider.connect(query, now());
    } catch (e) {
      // The Decider promises not to throw; if it does, fail closed.
      verdict = { scope: { policyVersion: 'unknown', identity: null }, decision: { decision: 'deny', conduit: null, reason: 'malformed', identity: null } };
      record({ kind: 'driver', at: now(), source: name, message: `decider failed: ${(e as Error).message}` });
    }
    auditDecision({ query, srcPort }, verdict.decision, verdict.scope);
    if (verdict.decision.decision !== 'allow') {
      stats.denied += 1;
      client.destroy();
      return;
    }
    // Fair share of the pool per conduit (conduit-shares.ts); `total` already counts this socket.
    const poolKey = verdict.decision.conduit ?? `source ${ip}`;
    const unfair = shares.take(poolKey, total - 1);
    if (unfair !== null) {
      stats.refused += 1;
      record({ kind: 'connection', at: now(), source: name, src: ip, srcPort, asset, port, protocol: 'tcp', message: unfair, detail: { limit: maxConnections - shares.reserve } });
      client.destroy();
      return;
    }
    client.once('close', () => shares.give(poolKey));
    stats.accepted += 1;
    stats.active += 1;
    const c: Live = { client, query, srcPort, scope: verdict.scope, openedAt: now() };
    live.add(c);

    // Upstream bytes are read into a reused buffer (splice.ts ReusedReadBuffer).
    const reader = new ReusedReadBuffer(client);
    const upstream = connect({ host: options.upstream.host, port: options.upstream.port, allowHalfOpen: true, onread: reader.onread });
    upstream.setNoDelay(true);
    client.setNoDelay(true);
    let connected = false;
    const connectTimer = setTimeout(() => {
      if (!connected) { c.closeReason = 'upstream connect timeout'; stats.upstreamErrors += 1; upstream.destroy(); client.destroy(); }
    }, connectTimeoutMs);
    upstream.once('connect', () => { connected = true; clearTimeout(connectTimer); });
    upstream.once('error', (e: NodeJS.ErrnoException) => {
      if (!connected && !c.closeReason) { c.closeReason = `upstream unreachable: ${e.code ?? e.message}`; stats.upstreamErrors += 1; }
    });
    if (idleTimeoutMs > 0) {
      // Node resets a socket's timeout on every read and write of it, so the client socket sees
      // the traffic of both directions.
      client.setTimeout(idleTimeoutMs, () => {
        if (!c.closeReason) c.closeReason = 'idle timeout';
        stats.idleTimeouts += 1;
        c.handle?.destroy();
      });
    }
    c.handle = splice(client, upstream, { bReader: reader });
    c.handle.done.then(({ error }) => {
      clearTimeout(connectTimer);
      live.delete(c);
      stats.active -= 1;
      stats.closed += 1;
      const up = client.bytesRead, down = client.bytesWritten;
      stats.bytesUp += up; stats.bytesDown += down;
      record({
        kind: 'connection', at: now(), source: name, policyVersion: c.scope.policyVersion,
        src: ip, srcPort, asset, port, protocol: 'tcp',
        message: 'closed',
        detail: {
          bytesUp: up, bytesDown: down, durationMs: now() - c.openedAt,
          reason: c.closeReason ?? (error ? `error: ${(error as NodeJS.ErrnoException).code ?? error.message}` : 'end'),
          conduit: verdict.decision.conduit,
        },
      });
    });
  }

  function recheck(): number {
    let closed = 0;
    for (const c of live) {
      if (c.closeReason) continue;
      let v: { scope: Scope; decision: Decision };
      try { v = decider.connect(c.query, now()); } catch { continue; }
      c.scope = v.scope;
      if (v.decision.decision === 'allow') continue;
      // A re-decision that closes a connection is a decision: audited like the first one.
      auditDecision(c, v.decision, v.scope, 'revoked: re-checked against the active policy');
      c.closeReason = `revoked: ${v.decision.reason ?? 'denied'}`;
      stats.revoked += 1;
      closed += 1;
      c.handle?.destroy();
    }
    return closed;
  }

  return {
    name,
    address(): HostPort {
      if (!bound) throw new TypeError(`${name}: not started`);
      return bound;
    },
    stats: () => ({ ...stats }),
    recheck,
    start(signal: AbortSignal): Promise<void> {
      if (server) return Promise.reject(new TypeError(`${name}: already started`));
      if (signal.aborted) return Promise.reject(new Error(`${name}: start aborted`));
      const srv = createServer({ allowHalfOpen: true, pauseOnConnect: false }, onConnection);
      server = srv;
      return new Promise<void>((resolve, reject) => {
        const onError = (e: Error) => { server = undefined; reject(e); };
        srv.once('error', onError);
        srv.listen({ host: options.listen.host, port: options.listen.port }, () => {
          srv.off('error', onError);
          srv.on('error', (e) => record({ kind: 'driver', at: now(), source: name, message: `listener error: ${e.message}` }));
          const a = srv.address();
          bound = a && typeof a === 'object' ? { host: a.address, port: a.port } : { ...options.listen };
          if (recheckIntervalMs > 0) { recheckTimer = setInterval(recheck, recheckIntervalMs); recheckTimer.unref(); }
          signal.addEventListener('abort', () => { void stop(); }, { once: true });
          record({ kind: 'driver', at: now(), source: name, asset, port, message: `listening on ${bound.host}:${bound.port}`, detail: { upstream: `${options.upstream.host}:${options.upstream.port}` } });
          resolve();
        });
      });
    },
    stop,
  };

  function stop(): Promise<void> {
    if (stopping) return stopping;
    const srv = server;
    stopping = (async () => {
      if (recheckTimer) clearInterval(recheckTimer);
      if (!srv) return;
      const closedServer = new Promise<void>((r) => srv.close(() => r()));
      // Drain: let open connections finish for drainMs, then cut what is left.
      if (live.size > 0) {
        const all = Promise.all([...live].map((c) => c.handle?.done));
        let timer: NodeJS.Timeout | undefined;
        const grace = new Promise<void>((r) => { timer = setTimeout(r, drainMs); });
        await Promise.race([all, grace]);
        if (timer) clearTimeout(timer);
        for (const c of live) { if (!c.closeReason) c.closeReason = 'gateway stopping'; c.handle?.destroy(); }
        await all;
      }
      await closedServer;
      record({ kind: 'driver', at: now(), source: name, asset, port, message: 'stopped' });
    })();
    return stopping;
  }
}
