/**
 * Everything of a Modbus/TCP proxy connection (connection.ts) around its frame loop: the context
 * every connection of one proxy shares, flow control (why reading is paused), local exception
 * replies, the upstream socket's lifecycle, the deadlines the proxy's periodic sweep checks, and
 * the audit records of trouble and close. connection.ts extends this class: one object per
 * connection, no indirection on the hot path.
 *
 * Upstream failures (issue 14): a transaction the upstream does not answer within upstreamMs is
 * answered 0x0B alone (a late reply to it is dropped) and the upstream connection stays; it is
 * dropped only when the transport fails or `maxSilentTransactions` transactions in a row went
 * unanswered. "Upstream down" (0x0A without connecting) follows only failed connects, and only
 * for requests that would open a new upstream connection.
 */
import type { Socket } from 'node:net';
import type { Decider, Scope } from '../../policy/types';
import type { AuditEvent, AuditKind } from '../types';
import { MbapSplitter, type MbapFrameHandler } from './mbap';
import { exceptionAdu, ModbusException } from './exception';
import type { RateLimitStore } from './rate-limit';
import type { ModbusProxyStats } from './types';
import { OutstandingTable } from './outstanding';
import { openUpstreamSide, type UpstreamOwner, type UpstreamSide } from './upstream';
import type { LimitedLog } from '../log-limit';

/** What every connection of one proxy shares. Built once by proxy.ts. */
export interface ProxyContext {
  readonly name: string;
  readonly asset: string;
  readonly servicePort: number;
  readonly upstreamHost: string;
  readonly upstreamPort: number;
  readonly decider: Decider;
  readonly limits: ((conduitId: string) => { perSecond: number; burst: number } | undefined) | undefined;
  /** Per-conduit write rate limit (writes take from both buckets). */
  readonly writeLimits?: ((conduitId: string) => { perSecond: number; burst: number } | undefined) | undefined;
  readonly rate: RateLimitStore;
  readonly now: () => number;
  readonly frameMs: number;
  readonly idleMs: number;
  readonly upstreamMs: number;
  readonly connectMs: number;
  readonly upstreamRetryMs: number;
  /** Consecutive unanswered transactions after which the upstream connection is dropped. */
  readonly maxSilentTransactions: number;
  readonly maxOutstanding: number;
  readonly maxBufferedBytes: number;
  readonly stats: ModbusProxyStats;
  /** Until when the upstream counts as unreachable (answer 0A without connecting). */
  upstreamDownUntil: number;
  /** The daemon's log for upstream trouble (rate-limited), or null. */
  readonly log: LimitedLog | null;
  emit(event: AuditEvent): void;
  closed(conn: ConnectionLifecycle): void;
}

// Why reading from the client is paused (bits; reading resumes when none is left).
export const PAUSE_OUTSTANDING = 1;
export const PAUSE_CLIENT_BACKPRESSURE = 2;
export const PAUSE_UPSTREAM_BACKPRESSURE = 4;
const PAUSE_DRAINING = 8;

/** The state and the slow paths of one client connection; the frame loop is connection.ts. */
export abstract class ConnectionLifecycle implements MbapFrameHandler, UpstreamOwner {
  protected readonly splitter = new MbapSplitter(this);
  protected up: UpstreamSide | null = null;
  // Requests waiting for an answer, in the order they were forwarded (at most maxOutstanding).
  protected readonly out: OutstandingTable;
  /** Forwarded transactions in a row that timed out with no upstream frame in between. */
  protected silent = 0;
  protected paused = 0;
  protected inBatch = false;
  protected held: Buffer | null = null;
  protected heldAt = 0;
  protected partialSince = 0;
  protected lastActivity: number;
  protected requests = 0;
  private upConnectAt = 0;
  closedFlag = false;

  constructor(
    protected readonly ctx: ProxyContext,
    readonly socket: Socket,
    readonly src: string,
    readonly srcPort: number,
    protected readonly scope: Scope,
  ) {
    this.out = new OutstandingTable(ctx.maxOutstanding);
    this.lastActivity = ctx.now();
  }

  /** Requests forwarded and not yet answered. */
  get inFlight(): number {
    return this.out.size;
  }

  abstract onFrame(buf: Buffer, offset: number, length: number, scratch: boolean): boolean;
  abstract onResponse(up: UpstreamSide, buf: Buffer, off: number, len: number, scratch: boolean): boolean;
  abstract onUpstreamData(up: UpstreamSide, chunk: Buffer, n: number): void;
  /** Splits `chunk` from `at` into requests (the frame loop). */
  protected abstract process(chunk: Buffer, at: number): void;
  /** Gives back what the connection holds of the proxy's shared state (rate buckets) at close. */
  protected abstract release(): void;

