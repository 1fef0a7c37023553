/**
 * One master's connection through the IEC 104 proxy. The proxy terminates the APCI on both
 * sides (side.ts): toward the master it is the controlled station, toward the RTU the
 * controlling station, each with its own sequence numbers, k/w windows and t1/t2/t3 timers.
 *
 * Master → proxy: every I-format ASDU is one decision (policy/iec104-decide.ts). Allowed ASDUs
 * are sent on to the station unchanged (new APCI); denied ones are answered locally with the
 * ASDU mirrored back, P/N set, cause 7/9 or 44..47 (answers.ts), and the station never sees
 * them. Both are acknowledged to the master like any I-frame, so its k window never stalls.
 * An unknown type is answered cause 44; broken framing or sequence, or more than k I-frames
 * unacknowledged (a master overrunning its own window, window.ts), closes the connection.
 * STARTDT/STOPDT act are passed to the station and its con back; TESTFR is answered per side.
 * Station → proxy: ASDUs (monitor direction, confirmations, terminations) are relayed to the
 * master; one that does not parse, or a control-direction type that answers nothing the master
 * sent through this connection (station-check.ts), is audited as malformed and dropped; one whose
 * common address no conduit of the master allows is audited as denied and dropped. Relayed ones
 * are counted, not audited one by one: spontaneous data is the bulk of a 104 link.
 * Select before execute: a forwarded select (S/E = 1, cause 6) is remembered per identity (and
 * forgotten when the station refuses it); an execute is marked `selected` when it matches
 * (select-store.ts) before the policy decides, and consumes the select only once it is allowed
 * and forwarded: a refused execute (denied, rate-limited) leaves it for a retry.
 */
import { connect as netConnect, type Socket } from 'node:net';
import type { Decision, Scope } from '../../policy/types';
import type { AuditEvent, AuditKind } from '../types';
import { APCI_BYTES, UFunction, type ApciFrame } from './apci';
import { CommandKind, type Asdu } from './asdu';
import { auditFields } from './audit-fields';
import { refusalAsdu, refusalForReason, type Iec104Refusal } from './answers';
import { selectable } from './classes';
import { Cause } from './type-ids';
import { Side } from './side';
import { Iec104StationCheck } from './station-check';
import type { ApduReader } from './reader';
import type { Iec104Context } from './context';

const STATION = Object.freeze({ direction: 'upstream' });

/** Why the policy keeps a station's ASDU from the master, for the audit message. */
function stationWhy(reason: Decision['reason'], a: Asdu): string {
  switch (reason) {
    case 'unit-not-allowed': return `common address ${a.ca} is not one a conduit of this master allows`;
    case 'address-out-of-range': return `IOA ${Array.from(a.ioa.subarray(0, Math.min(a.count, 8))).join(',')}${a.count > 8 ? ',...' : ''} outside the IOAs the conduits of this master allow`;
    default: return `no conduit of this master carries it now (${reason ?? 'denied'})`;
  }
}

const MALFORMED: Decision = Object.freeze({ decision: 'deny', conduit: null, reason: 'malformed', identity: null });

export class Iec104Connection {
  private readonly client: Side;
  private readonly up: Side;
  private upConnecting = true;
  private upError: string | null = null;
  private readonly openedAt: number;
  private partialSince = 0;
  private paused = false;
  private asdus = 0;
  private readonly station = new Iec104StationCheck();
  closedFlag = false;

