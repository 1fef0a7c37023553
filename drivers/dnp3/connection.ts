/**
 * One master's connection through the DNP3 proxy. Client side: link frames (every CRC checked)
 * → transport reassembly → one application fragment = one request → one decision → forwarded
 * unchanged (the original link frames: the master's own read buffer, or the part of it a frame
 * is, when the frame lay whole in it) or answered locally (answers.ts). Upstream side (this
 * connection's own socket to the outstation, opened on demand): response fragments are checked
 * for well-formedness and relayed while a request is outstanding; unsolicited responses are
 * decided (the conduit's `unsolicited`) and relayed or dropped. Link frames without application
 * data (link status, reset, ack) are relayed as they are, both ways.
 *
 * A link or transport error closes the connection (the stream is out of step); a malformed
 * fragment is a `malformed` decision, answered with PARAMETER_ERROR, and the connection stays.
 * Deadlines (slowloris, response timeout, idle) are checked by the proxy's sweep.
 */
import type { Socket } from 'node:net';
import type { Decision, Scope } from '../../policy/types';
import type { AuditEvent, AuditKind } from '../types';
import { LinkFrame, LinkSplitter, type LinkFrameHandler } from './link';
import { UpstreamSide, type UpstreamOwner } from './upstream';
import { Reassembler } from './transport';
import { AppControl, AppFragment, parseFragment } from './app';
import { dnp3Function, FC } from './functions';
import { auditFields } from './audit-fields';
import { deniedAnswer } from './answers';
import type { Dnp3Context } from './context';
import { HeldBucket } from '../modbus-tcp/rate-limit';

/** A complete fragment's link frames: copies kept by the reassembler, or the one frame it came in (still in the splitter's buffer). */
type Frames = readonly Buffer[] | LinkFrame;

const MALFORMED: Decision = Object.freeze({ decision: 'deny', conduit: null, reason: 'malformed', identity: null });

export class Dnp3Connection implements LinkFrameHandler, UpstreamOwner {
  private readonly link = new LinkSplitter(this);
  private readonly reasm: Reassembler;
  private up: UpstreamSide | null = null;
  /** The request waiting for its response: function, sequence, when forwarded (0: none). */
  private outFn = -1;
  private outSeq = -1;
  private outAt = 0;
  /** A multi-fragment response is in progress (its next fragment is expected). */
  private responding = false;
  private partialSince = 0;
  private lastActivity: number;
  private paused = false;
  private requests = 0;
  private upConnectAt = 0;
  private readonly bucket: HeldBucket;
  /** The master's chunk being split (node hands each read out in a buffer of its own, never reused). */
  private chunk: Buffer | null = null;
  closedFlag = false;

