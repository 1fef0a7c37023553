// Fuzzing the IEC 104 codec against a plain reference (seeded PRNG; the seed is printed, set
// ZG_FUZZ_SEED to replay): valid conversations are mutated (byte flips, length lies, count
// changes, truncations) and cut at random points; the splitter and the ASDU parser must never
// throw, and must agree with a straightforward whole-buffer reference on which APDUs are read,
// where the stream turns malformed, and every ASDU field and fault. The APCI window is run
// through random sends, acknowledgements, sequence gaps and window overruns against a list model.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  ApciWindow, ApciSplitter, Asdu, parseAsdu, encodeAsdu, encodeIFrame, encodeSFrame, encodeUFrame, UFunction, TypeId,
  qoi, sco, setpointFloat, measuredFloat, siq, cp56, element, type ApciFrame,
} from '../../drivers/iec104';
import { mulberry32 } from '../helpers/prng';
import { refAsdu, refSplit, type RefAsdu } from '../helpers/iec104-reference';

const seed = Number(process.env.ZG_FUZZ_SEED ?? (Date.now() % 2 ** 31));
console.log(`fuzz seed ${seed} (replay with ZG_FUZZ_SEED=${seed})`);
const rnd = mulberry32(seed);
const int = (n: number): number => Math.floor(rnd() * n);

function ourSplit(s: Buffer, cuts: number[]): { frames: string[]; malformed: boolean } {
  const frames: string[] = [];
  let malformed = false;
  const sp = new ApciSplitter({
    onApdu: (f) => { frames.push(f.raw.subarray(0, f.rawLength).toString('hex')); return true; },
    onApciMalformed: () => { malformed = true; },
  });
  let prev = 0;
  for (const c of [...cuts, s.length]) { sp.push(s.subarray(prev, c)); prev = c; }
  return { frames, malformed };
}

function ourAsdu(b: Buffer, a: Asdu): RefAsdu {
  if (!parseAsdu(b, a)) {
    assert.ok(a.message.length > 0);
    return { ok: false, fault: a.fault };
  }
  return { ok: true, type: a.typeId, sq: a.sq, ca: a.ca, cause: a.cause, ioa: Array.from(a.ioa.subarray(0, a.count)) };
}

const SAMPLES: Buffer[] = [
  encodeAsdu({ typeId: TypeId.C_IC_NA_1, cause: 6, ca: 1, objects: [{ ioa: 0, element: qoi() }] }),
  encodeAsdu({ typeId: TypeId.C_SC_NA_1, cause: 6, ca: 1, objects: [{ ioa: 4001, element: sco(1, { select: true }) }] }),
  encodeAsdu({ typeId: TypeId.C_SE_NC_1, cause: 6, ca: 3, objects: [{ ioa: 5001, element: setpointFloat(2.5) }] }),
  encodeAsdu({ typeId: TypeId.M_ME_NC_1, cause: 20, ca: 1, objects: [{ ioa: 1, element: measuredFloat(1) }, { ioa: 9, element: measuredFloat(2) }] }),
  encodeAsdu({ typeId: TypeId.M_ME_NC_1, sq: true, cause: 20, ca: 1, objects: [0, 1, 2, 3, 4].map((k) => ({ ioa: 100 + k, element: measuredFloat(k) })) }),
  encodeAsdu({ typeId: TypeId.M_SP_TB_1, cause: 3, ca: 1, objects: [{ ioa: 7, element: element(siq(1), cp56(0)) }] }),
  encodeAsdu({ typeId: TypeId.F_SG_NA_1, cause: 13, ca: 1, objects: [{ ioa: 7, element: Buffer.from('010001 03 aabbcc'.replace(/ /g, ''), 'hex') }] }),
];

function mutate(b: Buffer): Buffer {
  const m = Buffer.from(b);
  switch (int(6)) {
    case 0: m[int(m.length)] = int(256); return m;
    case 1: m[1] = int(256); return m; // the count and SQ
    case 2: m[0] = int(256); return m; // the type
    case 3: return m.subarray(0, int(m.length));
    case 4: return Buffer.concat([m, Buffer.from(Array.from({ length: 1 + int(8) }, () => int(256)))]);
    default: for (let k = 0; k < 3; k++) m[int(m.length)] = int(256); return m;
  }
}

test('ASDU parser agrees with the reference on 50,000 mutated ASDUs', () => {
  const a = new Asdu();
  let ok = 0;
  for (let i = 0; i < 50_000; i++) {
    const b = mutate(SAMPLES[int(SAMPLES.length)]);
    const want = refAsdu(b);
    assert.equal(ourAsdu(b, a), want, b.toString('hex'));
    if (want.ok) ok++;
  }
  assert.ok(ok > 1000, `some mutations stay valid (${ok})`);
});

