/**
 * Envelope amplification (issue 13 item 1): payloads up to the policy topic's size cap (4 MiB)
 * whose headers declare huge arrays and maps of one-byte items, deep nesting, long strings or
 * chains of tags are refused at the header that declares them: cbor-x never sees them (its
 * Decoder.prototype.decode is counted), the sliced body decoder refuses before its first slice,
 * and the heap does not grow. The event loop delay and RSS are printed as figures, not asserted
 * on time (the tests never assert on speed).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Decoder } from 'cbor-x';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ZonegateError } from '../../policy/errors';
import { verifyBundle, decodeEnvelope, decodeCbor, encodeEnvelope, keyIdOf, signEd25519, ENVELOPE_LIMITS, BODY_LIMITS } from '../../policy/bundle/index';
import { decodeCborSteps } from '../../policy/bundle/decode-cbor';
import { TOPIC_KINDS } from '../../protocol/mqtt/topics';
import { world, T0, DAY } from './fixtures';

const W = world('amp');
const base = { trustRoot: W.root, device: 'gw-01', site: 'substation-12', now: T0 + DAY };
const CAP = TOPIC_KINDS.policy.maxBytes; // 4 MiB

// cbor-x calls, counted for the whole file.
let cborxCalls = 0;
const realDecode = Decoder.prototype.decode;
Decoder.prototype.decode = function (this: Decoder, ...args: Parameters<typeof realDecode>) {
  cborxCalls += 1;
  return realDecode.apply(this, args);
} as typeof realDecode;

/** A CBOR header (RFC 8949 section 3): major type and argument, shortest form. */
function head(mt: number, n: number): number[] {
  const m = mt << 5;
  if (n < 24) return [m | n];
  if (n < 0x100) return [m | 24, n];
  if (n < 0x10000) return [m | 25, n >> 8, n & 255];
  return [m | 26, (n >>> 24) & 255, (n >> 16) & 255, (n >> 8) & 255, n & 255];
}
const text = (s: string) => [...head(3, s.length), ...Buffer.from(s)];
/** `prefix`, then `fill` repeated up to `size` bytes in total. */
function shape(prefix: number[], fill: number, size = CAP): Uint8Array {
  const b = new Uint8Array(size).fill(fill);
  b.set(prefix);
  return b;
}
/** An envelope map whose signatures (or whatever follows `sigKey`) is given raw. */
function envelopeWith(tail: number[], fill: number, size = CAP): Uint8Array {
  return shape([...head(5, 3), ...text('type'), ...text('policy'), ...text('body'), ...head(2, 0), ...text('signatures'), ...tail], fill, size);
}

/** 32 signatures, each a map of 32 keys (all within the per-container cap, too many items in all). */
function manyMaps(): number[] {
  const one = [...head(5, 32), ...Array.from({ length: 32 }, (_, k) => [...text(`k${k}`), 0x00]).flat()];
  return [...head(4, 32), ...Array(32).fill(one).flat()];
}
const n = CAP;
const shapes: [string, Uint8Array, RegExp][] = [
  ['4,000,000 one-byte signatures', envelopeWith(head(4, n - 40), 0x00), /declared array size \d+ above the limit of 32/],
  ['signatures: 32 maps of a million keys each', envelopeWith([...head(4, 32), ...head(5, 1_000_000)], 0x60), /declared map size 1000000 above the limit of 32/],
  ['a top-level array of 4 M zeros', shape(head(4, n - 5), 0x00), /declared array size \d+ above the limit of 32/],
  ['a top-level map of 2 M pairs', shape(head(5, (n - 5) >> 1), 0x00), /declared map size \d+ above the limit of 32/],
  ['arrays nested 4 M deep', shape([], 0x81), /nesting deeper than 4/],
  ['maps nested 1 M deep', shape([], 0x00, 4 * 262_144).map((_, i) => [0xa1, 0x61, 0x61][i % 3] ?? 0), /nesting deeper than 4|map key/],
  ['a 4 MB type string', shape([...head(5, 3), ...text('type'), ...head(3, n - 20)], 0x61), /text string of \d+ bytes above the limit of 64/],
  ['a 4 MB key', shape([...head(5, 1), ...head(3, n - 10)], 0x61), /text string of \d+ bytes above the limit of 64/],
  ['4 M tags', shape([], 0xc1), /tag 1 not allowed/],
  ['body as an array of 4 M items', shape([...head(5, 3), ...text('type'), ...text('policy'), ...text('body'), ...head(4, n - 30)], 0x00), /above the limit of 32/],
  ['40 signatures (one more than a real threshold needs, beyond the cap)', envelopeWith(head(4, 40), 0x00, 200), /above the limit of 32|beyond the/],
  ['more items than an envelope holds', envelopeWith(manyMaps(), 0x00, 8192), /more than 167 items/],
];

function refusal(f: () => unknown): ZonegateError {
  try { f(); } catch (e) { if (e instanceof ZonegateError) return e; throw e; }
  throw new Error('expected a refusal');
}

for (const [name, bytes, msg] of shapes) {
  test(`envelope: ${name} is refused at its header, cbor-x never called`, () => {
    assert.ok(bytes.length <= CAP);
    const before = cborxCalls;
    const e = refusal(() => verifyBundle(bytes, base));
    assert.is(e.code, 'ERR_BUNDLE_DECODE');
    assert.match(e.message, msg);
    assert.match(e.message, /^bundle is not valid CBOR for zonegate: /);
    assert.is(refusal(() => decodeEnvelope(bytes)).message, e.message);
    assert.is(cborxCalls, before, 'cbor-x decoded nothing');
  });
}

