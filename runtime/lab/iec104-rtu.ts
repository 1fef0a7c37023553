/**
 * `zonegate lab rtu --iec104`: an IEC 60870-5-104 controlled station (RTU) for labs, tests and
 * the demo, built on the driver's own codec (drivers/iec104: the reader, window and encoders;
 * no packaged 104 station exists on Debian). Common address 1 (configurable). Points: single
 * points IOA 100-107 (M_SP_NA_1, the state of the breakers) and measured values IOA 200-203
 * (M_ME_NC_1) that change every tick and are sent spontaneously (cause 3) once data transfer is
 * started. Served: general interrogation (C_IC_NA_1: con, the points with cause 20, term), read
 * (C_RD_NA_1), single and double commands on the breakers IOA 1000-1007 (C_SC_NA_1, C_DC_NA_1,
 * and their CP56 variants) and set-points IOA 2000-2003 (C_SE_NA/NB/NC_1) with select/execute
 * (an execute after a select must match it; a select lapses after selectMs), clock sync and
 * test command. Everything else is refused as a station does: cause 44 unknown type, 45 unknown
 * cause, 46 unknown common address, 47 unknown IOA, with the P/N bit.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import {
  CommandKind, Cause, TypeId, UFunction, answerAsdu, controlCauseAllowed, encodeAsdu, measuredFloat, siq, typeName, type Asdu,
} from '../../drivers/iec104';
import { Side } from '../../drivers/iec104/side';

export interface Iec104RtuOptions {
  host: string;
  port: number;
  /** This station's common address (default 1). */
  ca?: number;
  /** How often measured values change (default 1,000 ms; 0: never, tests drive tick()). */
  tickMs?: number;
  selectMs?: number;
  now?: () => number;
}

export interface Iec104Rtu {
  address(): AddressInfo;
  /** Breakers IOA 1000-1007 (also single points IOA 100-107). */
  readonly breakers: Uint8Array;
  /** Measured values IOA 200-203. */
  readonly measured: Float32Array;
  /** Set-points IOA 2000-2003. */
  readonly setpoints: Float64Array;
  /** Every ASDU received: `C_SC_NA_1 act 1003`. */
  readonly received: string[];
  /** Commands executed: `C_SC_NA_1 1003 1`, `C_SE_NC_1 2001 42.5`. */
  readonly operated: string[];
  /** Changes the measured values once (spontaneous to every started master). */
  tick(): void;
  close(): Promise<void>;
}

const BREAKERS = 1000, SETPOINTS = 2000, SINGLE = 100, MEASURED = 200;
const ACT = Cause.ACTIVATION, DEACT = Cause.DEACTIVATION;

