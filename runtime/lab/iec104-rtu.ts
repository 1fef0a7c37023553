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

export async function startIec104Rtu(opts: Iec104RtuOptions): Promise<Iec104Rtu> {
  const ca = opts.ca ?? 1;
  const now = opts.now ?? Date.now;
  const selectMs = opts.selectMs ?? 10_000;
  const breakers = new Uint8Array(8), measured = new Float32Array([230, 231, 49.98, 12.5]), setpoints = new Float64Array(4);
  const received: string[] = [], operated: string[] = [];
  const peers = new Set<Side>();
  let ticks = 0;

  const points = (cause: number): Buffer[] => [
    encodeAsdu({ typeId: TypeId.M_SP_NA_1, cause, ca, objects: Array.from(breakers, (b, i) => ({ ioa: SINGLE + i, element: siq(b as 0 | 1) })) }),
    encodeAsdu({ typeId: TypeId.M_ME_NC_1, cause, ca, objects: Array.from(measured, (v, i) => ({ ioa: MEASURED + i, element: measuredFloat(v) })) }),
  ];

  const serve = (socket: Socket): void => {
    const selects = new Map<number, { type: number; value: number; at: number }>();
    const side: Side = new Side(socket, {
      role: 'controlled', window: {}, maxQueued: 1024, now,
      handler: {
        u: (fn) => {
          if (fn === UFunction.STARTDT_ACT) side.sendU(UFunction.STARTDT_CON);
          else if (fn === UFunction.STOPDT_ACT) side.sendU(UFunction.STOPDT_CON);
          else if (fn === UFunction.TESTFR_ACT) side.sendU(UFunction.TESTFR_CON);
        },
        s: () => side.flush(),
        asdu: (a, f) => { side.flush(); answer(side, a, f.asdu(), selects); side.ackIfDue(); },
        refused: (a, f) => { if (a.fault === 'unknown-type') side.sendAsdu(answerAsdu(f.asdu(), { cause: Cause.UNKNOWN_TYPE, negative: true })); else socket.destroy(); },
        closed: () => socket.destroy(),
      },
    });
    peers.add(side);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => side.reader.push(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => { peers.delete(side); side.close(); });
  };

  const answer = (side: Side, a: Asdu, raw: Uint8Array, selects: Map<number, { type: number; value: number; at: number }>): void => {
    received.push(`${typeName(a.typeId)} ${a.cause === ACT ? 'act' : a.cause === DEACT ? 'deact' : `cause ${a.cause}`} ${Array.from(a.ioa.subarray(0, a.count)).join(',')}`);
    const reply = (cause: number, negative = false): void => { side.sendAsdu(answerAsdu(raw, { cause, negative })); };
    if (a.ca !== ca && a.ca !== 0xffff) return reply(Cause.UNKNOWN_COMMON_ADDRESS, true);
    if (!controlCauseAllowed(a.typeId, a.cause)) return reply(a.typeId >= 45 ? Cause.UNKNOWN_CAUSE : Cause.UNKNOWN_TYPE, true);
    const con = a.cause === DEACT ? Cause.DEACTIVATION_CON : Cause.ACTIVATION_CON;
    switch (a.typeId) {
      case TypeId.C_IC_NA_1:
        if (a.ioa[0] !== 0) return reply(Cause.UNKNOWN_IOA, true);
        reply(con);
        if (a.cause === ACT) { for (const p of points(Cause.INTERROGATED_STATION)) side.sendAsdu(p); reply(Cause.ACTIVATION_TERM); }
        return;
      case TypeId.C_CS_NA_1: case TypeId.C_TS_TA_1: return reply(con);
      case TypeId.C_RD_NA_1: {
        const i = a.ioa[0];
        if (i >= SINGLE && i < SINGLE + 8) side.sendAsdu(encodeAsdu({ typeId: TypeId.M_SP_NA_1, cause: Cause.REQUEST, ca, objects: [{ ioa: i, element: siq(breakers[i - SINGLE] as 0 | 1) }] }));
        else if (i >= MEASURED && i < MEASURED + 4) side.sendAsdu(encodeAsdu({ typeId: TypeId.M_ME_NC_1, cause: Cause.REQUEST, ca, objects: [{ ioa: i, element: measuredFloat(measured[i - MEASURED]) }] }));
        else reply(Cause.UNKNOWN_IOA, true);
        return;
      }
      default: break;
    }
    const k = a.command;
    const breaker = k === CommandKind.SINGLE || k === CommandKind.DOUBLE;
    const setpoint = k === CommandKind.NORMALIZED || k === CommandKind.SCALED || k === CommandKind.FLOAT;
    if (!breaker && !setpoint) return reply(Cause.UNKNOWN_TYPE, true);
    const base = breaker ? BREAKERS : SETPOINTS, size = breaker ? 8 : 4;
    for (let i = 0; i < a.count; i++) if (a.ioa[i] < base || a.ioa[i] >= base + size) return reply(Cause.UNKNOWN_IOA, true);
    if (a.cause === DEACT) { for (let i = 0; i < a.count; i++) selects.delete(a.ioa[i]); return reply(con); }
    const t = now();
    for (let i = 0; i < a.count; i++) {
      const ioa = a.ioa[i], v = a.value[i];
      if (breaker && k === CommandKind.DOUBLE && v !== 1 && v !== 2) return reply(con, true);
      if (a.select[i] === 1) { selects.set(ioa, { type: a.typeId, value: v, at: t }); continue; }
      const sel = selects.get(ioa);
      if (sel !== undefined && (sel.type !== a.typeId || sel.value !== v || t - sel.at > selectMs)) { selects.delete(ioa); return reply(con, true); }
      selects.delete(ioa);
    }
    reply(con);
    let executed = false;
    for (let i = 0; i < a.count; i++) {
      if (a.select[i] === 1) continue;
      const ioa = a.ioa[i], v = a.value[i];
      if (breaker) breakers[ioa - BREAKERS] = k === CommandKind.DOUBLE ? (v === 2 ? 1 : 0) : v;
      else setpoints[ioa - SETPOINTS] = v;
      operated.push(`${typeName(a.typeId)} ${ioa} ${Number.isInteger(v) ? v : Number(v.toPrecision(7))}`);
      executed = true;
    }
    if (executed) reply(Cause.ACTIVATION_TERM);
  };

  const server: Server = createServer({ noDelay: true }, serve);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: opts.host, port: opts.port }, () => { server.off('error', reject); resolve(); });
  });
  const tickMs = opts.tickMs ?? 1_000;
  const tick = (): void => {
    ticks++;
    measured[0] = 230 + Math.sin(ticks / 5) * 2;
    measured[1] = 231 + Math.cos(ticks / 7) * 2;
    measured[2] = 50 + Math.sin(ticks / 11) * 0.05;
    measured[3] = 12.5 + (ticks % 10) / 10;
    const spont = encodeAsdu({ typeId: TypeId.M_ME_NC_1, cause: Cause.SPONTANEOUS, ca, objects: Array.from(measured, (v, i) => ({ ioa: MEASURED + i, element: measuredFloat(v) })) });
    for (const p of peers) if (p.window.started) p.sendAsdu(spont);
  };
  // The link's own timers (t1/t2/t3) for every master, and the measured values.
  const timer = setInterval(() => { const t = now(); for (const p of peers) if (p.tick(t) !== null) p.socket.destroy(); }, 250);
  timer.unref();
  const ticker = tickMs > 0 ? setInterval(tick, tickMs) : null;
  ticker?.unref();

  return {
    address: () => server.address() as AddressInfo,
    breakers, measured, setpoints, received, operated, tick,
    close: async () => {
      clearInterval(timer);
      if (ticker !== null) clearInterval(ticker);
      for (const p of peers) p.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
