import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { FrameBatch } from '../../runtime/audit/frame-batch';
import { encodeFrame, readFrame, MAX_PAYLOAD } from '../../protocol/audit/frame';
import { decodeRecord, encodeRecord, GENESIS_PREV, hashPayload, type RecordBody } from '../../protocol/audit/record';
import { decisionEvent } from './helpers';

/** What the log wrote before frame-batch.ts: cbor-x's payload in its own frame. */
const reference = (body: RecordBody, seq: number, prev: Uint8Array): Buffer => encodeFrame(encodeRecord(body, seq, prev));

function same(body: RecordBody, seq = 7, prev: Uint8Array = GENESIS_PREV, label = ''): void {
  const fb = new FrameBatch(64);
  const payload = fb.append(body, seq, prev);
  const want = reference(body, seq, prev);
  assert.is(fb.bytes().toString('hex'), want.toString('hex'), label);
  assert.is(Buffer.compare(payload, want.subarray(8)), 0, label);
}

const rec = (extra: Record<string, unknown>): RecordBody => ({ kind: 'config', at: 1_760_000_000_123, source: 'test', ...extra }) as RecordBody;

test('decision events: the same bytes as cbor-x + encodeFrame, frame by frame in one buffer', () => {
  const fb = new FrameBatch(128);
  const want: Buffer[] = [];
  let prev: Uint8Array = GENESIS_PREV;
  for (let i = 0; i < 300; i++) {
    const ev = decisionEvent(i, { decision: i % 3 === 0 ? 'deny' : 'allow' });
    const p = fb.append(ev, i, prev);
    want.push(reference(ev, i, prev));
    assert.is(Buffer.compare(p, want[i].subarray(8)), 0, `payload ${i}`);
    prev = hashPayload(p);
  }
  assert.is(Buffer.compare(fb.bytes(), Buffer.concat(want)), 0);
  // The buffer grew from 128 bytes; every frame reads back with its CRC and chains.
  let off = 0;
  let seq = 0;
  let prevHash: Buffer = GENESIS_PREV;
  const bytes = Buffer.from(fb.bytes());
  while (off < bytes.length) {
    const fr = readFrame(bytes, off);
    assert.ok(fr.ok);
    if (!fr.ok) break;
    const r = decodeRecord(fr.payload);
    assert.is(r.seq, seq++);
    assert.equal(Buffer.from(r.prev), prevHash);
    prevHash = hashPayload(fr.payload);
    off = fr.next;
  }
  assert.is(seq, 300);
  fb.reset();
  assert.is(fb.length, 0);
});

test('every value shape events carry: numbers, strings, bytes, nesting, undefined, null', () => {
  const numbers = [0, 1, 23, 24, 255, 256, 65535, 65536, 0xffffffff, 0x100000000, 2 ** 53 - 1, -1, -24, -25, -256, -257, -65536, -65537,
    -(2 ** 31), -(2 ** 31) - 1, -(2 ** 32), -(2 ** 32) - 1, 0.5, -0.5, 1e300, -0, NaN, Infinity, -Infinity, 1_760_000_000_123.5];
  for (const n of numbers) same(rec({ detail: { n } }), 1, GENESIS_PREV, `number ${n}`);
  for (const n of [0, 23, 24, 255, 256, 65536, 2 ** 32, 2 ** 40]) same(rec({}), n, GENESIS_PREV, `seq ${n}`);
  const strings = ['', 'a', 'x'.repeat(23), 'x'.repeat(24), 'x'.repeat(63), 'x'.repeat(64), 'x'.repeat(255), 'x'.repeat(256), 'x'.repeat(70_000),
    'é', 'é'.repeat(12), 'é'.repeat(40), 'é'.repeat(200), '€'.repeat(9), '€'.repeat(30), '€'.repeat(100), '😀', '😀'.repeat(20), '😀'.repeat(100),
    'a\ud800b', '\udc00', 'x'.repeat(63) + '\ud800', 'ab\u0000cd', 'Zürich Ωmega 日本 🚀'];
  for (const s of strings) {
    same(rec({ message: s }), 3, GENESIS_PREV, `string of ${s.length}`);
    same(rec({ detail: { [s]: s } }), 3, GENESIS_PREV, `key of ${s.length}`);
  }
  same(rec({ detail: { a: [1, 'two', null, undefined, true, false, [[]], {}, { x: undefined }], b: Buffer.from('hi'), c: new Uint8Array(300), d: randomBytes(70_000) } }));
  same(rec({ detail: { sparse: [1, , 3] } })); // eslint-disable-line no-sparse-arrays
  same(rec({ detail: { long: Array.from({ length: 300 }, (_, i) => i), wide: Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`k${i}`, i])) } }));
  // Top-level undefined fields and v/seq/prev in the body are left out, as encodeRecord leaves them.
  same({ ...decisionEvent(1), message: undefined, detail: undefined, v: 9, seq: 99, prev: Buffer.alloc(32, 1) } as unknown as RecordBody);
  // More than 23 top-level fields: a two-byte map header.
  same(rec(Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`f${i}`, i]))));
  same(rec({ checkpoint: { device: 'gw', key: new Uint8Array(32), seq: 5, head: Buffer.alloc(32, 7), at: 1, sig: new Uint8Array(64) } }), 5, Buffer.alloc(32, 9));
});

