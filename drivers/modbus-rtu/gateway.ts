/**
 * `service: modbus-rtu-gateway`: Modbus/TCP clients from the network, one RTU serial line behind
 * (meters and relays on RS-485). Each client connection is decided once and each request against
 * the policy exactly as the TCP proxy does (same parser, same decider, same audit record); allowed
 * requests go onto the line one transaction at a time (line.ts), denied ones are answered with an
 * exception at once. MBAP transaction ids stay on the TCP side: the line carries unit, PDU, CRC.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Decider, Scope } from '../../policy/types';
import type { AuditEvent, AuditSink, Driver } from '../types';
import { MbapSplitter, type MbapFrameHandler } from '../modbus-tcp/mbap';
import { ModbusRequest } from '../modbus-tcp/pdu';
import { exceptionAdu, ModbusException } from '../modbus-tcp/exception';
import { decideRequest, type RequestContext } from './decide-request';
import { RtuLine, type LineWaiter, type RtuLineStats } from './line';
import { openReopening, openSerial, type ReopeningPort, type SerialLine, type SerialPort } from './serial';
import { LimitedLog } from '../log-limit';

export interface RtuGatewayOptions {
  /** Where Modbus/TCP clients connect (port 0: a free port). */
  listen: { host: string; port: number };
  line: SerialLine;
  /** The asset behind the line and its Modbus service port: the decisions' destination. */
  asset: string;
  servicePort: number;
  decider: Decider;
  audit: AuditSink;
  now: () => number;
  /** responseMs: a unit must answer within this (default 1,000), else 0x0B; turnaroundMs after a broadcast (default 100). */
  timeouts?: { responseMs?: number; turnaroundMs?: number };
  /** Transactions queued for the line at most (default 32; beyond: exception 06). */
  maxQueue?: number;
  /** Opens the line (default: stty + the device). */
  open?: (line: SerialLine) => Promise<SerialPort>;
  name?: string;
  /** The daemon's log for line trouble (timeouts, bad CRCs, stray replies), rate-limited here; the audit log keeps every one. */
  log?: (line: string) => void;
  /** The device went away (`down`, with why) or is open again (`up`): the daemon's alarm. */
  onLine?: (up: boolean, why?: string) => void;
  /** How often a lost device is tried again (default 2,000 ms). */
  reopenMs?: number;
}

export interface RtuGateway extends Driver {
  address(): AddressInfo;
  readonly stats: Readonly<RtuLineStats> & { clients: number; denied: number; malformed: number };
}

const tagOf = (tid: number, unit: number, fn: number): number => tid + unit * 0x10000 + fn * 0x1000000;

class GatewayClient implements MbapFrameHandler, LineWaiter {
  private readonly splitter = new MbapSplitter(this);
  private readonly req = new ModbusRequest();
  closed = false;

  constructor(private readonly gw: GatewayCore, readonly socket: Socket, readonly src: string, readonly srcPort: number, private readonly scope: Scope) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => { if (!this.closed) this.splitter.push(chunk, 0); });
    socket.on('error', () => undefined);
    socket.on('close', () => this.close('client closed the connection'));
  }

  onFrame(buf: Buffer, off: number, len: number): boolean {
    const tid = (buf[off] << 8) | buf[off + 1];
    const unit = buf[off + 6];
    const v = decideRequest(this.gw.ctx, this.scope, this.req, buf, off + 7, len - 7, unit, this);
    if ('problem' in v) { this.malformed(v.problem); return false; }
    const fn = buf[off + 7];
    if ('exception' in v) {
      this.gw.denied++;
      this.socket.write(exceptionAdu(tid, unit, fn, v.exception));
      return true;
    }
    if (!this.gw.port!.up) { // the adapter is gone: the path to the units is unavailable (not a unit's silence)
      this.socket.write(exceptionAdu(tid, unit, fn, ModbusException.GatewayPathUnavailable));
      return true;
    }
    if (!this.gw.line!.enqueue(this, tagOf(tid, unit, fn), unit, buf, off + 7, off + len)) {
      this.socket.write(exceptionAdu(tid, unit, fn, ModbusException.ServerDeviceBusy));
    }
    return true;
  }

  onMalformed(message: string): void { this.malformed(message); }

  answered(pdu: Buffer, offset: number, length: number, tag: number): void {
    if (this.closed) return;
    const b = Buffer.allocUnsafe(7 + length);
    b[0] = (tag >> 8) & 0xff; b[1] = tag & 0xff; b[2] = 0; b[3] = 0;
    b[4] = (length + 1) >> 8; b[5] = (length + 1) & 0xff; b[6] = (tag >>> 16) & 0xff;
    pdu.copy(b, 7, offset, offset + length);
    this.socket.write(b);
  }

  timedOut(tag: number): void {
    if (!this.closed) this.socket.write(exceptionAdu(tag & 0xffff, (tag >>> 16) & 0xff, Math.floor(tag / 0x1000000), ModbusException.GatewayTargetFailedToRespond));
  }

  private malformed(message: string): void {
    this.gw.malformed++;
    this.gw.event('malformed', message, this);
    this.close('malformed input');
  }

  close(why: string): void {
    if (this.closed) return;
    this.closed = true;
    this.splitter.close();
    this.gw.line?.forget(this);
    this.socket.destroy();
    this.gw.event('connection', `closed: ${why}`, this);
    this.gw.clients.delete(this);
  }
}

