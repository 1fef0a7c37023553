/**
 * `zonegate lab rtu --dnp3`: a DNP3 outstation (IEEE 1815 over TCP) for labs, tests and the demo.
 * Points: binary inputs 0-7 and analog inputs 0-3 that change every tick (with events, class 1
 * and 2), counters 0-3 that count, binary outputs 0-7 (CROB g12v1, status g10v2) and analog
 * outputs 0-3 (g41, status g40v1), select-before-operate with a select timeout, time sync (g50v1
 * write), clearing the restart IIN (g80v1 write), delay measurement, unsolicited responses once
 * enabled. Everything else is answered IIN2 NO_FUNC_CODE_SUPPORT. A response larger than one
 * fragment (2,048 bytes, or `maxFragment`) goes out in several, whole object headers each: every
 * fragment but the last asks for a confirmation, and the next one leaves only when it came
 * (IEEE 1815 8.2.2: FIR on the first, FIN on the last, sequence numbers counting up).
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import {
  AppControl, AppFragment, ControlStatus, FC, Iin1, Iin2, LinkControl, analogOutput, encodeFragment, encodeFrames, encodeLinkFrame,
  type HeaderSpec,
} from '../../drivers/dnp3';
import { Dnp3Stream } from './dnp3-stream';

export interface OutstationOptions {
  host: string;
  port: number;
  /** This outstation's link address (default 10). */
  address?: number;
  /** How often points change (default 1,000 ms; 0: never, tests drive tick()). */
  tickMs?: number;
  selectMs?: number;
  now?: () => number;
  /** The largest response fragment (default 2,048: IEEE 1815's default fragment size). */
  maxFragment?: number;
}

export interface Outstation {
  address(): AddressInfo;
  readonly binaryInputs: Uint8Array;
  readonly analogInputs: Int32Array;
  readonly counters: Uint32Array;
  readonly binaryOutputs: Uint8Array;
  readonly analogOutputs: Float64Array;
  /** Every request fragment received (function codes, in order). */
  readonly received: number[];
  /** Controls applied: `g12 3 0x81` / `g41 1 5`. */
  readonly operated: string[];
  /** Changes the inputs once (events queued; unsolicited sent when enabled). */
  tick(): void;
  close(): Promise<void>;
}

interface Peer {
  socket: Socket; master: number; unsolicited: boolean; unsSeq: number; select: { bytes: Buffer; at: number } | null;
  /** A multi-fragment response: the fragments still to send once the master confirms `seq`. */
  rest: { seq: number; fragments: Buffer[] } | null;
}