test('the envelope caps fit a real envelope: 32 signatures decode; the body is a view, not a copy', () => {
  const body = new Uint8Array(1000).fill(7);
  const sigs = Array.from({ length: 32 }, (_, i) => ({ keyId: i.toString(16).padStart(32, '0'), sig: new Uint8Array(64) }));
  const bytes = encodeEnvelope({ type: 'policy', body, signatures: sigs });
  const env = decodeEnvelope(bytes);
  assert.is(env.signatures.length, 32);
  assert.is(env.body.buffer, bytes.buffer, 'no second copy of a 4 MiB body');
  assert.equal([...env.body], [...body]);
  assert.is(ENVELOPE_LIMITS.maxCount, 32);
});

/** A body signed by two policy keys, its bytes given raw (a signer's encoder would refuse them). */
function signedRaw(body: Uint8Array): Uint8Array {
  const sigs = W.policyKeys.slice(0, 2).map((k) => ({ keyId: keyIdOf(k.publicKey), sig: signEd25519(k.seed, body) }));
  return encodeEnvelope({ type: 'policy', body, signatures: sigs });
}
const bodyPrefix = [...head(5, 2), ...text('site'), ...text('substation-12'), ...text('policy')];
const bodies: [string, Uint8Array, RegExp][] = [
  ['an array of 4 M zeros', shape([...bodyPrefix, ...head(4, n - 600)], 0x00, n - 500), /declared array size \d+ above the limit of 262144/],
  ['a map of 1 M pairs', shape([...bodyPrefix, ...head(5, 1_000_000)], 0x00, n - 500), /declared map size 1000000 above the limit of 262144/],
  ['a 4 MB string', shape([...bodyPrefix, ...head(3, n - 600)], 0x61, n - 500), /text string of \d+ bytes above the limit of 65536/],
  ['nesting 1 M deep', shape(bodyPrefix, 0x81, 1_000_000), /nesting deeper than 16/],
  ['4 M tags', shape(bodyPrefix, 0xc1, n - 500), /tag 1 not allowed/],
];

for (const [name, body, msg] of bodies) {
  test(`signed body: ${name} is refused before the first slice of the sliced decoder`, () => {
    const steps = decodeCborSteps(body, { what: 'bundle body' });
    const first = refusal(() => steps.next());
    assert.match(first.message, msg);
    const before = cborxCalls;
    const e = refusal(() => verifyBundle(signedRaw(body), base));
    assert.is(e.code, 'ERR_BUNDLE_DECODE');
    assert.is(e.message, first.message);
    assert.is(cborxCalls, before);
  });
}

test('decodeCbor (every whole-item caller: grants, commands, runtime chunks) is capped the same, and cbor-x decodes nothing', () => {
  const before = cborxCalls;
  for (const [, bytes] of [...shapes, ...bodies]) assert.is(refusal(() => decodeCbor(bytes)).code, 'ERR_BUNDLE_DECODE');
  assert.is(refusal(() => decodeCbor(shape(head(4, 300_000), 0x00, 300_010))).message.includes(`above the limit of ${BODY_LIMITS.maxCount}`), true);
  // A shape within the caps still decodes, by the profile's own decoder.
  assert.equal(decodeCbor(Uint8Array.from([0x82, 0x01, 0x02])), [1, 2]);
  assert.is(cborxCalls, before);
});

test('figures: all the shapes refused; heap growth under 5 MB (event loop delay and RSS printed)', async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  // The signed bodies cost their signature checks (two ed25519 verifications over up to 4 MB,
  // which the store runs on the thread pool); their decode is timed alone through the sliced decoder.
  const envelopes = shapes.map(([, b]) => b);
  const signed = bodies.map(([, b]) => b);
  const all: [Uint8Array, () => unknown][] = [
    ...envelopes.map((b): [Uint8Array, () => unknown] => [b, () => verifyBundle(b, base)]),
    ...signed.map((b): [Uint8Array, () => unknown] => [b, () => decodeCborSteps(b, { what: 'bundle body' }).next()]),
  ];
  for (const [, f] of all) refusal(f); // warm up
  gc();
  const before = process.memoryUsage();
  let rssPeak = before.rss;
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  let worstMs = 0;
  const times: number[] = [];
  for (let round = 0; round < 5; round++) {
    for (const [, f] of all) {
      await new Promise<void>((r) => setImmediate(r));
      const t0 = performance.now();
      refusal(f);
      const dt = performance.now() - t0;
      times.push(dt);
      worstMs = Math.max(worstMs, dt);
      rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
    }
  }
  await new Promise<void>((r) => setTimeout(r, 5));
  h.disable();
  gc();
  const after = process.memoryUsage();
  const heapGrowth = (after.heapUsed - before.heapUsed) + (after.arrayBuffers - before.arrayBuffers);
  console.log(`  amplification: ${all.length} shapes x 5 up to ${CAP} bytes: refusal median ${times.sort((a, b) => a - b)[times.length >> 1].toFixed(3)} ms, worst ${worstMs.toFixed(2)} ms (machine load included), ` +
    `event loop delay max ${(h.max / 1e6).toFixed(2)} ms, RSS peak +${((rssPeak - before.rss) / 1024).toFixed(0)} KiB, heap +${(heapGrowth / 1024).toFixed(0)} KiB`);
  assert.ok(heapGrowth < 5 * 1024 * 1024, `heap grew ${heapGrowth} bytes`);
});

test.run();