class GatewayCore {
  line: RtuLine | null = null;
  port: ReopeningPort | null = null;
  readonly clients = new Set<GatewayClient>();
  denied = 0;
  malformed = 0;
  constructor(readonly ctx: RequestContext, readonly o: RtuGatewayOptions) {}
  event(kind: AuditEvent['kind'], message: string, peer?: { src: string; srcPort: number }): void {
    this.ctx.emit({ kind, at: this.ctx.now(), source: this.ctx.name, src: peer?.src, srcPort: peer?.srcPort, asset: this.o.asset, port: this.o.servicePort, protocol: 'modbus', message });
  }

  /** A TCP client: one connect decision; an allowed client is served while the line is open, any other is closed. */
  readonly accept = (socket: Socket): void => {
    const { o, ctx } = this;
    const src = (socket.remoteAddress ?? '').replace(/^::ffff:(?=\d+\.)/, '');
    const srcPort = socket.remotePort ?? 0;
    const at = o.now();
    const { scope, decision } = o.decider.connect({ sourceIp: src, asset: o.asset, port: o.servicePort, protocol: 'modbus' }, at);
    ctx.emit({ kind: 'decision', at, source: ctx.name, decision, policyVersion: scope.policyVersion, src, srcPort, asset: o.asset, port: o.servicePort, protocol: 'modbus', message: 'connect' });
    if (decision.decision !== 'allow' || this.line === null) {
      socket.on('error', () => undefined);
      socket.destroy();
      return;
    }
    this.clients.add(new GatewayClient(this, socket, src, srcPort, scope));
  };

  /** Opens the serial device (reopened after it is lost: requests are answered 0x0A meanwhile) and the RTU master on it. */
  async openLine(limited: LimitedLog | null): Promise<void> {
    const { o } = this;
    const name = this.ctx.name;
    const say = (m: string) => { this.event('connection', m); limited?.say(`${name} ${o.line.device}: ${m}`); };
    const port = await openReopening(o.line, o.open ?? openSerial, {
      down: (why) => { this.event('driver', `serial device lost: ${why}; requests answered 0x0A until it is back`); o.log?.(`${name} ${o.line.device}: serial device lost (${why}); retrying`); o.onLine?.(false, why); },
      up: () => { this.event('driver', 'serial device open again'); o.log?.(`${name} ${o.line.device}: serial device open again`); o.onLine?.(true); },
    }, o.reopenMs);
    this.port = port;
    const t = o.timeouts ?? {};
    this.line = new RtuLine(port, o.line, {
      responseMs: t.responseMs ?? 1_000, turnaroundMs: t.turnaroundMs ?? 100, maxQueue: o.maxQueue ?? 32,
      onEvent: say,
    });
  }

  /** Releases the line (a retry, or another listener, can open it). */
  closeLine(): void {
    this.line?.close();
    this.line = null;
    this.port = null;
  }
}

/** Creates the gateway (call start(): it opens the line, then listens). */
export function createRtuGateway(o: RtuGatewayOptions): RtuGateway {
  if (!o?.line?.device || !o.decider || !o.audit || typeof o.now !== 'function') throw new TypeError('createRtuGateway: line, decider, audit and now() required');
  const name = o.name ?? 'modbus-rtu-gateway';
  const ctx: RequestContext = {
    name, asset: o.asset, servicePort: o.servicePort, decider: o.decider, now: o.now,
    emit: (e) => { try { o.audit.record(e); } catch { /* the sink must not throw; dropped */ } },
  };
  const core = new GatewayCore(ctx, o);
  const limited = o.log ? new LimitedLog({ write: o.log, now: o.now }) : null;
  let server: Server | null = null;
  let bound: AddressInfo | null = null;

  const stats = (): RtuGateway['stats'] => ({
    ...(core.line?.stats ?? { transactions: 0, responses: 0, timeouts: 0, badCrc: 0, torn: 0, unexpected: 0, queueFull: 0 }),
    clients: core.clients.size, denied: core.denied, malformed: core.malformed,
  });

  return {
    name,
    get stats() { return stats(); },
    address(): AddressInfo {
      if (bound === null) throw new TypeError(`${name}: address() called before start() resolved`);
      return bound;
    },
    async start(signal: AbortSignal): Promise<void> {
      if (server !== null) throw new TypeError(`${name}: start() called twice`);
      await core.openLine(limited);
      const srv = createServer({ noDelay: true }, core.accept);
      server = srv;
      try {
        await new Promise<void>((resolve, reject) => {
          srv.once('error', reject);
          srv.listen({ host: o.listen.host, port: o.listen.port }, () => { srv.off('error', reject); resolve(); });
        });
      } catch (e) {
        core.closeLine();
        throw e;
      }
      bound = srv.address() as AddressInfo;
      core.event('driver', `listening on ${bound.address}:${bound.port}, RTU line ${o.line.device} ${o.line.baud} ${o.line.parity} ${o.line.stopBits}`);
      signal.addEventListener('abort', () => { void this.stop(); }, { once: true });
    },
    async stop(): Promise<void> {
      const srv = server;
      if (srv === null) return;
      server = null;
      const closed = new Promise<void>((r) => srv.close(() => r()));
      for (const c of [...core.clients]) c.close('gateway stopped');
      core.closeLine();
      await closed;
      limited?.flush();
      core.event('driver', 'stopped');
    },
  };
}