  constructor(private readonly ctx: Dnp3Context, readonly socket: Socket, readonly src: string, readonly srcPort: number, private readonly scope: Scope) {
    this.reasm = new Reassembler(ctx.maxFragment);
    this.bucket = new HeldBucket(ctx.rate, src);
    this.lastActivity = ctx.now();
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.resume());
    socket.on('error', () => { /* 'close' follows */ });
    socket.on('close', () => this.onClientClose());
  }

  /** The master closed: a frame or fragment it started and never finished is a length lie, audited. */
  private onClientClose(): void {
    if (this.closedFlag) return;
    const inFrame = this.link.partialBytes, inFragment = this.reasm.held;
    if (inFrame > 0 || inFragment > 0) {
      this.ctx.stats.malformed++;
      this.audit('malformed', inFrame > 0 ? `connection closed inside a link frame (${inFrame} bytes of it received)` : `connection closed inside an application fragment (${inFragment} bytes of it received)`);
    }
    this.close('client closed the connection');
  }

  /** Requests forwarded and not yet answered (0 or 1: a DNP3 master has one at a time). */
  get inFlight(): number { return this.outFn >= 0 ? 1 : 0; }

  private onData(chunk: Buffer): void {
    if (this.closedFlag) return;
    this.chunk = chunk;
    try {
      this.link.push(chunk);
    } catch (err) {
      this.chunk = null;
      this.fault(err);
      return;
    }
    this.chunk = null;
    if (this.closedFlag) return;
    const partial = this.link.partialBytes > 0 || this.reasm.held > 0;
    if (!partial) this.partialSince = 0;
    else if (this.partialSince === 0) this.partialSince = this.ctx.now();
  }

  /** LinkFrameHandler: one frame from the master. */
  onLinkFrame(f: LinkFrame): boolean {
    this.lastActivity = this.ctx.now();
    if (f.dataLength === 0 || !f.primary) { // link service frames carry no request
      this.ctx.stats.linkFrames++;
      this.toUpstream(this.masterBytes(f));
      return !this.closedFlag;
    }
    // A fragment in one frame (every poll) is forwarded as that frame: the reassembler keeps no copy.
    const whole = f.wholeFragment;
    const r = this.reasm.push(f.src, f.dest, f.data, f.dataLength, whole ? undefined : f.rawView());
    if (r.kind === 'malformed') { this.malformed(r.message); return false; }
    if (r.kind === 'fragment') this.onRequest(r.data, r.offset, r.length, whole ? f : r.frames, r.src, r.dest);
    return !this.closedFlag;
  }

  /**
   * A frame from the master as received, to forward: where it lay whole in the master's chunk,
   * that chunk (when the frame is all of it) or the part of it the frame is, no copy; else a copy.
   * Only the frame's own bytes: a chunk's other frames are decided on their own.
   */
  private masterBytes(f: LinkFrame): Buffer {
    const chunk = this.chunk;
    if (chunk === null || f.buf !== chunk) return f.rawCopy();
    return f.at === 0 && f.rawLength === chunk.length ? chunk : chunk.subarray(f.at, f.at + f.rawLength);
  }

  onLinkMalformed(message: string): void {
    this.malformed(message);
  }

  /** One request fragment, data[off .. off + len), and the frames it came in. */
  private onRequest(data: Buffer, off: number, len: number, frames: Frames, source: number, destination: number): void {
    const ctx = this.ctx;
    const stats = ctx.stats;
    stats.requests++;
    this.requests++;
    const now = ctx.now();
    const f = ctx.fragment;
    const problem = parseFragment(data, off, len, f);
    const fields = auditFields(f, source, destination, problem === null ? ctx.objectsText.of(f, data, off, len) : undefined);
    let decision: Decision;
    if (problem !== null || (f.known && dnp3Function(f.fn)?.response === true)) {
      decision = MALFORMED;
    } else {
      f.source = source;
      f.destination = destination;
      decision = ctx.decider.dnp3(this.scope, f, now);
      if (decision.decision === 'allow' && ctx.limits !== undefined && decision.conduit !== null) {
        const bucket = this.bucket.of(decision.conduit, this.scope.policyVersion, ctx.limits, now);
        if (bucket !== null && !bucket.take(now)) {
          stats.rateLimited++;
          decision = { decision: 'deny', conduit: decision.conduit, reason: 'rate-limited', identity: decision.identity };
        }
      }
      const who = decision.identity ?? this.scope.identity ?? this.src;
      if (decision.decision === 'allow' && f.fn === FC.OPERATE && !ctx.selects.operate(who, source, destination, data, off + 2, len - 2, now)) {
        decision = decision.monitor === true ? decision : { decision: 'deny', conduit: decision.conduit, reason: 'select-required', identity: decision.identity };
      }
      if (decision.decision === 'allow' && f.fn === FC.SELECT) ctx.selects.select(who, source, destination, data, off + 2, len - 2, now);
    }
    ctx.emit({
      kind: 'decision', at: now, source: ctx.name, decision, policyVersion: this.scope.policyVersion,
      src: this.src, srcPort: this.srcPort, asset: ctx.asset, port: ctx.servicePort, protocol: 'dnp3', dnp3: fields,
      message: problem !== null ? problem : decision.monitor === true ? `monitor: would deny (${decision.reason})` : undefined,
    });
    if (decision.decision !== 'allow') {
      stats.denied++;
      if (problem !== null) stats.malformed++;
      this.answer(data, off, len, f, source, destination, decision);
      return;
    }
    stats.allowed++;
    if (decision.monitor === true) stats.monitored++;
    if (dnp3Function(f.fn)?.answer === true) {
      this.outFn = f.fn;
      this.outSeq = f.seq;
      this.outAt = now;
    }
    if (frames instanceof LinkFrame) this.toUpstream(this.masterBytes(frames));
    else for (const fr of frames) this.toUpstream(fr);
    stats.forwarded++;
  }

  /** Answers a denied request locally (the outstation never sees it); no-ack functions get nothing. */
  private answer(data: Buffer, off: number, len: number, f: AppFragment, source: number, destination: number, d: Decision): void {
    const bytes = deniedAnswer(data, off, len, f, source, destination, d.reason);
    if (bytes !== null) this.toClient(bytes);
  }

  // ---- upstream ----------------------------------------------------------------------------

  private toUpstream(bytes: Buffer): void {
    const ctx = this.ctx;
    let up = this.up;
    if (up === null) {
      if (ctx.upstreamDownUntil > ctx.now()) { ctx.stats.upstreamFailures++; return; }
      up = this.openUpstream();
    }
    up.socket.write(bytes);
    if (up.socket.writableLength > ctx.maxBufferedBytes) this.pause();
  }

  private toClient(bytes: Buffer): void {
    this.socket.write(bytes);
    if (this.socket.writableLength > this.ctx.maxBufferedBytes) this.pause();
  }

  private openUpstream(): UpstreamSide {
    const ctx = this.ctx;
    const up = new UpstreamSide(this, { host: ctx.upstreamHost, port: ctx.upstreamPort, maxFragment: ctx.maxFragment });
    this.up = up;
    this.upConnectAt = ctx.now();
    return up;
  }

  onUpstreamData(up: UpstreamSide, buf: Uint8Array, n: number): void {
    if (this.up !== up || this.closedFlag) return;
    try { up.link.push(buf, 0, n); } catch (err) { this.fault(err); }
  }

  onUpstreamDrain(up: UpstreamSide): void {
    if (this.up === up) this.resume();
  }

  /** One frame from the outstation. */
  onUpstreamFrame(up: UpstreamSide, f: LinkFrame): boolean {
    if (this.up !== up || this.closedFlag) return false;
    if (f.dataLength === 0 || !f.primary) {
      this.ctx.stats.linkFrames++;
      this.toClient(f.rawCopy());
      return true;
    }
    const whole = f.wholeFragment;
    const r = up.reasm.push(f.src, f.dest, f.data, f.dataLength, whole ? undefined : f.rawView());
    if (r.kind === 'malformed') { this.onUpstreamMalformed(up, r.message); return false; }
    if (r.kind === 'fragment') this.onResponse(r.data, r.offset, r.length, whole ? f : r.frames, r.src, r.dest);
    return this.up === up && !this.closedFlag;
  }

  /** One fragment from the outstation, data[off .. off + len). */
  private onResponse(data: Buffer, off: number, len: number, frames: Frames, outstation: number, master: number): void {
    const ctx = this.ctx;
    const f = ctx.fragment;
    let problem = parseFragment(data, off, len, f);
    if (problem === null && (!f.known || !f.isResponse)) problem = `function ${f.fn} from the outstation is not a response`;
    if (problem !== null) {
      ctx.stats.upstreamMalformed++;
      this.audit('malformed', `upstream: ${problem}`, { direction: 'upstream' });
      return;
    }
    if (f.fn === FC.UNSOLICITED_RESPONSE) {
      const now = ctx.now();
      f.source = master;
      f.destination = outstation;
      const decision = ctx.decider.dnp3(this.scope, f, now);
      ctx.emit({
        kind: 'decision', at: now, source: ctx.name, decision, policyVersion: this.scope.policyVersion,
        src: this.src, srcPort: this.srcPort, asset: ctx.asset, port: ctx.servicePort, protocol: 'dnp3',
        dnp3: auditFields(f, master, outstation), message: 'unsolicited response',
      });
      if (decision.decision !== 'allow') { ctx.stats.unsolicitedDenied++; return; }
      ctx.stats.unsolicited++;
      this.relay(frames);
      return;
    }
    const fir = (f.control & AppControl.FIR) !== 0, fin = (f.control & AppControl.FIN) !== 0;
    const answers = this.outFn >= 0 && fir && f.seq === this.outSeq;
    if (!answers && !(this.responding && !fir)) {
      ctx.stats.unexpectedResponses++;
      this.audit('connection', `response (sequence ${f.seq}) from the outstation answers no outstanding request: dropped`);
      return;
    }
    this.outFn = -1;
    this.responding = !fin;
    this.lastActivity = ctx.now();
    ctx.stats.responses++;
    this.relay(frames);
  }

  /** Relays a response fragment's frames to the master. */
  private relay(frames: Frames): void {
    if (frames instanceof LinkFrame) this.toClient(frames.rawCopy());
    else for (const fr of frames) this.toClient(fr);
  }

  onUpstreamMalformed(up: UpstreamSide, message: string): void {
    if (this.up !== up) return;
    this.ctx.stats.upstreamMalformed++;
    this.audit('malformed', `upstream: ${message}`, { direction: 'upstream' });
    this.dropUpstream();
  }

  onUpstreamClose(up: UpstreamSide): void {
    if (this.up !== up || this.closedFlag) return;
    if (up.connecting) {
      this.ctx.upstreamDownUntil = this.ctx.now() + 1_000;
      this.ctx.stats.upstreamFailures++;
      this.audit('connection', `upstream ${this.ctx.upstreamHost}:${this.ctx.upstreamPort} unreachable (${up.errorCode ?? 'closed'})`);
    } else if (this.outFn >= 0) {
      this.ctx.stats.upstreamFailures++;
      this.audit('connection', `upstream closed with a request outstanding (${up.errorCode ?? 'closed'})`);
    }
    this.dropUpstream();
  }

  private dropUpstream(): void {
    const up = this.up;
    if (up === null) return;
    this.up = null;
    up.link.close();
    up.socket.destroy();
    this.outFn = -1;
    this.responding = false;
    this.resume();
  }

  // ---- flow control, deadlines, close ------------------------------------------------------

  private pause(): void {
    if (!this.paused) { this.paused = true; this.socket.pause(); this.up?.socket.pause(); }
  }

  private resume(): void {
    if (!this.paused || this.closedFlag) return;
    if (this.socket.writableLength > this.ctx.maxBufferedBytes || (this.up !== null && this.up.socket.writableLength > this.ctx.maxBufferedBytes)) return;
    this.paused = false;
    this.socket.resume();
    this.up?.socket.resume();
  }

  /** stop(): read no more requests. */
  drain(): void {
    this.socket.pause();
  }

  /** Checks this connection's deadlines (called by the proxy's sweep). */
  sweep(now: number): void {
    if (this.closedFlag) return;
    const ctx = this.ctx;
    if (this.partialSince !== 0 && now - this.partialSince >= ctx.frameMs) {
      this.malformed(`frame or fragment not completed within ${ctx.frameMs} ms`);
      return;
    }
    const up = this.up;
    if (up !== null && up.connecting && this.outFn >= 0 && now - this.upConnectAt >= ctx.connectMs) {
      ctx.upstreamDownUntil = now + 1_000;
      ctx.stats.upstreamFailures++;
      this.audit('connection', `upstream ${ctx.upstreamHost}:${ctx.upstreamPort} did not accept within ${ctx.connectMs} ms`);
      this.dropUpstream();
      return;
    }
    if (this.outFn >= 0 && now - this.outAt >= ctx.upstreamMs) {
      ctx.stats.upstreamTimeouts++;
      this.audit('connection', `outstation did not respond to ${dnp3Function(this.outFn)?.name ?? this.outFn} (sequence ${this.outSeq}) within ${ctx.upstreamMs} ms`);
      this.outFn = -1;
      this.lastActivity = now;
      return;
    }
    if (this.outFn < 0 && now - this.lastActivity >= ctx.idleMs) {
      ctx.stats.idleClosed++;
      this.close(`idle for ${ctx.idleMs} ms`);
    }
  }

  private malformed(message: string): void {
    if (this.closedFlag) return;
    this.ctx.stats.malformed++;
    this.audit('malformed', message);
    this.close('malformed input');
  }

  private fault(err: unknown): void {
    this.audit('driver', `internal error handling connection: ${err instanceof Error ? err.message : String(err)}`);
    this.close('internal error');
  }

  private audit(kind: AuditKind, message: string, detail?: Record<string, unknown>): void {
    const e: AuditEvent = {
      kind, at: this.ctx.now(), source: this.ctx.name, policyVersion: this.scope.policyVersion,
      src: this.src, srcPort: this.srcPort, asset: this.ctx.asset, port: this.ctx.servicePort, protocol: 'dnp3', message,
    };
    if (detail !== undefined) e.detail = detail;
    this.ctx.emit(e);
  }

  /** Closes both sockets and records `why`. */
  close(why: string): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.bucket.release();
    this.link.close();
    const up = this.up;
    this.up = null;
    if (up !== null) { up.link.close(); up.socket.destroy(); }
    this.socket.destroy();
    this.ctx.emit({
      kind: 'connection', at: this.ctx.now(), source: this.ctx.name, policyVersion: this.scope.policyVersion,
      src: this.src, srcPort: this.srcPort, asset: this.ctx.asset, port: this.ctx.servicePort, protocol: 'dnp3',
      message: `closed: ${why}`, detail: { requests: this.requests },
    });
    this.ctx.closed(this);
  }
}
