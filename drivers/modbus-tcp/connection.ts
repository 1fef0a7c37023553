/**
 * One client connection through the Modbus/TCP proxy: splits the client's stream into MBAP
 * frames, parses and decides each request, answers denied ones locally with an exception and
 * forwards allowed ones to this connection's own upstream socket (opened on demand), then relays
 * each upstream response back if it answers an outstanding transaction.
 *
 * Hot path (one request): split in place, parse into a reused record, one decider call, one audit
 * event, one write. No per-request string keys, closures or timers; deadlines are checked by the
 * proxy's periodic sweep against the injected clock. This file is the frame loop; the state, flow
 * control, local replies, upstream lifecycle, deadlines and close are connection-lifecycle.ts.
 */
import type { Socket } from 'node:net';
import type { Decision, Scope } from '../../policy/types';
import { ModbusRequest, parseRequestPdu, requestAuditFields } from './pdu';
import { exceptionForReason, ModbusException } from './exception';
import type { TokenBucket } from './rate-limit';
import type { UpstreamSide } from './upstream';
import {
  ConnectionLifecycle, PAUSE_CLIENT_BACKPRESSURE, PAUSE_OUTSTANDING, PAUSE_UPSTREAM_BACKPRESSURE, type ProxyContext,
} from './connection-lifecycle';

export type { ProxyContext } from './connection-lifecycle';

const MALFORMED_VALUE: Decision = Object.freeze({ decision: 'deny', conduit: null, reason: 'malformed', identity: null });

export class ClientConnection extends ConnectionLifecycle {
  private readonly req = new ModbusRequest();
  private cachedConduit: string | null = null;
  private cachedVersion: string | null = null;
  private cachedBucket: TokenBucket | null = null;
  private cachedWriteBucket: TokenBucket | null = null;

  constructor(ctx: ProxyContext, socket: Socket, src: string, srcPort: number, scope: Scope) {
    super(ctx, socket, src, srcPort, scope);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.unpause(PAUSE_CLIENT_BACKPRESSURE));
    socket.on('error', () => { /* 'close' follows */ });
    socket.on('close', () => this.close('client closed the connection'));
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

  protected process(chunk: Buffer, at: number): void {
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

  protected release(): void {
    if (this.cachedBucket !== null) this.cachedBucket.holders--;
    this.cachedBucket = null;
    if (this.cachedWriteBucket !== null) this.cachedWriteBucket.holders--;
    this.cachedWriteBucket = null;
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

  onUpstreamData(up: UpstreamSide, chunk: Buffer, n: number): void {
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
}