  constructor(private readonly ctx: Iec104Context, socket: Socket, readonly src: string, readonly srcPort: number, private readonly scope: Scope) {
    const common = { window: ctx.window, maxQueued: ctx.maxQueued, now: ctx.now };
    this.client = new Side(socket, {
      ...common, role: 'controlled',
      handler: {
        u: (fn) => this.onClientU(fn),
        s: () => this.client.flush(),
        asdu: (a, f) => this.onClientAsdu(a, f),
        refused: (a, f) => this.onClientRefused(a, f),
        closed: (msg) => this.malformed(msg),
      },
    });
    // The station's bytes are read into the proxy's shared buffer (net onread: no allocation per
    // read); the reader copies each APDU out before the callback returns.
    const upSocket = netConnect({
      host: ctx.upstreamHost, port: ctx.upstreamPort,
      onread: { buffer: ctx.readBuffer, callback: (n: number, buf: Uint8Array) => { this.onUpstreamData(buf, n); return true; } },
    });
    this.up = new Side(upSocket, {
      ...common, role: 'controlling',
      handler: {
        u: (fn) => this.onUpstreamU(fn),
        s: () => this.up.flush(),
        asdu: (a, f) => this.onUpstreamAsdu(a, f),
        refused: (a) => this.onUpstreamRefused(a),
        closed: (msg) => this.upstreamBroken(msg),
      },
    });
    this.openedAt = ctx.now();
    socket.setNoDelay(true);
    upSocket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onClientData(chunk));
    socket.on('drain', () => this.resume());
    socket.on('error', () => { /* 'close' follows */ });
    socket.on('close', () => this.onClientClose());
    upSocket.on('connect', () => { this.upConnecting = false; });
    upSocket.on('drain', () => this.resume());
    upSocket.on('error', (err: NodeJS.ErrnoException) => { this.upError = err.code ?? err.message; });
    upSocket.on('close', () => this.onUpstreamClose());
  }

  /** I-frames sent either way and not yet acknowledged. */
  get inFlight(): number { return this.client.window.unacknowledged + this.up.window.unacknowledged; }

  // ---- master side -------------------------------------------------------------------------

  private onClientData(chunk: Buffer): void {
    if (this.closedFlag) return;
    this.corked(this.client.reader, chunk);
    if (this.closedFlag) return;
    if (this.client.reader.partialBytes === 0) this.partialSince = 0;
    else if (this.partialSince === 0) this.partialSince = this.ctx.now();
  }

  private onUpstreamData(chunk: Uint8Array, n: number): void {
    if (!this.closedFlag) this.corked(this.up.reader, chunk, n);
  }

  /**
   * Handles one read with both sides held (side.ts): what it sends either way (forwarded and
   * relayed I-frames, acknowledgements, refusals) leaves in one write per socket, not one per APDU.
   */
  private corked(reader: ApduReader, chunk: Uint8Array, end = chunk.length): void {
    const a = this.client, b = this.up;
    a.hold();
    b.hold();
    try { reader.push(chunk, end); } catch (err) { this.internalError(err); } finally {
      a.release();
      b.release();
    }
  }

  private onClientU(fn: number): void {
    if (fn === UFunction.TESTFR_ACT) this.client.sendU(UFunction.TESTFR_CON);
    else if (fn === UFunction.STARTDT_ACT || fn === UFunction.STOPDT_ACT) this.up.sendU(fn);
  }

  private onClientAsdu(a: Asdu, f: ApciFrame): void {
    const ctx = this.ctx;
    const stats = ctx.stats;
    const now = ctx.now();
    stats.requests++;
    this.asdus++;
    this.client.flush();
    const who = this.scope.identity ?? this.src;
    const activation = a.cause === Cause.ACTIVATION && selectable(a.typeId) && a.command !== CommandKind.NONE;
    let isSelect = activation;
    for (let i = 0; i < a.count && isSelect; i++) isSelect = a.select[i] === 1;
    a.selected = activation && !isSelect && ctx.selects.matches(who, a, now);
    let decision = ctx.decider.iec104(this.scope, a, now);
    if (decision.decision === 'allow' && ctx.limits !== undefined && decision.conduit !== null) {
      const limit = ctx.limits(decision.conduit);
      if (limit !== undefined && !ctx.rate.bucket(decision.conduit, this.src, limit, now).take(now)) {
        stats.rateLimited++;
        decision = { decision: 'deny', conduit: decision.conduit, reason: 'rate-limited', identity: decision.identity };
      }
    }
    this.emitDecision(now, decision, a, decision.monitor === true ? `monitor: would deny (${decision.reason})` : undefined);
    if (decision.decision !== 'allow') {
      stats.denied++;
      this.refuse(f, refusalForReason(decision.reason));
      return;
    }
    stats.allowed++;
    if (decision.monitor === true) stats.monitored++;
    if (isSelect) ctx.selects.select(who, a, now);
    else if (a.cause === Cause.DEACTIVATION && a.command !== CommandKind.NONE && a.command !== CommandKind.BITSTRING) ctx.selects.cancel(who, a);
    if (!this.up.sendAsdu(f.asdu())) { this.overflow('station'); return; }
    if (a.selected) ctx.selects.cancel(who, a); // the execute is on its way: its selects are spent
    this.station.forwarded(a);
    stats.forwarded++;
    this.client.ackIfDue();
    this.backpressure();
  }

  /** An ASDU the parser refused: an unknown type is answered cause 44; malformed bytes close. */
  private onClientRefused(a: Asdu, f: ApciFrame): void {
    const stats = this.ctx.stats;
    stats.requests++;
    stats.malformed++;
    this.emitDecision(this.ctx.now(), MALFORMED, a, a.message);
    if (a.fault !== 'unknown-type') { this.close('malformed ASDU'); return; }
    stats.denied++;
    this.refuse(f, 'unknown-type');
  }

  private refuse(f: ApciFrame, kind: Iec104Refusal): void {
    const answer = refusalAsdu(f.raw, kind, APCI_BYTES, f.rawLength);
    if (answer !== null && !this.client.sendAsdu(answer)) { this.overflow('master'); return; }
    this.client.ackIfDue();
  }

  private emitDecision(now: number, decision: Decision, a: Asdu, message: string | undefined, detail?: Record<string, unknown>): void {
    const e: AuditEvent = {
      kind: 'decision', at: now, source: this.ctx.name, decision, policyVersion: this.scope.policyVersion,
      src: this.src, srcPort: this.srcPort, asset: this.ctx.asset, port: this.ctx.servicePort, protocol: 'iec104',
      iec104: auditFields(a), message,
    };
    if (detail !== undefined) e.detail = detail;
    this.ctx.emit(e);
  }

  // ---- station side ------------------------------------------------------------------------

  private onUpstreamU(fn: number): void {
    if (fn === UFunction.TESTFR_ACT) this.up.sendU(UFunction.TESTFR_CON);
    else if (fn === UFunction.STARTDT_CON || fn === UFunction.STOPDT_CON) {
      this.client.sendU(fn);
      // Data transfer (re)started: what waited for either window goes now.
      if (fn === UFunction.STARTDT_CON) { this.up.flush(); this.client.flush(); }
    }
  }

  private onUpstreamAsdu(a: Asdu, f: ApciFrame): void {
    this.up.flush();
    const ctx = this.ctx;
    const problem = this.station.problem(a);
    if (problem !== null) {
      ctx.stats.upstreamMalformed++;
      this.audit('malformed', `upstream: ${problem}`, { direction: 'upstream', iec104: auditFields(a) });
      this.up.ackIfDue();
      return;
    }
    const now = ctx.now();
    const d = ctx.decider.iec104Station(this.scope, a, now);
    if (d.decision !== 'allow' || d.monitor === true) {
      const why = stationWhy(d.reason, a);
      const monitor = d.decision === 'allow';
      this.emitDecision(now, d, a, monitor ? `monitor: would deny (${d.reason}) from the station: ${why}` : `from the station: ${why}: dropped`, STATION);
      if (!monitor) { ctx.stats.upstreamDenied++; this.up.ackIfDue(); return; }
    }
    // The station refused a select: forget it, so that no execute passes on its strength.
    if (a.negative && a.cause === Cause.ACTIVATION_CON && a.command !== CommandKind.NONE && a.command !== CommandKind.BITSTRING && a.select[0] === 1) {
      this.ctx.selects.cancel(this.scope.identity ?? this.src, a);
    }
    if (!this.client.sendAsdu(f.asdu())) { this.overflow('master'); return; }
    this.ctx.stats.relayed++;
    this.up.ackIfDue();
    this.backpressure();
  }

  private onUpstreamRefused(a: Asdu): void {
    this.ctx.stats.upstreamMalformed++;
    this.audit('malformed', `upstream: ${a.message}`, { direction: 'upstream' });
    this.up.ackIfDue();
  }

  private upstreamBroken(message: string): void {
    this.ctx.stats.upstreamMalformed++;
    this.audit('malformed', `upstream: ${message}`, { direction: 'upstream' });
    this.close('station broke the link');
  }

  private onUpstreamClose(): void {
    if (this.closedFlag) return;
    this.ctx.stats.upstreamFailures++;
    if (this.upConnecting) this.audit('connection', `upstream ${this.ctx.upstreamHost}:${this.ctx.upstreamPort} unreachable (${this.upError ?? 'closed'})`);
    this.close(`station closed the connection (${this.upError ?? 'closed'})`);
  }

  // ---- flow control, deadlines, close ------------------------------------------------------

  private backpressure(): void {
    const max = this.ctx.maxBufferedBytes;
    if (!this.paused && (this.client.writableLength > max || this.up.writableLength > max)) {
      this.paused = true;
      this.client.socket.pause();
      this.up.socket.pause();
    }
  }

  private resume(): void {
    if (!this.paused || this.closedFlag) return;
    const max = this.ctx.maxBufferedBytes;
    if (this.client.writableLength > max || this.up.writableLength > max) return;
    this.paused = false;
    this.client.socket.resume();
    this.up.socket.resume();
  }

  private overflow(toward: string): void {
    this.ctx.stats.queueOverflows++;
    this.close(`${this.ctx.maxQueued} ASDUs queued toward the ${toward}, its k window closed (maxQueued)`);
  }

  /** stop(): read no more from the master. */
  drain(): void {
    this.client.socket.pause();
  }

  /** Checks this connection's deadlines (called by the proxy's sweep): frame completion, connect, t1/t2/t3 both sides. */
  sweep(now: number): void {
    if (this.closedFlag) return;
    const ctx = this.ctx;
    if (this.partialSince !== 0 && now - this.partialSince >= ctx.frameMs) { this.malformed(`APDU not completed within ${ctx.frameMs} ms`); return; }
    if (this.upConnecting) {
      if (now - this.openedAt >= ctx.connectMs) {
        ctx.stats.upstreamFailures++;
        this.audit('connection', `upstream ${ctx.upstreamHost}:${ctx.upstreamPort} did not accept within ${ctx.connectMs} ms`);
        this.close('station unreachable');
      }
      return;
    }
    for (const [side, who] of [[this.client, 'master'], [this.up, 'station']] as const) {
      const problem = side.tick(now);
      if (problem !== null) {
        ctx.stats.t1Expired++;
        this.audit('connection', `${who}: ${problem}`);
        this.close(`${who} ${problem}`);
        return;
      }
    }
  }

  private onClientClose(): void {
    if (this.closedFlag) return;
    const partial = this.client.reader.partialBytes;
    if (partial > 0) {
      this.ctx.stats.malformed++;
      this.audit('malformed', `connection closed inside an APDU (${partial} bytes of it received)`);
    }
    this.close('client closed the connection');
  }

  private malformed(message: string): void {
    if (this.closedFlag) return;
    this.ctx.stats.malformed++;
    this.audit('malformed', message);
    this.close('malformed input');
  }

  private internalError(err: unknown): void {
    this.audit('driver', `internal error handling connection: ${err instanceof Error ? err.message : String(err)}`);
    this.close('internal error');
  }

  private audit(kind: AuditKind, message: string, detail?: Record<string, unknown>): void {
    const e: AuditEvent = {
      kind, at: this.ctx.now(), source: this.ctx.name, policyVersion: this.scope.policyVersion,
      src: this.src, srcPort: this.srcPort, asset: this.ctx.asset, port: this.ctx.servicePort, protocol: 'iec104', message,
    };
    if (detail !== undefined) e.detail = detail;
    this.ctx.emit(e);
  }

  /** Closes both sockets and records `why`. */
  close(why: string): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.client.close();
    this.up.close();
    this.ctx.emit({
      kind: 'connection', at: this.ctx.now(), source: this.ctx.name, policyVersion: this.scope.policyVersion,
      src: this.src, srcPort: this.srcPort, asset: this.ctx.asset, port: this.ctx.servicePort, protocol: 'iec104',
      message: `closed: ${why}`, detail: { asdus: this.asdus },
    });
    this.ctx.closed(this);
  }
}
