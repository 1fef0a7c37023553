/**
 * `service: modbus-rtu`: RTU masters on a serial port (a SCADA master or a handheld on the
 * RS-485 bus), a Modbus/TCP upstream behind. The master is the identity the listener names (a
 * serial line has no address); each request is decided and audited like a TCP client's, denied
 * ones are answered with an RTU exception frame (none for broadcasts, section 2.1), allowed ones
 * go upstream as MBAP and the answer comes back as an RTU frame. A master waits for each answer,
 * so there is one transaction at a time; a request arriving while one is upstream is answered 06.
 */
import { connect as netConnect, type Socket } from 'node:net';
import type { Decider, Scope } from '../../policy/types';
import type { AuditSink, Driver } from '../types';
import { MbapSplitter, type MbapFrameHandler } from '../modbus-tcp/mbap';
import { ModbusRequest } from '../modbus-tcp/pdu';
import { ModbusException } from '../modbus-tcp/exception';
import { rtuFrame } from './crc';
import { decideRequest, type RequestContext } from './decide-request';
import { RtuReceiver } from './receiver';
import { bitsPerChar, interFrameMs, rtuRequestLength } from './rtu-frame';
import { openReopening, openSerial, type SerialLine, type SerialPort } from './serial';
import { LimitedLog } from '../log-limit';

export interface RtuServerOptions {
  line: SerialLine;
  /** The policy identity of the master(s) on this line. */
  identity: string;
  /** The asset behind (upstream) and its Modbus service port: the decisions' destination. */
  asset: string;
  servicePort: number;
  upstream: { host: string; port: number };
  decider: Decider;
  audit: AuditSink;
  now: () => number;
  /** An upstream answer must come within this (default 1,000 ms), else exception 0B. */
  timeouts?: { upstreamMs?: number };
  open?: (line: SerialLine) => Promise<SerialPort>;
  name?: string;
  /** The daemon's log for trouble (upstream timeouts, stray replies, dropped serial frames), rate-limited here; the audit log keeps every one. */
  log?: (line: string) => void;
  /** The device went away (`down`, with why) or is open again (`up`): the daemon's alarm. */
  onLine?: (up: boolean, why?: string) => void;
  /** How often a lost device is tried again (default 2,000 ms). */
  reopenMs?: number;
}

export interface RtuServer extends Driver {
  readonly stats: { requests: number; denied: number; forwarded: number; responses: number; timeouts: number; busy: number; discarded: number };
}

class Core implements MbapFrameHandler {
  readonly stats = { requests: 0, denied: 0, forwarded: 0, responses: 0, timeouts: 0, busy: 0, discarded: 0 };
  private readonly req = new ModbusRequest();
  private up: Socket | null = null;
  private upSplitter: MbapSplitter | null = null;
  private tid = 0;
  /** The transaction upstream: its tid, unit and function, or tid -1. */
  private outTid = -1;
  private outUnit = 0;
  private outFn = 0;
  private timer: NodeJS.Timeout | null = null;
  private scope: Scope;
  private readonly peer = { src: '', srcPort: 0 };
  private readonly limited: LimitedLog | null;

  constructor(readonly ctx: RequestContext, readonly o: RtuServerOptions, readonly port: SerialPort) {
    this.peer.src = `serial:${o.line.device}`;
    this.limited = o.log ? new LimitedLog({ write: o.log, now: o.now }) : null;
    this.scope = o.decider.connect({ sourceIp: '', identity: o.identity, asset: o.asset, port: o.servicePort, protocol: 'modbus' }, o.now()).scope;
  }

  /** One request frame from the serial line: unit, PDU, CRC (checked). */
  onRequest(buf: Buffer, len: number): void {
    this.stats.requests++;
    const unit = buf[0];
    const fn = buf[1];
    const v = decideRequest(this.ctx, this.scope, this.req, buf, 1, len - 3, unit, this.peer);
    if ('problem' in v) { this.stats.discarded++; this.event('malformed', `serial: ${v.problem}`); return; }
    if ('exception' in v) { this.stats.denied++; this.reply(unit, fn, v.exception); return; }
    if (this.outTid >= 0) { this.stats.busy++; this.reply(unit, fn, ModbusException.ServerDeviceBusy); return; }
    const up = this.upstream();
    this.tid = (this.tid + 1) & 0xffff;
    const n = len - 3;
    const adu = Buffer.allocUnsafe(7 + n);
    adu[0] = this.tid >> 8; adu[1] = this.tid & 0xff; adu[2] = 0; adu[3] = 0; adu[4] = (n + 1) >> 8; adu[5] = (n + 1) & 0xff; adu[6] = unit;
    buf.copy(adu, 7, 1, 1 + n);
    this.outTid = this.tid; this.outUnit = unit; this.outFn = fn;
    up.write(adu);
    this.stats.forwarded++;
    if (unit === 0) { this.outTid = -1; return; } // a broadcast is not answered
    this.timer = setTimeout(() => this.timeout(), this.o.timeouts?.upstreamMs ?? 1_000);
  }