  /** MbapFrameHandler: the client's header can never become a frame. */
  onMalformed(message: string): void {
    this.malformed(message);
  }

  // ---- local replies -----------------------------------------------------------------------

  protected answer(tid: number, unit: number, fn: number, code: number): void {
    this.socket.write(exceptionAdu(tid, unit, fn, code));
    if (this.socket.writableLength > this.ctx.maxBufferedBytes) this.pause(PAUSE_CLIENT_BACKPRESSURE);
  }

  /**
   * A unit the policy does not allow is answered exactly as a unit that does not exist behind a
   * gateway: the request waits like a forwarded one and is answered 0x0B when upstreamMs passes
   * (as this proxy answers a silent upstream unit), so the allow-list cannot be enumerated.
   * Nothing is sent upstream; the entry holds an outstanding slot like a real request.
   */
  protected hideUnit(tid: number, unit: number, fn: number, now: number): void {
    const out = this.out;
    if (out.full) { // not reached: reading pauses at the cap
      this.answer(tid, unit, fn, ModbusException.ServerDeviceBusy);
      return;
    }
    out.push(tid, unit, fn, true, now);
    if (out.full) this.pause(PAUSE_OUTSTANDING);
  }

  // ---- upstream socket ---------------------------------------------------------------------

  protected openUpstream(now: number): UpstreamSide {
    const up = openUpstreamSide(this, this.ctx.upstreamHost, this.ctx.upstreamPort);
    this.up = up;
    this.upConnectAt = now;
    this.ctx.stats.upstreamConnects++;
    return up;
  }

  onUpstreamDrain(up: UpstreamSide): void {
    if (this.up === up) this.unpause(PAUSE_UPSTREAM_BACKPRESSURE);
  }

  onUpstreamMalformed(up: UpstreamSide, message: string): void {
    if (this.up !== up) return;
    this.ctx.stats.malformed++;
    this.audit('malformed', `upstream: ${message}`, { direction: 'upstream' });
    this.ctx.log?.say(`${this.ctx.name} ${this.ctx.asset}: upstream sent a malformed frame (${message}): connection dropped`);
    this.dropUpstream(ModbusException.GatewayTargetFailedToRespond);
  }

  onUpstreamClose(up: UpstreamSide): void {
    if (this.up !== up || this.closedFlag) return;
    const neverConnected = up.connecting;
    const ctx = this.ctx;
    if (neverConnected) {
      ctx.upstreamDownUntil = ctx.now() + ctx.upstreamRetryMs;
      ctx.stats.upstreamFailures++;
      this.trouble(`upstream ${ctx.upstreamHost}:${ctx.upstreamPort} unreachable (${up.errorCode ?? 'closed'})`);
    } else if (this.out.size > 0) {
      ctx.stats.upstreamFailures++;
      this.trouble(`upstream closed with ${this.out.size} request(s) outstanding (${up.errorCode ?? 'closed'})`);
    } else {
      this.trouble(`upstream closed the connection (${up.errorCode ?? 'closed'})`);
    }
    this.dropUpstream(neverConnected ? ModbusException.GatewayPathUnavailable : ModbusException.GatewayTargetFailedToRespond);
  }

  /** Closes the upstream socket and answers everything outstanding with `code`. */
  protected dropUpstream(code: number): void {
    const up = this.up;
    if (up === null) return;
    this.up = null;
    this.silent = 0;
    up.splitter.close();
    up.socket.destroy();
    const out = this.out;
    const n = out.size;
    out.size = 0;
    if (!this.closedFlag && n > 0) {
      this.socket.cork();
      for (let i = 0; i < n; i++) this.answer(out.tids[i], out.units[i], out.fns[i], code);
      this.socket.uncork();
    }
    if ((this.paused & PAUSE_OUTSTANDING) !== 0) this.unpause(PAUSE_OUTSTANDING);
    this.unpause(PAUSE_UPSTREAM_BACKPRESSURE);
  }

  // ---- flow control ------------------------------------------------------------------------

  protected pause(bit: number): void {
    if (this.paused === 0) this.socket.pause();
    this.paused |= bit;
  }

  protected unpause(bit: number): void {
    if ((this.paused & bit) === 0) return;
    this.paused &= ~bit;
    if (this.paused === 0 && !this.inBatch && !this.closedFlag) this.resumeReading();
  }

  protected resumeReading(): void {
    const held = this.held;
    if (held !== null) {
      this.held = null;
      this.process(held, this.heldAt);
    }
    if (this.paused === 0 && !this.closedFlag) this.socket.resume();
  }

