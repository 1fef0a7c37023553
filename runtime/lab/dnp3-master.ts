/**
 * `zonegate lab master --dnp3`: a DNP3 master (IEEE 1815 over TCP) for labs, tests and the demo:
 * integrity poll (class 1, 2, 3 then 0), class polls, select-before-operate and direct operate of
 * CROBs and analog outputs, time sync, unsolicited enable with confirms. One request at a time.
 */
import { connect, type Socket } from 'node:net';
import {
  AppControl, CrobCode, FC, analogOutput, crob, encodeFragment, encodeFrames, type AppFragment, type HeaderSpec,
} from '../../drivers/dnp3';
import { Dnp3Stream } from './dnp3-stream';

export interface MasterOptions {
  host: string;
  port: number;
  /** Link addresses: the master's own (default 1) and the outstation's (default 10). */
  address?: number;
  outstation?: number;
  /** How long to wait for a response (default 3,000 ms). */
  timeoutMs?: number;
  localAddress?: string;
}

/** A response as the master saw it. */
export interface MasterResponse {
  fn: number;
  seq: number;
  iin: number;
  /** `g30v1 0-3` per object header. */
  objects: string[];
  /** The fragment's bytes (of a multi-fragment response: every fragment's, one after the other). */
  bytes: Buffer;
  /** How many fragments the response came in. */
  fragments: number;
}

export interface Dnp3Master {
  integrityPoll(): Promise<MasterResponse>;
  classPoll(cls: 1 | 2 | 3): Promise<MasterResponse>;
  /** Any request; resolves with the response (or null for functions that get none). */
  request(fn: number, headers?: HeaderSpec[]): Promise<MasterResponse | null>;
  /** CROB on `index`: SELECT then OPERATE (sbo) or DIRECT_OPERATE; resolves with the last response. */
  operate(o: { index: number; code?: number; sbo?: boolean }): Promise<MasterResponse>;
  /** Analog output (g41v2) on `index`. */
  setAnalog(o: { index: number; value: number; sbo?: boolean }): Promise<MasterResponse>;
  /** Unsolicited responses received (each confirmed). */
  readonly unsolicited: MasterResponse[];
  /** Every byte sent (`c`) and received (`s`), in order (for pcaps). */
  readonly wire: { from: 'c' | 's'; bytes: Buffer }[];
  close(): void;
}

function summary(f: AppFragment, bytes: Buffer): MasterResponse {
  const objects: string[] = [];
  for (let h = 0; h < f.headers; h++) objects.push(`g${f.group[h]}v${f.variation[h]}${f.lo[h] >= 0 ? ` ${f.lo[h]}-${f.hi[h]}` : ''}`);
  return { fn: f.fn, seq: f.seq, iin: f.iin, objects, bytes, fragments: 1 };
}

