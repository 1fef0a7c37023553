/**
 * decodeCborSteps / decodeCbor (the one decoder of the CBOR profile, policy/bundle/decode-cbor.ts)
 * against a reference: cbor-x, a general decoder, turned into the same plain data (null
 * prototypes, fresh byte strings) here in the test. The same values on random data; hostile bytes
 * refused with the code and message each names; slices on a big body.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Decoder } from 'cbor-x';
import { encodeCbor } from '../../policy/bundle';
import { decodeCborSteps, decodeCbor, DECODE_SLICE } from '../../policy/bundle/decode-cbor';
import { parseBody } from '../../policy/bundle/parse-body';
import { decodeEnvelope } from '../../policy/bundle/decode-envelope';
import type { CborValue } from '../../policy/bundle/decode-cbor';
import { ZonegateError } from '../../policy/errors';
import { world, policyBundle, sitePolicy } from './fixtures';

let seed = 424242;
const rnd = () => { seed = (seed * 1103515245 + 12345) >>> 0; return seed / 2 ** 32; };
const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)];

function randomValue(depth: number): unknown {
  const r = rnd();
  if (depth > 4 || r < 0.45) {
    return pick<() => unknown>([
      () => Math.floor(rnd() * 2 ** 53) * (rnd() < 0.5 ? -1 : 1),
      () => Math.floor(rnd() * 300) - 150,
      () => rnd() * 1e6 - 5e5,
      () => pick(['', 'a', 'plc-17', 'zäh', '東京', '🙂x', 'x'.repeat(40), 'é'.repeat(30), '10.10.0.1']),
      () => pick([true, false, null]),
      () => Uint8Array.from({ length: Math.floor(rnd() * 40) }, () => Math.floor(rnd() * 256)),
    ])();
  }
  if (r < 0.7) return Array.from({ length: Math.floor(rnd() * 6) }, () => randomValue(depth + 1));
  const o: Record<string, unknown> = {};
  const n = Math.floor(rnd() * (rnd() < 0.1 ? 30 : 6));
  for (let i = 0; i < n; i++) o[pick(['id', 'from', 'to', 'k', 'ünï', `k${i}`, 'hasOwnProperty', 'toString', 'valueOf', 'a'.repeat(20)]) + (rnd() < 0.5 ? '' : String(i))] = randomValue(depth + 1);
  return o;
}

/** The reference: cbor-x into Maps (it keeps a `__proto__` key as data there), then plain data. */
function reference(bytes: Uint8Array): CborValue {
  return toPlain(new Decoder({ mapsAsObjects: false, useRecords: false }).decode(bytes));
}

function toPlain(v: unknown): CborValue {
  if (v === null || typeof v === 'boolean' || typeof v === 'number' || typeof v === 'string') return v;
  if (v instanceof Uint8Array) return new Uint8Array(v);
  if (Array.isArray(v)) return v.map(toPlain);
  if (v instanceof Map) {
    const o = Object.create(null) as { [key: string]: CborValue };
    for (const [k, val] of v) o[String(k)] = toPlain(val);
    return o;
  }
  throw new Error(`reference: unexpected ${typeof v}`);
}

function nullProtoEverywhere(v: CborValue): boolean {
  if (v === null || typeof v !== 'object' || v instanceof Uint8Array) return true;
  if (Array.isArray(v)) return v.every(nullProtoEverywhere);
  return Object.getPrototypeOf(v) === null && Object.values(v).every(nullProtoEverywhere);
}

function outcome(f: () => unknown): { ok: unknown } | { code: string; message: string } {
  try { return { ok: f() }; } catch (e) {
    if (!(e instanceof ZonegateError)) throw e;
    return { code: e.code, message: e.message };
  }
}

test('random data: the same values as the reference decoder, null prototypes throughout', () => {
  for (let i = 0; i < 2000; i++) {
    const bytes = encodeCbor(randomValue(0));
    const ref = reference(bytes);
    const got = decodeCbor(bytes, { maxDepth: 16 });
    assert.equal(got, ref, `case ${i}`);
    assert.ok(nullProtoEverywhere(got), `case ${i}: null prototypes`);
  }
});

