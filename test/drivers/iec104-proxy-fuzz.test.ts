// Fuzzing the IEC 104 proxy through real sockets (seeded PRNG; the seed is printed, set
// ZG_FUZZ_SEED to replay): well-formed conversations (STARTDT, allowed and denied ASDUs with
// their sequence numbers, S-frames, TESTFR) written whole, in random pieces or a byte at a
// time, and broken ones: N(S) gaps and repeats, window overruns (more than k I-frames in one
// write, none acknowledged), N(R) of frames never sent, I-frames before
// STARTDT, bad start bytes, APDU lengths out of range, ASDU object counts that do not fit,
// unknown types, garbage, an APDU cut off by the close. Between the real policy engine, the lab
// RTU and a lab master interrogating on its own connection the whole time: no crash, no internal
// error, the interrogating master unaffected, every bad stream has a malformed record in the
// audit log (its own source port) and every good stream none.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  encodeAsdu, encodeIFrame, encodeSFrame, encodeUFrame, Cause, TypeId, UFunction, qoi, sco, dco, setpointFloat,
  type Iec104Proxy,
} from '../../drivers/iec104';
import type { AuditEvent } from '../../drivers/types';
import { startIec104Rig, type Iec104Rig } from '../helpers/iec104-rig';
import { connectIec104Master } from '../../runtime/lab/iec104-master';
import { mulberry32 } from '../helpers/prng';
import { fuzzSender, malformedByConnection, type Sent } from '../helpers/proxy-fuzz';

const SCADA = '127.10.0.2', HMI = '127.10.0.5';

const seed = Number(process.env.ZG_FUZZ_SEED ?? (Date.now() % 2 ** 31));
console.log(`iec104 proxy fuzz seed ${seed} (replay with ZG_FUZZ_SEED=${seed})`);
const rnd = mulberry32(seed);
const int = (n: number): number => Math.floor(rnd() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];

/** A well-formed ASDU from SCADA: allowed or denied by the policy, never malformed. */
function asdu(): Buffer {
  const ioa = 995 + int(16), ca = rnd() < 0.8 ? 1 : 2, select = rnd() < 0.5;
  switch (int(6)) {
    case 0: return encodeAsdu({ typeId: TypeId.C_IC_NA_1, cause: pick([Cause.ACTIVATION, Cause.DEACTIVATION, Cause.REQUEST]), ca, objects: [{ ioa: 0, element: qoi() }] });
    case 1: return encodeAsdu({ typeId: TypeId.C_SC_NA_1, cause: Cause.ACTIVATION, ca, objects: [{ ioa, element: sco(int(2) as 0 | 1, { select }) }] });
    case 2: return encodeAsdu({ typeId: TypeId.C_DC_NA_1, cause: pick([Cause.ACTIVATION, Cause.DEACTIVATION]), ca, objects: [{ ioa, element: dco(1 + int(2), { select }) }] });
    case 3: return encodeAsdu({ typeId: TypeId.C_SE_NC_1, cause: Cause.ACTIVATION, ca, objects: [{ ioa: 2000 + int(6), element: setpointFloat(rnd() * 200 - 50) }] });
    case 4: return encodeAsdu({ typeId: TypeId.C_SC_NA_1, cause: Cause.ACTIVATION, ca, objects: [1000, 1001, 1002].map((i) => ({ ioa: i, element: sco(1, { select: true }) })) });
    default: return encodeAsdu({ typeId: TypeId.C_RP_NA_1, cause: Cause.ACTIVATION, ca, objects: [{ ioa: 0, element: Uint8Array.of(1) }] });
  }
}

