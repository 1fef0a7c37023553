/**
 * One client connection through the Modbus/TCP proxy: splits the client's stream into MBAP
 * frames, parses and decides each request, answers denied ones locally with an exception and
 * forwards allowed ones to this connection's own upstream socket (opened on demand), then relays
 * each upstream response back if it answers an outstanding transaction.
 *
 * Hot path (one request): split in place, parse into a reused record, one decider call, one audit
 * event, one write. No per-request string keys, closures or timers; deadlines are checked by the
 * proxy's periodic sweep against the injected clock.
 *
 * Upstream failures (issue 14): a transaction the upstream does not answer within upstreamMs is
 * answered 0x0B alone (a late reply to it is dropped) and the upstream connection stays; it is
 * dropped only when the transport fails or `maxSilentTransactions` transactions in a row went
 * unanswered. "Upstream down" (0x0A without connecting) follows only failed connects, and only
 * for requests that would open a new upstream connection.
 */
import { connect as netConnect, type Socket } from 'node:net';
import type { Decision, Scope } from '../../policy/types';
import type { AuditEvent, AuditKind } from '../types';
import { MbapSplitter, type MbapFrameHandler } from './mbap';
import { ModbusRequest, parseRequestPdu, requestAuditFields } from './pdu';
import { exceptionAdu, exceptionForReason, ModbusException } from './exception';
import type { RateLimitStore, TokenBucket } from './rate-limit';
import type { ModbusProxyStats } from './types';
import { OutstandingTable } from './outstanding';
import type { LimitedLog } from '../log-limit';

/** What every connection of one proxy shares. Built once by proxy.ts. */
export interface ProxyContext {
  readonly name: string;
  readonly asset: string;
  readonly servicePort: number;
  readonly upstreamHost: string;
  readonly upstreamPort: number;
  readonly decider: import('../../policy/types').Decider;
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
  closed(conn: ClientConnection): void;
}

// Why reading from the client is paused (bits; reading resumes when none is left).
const PAUSE_OUTSTANDING = 1;
const PAUSE_CLIENT_BACKPRESSURE = 2;
const PAUSE_UPSTREAM_BACKPRESSURE = 4;
const PAUSE_DRAINING = 8;

const UPSTREAM_READ_BYTES = 4096;

const MALFORMED_VALUE: Decision = Object.freeze({ decision: 'deny', conduit: null, reason: 'malformed', identity: null });

/** Reads one upstream socket's responses; one per upstream socket, no per-frame closures. */
class UpstreamSide implements MbapFrameHandler {
  readonly splitter: MbapSplitter;
  connecting = true;
  errorCode: string | null = null;
  constructor(readonly conn: ClientConnection, readonly socket: Socket) {
    this.splitter = new MbapSplitter(this);
  }
  onFrame(buf: Buffer, offset: number, length: number, scratch: boolean): boolean {
    return this.conn.onResponse(this, buf, offset, length, scratch);
  }
  onMalformed(message: string): void {
    this.conn.onUpstreamMalformed(this, message);
  }
}

export class ClientConnection implements MbapFrameHandler {
  private readonly splitter = new MbapSplitter(this);
  private readonly req = new ModbusRequest();
  private up: UpstreamSide | null = null;
  // Requests waiting for an answer, in the order they were forwarded (at most maxOutstanding).
  private readonly out: OutstandingTable;
  /** Forwarded transactions in a row that timed out with no upstream frame in between. */
  private silent = 0;
  private paused = 0;
  private inBatch = false;
  private held: Buffer | null = null;
  private heldAt = 0;
  private partialSince = 0;
  private lastActivity: number;
  private cachedConduit: string | null = null;
  private cachedVersion: string | null = null;
  private cachedBucket: TokenBucket | null = null;
  private cachedWriteBucket: TokenBucket | null = null;
  private requests = 0;
  closedFlag = false;
  /** The conduit whose share of the listener's pool this connection holds (proxy.ts). */
  poolKey: string | null = null;