/** Starts the station listening; tick() (or the timer) changes the measured values. */
export async function startIec104Rtu(opts: Iec104RtuOptions): Promise<Iec104Rtu> {
  const sim = new RtuSim(opts);
  const server: Server = createServer({ noDelay: true }, (socket) => sim.serve(socket));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: opts.host, port: opts.port }, () => { server.off('error', reject); resolve(); });
  });
  const tickMs = opts.tickMs ?? 1_000;
  // The link's own timers (t1/t2/t3) for every master, and the measured values.
  const timer = setInterval(() => sim.linkTimers(), 250);
  timer.unref();
  const ticker = tickMs > 0 ? setInterval(() => sim.tick(), tickMs) : null;
  ticker?.unref();
  return {
    address: () => server.address() as AddressInfo,
    breakers: sim.breakers, measured: sim.measured, setpoints: sim.setpoints, received: sim.received, operated: sim.operated,
    tick: () => sim.tick(),
    close: async () => {
      clearInterval(timer);
      if (ticker !== null) clearInterval(ticker);
      for (const p of sim.peers) p.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

type Selects = Map<number, { type: number; value: number; at: number }>;
type Reply = (cause: number, negative?: boolean) => void;

/** The station's points and masters, and its answer to each ASDU. */
class RtuSim {
  readonly breakers = new Uint8Array(8);
  readonly measured = new Float32Array([230, 231, 49.98, 12.5]);
  readonly setpoints = new Float64Array(4);
  readonly received: string[] = [];
  readonly operated: string[] = [];
  readonly peers = new Set<Side>();
  private readonly ca: number;
  private readonly now: () => number;
  private readonly selectMs: number;
  private ticks = 0;

  constructor(opts: Iec104RtuOptions) {
    this.ca = opts.ca ?? 1;
    this.now = opts.now ?? Date.now;
    this.selectMs = opts.selectMs ?? 10_000;
  }

  private points(cause: number): Buffer[] {
    const ca = this.ca;
    return [
      encodeAsdu({ typeId: TypeId.M_SP_NA_1, cause, ca, objects: Array.from(this.breakers, (b, i) => ({ ioa: SINGLE + i, element: siq(b as 0 | 1) })) }),
      encodeAsdu({ typeId: TypeId.M_ME_NC_1, cause, ca, objects: Array.from(this.measured, (v, i) => ({ ioa: MEASURED + i, element: measuredFloat(v) })) }),
    ];
  }

  /** A master connected: U frames answered, S frames acknowledged, ASDUs answered; its selects are its own. */
  serve(socket: Socket): void {
    const selects: Selects = new Map();
    const side: Side = new Side(socket, {
      role: 'controlled', window: {}, maxQueued: 1024, now: this.now,
      handler: {
        u: (fn) => {
          if (fn === UFunction.STARTDT_ACT) side.sendU(UFunction.STARTDT_CON);
          else if (fn === UFunction.STOPDT_ACT) side.sendU(UFunction.STOPDT_CON);
          else if (fn === UFunction.TESTFR_ACT) side.sendU(UFunction.TESTFR_CON);
        },
        s: () => side.flush(),
        asdu: (a, f) => { side.flush(); this.answer(side, a, f.asdu(), selects); side.ackIfDue(); },
        refused: (a, f) => { if (a.fault === 'unknown-type') side.sendAsdu(answerAsdu(f.asdu(), { cause: Cause.UNKNOWN_TYPE, negative: true })); else socket.destroy(); },
        closed: () => socket.destroy(),
      },
    });
    this.peers.add(side);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => side.reader.push(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => { this.peers.delete(side); side.close(); });
  }

  private answer(side: Side, a: Asdu, raw: Uint8Array, selects: Selects): void {
    this.received.push(`${typeName(a.typeId)} ${a.cause === ACT ? 'act' : a.cause === DEACT ? 'deact' : `cause ${a.cause}`} ${Array.from(a.ioa.subarray(0, a.count)).join(',')}`);
    const reply: Reply = (cause, negative = false) => { side.sendAsdu(answerAsdu(raw, { cause, negative })); };
    if (a.ca !== this.ca && a.ca !== 0xffff) return reply(Cause.UNKNOWN_COMMON_ADDRESS, true);
    if (!controlCauseAllowed(a.typeId, a.cause)) return reply(a.typeId >= 45 ? Cause.UNKNOWN_CAUSE : Cause.UNKNOWN_TYPE, true);
    const con = a.cause === DEACT ? Cause.DEACTIVATION_CON : Cause.ACTIVATION_CON;
    switch (a.typeId) {
      case TypeId.C_IC_NA_1:
        if (a.ioa[0] !== 0) return reply(Cause.UNKNOWN_IOA, true);
        reply(con);
        if (a.cause === ACT) { for (const p of this.points(Cause.INTERROGATED_STATION)) side.sendAsdu(p); reply(Cause.ACTIVATION_TERM); }
        return;
      case TypeId.C_CS_NA_1: case TypeId.C_TS_TA_1: return reply(con);
      case TypeId.C_RD_NA_1: return this.read(side, a.ioa[0], reply);
      default: return this.command(a, selects, con, reply);
    }
  }

  // C_RD_NA_1: one single point or measured value, cause 5.
  private read(side: Side, i: number, reply: Reply): void {
    const { ca } = this;
    if (i >= SINGLE && i < SINGLE + 8) side.sendAsdu(encodeAsdu({ typeId: TypeId.M_SP_NA_1, cause: Cause.REQUEST, ca, objects: [{ ioa: i, element: siq(this.breakers[i - SINGLE] as 0 | 1) }] }));
    else if (i >= MEASURED && i < MEASURED + 4) side.sendAsdu(encodeAsdu({ typeId: TypeId.M_ME_NC_1, cause: Cause.REQUEST, ca, objects: [{ ioa: i, element: measuredFloat(this.measured[i - MEASURED]) }] }));
    else reply(Cause.UNKNOWN_IOA, true);
  }

  // Commands on the breakers and set-points: IOAs checked, deactivation drops selects, a select is kept, an execute must match its select.
  private command(a: Asdu, selects: Selects, con: number, reply: Reply): void {
    const k = a.command;
    const breaker = k === CommandKind.SINGLE || k === CommandKind.DOUBLE;
    const setpoint = k === CommandKind.NORMALIZED || k === CommandKind.SCALED || k === CommandKind.FLOAT;
    if (!breaker && !setpoint) return reply(Cause.UNKNOWN_TYPE, true);
    const base = breaker ? BREAKERS : SETPOINTS, size = breaker ? 8 : 4;
    for (let i = 0; i < a.count; i++) if (a.ioa[i] < base || a.ioa[i] >= base + size) return reply(Cause.UNKNOWN_IOA, true);
    if (a.cause === DEACT) { for (let i = 0; i < a.count; i++) selects.delete(a.ioa[i]); return reply(con); }
    const t = this.now();
    for (let i = 0; i < a.count; i++) {
      const ioa = a.ioa[i], v = a.value[i];
      if (breaker && k === CommandKind.DOUBLE && v !== 1 && v !== 2) return reply(con, true);
      if (a.select[i] === 1) { selects.set(ioa, { type: a.typeId, value: v, at: t }); continue; }
      const sel = selects.get(ioa);
      if (sel !== undefined && (sel.type !== a.typeId || sel.value !== v || t - sel.at > this.selectMs)) { selects.delete(ioa); return reply(con, true); }
      selects.delete(ioa);
    }
    reply(con);
    if (this.execute(a, breaker)) reply(Cause.ACTIVATION_TERM);
  }

  /** Applies the execute objects of a command (not its selects); true when there was one. */
  private execute(a: Asdu, breaker: boolean): boolean {
    let executed = false;
    for (let i = 0; i < a.count; i++) {
      if (a.select[i] === 1) continue;
      const ioa = a.ioa[i], v = a.value[i];
      if (breaker) this.breakers[ioa - BREAKERS] = a.command === CommandKind.DOUBLE ? (v === 2 ? 1 : 0) : v;
      else this.setpoints[ioa - SETPOINTS] = v;
      this.operated.push(`${typeName(a.typeId)} ${ioa} ${Number.isInteger(v) ? v : Number(v.toPrecision(7))}`);
      executed = true;
    }
    return executed;
  }

  /** The link timers of every master (t1/t2/t3); a master whose link failed is closed. */
  linkTimers(): void {
    const t = this.now();
    for (const p of this.peers) if (p.tick(t) !== null) p.socket.destroy();
  }

  /** Changes the measured values once (spontaneous, cause 3, to every master that started data transfer). */
  tick(): void {
    const m = this.measured;
    const ticks = ++this.ticks;
    m[0] = 230 + Math.sin(ticks / 5) * 2;
    m[1] = 231 + Math.cos(ticks / 7) * 2;
    m[2] = 50 + Math.sin(ticks / 11) * 0.05;
    m[3] = 12.5 + (ticks % 10) / 10;
    const spont = encodeAsdu({ typeId: TypeId.M_ME_NC_1, cause: Cause.SPONTANEOUS, ca: this.ca, objects: Array.from(m, (v, i) => ({ ioa: MEASURED + i, element: measuredFloat(v) })) });
    for (const p of this.peers) if (p.window.started) p.sendAsdu(spont);
  }
}