/** STARTDT act, then n I-frames in sequence (N(R) 0: the client acknowledges nothing), S-frames and TESTFR between. */
function conversation(n: number, asduOf: (i: number) => Buffer = () => asdu(), seqOf: (i: number) => number = (i) => i): Buffer[] {
  const parts: Buffer[] = [encodeUFrame(UFunction.STARTDT_ACT)];
  for (let i = 0; i < n; i++) {
    parts.push(encodeIFrame({ sendSeq: seqOf(i), recvSeq: 0, asdu: asduOf(i) }));
    if (rnd() < 0.2) parts.push(encodeSFrame({ recvSeq: 0 }));
    if (rnd() < 0.1) parts.push(encodeUFrame(UFunction.TESTFR_ACT));
  }
  return parts;
}

const KINDS = ['clean', 'one-byte', 'gap', 'overrun', 'bad-nr', 'stopped', 'start-byte', 'length', 'count', 'unknown-type', 'garbage', 'cut'] as const;
type Kind = typeof KINDS[number];
const BAD = new Set<Kind>(['gap', 'overrun', 'bad-nr', 'stopped', 'start-byte', 'length', 'count', 'unknown-type', 'garbage', 'cut']);

interface Plan { kind: Kind; stream: Buffer; oneByte: boolean; proxyCloses: boolean; whole: boolean }
/** The proxy's k (the default): a master may have this many I-frames unacknowledged, not one more. */
const K = 12;

function plan(kind: Kind): Plan {
  const n = 1 + int(8);
  let parts: Buffer[];
  let proxyCloses = true;
  switch (kind) {
    case 'clean': case 'one-byte': parts = conversation(n); proxyCloses = false; break;
    case 'gap': { const at = int(n); parts = conversation(n + 1, undefined, (i) => (i > at ? i + 1 + int(3) : i)); break; }
    case 'overrun': parts = conversation(K + 1 + int(4)); break;
    case 'bad-nr': parts = [...conversation(n), encodeSFrame({ recvSeq: 200 + int(1000) })]; break;
    case 'stopped': parts = conversation(n).slice(1); break;
    case 'start-byte': { parts = conversation(n); const last = Buffer.from(parts[parts.length - 1]); last[0] = 0x69 + int(100); parts[parts.length - 1] = last; break; }
    case 'length': { parts = conversation(n); const i = 1 + int(parts.length - 1); const b = Buffer.from(parts[i]); b[1] = pick([0, 1, 2, 3, 254, 255]); parts[i] = b; break; }
    case 'count': { const at = int(n); parts = conversation(n, (i) => { const a = asdu(); if (i === at) a[1] = (a[1] & 0x80) | ((a[1] & 0x7f) + 1 + int(5)); return a; }); parts = parts.slice(0, parts.findIndex((p) => p.length > 6 && p[2] === ((at << 1) & 0xfe) && p[3] === at >> 7) + 1); break; }
    case 'unknown-type': { const at = int(n); parts = conversation(n, (i) => { const a = asdu(); if (i === at) a[0] = pick([0, 2, 41, 52, 99, 104, 106, 200]); return a; }); proxyCloses = false; break; }
    case 'garbage': parts = [Buffer.from(Array.from({ length: 1 + int(300) }, (_, i) => (i === 0 ? int(0x68) : int(256))))]; break;
    default: { parts = conversation(n); const last = parts[parts.length - 1]; parts[parts.length - 1] = last.subarray(0, 1 + int(last.length - 1)); proxyCloses = false; break; } // cut
  }
  return { kind, stream: Buffer.concat(parts), oneByte: kind === 'one-byte', proxyCloses, whole: kind === 'overrun' };
}

const sender = fuzzSender(rnd);
let rig: Iec104Rig;
let proxy: Iec104Proxy;
let events: AuditEvent[];

test.before(async () => {
  // One-byte streams drip a byte per event-loop turn beside eleven other senders: under a second
  // suite a stream can take longer than the default 5 s frame timeout, which is tested elsewhere.
  rig = await startIec104Rig({ maxConnectionsPerSource: 1000, timeouts: { frameMs: 120_000 } });
  ({ proxy, events } = rig);
});

test.after(() => rig.close());

