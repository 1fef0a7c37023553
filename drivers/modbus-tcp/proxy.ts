/**
 * The Modbus/TCP proxy driver: listens for clients in front of one asset's Modbus service,
 * decides every connection and every request against the policy, forwards what is allowed to the
 * upstream PLC and answers what is denied with a Modbus exception (see exception.ts for the
 * mapping). Every decision, malformed frame and connection event goes to the audit sink.
 */
import type { AddressInfo } from 'node:net';
import { ClientConnection, type ProxyContext } from './connection';
import type { ConnectionLifecycle } from './connection-lifecycle';
import { RateLimitStore } from './rate-limit';
import { LimitedLog } from '../log-limit';
import { createProxyListener, positiveOption, type ProxyListener } from '../proxy-listener';
import type { ModbusProxy, ModbusProxyOptions, ModbusProxyStats } from './types';

const positive = (name: string, value: number | undefined, fallback: number): number => positiveOption('createModbusProxy', name, value, fallback);

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

/** The Modbus side of the listener (drivers/proxy-listener.ts admits, sweeps and drains): counters, the connections' shared context. */
class ModbusProxyServer implements ModbusProxy {
  readonly name: string;
  readonly stats: ModbusProxyStats = {
    connections: 0, accepted: 0, refused: 0, requests: 0, allowed: 0, denied: 0, monitored: 0, rateLimited: 0,
    malformed: 0, forwarded: 0, responses: 0, unexpectedResponses: 0, upstreamTimeouts: 0, upstreamFailures: 0, upstreamConnects: 0,
    idleClosed: 0, droppedAudit: 0,
  };
  readonly sweep: () => void;
  readonly stop: () => Promise<void>;
  private readonly listener: ProxyListener<ConnectionLifecycle>;
  private readonly log: LimitedLog | null;
  private readonly ctx: ProxyContext;

  constructor(options: ModbusProxyOptions) {
    this.name = options.name ?? 'modbus-tcp';
    this.listener = createProxyListener<ConnectionLifecycle>({
      who: 'createModbusProxy', name: this.name, protocol: 'modbus', options, drainMs: options.timeouts?.drainMs, stats: this.stats,
      fairShares: { reserve: options.reserveConnections }, layout: 'client-first',
      open: (socket, src, srcPort, scope) => new ClientConnection(this.ctx, socket, src, srcPort, scope),
      sweepShared: (at) => {
        if (this.ctx.rate.buckets > 0) this.ctx.rate.prune(at);
        this.log?.tick();
      },
    });
    if (options.log !== undefined && typeof options.log !== 'function') throw new TypeError('createModbusProxy: log must be a function');
    this.log = options.log === undefined ? null : new LimitedLog({ write: options.log, now: options.now });
    this.ctx = proxyContext(options, { stats: this.stats, log: this.log, emit: this.listener.emit, closed: this.listener.closed });
    this.sweep = this.listener.sweep;
    this.stop = this.listener.stop;
  }

  address(): AddressInfo {
    return this.listener.address();
  }

  start(signal: AbortSignal): Promise<void> {
    return this.listener.start(signal);
  }
}
