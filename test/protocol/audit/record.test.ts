import { test } from 'uvu';
import * as assert from 'uvu/assert';
import nacl from 'tweetnacl';
import { randomBytes } from 'node:crypto';
import { crc32, crc32Reference } from '../../../protocol/audit/crc32';
import { encodeFrame, readFrame, MAX_PAYLOAD } from '../../../protocol/audit/frame';
import { decodeRecord, encodeRecord, GENESIS_PREV, hashPayload, checkpointMessage, RecordDecodeError } from '../../../protocol/audit/record';
import { signCheckpoint, verifyCheckpoint } from '../../../protocol/audit/checkpoint';
import { segmentName, parseSegmentName } from '../../../protocol/audit/segment';
import { decisionEvent, makeKey } from '../../audit/helpers';

test('crc32 known answers (IEEE 802.3)', () => {
  assert.is(crc32(Buffer.from('123456789')), 0xcbf43926);
  assert.is(crc32(Buffer.alloc(0)), 0);
  assert.is(crc32(Buffer.from('The quick brown fox jumps over the lazy dog')), 0x414fa339);
});

test('crc32 (slicing-by-8) equals the bitwise reference on random inputs, lengths and offsets', () => {
  for (let n = 0; n < 300; n++) {
    const b = randomBytes(n);
    assert.is(crc32(b), crc32Reference(b), `length ${n}`);
    if (n > 3) assert.is(crc32(b, 1, n - 2), crc32Reference(b.subarray(1, n - 2)), `slice of ${n}`);
  }
});

test('frame round trip and every frame problem', () => {
  const payload = Buffer.from('hello audit');
  const f = encodeFrame(payload);
  assert.is(f.length, 8 + payload.length);
  assert.is(f.readUInt32BE(0), payload.length);
  const r = readFrame(f, 0);
  assert.ok(r.ok);
  if (r.ok) { assert.equal(Buffer.from(r.payload), payload); assert.is(r.next, f.length); }
  let bad = readFrame(f.subarray(0, 5), 0);
  assert.equal(bad.ok ? null : bad.problem, 'short-header');
  bad = readFrame(f.subarray(0, f.length - 1), 0);
  assert.equal(bad.ok ? null : bad.problem, 'short-payload');
  assert.match(bad.ok ? '' : bad.message, 'frame payload cut short: 10 of 11 bytes');
  const flipped = Buffer.from(f); flipped[10] ^= 1;
  bad = readFrame(flipped, 0);
  assert.equal(bad.ok ? null : bad.problem, 'crc');
  assert.match(bad.ok ? '' : bad.message, 'CRC mismatch');
  const huge = Buffer.from(f); huge.writeUInt32BE(MAX_PAYLOAD + 1, 0);
  bad = readFrame(huge, 0);
  assert.equal(bad.ok ? null : bad.problem, 'length');
});

test('record encode/decode keeps the event fields, seq and prev; the hash is over the payload', () => {
  const ev = decisionEvent(7, { decision: 'deny' });
  const p = encodeRecord(ev, 5, GENESIS_PREV);
  const r = decodeRecord(p);
  assert.is(r.v, 1);
  assert.is(r.seq, 5);
  assert.equal(Buffer.from(r.prev), GENESIS_PREV);
  assert.is(r.kind, 'decision');
  assert.equal(r.decision, ev.decision);
  assert.equal(r.modbus, ev.modbus);
  assert.is(r.src, '10.10.1.5');
  assert.is(hashPayload(p).length, 32);
  assert.not.equal(hashPayload(p), hashPayload(encodeRecord(ev, 6, GENESIS_PREV)));
  // undefined fields are left out, not encoded
  const q = decodeRecord(encodeRecord({ ...ev, detail: undefined }, 1, GENESIS_PREV));
  assert.not.ok('detail' in q);
});

test('decodeRecord rejects what is not a record, with the reason', () => {
  const cases: [Uint8Array, string][] = [
    [Buffer.from([0xff, 0x00]), 'payload is not CBOR'],
    [encodeRecord({ kind: 'log', at: 1, source: 'x' }, 1, Buffer.alloc(31)), 'prev is not 32 bytes'],
  ];
  for (const [bytes, msg] of cases) {
    try { decodeRecord(bytes); assert.unreachable(); } catch (e) {
      assert.instance(e, RecordDecodeError);
      assert.match((e as Error).message, msg);
    }
  }
});

test('checkpoints: node:crypto signs, tweetnacl agrees, tampering fails', () => {
  const key = makeKey();
  const head = hashPayload(Buffer.from('x'));
  const c = signCheckpoint({ device: 'gw-1', seq: 41, head, at: 1234 }, key);
  assert.ok(verifyCheckpoint(c, key.publicRaw));
  assert.ok(nacl.sign.detached.verify(checkpointMessage(c), c.sig, key.publicRaw));
  assert.not.ok(verifyCheckpoint({ ...c, seq: 42 }, key.publicRaw));
  assert.not.ok(verifyCheckpoint({ ...c, head: hashPayload(Buffer.from('y')) }, key.publicRaw));
  assert.not.ok(verifyCheckpoint(c, makeKey().publicRaw));
  assert.not.ok(verifyCheckpoint({ ...c, sig: c.sig.subarray(0, 10) }, key.publicRaw));
});

test('segment names carry the first seq in 16 hex digits', () => {
  assert.is(segmentName(0), 'audit-0000000000000000.seg');
  assert.is(segmentName(0x1234), 'audit-0000000000001234.seg');
  assert.is(parseSegmentName('audit-0000000000001234.seg'), 0x1234);
  assert.is(parseSegmentName('audit-1234.seg'), null);
  assert.is(parseSegmentName('checkpoint.latest'), null);
});

test.run();