  private upstream(): Socket {
    if (this.up !== null && !this.up.destroyed) return this.up;
    const s = netConnect({ host: this.o.upstream.host, port: this.o.upstream.port });
    s.setNoDelay(true);
    const splitter = new MbapSplitter(this);
    s.on('data', (chunk: Buffer) => { if (this.up === s) splitter.push(chunk, 0); });
    s.on('error', () => undefined);
    s.on('close', () => { if (this.up === s) { this.up = null; this.upSplitter = null; } });
    this.up = s;
    this.upSplitter = splitter;
    return s;
  }

  /** MbapFrameHandler: an upstream response. */
  onFrame(buf: Buffer, off: number, len: number): boolean {
    const tid = (buf[off] << 8) | buf[off + 1];
    if (tid !== this.outTid || buf[off + 6] !== this.outUnit || (buf[off + 7] & 0x7f) !== this.outFn) {
      this.event('connection', `upstream response (transaction ${tid}) answers no outstanding request: dropped`);
      return true;
    }
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.outTid = -1;
    this.stats.responses++;
    this.port.write(rtuFrame(buf[off + 6], buf, off + 7, off + len));
    return true;
  }

  onMalformed(message: string): void {
    this.event('malformed', `upstream: ${message}`);
    this.up?.destroy();
    this.up = null;
  }

  private timeout(): void {
    this.timer = null;
    if (this.outTid < 0) return;
    this.stats.timeouts++;
    this.event('connection', `upstream did not answer within ${this.o.timeouts?.upstreamMs ?? 1_000} ms: exception 0x0B`);
    this.reply(this.outUnit, this.outFn, ModbusException.GatewayTargetFailedToRespond);
    this.outTid = -1;
  }

  private reply(unit: number, fn: number, code: number): void {
    if (unit === 0) return;
    this.port.write(rtuFrame(unit, Uint8Array.of((fn | 0x80) & 0xff, code)));
  }

  event(kind: 'malformed' | 'connection' | 'driver', message: string): void {
    if (kind !== 'driver') this.limited?.say(`${this.ctx.name} ${this.o.line.device}: ${message}`);
    this.ctx.emit({ kind, at: this.ctx.now(), source: this.ctx.name, src: this.peer.src, asset: this.o.asset, port: this.o.servicePort, protocol: 'modbus', message });
  }

  close(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.limited?.flush();
    this.up?.destroy();
    this.up = null;
    void this.upSplitter;
  }
}

/** Creates the RTU server (start() opens the line). */
export function createRtuServer(o: RtuServerOptions): RtuServer {
  if (!o?.line?.device || !o.decider || !o.audit || typeof o.now !== 'function' || typeof o.identity !== 'string') {
    throw new TypeError('createRtuServer: line, identity, decider, audit and now() required');
  }
  const name = o.name ?? 'modbus-rtu';
  const ctx: RequestContext = {
    name, asset: o.asset, servicePort: o.servicePort, decider: o.decider, now: o.now,
    emit: (e) => { try { o.audit.record(e); } catch { /* the sink must not throw; dropped */ } },
  };
  let core: Core | null = null;
  let receiver: RtuReceiver | null = null;
  let port: SerialPort | null = null;
  const stats = { requests: 0, denied: 0, forwarded: 0, responses: 0, timeouts: 0, busy: 0, discarded: 0 };
  return {
    name,
    get stats() { return core?.stats ?? stats; },
    async start(signal: AbortSignal): Promise<void> {
      if (port !== null) throw new TypeError(`${name}: start() called twice`);
      port = await openReopening(o.line, o.open ?? openSerial, {
        down: (why) => { core?.event('driver', `serial device lost: ${why}; retrying`); o.log?.(`${name} ${o.line.device}: serial device lost (${why}); retrying`); o.onLine?.(false, why); },
        up: () => { receiver?.reset(); core?.event('driver', 'serial device open again'); o.log?.(`${name} ${o.line.device}: serial device open again`); o.onLine?.(true); },
      }, o.reopenMs);
      const c = new Core(ctx, o, port);
      core = c;
      receiver = new RtuReceiver({
        lengthOf: rtuRequestLength,
        gapMs: o.line.interFrameMs ?? interFrameMs(o.line.baud, bitsPerChar(o.line.parity, o.line.stopBits)),
        onFrame: (buf, len) => c.onRequest(buf, len),
        onDiscard: (reason, bytes) => { c.stats.discarded++; c.event('malformed', `serial: dropped ${bytes} byte(s): ${reason}`); },
      });
      const r = receiver;
      port.on('data', (chunk) => r.push(chunk));
      port.on('error', (err) => c.event('driver', `serial: ${err.message}`));
      c.event('driver', `RTU line ${o.line.device} ${o.line.baud} ${o.line.parity} ${o.line.stopBits} for ${o.identity}, upstream ${o.upstream.host}:${o.upstream.port}`);
      signal.addEventListener('abort', () => { void this.stop(); }, { once: true });
    },
    async stop(): Promise<void> {
      if (port === null) return;
      receiver?.close();
      core?.close();
      port?.close();
      port = null;
      core?.event('driver', 'stopped');
    },
  };
}