test('sequence gaps, window overruns, bad N(R), I-frames while stopped, framing and count lies, unknown types, garbage, one-byte splits: each bad stream audited, the rest unaffected', async () => {
  const port = proxy.address().port;
  const hmi = await connectIec104Master({ host: '127.0.0.1', port, localAddress: HMI });
  let fuzzing = true, interrogations = 0;
  const poller = (async () => {
    while (fuzzing) {
      const gi = await hmi.interrogate();
      assert.is(gi.at(-1)!.cause, Cause.ACTIVATION_TERM, "the interrogating master's interrogations end normally");
      interrogations++;
    }
  })();

  const plans: Plan[] = [];
  for (let i = 0; i < 160; i++) plans.push(plan(i < KINDS.length * 2 ? KINDS[i % KINDS.length] : pick(KINDS)));
  const sent = new Array<Sent>(plans.length);
  let next = 0;
  await Promise.all(Array.from({ length: 12 }, async () => {
    while (next < plans.length) { const i = next++; sent[i] = await sender.send(port, SCADA, plans[i].stream, plans[i]); }
  }));
  fuzzing = false;
  await poller;
  hmi.close();
  for (let i = 0; i < 200 && proxy.stats.connections > 0; i++) await new Promise((r) => setTimeout(r, 20));

  const malformedBy = malformedByConnection(events, SCADA);
  const byKind = new Map<Kind, number>();
  plans.forEach((p, i) => {
    const found = malformedBy.get(`${sent[i].port}/${sent[i].nth}`) ?? [];
    byKind.set(p.kind, (byKind.get(p.kind) ?? 0) + 1);
    if (BAD.has(p.kind)) {
      assert.ok(found.length > 0, `${p.kind} stream (connection ${i}, port ${sent[i].port}) has a malformed record`);
      assert.ok(found.every((e) => typeof e.message === 'string' && e.message.length > 0), 'each says what was wrong');
    } else {
      assert.is(found.length, 0, `${p.kind} stream (connection ${i}) has no malformed record: ${found.map((e) => e.message).join('; ')}`);
    }
    if (p.kind === 'gap') assert.ok(found.some((e) => /sequence gap or repeat/.test(e.message ?? '')), found.map((e) => e.message).join('; '));
    if (p.kind === 'overrun') assert.ok(found.some((e) => e.kind === 'malformed' && /overruns the k window: 12 I-frames already unacknowledged/.test(e.message ?? '')), found.map((e) => e.message).join('; '));
    if (p.kind === 'stopped') assert.ok(found.some((e) => /while data transfer is stopped/.test(e.message ?? '')));
    if (p.kind === 'unknown-type') assert.ok(found.some((e) => e.kind === 'decision' && /not one IEC 60870-5-104 defines/.test(e.message ?? '')));
    if (p.kind === 'cut') assert.ok(found.some((e) => /connection closed inside an APDU/.test(e.message ?? '')));
  });
  const s = proxy.stats;
  console.log(`iec104 fuzz: ${plans.length} connections (${[...byKind].map(([k, n]) => `${k} ${n}`).join(', ')}), ASDUs ${s.requests}, allowed ${s.allowed}, denied ${s.denied}, malformed ${s.malformed}, forwarded ${s.forwarded}, relayed ${s.relayed}; ${interrogations} interrogations on the side`);
  assert.ok(interrogations > 0, 'the interrogating master got answers during the fuzz');
  assert.is(s.connections, 0, 'every connection is gone');
  assert.not.ok(events.some((e) => e.kind === 'driver' && /internal error/.test(e.message ?? '')), 'no internal errors');
  assert.ok(s.allowed > 50 && s.denied > 50, 'both allowed and denied ASDUs were decided');
  assert.not.ok(rig.rtu.received.some((r) => r.startsWith('C_RP_NA_1')), 'no denied reset reached the RTU');

  const after = await connectIec104Master({ host: '127.0.0.1', port, localAddress: SCADA });
  const gi = await after.interrogate();
  assert.is(gi.at(-1)!.cause, Cause.ACTIVATION_TERM);
  after.close();
});

test.run();