test('hostile bytes: refused with ERR_BUNDLE_DECODE and a message that names the problem and the byte', () => {
  const big = (n: number) => { const p = [0xb8, n]; for (let i = 0; i < n; i++) p.push(0x62, 0x6b, 0x61 + (i % 20), 0x01); return p; };
  const dupBig = big(20); dupBig[2 + 19 * 4 + 2] = 0x61; // key 19 repeats key 0
  // [name, bytes, the message after "bundle body is not valid CBOR for zonegate: ", or null for ok]
  const cases: [string, number[], string | null][] = [
    ['empty', [], 'empty at byte 0'],
    ['indefinite array', [0x9f, 0x01, 0xff], 'indefinite length at byte 1'],
    ['indefinite text', [0x7f, 0x61, 0x61, 0xff], 'indefinite length at byte 1'],
    ['tag', [0xc1, 0x01], 'tag 1 not allowed at byte 1'],
    ['extended tag', [0xd8, 0x20, 0x01], 'tag (extended) not allowed at byte 1'],
    ['truncated', [0x82, 0x01], 'declared array size 2 beyond the 1 remaining bytes at byte 1'],
    ['truncated header', [0x19, 0x01], 'truncated header at byte 1'],
    ['huge array', [0x9a, 0xff, 0xff, 0xff, 0xff, 0x00], 'declared array size 4294967295 beyond the 1 remaining bytes at byte 5'],
    ['huge map', [0xba, 0x00, 0x10, 0x00, 0x00, 0x00], 'declared map size 1048576 beyond the 1 remaining bytes at byte 5'],
    ['huge bytes', [0x5a, 0x00, 0x10, 0x00, 0x00, 0x00], 'declared length 1048576 beyond the 1 remaining bytes at byte 5'],
    ['int beyond 2^53', [0x1b, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], 'integer or length beyond 2^53 at byte 1'],
    ['reserved ai', [0x1c], 'reserved additional info 28 at byte 1'],
    ['undefined', [0xf7], 'simple value 23 not allowed at byte 1'],
    ['simple 16', [0xf0], 'simple value 16 not allowed at byte 1'],
    ['break', [0xff], 'unexpected break at byte 1'],
    ['truncated float', [0xfb, 0x00, 0x00], 'truncated float at byte 1'],
    ['key not text', [0xa1, 0x01, 0x02], 'map key is not a text string at byte 1'],
    ['bytes key', [0xa1, 0x41, 0x61, 0x02], 'map key is not a text string at byte 1'],
    ['duplicate key', [0xa2, 0x61, 0x61, 0x01, 0x61, 0x61, 0x02], 'duplicate map key at byte 6'],
    ['duplicate key, big map', dupBig, 'duplicate map key at byte 81'],
    ['trailing', [0x01, 0x02], '1 trailing byte(s) at byte 1'],
    ['deep', [...Array(17).fill(0x81), 0x01], 'nesting deeper than 16 at byte 17'],
    ['deep empty', [...Array(16).fill(0x81), 0x80], 'nesting deeper than 16 at byte 17'],
    ['ok, depth 16', [...Array(15).fill(0x81), 0x80], null],
    ['ok, big map', big(20), null],
    ['ok, floats', [0x83, 0xf9, 0x3c, 0x00, 0xfa, 0x3f, 0xc0, 0x00, 0x00, 0xf9, 0x7c, 0x00], null],
    ['ok, half subnormal and -0', [0x82, 0xf9, 0x00, 0x01, 0xf9, 0x80, 0x00], null],
    ['ok, invalid utf-8', [0x62, 0xc3, 0x28], null],
    ['ok, __proto__', [0xa1, 0x69, ...Buffer.from('__proto__'), 0xa1, 0x61, 0x78, 0x01], null],
  ];
  for (const [name, parts, message] of cases) {
    const bytes = Uint8Array.from(parts);
    const got = outcome(() => decodeCbor(bytes, { what: 'bundle body', maxDepth: 16 }));
    if (message === null) assert.equal(got, { ok: reference(bytes) }, name);
    else assert.equal(got, { code: 'ERR_BUNDLE_DECODE', message: `bundle body is not valid CBOR for zonegate: ${message}` }, name);
  }
  const p = decodeCbor(Uint8Array.from(cases[cases.length - 1][1])) as Record<string, CborValue>;
  assert.ok(Object.prototype.hasOwnProperty.call(p, '__proto__'));
  assert.is(Object.getPrototypeOf(p), null);
  assert.is((p as { x?: unknown }).x, undefined);
});

test('a 2,000-conduit body: many slices, the same body as the reference', () => {
  const W = world();
  const b = policyBundle({ version: 3, keys: W.policyKeys.slice(0, 2), policy: sitePolicy({ conduits: 2000 }) });
  const body = decodeEnvelope(b).body;
  const steps = decodeCborSteps(body, { what: 'bundle body', maxDepth: 16 });
  let yields = 0;
  let r = steps.next();
  while (!r.done) { yields += 1; r = steps.next(); }
  assert.ok(yields >= Math.floor(20_000 / DECODE_SLICE), `${yields} yields`);
  assert.equal(r.value, reference(body));
  assert.equal(parseBody(body, 'policy'), r.value);
});

test.run();
