// Fuzzing the DNP3 proxy through real sockets (seeded PRNG; the seed is printed, set
// ZG_FUZZ_SEED to replay): wrong CRCs, length lies, transport reassembly past the cap and out of
// sequence, object headers whose counts overrun the fragment, garbage, and well-formed streams cut
// into one-byte writes or with link frames of other address pairs and link service frames
// interleaved. Between the real policy engine, the lab outstation and a lab master polling on its
// own connection the whole time: no crash, no internal error, the polling master unaffected,
// every bad stream has a malformed record in the audit log (its own source port) and every good
// stream none.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { parsePolicy } from '../../policy/parse';
import { compile } from '../../policy/compile';
import { IndexDecider } from '../../policy/decider';
import {
  createDnp3Proxy, crob, dnpTime, encodeFragment, encodeFrames, encodeLinkFrame, FC, LinkControl, putCrc,
  segmentFragment, type Dnp3Proxy, type HeaderSpec,
} from '../../drivers/dnp3';
import type { AuditEvent } from '../../drivers/types';
import { startOutstation, type Outstation } from '../../runtime/lab/dnp3-outstation';
import { connectMaster } from '../../runtime/lab/dnp3-master';
import { Dnp3Stream } from '../../runtime/lab/dnp3-stream';
import { mulberry32 } from '../helpers/prng';
import { fuzzSender, malformedByConnection, type Sent } from '../helpers/proxy-fuzz';

const FILE = 'test/fixtures/policy/dnp3-substation.yaml';
const SCADA = '127.10.0.2', ENG = '127.10.0.7';
const MAX_FRAGMENT = 2048;

const seed = Number(process.env.ZG_FUZZ_SEED ?? (Date.now() % 2 ** 31));
console.log(`dnp3 fuzz seed ${seed} (replay with ZG_FUZZ_SEED=${seed})`);
const rnd = mulberry32(seed);
const int = (n: number): number => Math.floor(rnd() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];

const MASTER_FRAME = LinkControl.DIR | LinkControl.PRM | LinkControl.UNCONFIRMED_USER_DATA;
const g60 = (): HeaderSpec[] => [2, 3, 4, 1].map((v) => ({ group: 60, variation: v, qualifier: 0x06 }));

/** A well-formed request fragment (allowed or denied by the policy, never malformed). */
function request(): Buffer {
  const seq = int(16);
  const control = { group: 12, variation: 1, qualifier: 0x28, indices: [int(10)], objects: [crob({ code: pick([0x01, 0x03, 0x04, 0x41, 0x81]) })] };
  switch (int(8)) {
    case 0: return encodeFragment({ seq, fn: FC.READ, headers: g60() });
    case 1: return encodeFragment({ seq, fn: FC.READ, headers: [{ group: 30, variation: 1, qualifier: 0x00, start: 0, stop: int(4) }] });
    case 2: return encodeFragment({ seq, fn: pick([FC.SELECT, FC.OPERATE, FC.DIRECT_OPERATE]), headers: [control] });
    case 3: return encodeFragment({ seq, fn: FC.COLD_RESTART });
    case 4: return encodeFragment({ seq, fn: FC.WRITE, headers: [{ group: 50, variation: 1, qualifier: 0x07, count: 1, objects: [dnpTime(Date.now())] }] });
    case 5: return encodeFragment({ seq, fn: FC.DELAY_MEASURE });
    // Two or three link frames of request, a response under the 2048-byte fragment cap.
    case 6: return encodeFragment({ seq, fn: FC.READ, headers: Array.from({ length: 52 + int(20) }, () => ({ group: 30, variation: 1, qualifier: 0x00, start: 0, stop: 0 })) });
    default: return encodeFragment({ seq, fn: pick([FC.ENABLE_UNSOLICITED, FC.DISABLE_UNSOLICITED]), headers: [2, 3, 4].map((v) => ({ group: 60, variation: v, qualifier: 0x06 })) });
  }
}