/** Starts the outstation listening; tick() (or the timer) changes the inputs. */
export async function startOutstation(opts: OutstationOptions): Promise<Outstation> {
  const sim = new OutstationSim(opts);
  const server: Server = createServer((socket) => sim.attach(socket));
  const tickMs = opts.tickMs ?? 1000;
  const timer = tickMs > 0 ? setInterval(() => sim.tick(), tickMs) : null;
  timer?.unref();
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen({ host: opts.host, port: opts.port }, () => resolve()); });
  return {
    address: () => server.address() as AddressInfo,
    binaryInputs: sim.bi, analogInputs: sim.ai, counters: sim.ctr, binaryOutputs: sim.bo, analogOutputs: sim.ao,
    received: sim.received, operated: sim.operated, tick: () => sim.tick(),
    async close() {
      if (timer) clearInterval(timer);
      for (const p of sim.peers) p.socket.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const flagged = (v: number): Buffer => Buffer.from([0x01 | (v ? 0x80 : 0)]);
const i32 = (v: number): Buffer => { const b = Buffer.alloc(5); b[0] = 1; b.writeInt32LE(v | 0, 1); return b; };
const u32 = (v: number): Buffer => { const b = Buffer.alloc(5); b[0] = 1; b.writeUInt32LE(v >>> 0, 1); return b; };
const range = (group: number, variation: number, objs: Buffer[]): HeaderSpec => ({ group, variation, qualifier: 0x00, start: 0, stop: objs.length - 1, data: Buffer.concat(objs) });

/** The outstation's points, events and peers, and its answers to each request. */
class OutstationSim {
  readonly bi = new Uint8Array(8);
  readonly ai = new Int32Array(4);
  readonly ctr = new Uint32Array(4);
  readonly bo = new Uint8Array(8);
  readonly ao = new Float64Array(4);
  readonly received: number[] = [];
  readonly operated: string[] = [];
  readonly peers = new Set<Peer>();
  private readonly self: number;
  private readonly now: () => number;
  private readonly selectMs: number;
  private readonly maxFragment: number;
  private restart = true;
  private ticks = 0;
  private readonly events: { group: number; index: number; data: Buffer }[] = [];

  constructor(opts: OutstationOptions) {
    this.self = opts.address ?? 10;
    this.now = opts.now ?? Date.now;
    this.selectMs = opts.selectMs ?? 10_000;
    this.maxFragment = opts.maxFragment ?? 2048;
  }

  /** A master connected: its link frames and fragments go to onRequest, link services are answered here. */
  attach(socket: Socket): void {
    const self = this.self;
    const p: Peer = { socket, master: 1, unsolicited: false, unsSeq: 0, select: null, rest: null };
    this.peers.add(p);
    const stream = new Dnp3Stream({
      fragment: (f, bytes, src, dest) => { if (dest !== self) return; p.master = src; this.onRequest(p, f, bytes); },
      service: (control, src, dest) => {
        if (dest !== self || (control & LinkControl.PRM) === 0) return;
        const fn = control & 0x0f;
        const reply = fn === LinkControl.REQUEST_LINK_STATUS ? LinkControl.LINK_STATUS : LinkControl.ACK;
        socket.write(encodeLinkFrame({ control: reply, dest: src, src: self }));
      },
      error: () => socket.destroy(),
    });
    socket.on('data', (c: Buffer) => { try { stream.push(c); } catch { socket.destroy(); } });
    socket.on('error', () => undefined);
    socket.on('close', () => this.peers.delete(p));
  }

  private iin(): number {
    return ((this.restart ? Iin1.DEVICE_RESTART : 0) | (this.events.length ? Iin1.CLASS_1_EVENTS : 0)) << 8;
  }

  private static0(): HeaderSpec[] {
    return [
      range(1, 2, [...this.bi].map(flagged)), range(10, 2, [...this.bo].map(flagged)), range(20, 1, [...this.ctr].map(u32)),
      range(30, 1, [...this.ai].map(i32)), range(40, 1, [...this.ao].map((v) => i32(Math.round(v)))),
    ];
  }

  private eventHeaders(): HeaderSpec[] {
    const out: HeaderSpec[] = [];
    for (const g of [2, 32]) {
      const es = this.events.filter((e) => e.group === g);
      if (es.length) out.push({ group: g, variation: 1, qualifier: 0x28, indices: es.map((e) => e.index), objects: es.map((e) => e.data) });
    }
    return out;
  }

  /** The headers in groups that each fit one fragment (whole headers; one too big stays alone). */
  private pack(headers: HeaderSpec[]): HeaderSpec[][] {
    const groups: HeaderSpec[][] = [[]];
    let size = 4; // control, function, IIN
    for (const h of headers) {
      const hs = encodeFragment({ fn: FC.RESPONSE, headers: [h] }).length - 4;
      if (size + hs > this.maxFragment && groups[groups.length - 1].length > 0) { groups.push([]); size = 4; }
      groups[groups.length - 1].push(h);
      size += hs;
    }
    return groups;
  }

  private send(p: Peer, fn: number, seq: number, headers: HeaderSpec[], extraIin = 0, uns = false): void {
    const groups = uns ? [headers] : this.pack(headers);
    const fragments = groups.map((hs, i) => {
      const last = i === groups.length - 1;
      const control = (i === 0 ? AppControl.FIR : 0) | (last ? AppControl.FIN : AppControl.CON) | (uns ? AppControl.UNS | AppControl.CON : 0) | ((seq + i) & 0x0f);
      return encodeFrames({ fragment: encodeFragment({ control, fn, iin: this.iin() | extraIin, headers: hs }), src: this.self, dest: p.master, fromMaster: false });
    });
    p.socket.write(fragments[0]);
    p.rest = fragments.length > 1 ? { seq: seq & 0x0f, fragments: fragments.slice(1) } : null;
  }

  /** The master confirmed fragment `seq` of a multi-fragment response: the next one goes. */
  private confirmed(p: Peer, seq: number): void {
    if (p.rest === null || seq !== p.rest.seq) return;
    const next = p.rest.fragments.shift()!;
    p.rest = p.rest.fragments.length > 0 ? { seq: (seq + 1) & 0x0f, fragments: p.rest.fragments } : null;
    p.socket.write(next);
  }

  /** Echoes each control object with its status (IEEE 1815 11.3.1); `execute` applies the allowed ones. */
  private apply(f: AppFragment, bytes: Buffer, execute: boolean): HeaderSpec[] {
    const headers: HeaderSpec[] = [];
    for (let h = 0; h < f.headers; h++) {
      const g = f.group[h], v = f.variation[h];
      const objects: Buffer[] = [], indices: number[] = [];
      for (let i = f.ptOff[h]; i < f.ptOff[h + 1]; i++) {
        const idx = f.ptIndex[i];
        const at = f.ptData[i];
        const size = g === 12 ? 11 : [5, 3, 5, 9][v - 1];
        const obj = Buffer.from(bytes.subarray(at, at + size));
        const ok = g === 12 ? idx < this.bo.length : idx < this.ao.length;
        obj[size - 1] = ok ? ControlStatus.SUCCESS : ControlStatus.NOT_SUPPORTED;
        if (ok && execute) this.operate(g, idx, f.ptValue[i]);
        objects.push(obj);
        indices.push(idx);
      }
      headers.push({ group: g, variation: v, qualifier: f.qualifier[h], indices, objects, start: f.lo[h], stop: f.hi[h] });
    }
    return headers;
  }

  /** One control applied: a CROB (g12) latches a binary output, an analog output block (g41) sets its value. */
  private operate(group: number, idx: number, value: number): void {
    if (group === 12) {
      const code = value & 0xcf;
      this.bo[idx] = code === 0x03 || code === 0x41 || code === 0x01 ? 1 : 0;
      this.operated.push(`g12 ${idx} 0x${(value & 0xff).toString(16)}`);
    } else {
      this.ao[idx] = value;
      this.operated.push(`g41 ${idx} ${value}`);
    }
  }

  private read(f: AppFragment): HeaderSpec[] {
    const out: HeaderSpec[] = [];
    for (let h = 0; h < f.headers; h++) {
      const g = f.group[h], v = f.variation[h];
      if (g === 60 && v === 1) out.push(...this.static0());
      else if (g === 60) { out.push(...this.eventHeaders()); this.events.length = 0; }
      else { const s = this.static0().find((x) => x.group === g); if (s) out.push(s); }
    }
    return out;
  }

  private onRequest(p: Peer, f: AppFragment, bytes: Buffer): void {
    this.received.push(f.fn);
    const seq = f.seq;
    switch (f.fn) {
      case FC.CONFIRM: return this.confirmed(p, seq);
      case FC.READ: return this.send(p, FC.RESPONSE, seq, this.read(f));
      case FC.WRITE: {
        for (let h = 0; h < f.headers; h++) if (f.group[h] === 80) this.restart = false;
        return this.send(p, FC.RESPONSE, seq, []);
      }
      case FC.SELECT: {
        p.select = { bytes: Buffer.from(bytes.subarray(2)), at: this.now() };
        return this.send(p, FC.RESPONSE, seq, this.apply(f, bytes, false));
      }
      case FC.OPERATE: {
        const ok = p.select !== null && this.now() - p.select.at <= this.selectMs && p.select.bytes.equals(bytes.subarray(2));
        p.select = null;
        const headers = this.apply(f, bytes, ok);
        if (!ok) for (const h of headers) for (const o of h.objects ?? []) o[o.length - 1] = ControlStatus.NO_SELECT;
        return this.send(p, FC.RESPONSE, seq, headers);
      }
      case FC.DIRECT_OPERATE: return this.send(p, FC.RESPONSE, seq, this.apply(f, bytes, true));
      case FC.DIRECT_OPERATE_NO_ACK: this.apply(f, bytes, true); return;
      case FC.ENABLE_UNSOLICITED: p.unsolicited = true; return this.send(p, FC.RESPONSE, seq, []);
      case FC.DISABLE_UNSOLICITED: p.unsolicited = false; return this.send(p, FC.RESPONSE, seq, []);
      case FC.DELAY_MEASURE: return this.send(p, FC.RESPONSE, seq, [{ group: 52, variation: 2, qualifier: 0x07, count: 1, data: Buffer.from([1, 0]) }]);
      default: return this.send(p, FC.RESPONSE, seq, [], Iin2.NO_FUNC_CODE_SUPPORT);
    }
  }

  /** Changes the inputs once (events queued; unsolicited responses to the peers that enabled them). */
  tick(): void {
    const { bi, ai, ctr, events } = this;
    this.ticks++;
    const ticks = this.ticks;
    const b = ticks % bi.length;
    bi[b] ^= 1;
    events.push({ group: 2, index: b, data: flagged(bi[b]) });
    const a = ticks % ai.length;
    ai[a] = Math.round(1000 + 100 * Math.sin(ticks / 5 + a));
    events.push({ group: 32, index: a, data: i32(ai[a]) });
    for (let i = 0; i < ctr.length; i++) ctr[i] += i + 1;
    if (events.length > 64) events.splice(0, events.length - 64);
    for (const p of this.peers) {
      if (!p.unsolicited || p.socket.destroyed) continue;
      this.send(p, FC.UNSOLICITED_RESPONSE, p.unsSeq++, this.eventHeaders(), 0, true);
    }
    if ([...this.peers].some((p) => p.unsolicited)) events.length = 0;
  }
}

export { analogOutput };
