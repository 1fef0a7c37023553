/**
 * `zonegate lab master --iec104`: an IEC 60870-5-104 controlling station for labs and tests,
 * built on the driver's own codec (drivers/iec104 side.ts: sequence numbers, k/w windows,
 * t1/t2/t3). It opens the link (STARTDT act/con) and offers general interrogation, single and
 * double commands and set-points (direct, or select then execute), and raw ASDUs; every ASDU
 * received is kept in `received` as plain data.
 */
import { connect, type Socket } from 'node:net';
import {
  Cause, TypeId, UFunction, commandKind, CommandKind, dco, encodeAsdu, qoi, sco, setpointFloat, setpointNormalized, setpointScaled,
  typeName, type Asdu,
} from '../../drivers/iec104';
import { Side } from '../../drivers/iec104/side';

/** One ASDU as the master received it. */
export interface ReceivedAsdu {
  type: number;
  name: string;
  cause: number;
  negative: boolean;
  ca: number;
  ioa: number[];
  /** Commands and set-points: the values; monitor types: not decoded. */
  values?: number[];
}

export interface CommandSpec {
  /** C_SC_NA_1 (default), C_DC_NA_1, C_SE_NA_1, C_SE_NB_1 or C_SE_NC_1. */
  type?: number;
  ioa: number;
  value: number;
  ca?: number;
  select?: boolean;
  /** Deactivation (cause 8) instead of activation. */
  deactivate?: boolean;
}

export interface Iec104Master {
  readonly received: ReceivedAsdu[];
  /** General interrogation: resolves with every ASDU up to the termination (or the negative confirmation). */
  interrogate(ca?: number): Promise<ReceivedAsdu[]>;
  /** One command or set-point: resolves with its confirmation (cause 7/9, or a 44..47 refusal). */
  command(spec: CommandSpec): Promise<ReceivedAsdu>;
  /** Select, then (when the select was confirmed positively) execute: both confirmations. */
  selectExecute(spec: Omit<CommandSpec, 'select'>): Promise<ReceivedAsdu[]>;
  /** STOPDT act/con, then STARTDT act/con: the link stopped and started again. */
  restart(): Promise<void>;
  /** Sends an ASDU as it is; resolves with the first ASDU of the same type answering it. */
  send(asdu: Uint8Array): Promise<ReceivedAsdu>;
  close(): void;
}

function element(type: number, value: number, select: boolean): Uint8Array {
  switch (commandKind(type)) {
    case CommandKind.SINGLE: return sco(value as 0 | 1, { select });
    case CommandKind.DOUBLE: return dco(value, { select });
    case CommandKind.NORMALIZED: return setpointNormalized(value, { select });
    case CommandKind.SCALED: return setpointScaled(value, { select });
    case CommandKind.FLOAT: return setpointFloat(value, { select });
    default: throw new TypeError(`lab master: ${typeName(type)} is not a command this master sends`);
  }
}

function plain(a: Asdu): ReceivedAsdu {
  const r: ReceivedAsdu = { type: a.typeId, name: typeName(a.typeId), cause: a.cause, negative: a.negative, ca: a.ca, ioa: Array.from(a.ioa.subarray(0, a.count)) };
  if (a.command !== CommandKind.NONE) r.values = Array.from(a.value.subarray(0, a.count));
  return r;
}

const CONFIRMATIONS = new Set<number>([Cause.ACTIVATION_CON, Cause.DEACTIVATION_CON, Cause.UNKNOWN_TYPE, Cause.UNKNOWN_CAUSE, Cause.UNKNOWN_COMMON_ADDRESS, Cause.UNKNOWN_IOA]);

type UAct = typeof UFunction.STARTDT_ACT | typeof UFunction.STOPDT_ACT;

export interface Iec104MasterOptions { host: string; port: number; localAddress?: string; timeoutMs?: number; now?: () => number }

/** Connects and starts the link (STARTDT act/con); rejects when the connection fails or the link does not start within timeoutMs. */
export async function connectIec104Master(opts: Iec104MasterOptions): Promise<Iec104Master> {
  const master = new LabMaster(opts);
  await master.open();
  return master;
}

/** One link over one socket: the controlling side (side.ts), the ASDUs received and the requests waiting for theirs. */
class LabMaster implements Iec104Master {
  readonly received: ReceivedAsdu[] = [];
  private readonly waiters: { pred: (r: ReceivedAsdu) => boolean; resolve: (r: ReceivedAsdu) => void }[] = [];
  private readonly timeoutMs: number;
  private readonly socket: Socket;
  private readonly side: Side;
  private readonly timer: NodeJS.Timeout;
  private started: (() => void) | null = null;
  private stopped: (() => void) | null = null;
  private broken: Error | null = null;