export async function connectMaster(opts: MasterOptions): Promise<Dnp3Master> {
  const self = opts.address ?? 1, outstation = opts.outstation ?? 10, timeoutMs = opts.timeoutMs ?? 3000;
  const socket: Socket = connect({ host: opts.host, port: opts.port, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) });
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
  socket.setNoDelay(true);
  let seq = 0;
  // `seq` is the request's until the first fragment came; then the next fragment's (`got` so far).
  let waiting: { seq: number; resolve: (r: MasterResponse) => void; reject: (e: Error) => void; timer: NodeJS.Timeout; got: MasterResponse | null } | null = null;
  const unsolicited: MasterResponse[] = [], wire: { from: 'c' | 's'; bytes: Buffer }[] = [];
  const write = (b: Buffer): void => { wire.push({ from: 'c', bytes: b }); socket.write(b); };
  const fail = (e: Error): void => { const w = waiting; waiting = null; if (w) { clearTimeout(w.timer); w.reject(e); } };
  const stream = new Dnp3Stream({
    fragment: (f, bytes) => {
      const r = summary(f, bytes);
      if (f.fn === FC.UNSOLICITED_RESPONSE) {
        unsolicited.push(r);
        if ((f.control & AppControl.CON) !== 0) write(encodeFrames({ fragment: Buffer.from([AppControl.FIR | AppControl.FIN | AppControl.UNS | f.seq, FC.CONFIRM]), src: self, dest: outstation, fromMaster: true }));
        return;
      }
      const w = waiting;
      const fir = (f.control & AppControl.FIR) !== 0;
      if (!w || f.seq !== w.seq || fir !== (w.got === null)) return;
      // A response in several fragments (IEEE 1815 8.2.2): confirm each that asks, resolve on FIN.
      if ((f.control & AppControl.CON) !== 0) write(encodeFrames({ fragment: Buffer.from([AppControl.FIR | AppControl.FIN | f.seq, FC.CONFIRM]), src: self, dest: outstation, fromMaster: true }));
      const got: MasterResponse = w.got === null ? r : { ...r, seq: w.got.seq, objects: [...w.got.objects, ...r.objects], bytes: Buffer.concat([w.got.bytes, r.bytes]), fragments: w.got.fragments + 1 };
      if ((f.control & AppControl.FIN) === 0) { w.got = got; w.seq = (f.seq + 1) & 0x0f; return; }
      waiting = null; clearTimeout(w.timer); w.resolve(got);
    },
    service: () => undefined,
    error: (m) => { fail(new Error(`bad frame from the outstation: ${m}`)); socket.destroy(); },
  });
  socket.on('data', (c: Buffer) => { wire.push({ from: 's', bytes: Buffer.from(c) }); stream.push(c); });
  socket.on('error', (e) => fail(e));
  socket.on('close', () => fail(new Error('connection closed')));

  const request = (fn: number, headers: HeaderSpec[] = []): Promise<MasterResponse | null> => {
    if (waiting) return Promise.reject(new Error('a request is already outstanding'));
    const s = seq;
    seq = (seq + 1) & 0x0f;
    const fragment = encodeFragment({ seq: s, fn, headers });
    const noAnswer = fn === FC.CONFIRM || fn === FC.DIRECT_OPERATE_NO_ACK || fn === 8 || fn === 10 || fn === 12 || fn === 33;
    if (noAnswer) { write(encodeFrames({ fragment, src: self, dest: outstation, fromMaster: true })); return Promise.resolve(null); }
    return new Promise<MasterResponse>((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error(`no response to function ${fn} within ${timeoutMs} ms`)), timeoutMs);
      waiting = { seq: s, resolve, reject, timer, got: null };
      write(encodeFrames({ fragment, src: self, dest: outstation, fromMaster: true }));
    });
  };
  const must = async (fn: number, headers?: HeaderSpec[]): Promise<MasterResponse> => (await request(fn, headers))!;
  const control = async (headers: HeaderSpec[], sbo: boolean): Promise<MasterResponse> => {
    if (!sbo) return must(FC.DIRECT_OPERATE, headers);
    const sel = await must(FC.SELECT, headers);
    if ((sel.iin & 0xff) !== 0) return sel;
    return must(FC.OPERATE, headers);
  };
  return {
    integrityPoll: () => must(FC.READ, [2, 3, 4, 1].map((v) => ({ group: 60, variation: v, qualifier: 0x06 }))),
    classPoll: (cls) => must(FC.READ, [{ group: 60, variation: cls + 1, qualifier: 0x06 }]),
    request,
    operate: (o) => control([{ group: 12, variation: 1, qualifier: 0x28, indices: [o.index], objects: [crob({ code: o.code ?? CrobCode.LATCH_ON })] }], o.sbo !== false),
    setAnalog: (o) => control([{ group: 41, variation: 2, qualifier: 0x28, indices: [o.index], objects: [analogOutput(2, o.value)] }], o.sbo !== false),
    unsolicited, wire,
    close: () => socket.destroy(),
  };
}