/** The link frames of a fragment from master `src` to outstation 10. */
function frames(fragment: Buffer, src = 1, transportSeq = int(64)): Buffer[] {
  return segmentFragment(fragment, transportSeq).map((seg) => encodeLinkFrame({ control: MASTER_FRAME, dest: 10, src, data: seg }));
}

const linkService = (): Buffer => encodeLinkFrame({ control: LinkControl.DIR | LinkControl.PRM | pick([0x09, 0x00]), dest: 10, src: 1 });

/** Two fragments of different link address pairs with their segments interleaved, and link service frames between. */
function interleaved(): Buffer[] {
  const a = frames(request(), 1), b = frames(request(), 2);
  const out: Buffer[] = [];
  while (a.length || b.length) {
    const from = a.length && (!b.length || rnd() < 0.5) ? a : b;
    out.push(from.shift()!);
    if (rnd() < 0.3) out.push(linkService());
  }
  return out;
}

type Kind = 'clean' | 'one-byte' | 'interleaved' | 'crc' | 'length-short' | 'length-long' | 'cap' | 'sequence' | 'overrun' | 'garbage';
const KINDS: readonly Kind[] = ['clean', 'one-byte', 'interleaved', 'crc', 'length-short', 'length-long', 'cap', 'sequence', 'overrun', 'garbage'];
const BAD = new Set<Kind>(['crc', 'length-short', 'length-long', 'cap', 'sequence', 'overrun', 'garbage']);

interface Plan { kind: Kind; stream: Buffer; /** Write the stream a byte at a time. */ oneByte: boolean; /** The proxy closes it (else the client ends it). */ proxyCloses: boolean }

function plan(kind: Kind): Plan {
  const good = (): Buffer[] => Array.from({ length: 1 + int(4) }, () => frames(request())).flat();
  const parts = good();
  let proxyCloses = true;
  switch (kind) {
    case 'clean': case 'one-byte': proxyCloses = false; break;
    case 'interleaved': parts.push(...interleaved(), ...good()); proxyCloses = false; break;
    case 'crc': { // any byte of any frame changed: a start byte, the length, a header or data CRC, data
      const f = Buffer.from(pick(parts));
      f[int(f.length)] ^= 1 + int(255);
      parts[int(parts.length)] = f;
      break;
    }
    case 'length-short': { // a length below the header's 5 octets, with a header CRC that matches it
      const f = Buffer.from(pick(parts));
      f[2] = int(5);
      putCrc(f, 0, 8);
      parts.splice(int(parts.length + 1), 0, f);
      break;
    }
    case 'length-long': { // the last frame claims more data than follows (header CRC right), then the master closes
      const f = Buffer.from(parts[parts.length - 1]);
      f[2] = Math.min(255, f[2] + 1 + int(40));
      putCrc(f, 0, 8);
      parts[parts.length - 1] = f;
      proxyCloses = false;
      break;
    }
    case 'cap': { // segments that never end, past the reassembly cap
      const seg = Buffer.alloc(250, 0x06);
      let seq = int(64);
      for (let n = 0; n * 249 <= MAX_FRAGMENT; n++, seq = (seq + 1) & 0x3f) {
        seg[0] = (n === 0 ? 0x40 : 0) | seq;
        parts.push(encodeLinkFrame({ control: MASTER_FRAME, dest: 10, src: 1, data: seg }));
      }
      break;
    }
    case 'sequence': { // a multi-frame fragment with a segment skipped or repeated
      const big = frames(encodeFragment({ fn: FC.READ, headers: Array.from({ length: 200 }, () => ({ group: 60, variation: 1, qualifier: 0x06 })) }));
      if (rnd() < 0.5) big.splice(1, 1); else big.splice(1, 0, big[1]);
      parts.push(...big);
      break;
    }
    case 'overrun': { // an object header counting more objects than the fragment holds: a malformed decision
      const frag = encodeFragment({ fn: pick([FC.DIRECT_OPERATE, FC.SELECT, FC.WRITE]), headers: [{ group: 12, variation: 1, qualifier: pick([0x17, 0x28]), count: 2 + int(200), indices: [1], objects: [crob({ code: 3 })] }] });
      parts.splice(int(parts.length + 1), 0, ...frames(frag));
      proxyCloses = false; // the connection stays: the master gets PARAMETER_ERROR
      break;
    }
    case 'garbage': {
      const g = Buffer.from(Array.from({ length: 1 + int(300) }, () => int(256)));
      g[0] = 0x00;
      parts.splice(int(parts.length + 1), 0, g);
      break;
    }
  }
  return { kind, stream: Buffer.concat(parts), oneByte: kind === 'one-byte', proxyCloses };
}