  /** stop(): read no more requests; what is outstanding may still finish. */
  drain(): void {
    this.pause(PAUSE_DRAINING);
  }

  // ---- deadlines ---------------------------------------------------------------------------

  /** Checks this connection's deadlines (called by the proxy's sweep). */
  sweep(now: number): void {
    if (this.closedFlag) return;
    const ctx = this.ctx;
    if (this.partialSince !== 0 && this.paused === 0 && now - this.partialSince >= ctx.frameMs) {
      this.malformed(`frame not completed within ${ctx.frameMs} ms (${this.splitter.partialBytes} bytes held)`);
      return;
    }
    const up = this.up;
    if (up !== null && up.connecting && this.out.size > 0 && now - this.upConnectAt >= ctx.connectMs) {
      ctx.upstreamDownUntil = now + ctx.upstreamRetryMs;
      ctx.stats.upstreamFailures++;
      this.trouble(`upstream ${ctx.upstreamHost}:${ctx.upstreamPort} did not accept within ${ctx.connectMs} ms`);
      this.dropUpstream(ModbusException.GatewayPathUnavailable);
      return;
    }
    if (this.out.size > 0) {
      this.expire(now);
      return;
    }
    // Idle: nothing outstanding and no request for idleMs (also ends a client that stopped reading
    // its answers while holding a partial frame: reading is paused then, so no frame deadline runs).
    if (this.out.size === 0 && now - this.lastActivity >= ctx.idleMs) {
      ctx.stats.idleClosed++;
      this.close(`idle for ${ctx.idleMs} ms`);
    }
  }

  /**
   * Answers 0x0B to every transaction older than upstreamMs, each alone (a late reply to it no
   * longer matches and is dropped). After maxSilentTransactions forwarded ones in a row with no
   * upstream frame between them, the upstream counts as half-open: dropped, reconnected on demand.
   */
  private expire(now: number): void {
    const ctx = this.ctx;
    const out = this.out;
    const cutoff = now - ctx.upstreamMs;
    if (out.sentAt[0] > cutoff) return;
    this.socket.cork();
    while (out.size > 0 && out.sentAt[0] <= cutoff) {
      const tid = out.tids[0], unit = out.units[0], fn = out.fns[0], local = out.local[0] === 1;
      out.removeAt(0);
      this.answer(tid, unit, fn, ModbusException.GatewayTargetFailedToRespond);
      if (local) continue; // a hidden unit: nothing went upstream, nothing to report
      ctx.stats.upstreamTimeouts++;
      this.silent++;
      this.trouble(`upstream did not answer transaction ${tid} (unit ${unit}, function ${fn}) within ${ctx.upstreamMs} ms: exception 0x0B`);
    }
    this.socket.uncork();
    if ((this.paused & PAUSE_OUTSTANDING) !== 0) this.unpause(PAUSE_OUTSTANDING);
    if (this.silent >= ctx.maxSilentTransactions && this.up !== null) {
      this.trouble(`upstream left ${this.silent} transactions in a row unanswered: connection dropped, reconnecting on the next request`);
      this.dropUpstream(ModbusException.GatewayTargetFailedToRespond);
    }
    if (out.size === 0) this.lastActivity = now;
  }

  // ---- errors, close -----------------------------------------------------------------------

  /** Upstream trouble: an audit record, and a line in the daemon's log (rate-limited). */
  protected trouble(message: string): void {
    this.audit('connection', message);
    this.ctx.log?.say(`${this.ctx.name} ${this.ctx.asset} (client ${this.src}:${this.srcPort}): ${message}`);
  }

  protected malformed(message: string): void {
    if (this.closedFlag) return;
    this.ctx.stats.malformed++;
    this.audit('malformed', message);
    this.close('malformed input');
  }

  protected fault(err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    this.audit('driver', `internal error handling connection: ${message}`);
    this.close('internal error');
  }

  protected audit(kind: AuditKind, message: string, detail?: Record<string, unknown>): void {
    this.ctx.emit({
      kind, at: this.ctx.now(), source: this.ctx.name, policyVersion: this.scope.policyVersion,
      src: this.src, srcPort: this.srcPort, asset: this.ctx.asset, port: this.ctx.servicePort, protocol: 'modbus',
      message, detail,
    });
  }

  /** Closes both sockets and records `why` as a connection event. */
  close(why: string): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.splitter.close();
    this.held = null;
    const up = this.up;
    this.up = null;
    if (up !== null) {
      up.splitter.close();
      up.socket.destroy();
    }
    this.socket.destroy();
    this.release();
    this.audit('connection', `closed: ${why}`, { requests: this.requests, outstanding: this.out.size });
    this.ctx.closed(this);
  }
}