  /** Opens the connection (open() waits for it) and the link's t1/t2/t3 tick. */
  constructor(opts: Iec104MasterOptions) {
    const now = opts.now ?? Date.now;
    this.timeoutMs = opts.timeoutMs ?? 5_000;
    const socket = connect({ host: opts.host, port: opts.port, localAddress: opts.localAddress });
    this.socket = socket;
    socket.setNoDelay(true);
    this.side = new Side(socket, {
      role: 'controlling', window: {}, maxQueued: 1024, now,
      handler: {
        u: (fn) => this.onU(fn),
        s: () => this.side.flush(),
        asdu: (a) => this.take(plain(a)),
        // an ASDU this codec cannot parse (a station's answer to an unknown type carries that type)
        refused: (a) => this.take({ type: a.typeId, name: typeName(a.typeId), cause: a.cause, negative: a.negative, ca: a.ca, ioa: [] }),
        closed: (msg) => { this.broken = new Error(`lab master: link broken: ${msg}`); socket.destroy(); },
      },
    });
    socket.on('data', (chunk: Buffer) => this.side.reader.push(chunk));
    socket.on('close', () => { this.broken = this.broken ?? new Error('lab master: connection closed'); });
    this.timer = setInterval(() => { if (this.side.tick(now()) !== null) socket.destroy(); }, 250);
    this.timer.unref();
    socket.on('close', () => clearInterval(this.timer));
  }

  /** Waits for the connection, then starts the link. */
  async open(): Promise<void> {
    const socket = this.socket;
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.once('connect', () => { socket.off('error', reject); resolve(); });
    });
    socket.on('error', () => undefined);
    await this.u(UFunction.STARTDT_ACT);
  }

  private onU(fn: number): void {
    if (fn === UFunction.TESTFR_ACT) this.side.sendU(UFunction.TESTFR_CON);
    else if (fn === UFunction.STARTDT_CON) { this.side.flush(); this.started?.(); }
    else if (fn === UFunction.STOPDT_CON) this.stopped?.();
  }

  private take(r: ReceivedAsdu): void {
    this.side.flush();
    this.received.push(r);
    this.side.ackIfDue();
    const i = this.waiters.findIndex((w) => w.pred(r));
    if (i >= 0) this.waiters.splice(i, 1)[0].resolve(r);
  }

  /** STARTDT or STOPDT act; resolves on its con. */
  private u(act: UAct): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`lab master: no ${act === UFunction.STARTDT_ACT ? 'STARTDT' : 'STOPDT'} con`)), this.timeoutMs);
      const done = (): void => { clearTimeout(t); resolve(); };
      if (act === UFunction.STARTDT_ACT) this.started = done; else this.stopped = done;
      this.side.sendU(act);
    });
  }

  /** The next ASDU `pred` accepts, within timeoutMs. */
  private next(pred: (r: ReceivedAsdu) => boolean, what: string): Promise<ReceivedAsdu> {
    return new Promise((resolve, reject) => {
      if (this.broken) { reject(this.broken); return; }
      const waiters = this.waiters;
      const t = setTimeout(() => {
        const i = waiters.indexOf(w);
        if (i >= 0) waiters.splice(i, 1);
        reject(this.broken ?? new Error(`lab master: no ${what} within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      const w = { pred, resolve: (r: ReceivedAsdu) => { clearTimeout(t); resolve(r); } };
      waiters.push(w);
    });
  }

  async interrogate(ca = 1): Promise<ReceivedAsdu[]> {
    const from = this.received.length;
    const p = this.next((r) => r.type === TypeId.C_IC_NA_1 && (r.cause === Cause.ACTIVATION_TERM || (r.negative && CONFIRMATIONS.has(r.cause))), 'end of interrogation');
    this.side.sendAsdu(encodeAsdu({ typeId: TypeId.C_IC_NA_1, cause: Cause.ACTIVATION, ca, objects: [{ ioa: 0, element: qoi(20) }] }));
    await p;
    return this.received.slice(from);
  }

  command(spec: CommandSpec): Promise<ReceivedAsdu> {
    const type = spec.type ?? TypeId.C_SC_NA_1;
    const p = this.next(answerTo(type, spec.ioa), `confirmation of ${typeName(type)} ${spec.ioa}`);
    this.side.sendAsdu(encodeAsdu({ typeId: type, cause: spec.deactivate ? Cause.DEACTIVATION : Cause.ACTIVATION, ca: spec.ca ?? 1, objects: [{ ioa: spec.ioa, element: element(type, spec.value, spec.select === true) }] }));
    return p;
  }

  async restart(): Promise<void> {
    await this.u(UFunction.STOPDT_ACT);
    await this.u(UFunction.STARTDT_ACT);
  }

  async selectExecute(spec: Omit<CommandSpec, 'select'>): Promise<ReceivedAsdu[]> {
    const sel = await this.command({ ...spec, select: true });
    if (sel.negative) return [sel];
    return [sel, await this.command({ ...spec, select: false })];
  }

  send(asdu: Uint8Array): Promise<ReceivedAsdu> {
    const p = this.next((r) => r.type === asdu[0] && CONFIRMATIONS.has(r.cause), `answer to type ${asdu[0]}`);
    this.side.sendAsdu(asdu);
    return p;
  }

  close(): void {
    clearInterval(this.timer);
    this.side.close();
  }
}

/** An ASDU confirming (or refusing) a command of `type` to `ioa`. */
function answerTo(type: number, ioa: number): (r: ReceivedAsdu) => boolean {
  return (r) => r.type === type && CONFIRMATIONS.has(r.cause) && (r.ioa[0] ?? 0) === ioa;
}