test('APCI splitter agrees with the reference on 5,000 mutated streams cut at random points', () => {
  let malformed = 0;
  for (let i = 0; i < 5_000; i++) {
    const parts: Buffer[] = [];
    for (let k = 0; k < 1 + int(6); k++) {
      const r = int(4);
      parts.push(r === 0 ? encodeUFrame([UFunction.STARTDT_ACT, UFunction.TESTFR_CON, UFunction.STOPDT_CON][int(3)])
        : r === 1 ? encodeSFrame({ recvSeq: int(32768) })
          : encodeIFrame({ sendSeq: int(32768), recvSeq: int(32768), asdu: SAMPLES[int(SAMPLES.length)] }));
    }
    const s = Buffer.concat(parts);
    for (let k = int(3); k > 0; k--) s[int(s.length)] = int(256);
    const cuts = Array.from({ length: int(6) }, () => int(s.length + 1)).sort((x, y) => x - y);
    const want = refSplit(s);
    assert.equal(ourSplit(s, cuts), want, `${s.toString('hex')} cut at ${cuts.join(',')}`);
    if (want.malformed) malformed++;
  }
  assert.ok(malformed > 500, `many streams turn malformed (${malformed})`);
});

test('APCI window agrees with a list model on 2,000 random runs of sends, acks, gaps and overruns (some across the wrap)', () => {
  const frame = (b: Buffer): ApciFrame => { let f: ApciFrame | undefined; new ApciSplitter({ onApdu: (x) => { f = x; return false; }, onApciMalformed: (m) => { throw new Error(m); } }).push(b); return f!; };
  const asdu = SAMPLES[0];
  let refusals = 0;
  for (let run = 0; run < 2_000; run++) {
    const k = 1 + int(12);
    const w = new ApciWindow({ role: 'controlled', k, w: Math.max(1, Math.floor((2 * k) / 3)) }, 0);
    assert.is(w.received(frame(encodeUFrame(UFunction.STARTDT_ACT)), 0), null);
    // The model: the sequence numbers sent and not acknowledged, in order; V(S); V(R).
    // Every 400th run starts 10 frames before the 15-bit wrap, both ways.
    if (run % 400 === 0) {
      const s1 = frame(encodeSFrame({ recvSeq: 0 }));
      for (let n = 0; n < 32758; n++) { w.sendI(0); s1.recvSeq = w.vs; assert.is(w.received(s1, 0), null); }
      const i1 = frame(encodeIFrame({ sendSeq: 0, recvSeq: 0, asdu }));
      for (let n = 0; n < 32758; n++) { i1.sendSeq = w.vr; i1.recvSeq = w.vs; assert.is(w.received(i1, 0), null); w.sendS(); }
    }
    let vs = w.vs, vr = w.vr;
    const unacked: number[] = [];
    // Our last N(R) sent (sendI carries one), and the one sent before each of our I-frames: a peer
    // whose N(R) leaves our frame n unacknowledged had not processed it, nor anything after it.
    let lastAck = vr;
    const before = new Map<number, number>();
    for (let step = 0; step < 40; step++) {
      const r = int(3);
      if (r === 0) {
        assert.is(w.canSend, unacked.length < k);
        if (unacked.length < k) { assert.is(w.sendI(0).sendSeq, vs); before.set(vs, lastAck); unacked.push(vs); vs = (vs + 1) & 0x7fff; lastAck = vr; }
        continue;
      }
      const nr = int(2) === 0 ? [vs, ...unacked][int(unacked.length + 1)] : (vs + int(5) - 2) & 0x7fff;
      const okNr = nr === vs || unacked.includes(nr);
      if (r === 1) {
        const got = w.received(frame(encodeSFrame({ recvSeq: nr })), 0);
        assert.is(got === null, okNr, `S N(R)=${nr} V(S)=${vs} unacked=${unacked.join(',')}: ${got}`);
        if (!okNr) { refusals++; break; }
      } else {
        const ns = int(3) === 0 ? (vr + int(5) - 2) & 0x7fff : vr;
        const seen = unacked.includes(nr) ? before.get(nr)! : lastAck;
        const outstanding = (vr - seen) & 0x7fff;
        const got = w.received(frame(encodeIFrame({ sendSeq: ns, recvSeq: nr, asdu })), 0);
        assert.is(got === null, ns === vr && outstanding < k && okNr, `I N(S)=${ns} V(R)=${vr} N(R)=${nr} outstanding ${outstanding}: ${got}`);
        if (got !== null) { refusals++; break; }
        vr = (vr + 1) & 0x7fff;
      }
      while (unacked.length > 0 && unacked[0] !== nr) unacked.shift();
      if (nr === vs) unacked.length = 0;
      assert.is(w.unacknowledged, unacked.length);
    }
  }
  assert.ok(refusals > 200, `gaps and bad acknowledgements were tried (${refusals})`);
});

test.run();