  constructor(
    private readonly ctx: ProxyContext,
    readonly socket: Socket,
    readonly src: string,
    readonly srcPort: number,
    private readonly scope: Scope,
  ) {
    this.out = new OutstandingTable(ctx.maxOutstanding);
    this.lastActivity = ctx.now();
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.unpause(PAUSE_CLIENT_BACKPRESSURE));
    socket.on('error', () => { /* 'close' follows */ });
    socket.on('close', () => this.close('client closed the connection'));
  }

  /** Requests forwarded and not yet answered. */
  get inFlight(): number {
    return this.out.size;
  }

  // ---- client side -------------------------------------------------------------------------

  private onData(chunk: Buffer): void {
    if (this.closedFlag) return;
    let data = chunk;
    let at = 0;
    if (this.held !== null) { // data that arrived while paused (rare): keep order
      data = Buffer.concat([this.held.subarray(this.heldAt), chunk]);
      this.held = null;
    }
    if (this.paused !== 0) {
      this.held = data;
      this.heldAt = at;
      return;
    }
    this.process(data, at);
  }

  private process(chunk: Buffer, at: number): void {
    this.inBatch = true;
    // Batch the writes of a chunk that holds several frames (pipelining); a chunk that is exactly
    // one frame (the usual poll) writes once and skips the cork/uncork.
    const single = chunk.length - at >= 6 && chunk.length - at === 6 + ((chunk[at + 4] << 8) | chunk[at + 5]);
    const up = this.up;
    const upSocket = !single && up !== null && !up.connecting ? up.socket : null;
    const client = single ? null : this.socket;
    if (client !== null) client.cork();
    if (upSocket !== null) upSocket.cork();
    let stop: number;
    try {
      stop = this.splitter.push(chunk, at);
    } catch (err) {
      stop = -1;
      this.fault(err);
    } finally {
      this.inBatch = false;
      if (upSocket !== null) upSocket.uncork();
      if (client !== null) client.uncork();
    }
    if (stop < 0 || this.closedFlag) return;
    if (stop < chunk.length) {
      this.held = chunk;
      this.heldAt = stop;
    }
    if (this.splitter.partialBytes > 0) {
      if (this.partialSince === 0) this.partialSince = this.ctx.now();
    } else {
      this.partialSince = 0;
    }
    if (this.paused === 0 && this.held !== null) this.resumeReading();
  }

  /** MbapFrameHandler: one request ADU from the client. */
  onFrame(buf: Buffer, off: number, len: number, scratch: boolean): boolean {
    const ctx = this.ctx;
    const stats = ctx.stats;
    stats.requests++;
    this.requests++;
    if (scratch) this.partialSince = 0;
    const req = this.req;
    const problem = parseRequestPdu(buf, off + 7, len - 7, req);
    if (problem !== null) {
      this.malformed(problem);
      return false;
    }
    const tid = (buf[off] << 8) | buf[off + 1];
    const unit = buf[off + 6];
    const fn = req.fn;
    const now = ctx.now();
    this.lastActivity = now;
    let decision: Decision;
    if (req.invalid !== null) {
      decision = MALFORMED_VALUE;
    } else {
      // FC 23 (6.17) also writes a second range; the decider checks both, and the sub-function
      // and the values written (read from the PDU in the frame: it is still in place here).
      req.unit = unit;
      decision = ctx.decider.operation !== undefined ? ctx.decider.operation(this.scope, req, now)
        : req.writeCount === 0
          ? ctx.decider.modbus(this.scope, fn, unit, req.address, req.count, now)
          : ctx.decider.modbus(this.scope, fn, unit, req.address, req.count, now, req.writeAddress, req.writeCount);
      if (decision.decision === 'allow' && (ctx.limits !== undefined || ctx.writeLimits !== undefined) && decision.conduit !== null) {
        const bucket = this.bucketFor(decision.conduit, now);
        const writeBucket = req.writes ? this.cachedWriteBucket : null;
        if ((bucket !== null && !bucket.take(now)) || (writeBucket !== null && !writeBucket.take(now))) {
          stats.rateLimited++;
          decision = { decision: 'deny', conduit: decision.conduit, reason: 'rate-limited', identity: decision.identity };
        }
      }
    }
    ctx.emit({
      kind: 'decision',
      at: now,
      source: ctx.name,
      decision,
      policyVersion: this.scope.policyVersion,
      src: this.src,
      srcPort: this.srcPort,
      asset: ctx.asset,
      port: ctx.servicePort,
      protocol: 'modbus',
      modbus: requestAuditFields(buf, off + 7, len - 7, req, unit),
      message: decision.monitor === true ? `monitor: would deny (${decision.reason})`
        : req.invalid !== null ? req.invalid : undefined,
      detail: req.writeCount !== 0 ? { writeAddress: req.writeAddress, writeCount: req.writeCount } : undefined,
    });
    if (decision.decision !== 'allow') {
      stats.denied++;
      if (decision.reason === 'unit-not-allowed') {
        this.hideUnit(tid, unit, fn, now);
        return this.paused === 0;
      }
      // A function code the table does not know is an illegal function (7: code 01) whatever the
      // reason the policy gives (it calls it malformed).
      this.answer(tid, unit, fn, req.known ? exceptionForReason(decision.reason) : ModbusException.IllegalFunction);
      return this.paused === 0;
    }
    stats.allowed++;
    if (decision.monitor === true) stats.monitored++;
    this.forward(buf, off, len, scratch, tid, unit, fn, now);
    return this.paused === 0 && !this.closedFlag;
  }

  /** MbapFrameHandler: the client's header can never become a frame. */
  onMalformed(message: string): void {
    this.malformed(message);
  }

  private bucketFor(conduit: string, now: number): TokenBucket | null {
    const version = this.scope.policyVersion;
    if (conduit === this.cachedConduit && version === this.cachedVersion) return this.cachedBucket;
    const limit = this.ctx.limits?.(conduit);
    if (this.cachedBucket !== null) this.cachedBucket.holders--;
    const bucket = limit === undefined ? null : this.ctx.rate.bucket(conduit, this.src, limit, now);
    if (bucket !== null) bucket.holders++;
    // Writes also take from the conduit's write bucket (keyed apart from the request bucket).
    const writeLimit = this.ctx.writeLimits?.(conduit);
    if (this.cachedWriteBucket !== null) this.cachedWriteBucket.holders--;
    this.cachedWriteBucket = writeLimit === undefined ? null : this.ctx.rate.bucket(`${conduit}\u0000writes`, this.src, writeLimit, now);
    if (this.cachedWriteBucket !== null) this.cachedWriteBucket.holders++;
    this.cachedConduit = conduit;
    this.cachedVersion = version;
    this.cachedBucket = bucket;
    return bucket;
  }

  private answer(tid: number, unit: number, fn: number, code: number): void {
    this.socket.write(exceptionAdu(tid, unit, fn, code));
    if (this.socket.writableLength > this.ctx.maxBufferedBytes) this.pause(PAUSE_CLIENT_BACKPRESSURE);
  }

  // ---- upstream side -----------------------------------------------------------------------

  private forward(buf: Buffer, off: number, len: number, scratch: boolean, tid: number, unit: number, fn: number, now: number): void {
    const ctx = this.ctx;
    if (ctx.upstreamDownUntil > now && this.up === null) {
      ctx.stats.upstreamFailures++;
      this.answer(tid, unit, fn, ModbusException.GatewayPathUnavailable);
      return;
    }
    const out = this.out;
    if (out.full) { // not reached: reading pauses at the cap
      this.answer(tid, unit, fn, ModbusException.ServerDeviceBusy);
      return;
    }
    let up = this.up;
    if (up === null) up = this.openUpstream(now);
    out.push(tid, unit, fn, false, now);
    let data: Buffer;
    if (scratch) { // the splitter reuses its scratch buffer: forward a copy
      data = Buffer.allocUnsafe(len);
      buf.copy(data, 0, off, off + len);
    } else {
      data = off === 0 && len === buf.length ? buf : buf.subarray(off, off + len);
    }
    up.socket.write(data);
    ctx.stats.forwarded++;
    if (out.full) this.pause(PAUSE_OUTSTANDING);
    if (up.socket.writableLength > ctx.maxBufferedBytes) this.pause(PAUSE_UPSTREAM_BACKPRESSURE);
  }

  /**
   * A unit the policy does not allow is answered exactly as a unit that does not exist behind a
   * gateway: the request waits like a forwarded one and is answered 0x0B when upstreamMs passes
   * (as this proxy answers a silent upstream unit), so the allow-list cannot be enumerated.
   * Nothing is sent upstream; the entry holds an outstanding slot like a real request.
   */
  private hideUnit(tid: number, unit: number, fn: number, now: number): void {
    const out = this.out;
    if (out.full) { // not reached: reading pauses at the cap
      this.answer(tid, unit, fn, ModbusException.ServerDeviceBusy);
      return;
    }
    out.push(tid, unit, fn, true, now);
    if (out.full) this.pause(PAUSE_OUTSTANDING);
  }

  private openUpstream(now: number): UpstreamSide {
    // Responses are read into one reused buffer (net onread: no allocation per read); frames are
    // copied out before they are written to the client. 4 KiB holds 16 outstanding answers.
    let up: UpstreamSide | null = null;
    const socket = netConnect({
      host: this.ctx.upstreamHost, port: this.ctx.upstreamPort,
      onread: { buffer: Buffer.allocUnsafeSlow(UPSTREAM_READ_BYTES), callback: (n: number, buf: Uint8Array) => { this.onUpstreamData(up!, buf as Buffer, n); return true; } },
    });
    socket.setNoDelay(true);
    up = new UpstreamSide(this, socket);
    this.up = up;
    this.upConnectAt = now;
    this.ctx.stats.upstreamConnects++;
    socket.on('connect', () => { up!.connecting = false; });
    socket.on('drain', () => { if (this.up === up) this.unpause(PAUSE_UPSTREAM_BACKPRESSURE); });
    socket.on('error', (err: NodeJS.ErrnoException) => { up!.errorCode = err.code ?? err.message; });
    socket.on('close', () => this.onUpstreamClose(up!));
    return up;
  }

  private upConnectAt = 0;

  private onUpstreamData(up: UpstreamSide, chunk: Buffer, n: number): void {
    if (this.up !== up || this.closedFlag) return;
    this.inBatch = true;
    const single = n >= 6 && n === 6 + ((chunk[4] << 8) | chunk[5]);
    if (!single) this.socket.cork();
    try {
      up.splitter.push(chunk, 0, n);
    } catch (err) {
      this.fault(err);
    } finally {
      this.inBatch = false;
      if (!single) this.socket.uncork();
    }
    if (this.paused === 0 && this.held !== null && !this.closedFlag) this.resumeReading();
  }

  /** A response from the upstream: relay it if it answers an outstanding transaction. */
  onResponse(up: UpstreamSide, buf: Buffer, off: number, len: number, scratch: boolean): boolean {
    if (this.up !== up || this.closedFlag) return false;
    this.silent = 0; // any well-framed reply shows the upstream is alive
    const tid = (buf[off] << 8) | buf[off + 1];
    const fn = len > 7 ? buf[off + 7] & 0x7f : -1;
    const out = this.out;
    const i = out.match(tid, buf[off + 6], fn);
    if (i < 0) {
      this.ctx.stats.unexpectedResponses++;
      this.trouble(`upstream response (transaction ${tid}, function ${fn}) answers no outstanding request: dropped`);
      return true;
    }
    out.removeAt(i);
    // The read buffer (and the splitter's scratch) is reused: the client gets a copy.
    const data = Buffer.allocUnsafe(len);
    buf.copy(data, 0, off, off + len);
    this.socket.write(data);
    this.ctx.stats.responses++;
    if (this.socket.writableLength > this.ctx.maxBufferedBytes) this.pause(PAUSE_CLIENT_BACKPRESSURE);
    if ((this.paused & PAUSE_OUTSTANDING) !== 0) this.unpause(PAUSE_OUTSTANDING);
    if (out.size === 0) this.lastActivity = this.ctx.now();
    return true;
  }

  onUpstreamMalformed(up: UpstreamSide, message: string): void {
    if (this.up !== up) return;
    this.ctx.stats.malformed++;
    this.audit('malformed', `upstream: ${message}`, { direction: 'upstream' });
    this.ctx.log?.say(`${this.ctx.name} ${this.ctx.asset}: upstream sent a malformed frame (${message}): connection dropped`);
    this.dropUpstream(ModbusException.GatewayTargetFailedToRespond);
  }

  private onUpstreamClose(up: UpstreamSide): void {
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
  private dropUpstream(code: number): void {
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

  private pause(bit: number): void {
    if (this.paused === 0) this.socket.pause();
    this.paused |= bit;
  }

  private unpause(bit: number): void {
    if ((this.paused & bit) === 0) return;
    this.paused &= ~bit;
    if (this.paused === 0 && !this.inBatch && !this.closedFlag) this.resumeReading();
  }

  private resumeReading(): void {
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

  // ---- deadlines, errors, close ------------------------------------------------------------

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

  /** Upstream trouble: an audit record, and a line in the daemon's log (rate-limited). */
  private trouble(message: string): void {
    this.audit('connection', message);
    this.ctx.log?.say(`${this.ctx.name} ${this.ctx.asset} (client ${this.src}:${this.srcPort}): ${message}`);
  }

  private malformed(message: string): void {
    if (this.closedFlag) return;
    this.ctx.stats.malformed++;
    this.audit('malformed', message);
    this.close('malformed input');
  }

  private fault(err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    this.audit('driver', `internal error handling connection: ${message}`);
    this.close('internal error');
  }

  private audit(kind: AuditKind, message: string, detail?: Record<string, unknown>): void {
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
    if (this.cachedBucket !== null) this.cachedBucket.holders--;
    this.cachedBucket = null;
    if (this.cachedWriteBucket !== null) this.cachedWriteBucket.holders--;
    this.cachedWriteBucket = null;
    this.ctx.emit({
      kind: 'connection', at: this.ctx.now(), source: this.ctx.name, policyVersion: this.scope.policyVersion,
      src: this.src, srcPort: this.srcPort, asset: this.ctx.asset, port: this.ctx.servicePort, protocol: 'modbus',
      message: `closed: ${why}`, detail: { requests: this.requests, outstanding: this.out.size },
    });
    this.ctx.closed(this);
  }
}