const sender = fuzzSender(rnd);

let rtu: Outstation;
let proxy: Dnp3Proxy;
const events: AuditEvent[] = [];

test.before(async () => {
  rtu = await startOutstation({ host: '127.0.0.1', port: 0, tickMs: 0 });
  proxy = createDnp3Proxy({
    listen: { host: '127.0.0.1', port: 0 }, upstream: { host: '127.0.0.1', port: rtu.address().port }, asset: 'rtu-7', servicePort: 20000,
    decider: new IndexDecider(compile(parsePolicy(readFileSync(FILE, 'utf8'), { file: FILE }), { version: '1' })),
    audit: { record: (e) => { events.push(e); } }, now: Date.now,
    maxConnectionsPerSource: 1000, maxFragment: MAX_FRAGMENT,
    // One-byte streams drip a byte per event-loop turn beside eleven other senders: under a second
    // suite a stream can take longer than the default 5 s frame timeout, which is tested elsewhere.
    timeouts: { frameMs: 120_000 },
  });
  await proxy.start(new AbortController().signal);
});

test.after(async () => {
  await proxy.stop();
  await rtu.close();
});

test('wrong CRCs, length lies, reassembly past the cap, count overruns, one-byte splits, interleaving: each bad stream audited, the rest unaffected', async () => {
  const port = proxy.address().port;
  // A master on its own connection polls through the whole run.
  const eng = await connectMaster({ host: '127.0.0.1', port, localAddress: ENG });
  let fuzzing = true, polls = 0;
  const poller = (async () => {
    while (fuzzing) {
      const r = await eng.integrityPoll();
      assert.is(r.fn, FC.RESPONSE);
      assert.is(r.iin & 0xff, 0, 'no IIN2 error bits in the polling master\'s responses');
      polls++;
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
  eng.close();
  for (let i = 0; i < 200 && proxy.stats.connections > 0; i++) await new Promise((r) => setTimeout(r, 20));

  // The proxy's records per connection: each starts with its connect decision.
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
    if (p.kind === 'overrun') assert.ok(found.some((e) => e.kind === 'decision' && e.decision?.decision === 'deny' && /overrun/.test(e.message ?? '')), 'the count overrun is a malformed decision');
    if (p.kind === 'cap') assert.ok(found.some((e) => /exceeds 2048 bytes/.test(e.message ?? '')));
    if (p.kind === 'length-long') assert.ok(found.some((e) => /connection closed inside a link frame/.test(e.message ?? '')));
  });
  const s = proxy.stats;
  console.log(`dnp3 fuzz: ${plans.length} connections (${[...byKind].map(([k, n]) => `${k} ${n}`).join(', ')}), requests ${s.requests}, allowed ${s.allowed}, denied ${s.denied}, malformed ${s.malformed}, forwarded ${s.forwarded}, link frames ${s.linkFrames}; ${polls} integrity polls on the side`);
  assert.ok(polls > 0, 'the polling master got answers during the fuzz');
  assert.is(s.connections, 0, 'every connection is gone');
  assert.not.ok(events.some((e) => e.kind === 'driver' && /internal error/.test(e.message ?? '')), 'no internal errors');
  assert.ok(s.allowed > 50 && s.denied > 50, 'both allowed and denied requests were decided');

  const after = await connectMaster({ host: '127.0.0.1', port, localAddress: SCADA });
  const poll = await after.integrityPoll();
  assert.equal(poll.objects, ['g1v2 0-7', 'g10v2 0-7', 'g20v1 0-3', 'g30v1 0-3', 'g40v1 0-3']);
  after.close();
});

test('a broken outstation: bad CRCs, count overruns, requests and garbage from upstream are audited and never reach the master', async () => {
  // Answers each request with the next broken reply, then (last) a good one.
  const good = (seq: number): Buffer => encodeFrames({ fragment: encodeFragment({ seq, fn: FC.RESPONSE, headers: [{ group: 30, variation: 1, qualifier: 0x00, start: 0, stop: 0, data: Buffer.from([1, 7, 0, 0, 0]) }] }), src: 10, dest: 1, fromMaster: false });
  const broken: ((seq: number) => Buffer)[] = [
    (seq) => { const b = good(seq); b[b.length - 3] ^= 0x40; return b; },                                        // data CRC
    (seq) => encodeFrames({ fragment: encodeFragment({ seq, fn: FC.RESPONSE, headers: [{ group: 30, variation: 1, qualifier: 0x00, start: 0, stop: 40, data: Buffer.alloc(5) }] }), src: 10, dest: 1, fromMaster: false }), // 41 objects, 1 sent
    (seq) => encodeFrames({ fragment: encodeFragment({ seq, fn: FC.DIRECT_OPERATE, headers: [{ group: 12, variation: 1, qualifier: 0x28, indices: [1], objects: [crob({ code: 0x81 })] }] }), src: 10, dest: 1, fromMaster: false }), // a request from the outstation
    () => Buffer.from('not dnp3 at all'),
  ];
  let n = 0;
  const rtu = createServer((s) => {
    const stream = new Dnp3Stream({ fragment: (f) => { s.write(n < broken.length ? broken[n++](f.seq) : good(f.seq)); }, service: () => undefined, error: () => s.destroy() });
    s.on('data', (d: Buffer) => stream.push(d));
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => rtu.listen(0, '127.0.0.1', () => r()));
  const seen: AuditEvent[] = [];
  const p = createDnp3Proxy({
    listen: { host: '127.0.0.1', port: 0 }, upstream: { host: '127.0.0.1', port: (rtu.address() as AddressInfo).port }, asset: 'rtu-7', servicePort: 20000,
    decider: new IndexDecider(compile(parsePolicy(readFileSync(FILE, 'utf8'), { file: FILE }), { version: '1' })), audit: { record: (e) => { seen.push(e); } }, now: Date.now,
  });
  await p.start(new AbortController().signal);
  try {
    const m = await connectMaster({ host: '127.0.0.1', port: p.address().port, localAddress: SCADA, timeoutMs: 400 });
    const got: string[] = [];
    for (let i = 0; i < broken.length; i++) got.push(await m.request(FC.READ, [{ group: 30, variation: 1, qualifier: 0x00, start: 0, stop: 0 }]).then(() => 'answered', (e: Error) => e.message));
    assert.ok(got.every((g) => g !== 'answered'), got.join('; '));
    const ok = (await m.request(FC.READ, [{ group: 30, variation: 1, qualifier: 0x00, start: 0, stop: 0 }]))!;
    assert.equal(ok.objects, ['g30v1 0-0'], 'the same master connection works once the outstation answers well');
    m.close();
    const upstream = seen.filter((e) => e.kind === 'malformed' && (e.detail as { direction?: string } | undefined)?.direction === 'upstream').map((e) => e.message);
    assert.equal(upstream.length, 4, upstream.join('; '));
    assert.match(upstream[0]!, 'link data CRC mismatch');
    assert.match(upstream[1]!, 'overrun');
    assert.match(upstream[2]!, 'is not a response');
    assert.match(upstream[3]!, 'does not start with 05 64');
    assert.not.ok(seen.some((e) => e.kind === 'driver' && /internal error/.test(e.message ?? '')));
  } finally {
    await p.stop();
    await new Promise<void>((r) => rtu.close(() => r()));
  }
});

test.run();