test('values it does not write itself go through cbor-x: the bytes still match', () => {
  same(rec({ detail: { when: new Date(1_760_000_000_000) } }));
  same(rec({ detail: { m: new Map([['a', 1]]) } }));
  same(rec({ detail: { s: new Set([1, 2]) } }));
  same(rec({ detail: { u16: new Uint16Array([1, 2]) } }));
  same(rec({ detail: { big: 5n } }));
  same(rec({ detail: Object.assign(Object.create(null), { a: 1 }) as Record<string, unknown> }));
  class Thing { a = 1; }
  same(rec({ detail: { t: new Thing() } }));
  // A class instance as the record body, and a polluted Object.prototype (for-in would see it; cbor-x does not).
  class Event { kind = 'config'; at = 5; source = 'test'; message = 'from a class'; }
  same(new Event() as unknown as RecordBody);
  (Object.prototype as Record<string, unknown>).polluted = 'yes';
  try {
    same(rec({ detail: { a: 1 } }));
    const r = decodeRecord(new FrameBatch().append(rec({ detail: { a: 1 } }), 1, GENESIS_PREV));
    assert.equal(Object.keys(r), ['v', 'seq', 'prev', 'kind', 'at', 'source', 'detail']);
    assert.equal(Object.keys(r.detail ?? {}), ['a']);
  } finally {
    delete (Object.prototype as Record<string, unknown>).polluted;
  }
  let deep: Record<string, unknown> = { end: true };
  for (let i = 0; i < 100; i++) deep = { d: deep };
  same(rec({ detail: deep }));
});

test('an unencodable record or one over the frame limit throws and leaves the batch as it was', () => {
  const fb = new FrameBatch(64);
  fb.append(decisionEvent(1), 1, GENESIS_PREV);
  const before = Buffer.from(fb.bytes());
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assert.throws(() => fb.append(rec({ detail: cyclic }), 2, GENESIS_PREV));
  assert.throws(() => fb.append(rec({ detail: { f: () => 1 } }), 2, GENESIS_PREV), /Unknown type: function/);
  assert.throws(() => fb.append(rec({ message: 'x'.repeat(MAX_PAYLOAD) }), 2, GENESIS_PREV), (e: Error) => e instanceof RangeError && /exceeds the frame limit of 1048576/.test(e.message));
  assert.is(Buffer.compare(fb.bytes(), before), 0);
  const p = fb.append(decisionEvent(2), 2, hashPayload(before.subarray(8)));
  assert.is(decodeRecord(p).seq, 2);
  fb.truncate(before.length);
  assert.is(Buffer.compare(fb.bytes(), before), 0);
});

test('random JSON-like events: byte equality with cbor-x', () => {
  let seed = 12345;
  const rnd = (n: number): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
  const chars = ['a', 'Z', '0', ' ', 'é', '€', '😀', '\ud800', '\u0000', '~'];
  const str = (): string => { let s = ''; const n = rnd(4) === 0 ? rnd(300) : rnd(20); for (let i = 0; i < n; i++) s += chars[rnd(chars.length)]; return s; };
  const num = (): number => [rnd(30), rnd(70_000), -rnd(70_000), rnd(2 ** 31) * 3, rnd(1000) / 7, -(2 ** 32) - rnd(5)][rnd(6)];
  const val = (d: number): unknown => {
    switch (rnd(d > 3 ? 5 : 8)) {
      case 0: return str();
      case 1: return num();
      case 2: return rnd(2) === 0;
      case 3: return rnd(2) === 0 ? null : undefined;
      case 4: return randomBytes(rnd(40));
      case 5: return Array.from({ length: rnd(5) }, () => val(d + 1));
      default: return Object.fromEntries(Array.from({ length: rnd(6) }, () => [str(), val(d + 1)]));
    }
  };
  for (let i = 0; i < 500; i++) {
    const body = rec({ src: str(), srcPort: num(), message: rnd(3) === 0 ? undefined : str(), detail: Object.fromEntries(Array.from({ length: rnd(6) }, () => [str(), val(0)])) });
    same(body, rnd(1_000_000), randomBytes(32), `case ${i}`);
  }
});

test.run();
