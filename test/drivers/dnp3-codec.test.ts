// Unit tests of the DNP3 codec: CRC-16/DNP vectors, link frames (every CRC checked), transport
// reassembly (sequence, FIR, cap), application fragments (qualifiers, object sizes, overruns)
// and the encoder round trip.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyCrcOk } from '../../drivers/dnp3/crc';
import {
  crc16dnp, LinkSplitter, LinkFrame, encodeLinkFrame, Reassembler, AppFragment, parseFragment, encodeFragment,
  encodeFrames, crob, analogOutput, segmentFragment, FC, frameBytes, type LinkFrameHandler,
} from '../../drivers/dnp3';

class Frames implements LinkFrameHandler {
  frames: { control: number; dest: number; src: number; data: string; raw: string }[] = [];
  errors: string[] = [];
  onLinkFrame(f: LinkFrame): boolean {
    this.frames.push({ control: f.control, dest: f.dest, src: f.src, data: f.data.subarray(0, f.dataLength).toString('hex'), raw: Buffer.from(f.rawView()).toString('hex') });
    return true;
  }
  onLinkMalformed(m: string): void { this.errors.push(m); }
}

test('CRC-16/DNP: check value of "123456789" is 0xEA82, empty is 0xFFFF', () => {
  assert.is(crc16dnp(Buffer.from('123456789')), 0xea82);
  assert.is(crc16dnp(Buffer.alloc(0)), 0xffff);
});

test('CRC-16/DNP two bytes a step equals the bit-by-bit definition, every length and offset, copying as it goes', () => {
  // The plain reference: reflected polynomial 0xA6BC, one bit at a time, final complement.
  const reference = (b: Uint8Array, start: number, end: number): number => {
    let crc = 0;
    for (let i = start; i < end; i++) {
      crc ^= b[i];
      for (let k = 0; k < 8; k++) crc = (crc & 1) !== 0 ? (crc >>> 1) ^ 0xa6bc : crc >>> 1;
    }
    return ~crc & 0xffff;
  };
  let seed = 12345;
  const rnd = (): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed >> 8; };
  for (let trial = 0; trial < 200; trial++) {
    const len = trial % 41, start = rnd() % 5;
    const src = Buffer.alloc(start + len + 2);
    for (let i = 0; i < src.length; i++) src[i] = rnd() & 0xff;
    const c = reference(src, start, start + len);
    assert.is(crc16dnp(src, start, start + len), c, `length ${len} at ${start}`);
    src[start + len] = c & 0xff;
    src[start + len + 1] = c >>> 8;
    const dst = Buffer.alloc(len + 3);
    assert.ok(copyCrcOk(src, start, start + len, dst, 1), `copyCrcOk, length ${len}`);
    assert.ok(dst.subarray(1, 1 + len).equals(src.subarray(start, start + len)), 'copied');
    if (len > 0) {
      src[start + (rnd() % len)] ^= 1 << (rnd() % 8);
      assert.not.ok(copyCrcOk(src, start, start + len, dst, 1), `a flipped bit, length ${len}`);
    }
  }
});

test('link: header CRC is over the first 8 bytes, low byte first', () => {
  const f = encodeLinkFrame({ control: 0xc9, dest: 10, src: 1 }); // request link status
  assert.is(f.length, 10);
  assert.is(f.subarray(0, 8).toString('hex'), '056405c90a000100');
  const c = crc16dnp(f, 0, 8);
  assert.is(f[8], c & 0xff);
  assert.is(f[9], c >> 8);
});

test('link: frame sizes: 16-byte blocks each with a CRC', () => {
  assert.is(frameBytes(0), 10);
  assert.is(frameBytes(1), 13);
  assert.is(frameBytes(16), 28);
  assert.is(frameBytes(17), 31);
  assert.is(frameBytes(250), 292);
  const data = Buffer.from(Array.from({ length: 40 }, (_, i) => i));
  const f = encodeLinkFrame({ control: 0xc4, dest: 10, src: 1, data });
  assert.is(f.length, 10 + 40 + 6);
  const c = new Frames();
  new LinkSplitter(c).push(f);
  assert.equal(c.errors, []);
  assert.is(c.frames[0].data, data.toString('hex'));
  assert.is(c.frames[0].raw, f.toString('hex'));
  assert.equal([c.frames[0].dest, c.frames[0].src, c.frames[0].control], [10, 1, 0xc4]);
});

test('link: one-byte splits and glued frames give the same frames', () => {
  const a = encodeFrames({ fragment: encodeFragment({ fn: FC.READ, headers: [{ group: 60, variation: 1, qualifier: 6 }] }), src: 1, dest: 10, fromMaster: true });
  const b = encodeLinkFrame({ control: 0x44, dest: 1, src: 10, data: Buffer.alloc(33, 7) });
  const all = Buffer.concat([a, b, a]);
  const glued = new Frames();
  new LinkSplitter(glued).push(all);
  const split = new Frames();
  const s = new LinkSplitter(split);
  for (let i = 0; i < all.length; i++) s.push(all, i, i + 1);
  assert.is(glued.frames.length, 3);
  assert.equal(split.frames, glued.frames);
  assert.is(s.partialBytes, 0);
});

test('link: wrong start, short length, header CRC and block CRC are each malformed', () => {
  const good = encodeLinkFrame({ control: 0xc4, dest: 10, src: 1, data: Buffer.alloc(20, 1) });
  const cases: [Buffer, RegExp][] = [
    [Buffer.from([0x05, 0x65, ...good.subarray(2)]), /does not start with 05 64/],
    [(() => { const b = Buffer.from(good); b[2] = 4; return b; })(), /length 4 is below 5/],
    [(() => { const b = Buffer.from(good); b[8] ^= 1; return b; })(), /header CRC/],
    [(() => { const b = Buffer.from(good); b[12] ^= 0x40; return b; })(), /data CRC mismatch in block 0/],
    [(() => { const b = Buffer.from(good); b[b.length - 1] ^= 1; return b; })(), /data CRC mismatch in block 1/],
  ];
  for (const [bytes, re] of cases) {
    const c = new Frames();
    const s = new LinkSplitter(c);
    s.push(bytes);
    s.push(good); // dead after the error: reads nothing more
    assert.is(c.frames.length, 0);
    assert.is(c.errors.length, 1);
    assert.match(c.errors[0], re);
  }
});

test('link: a header prefix that can start no frame is malformed on the byte that shows it', () => {
  const cases: [number[], number, RegExp][] = [
    [[0x00], 1, /does not start with 05 64 \(got 00\)/],
    [[0x05, 0x00], 2, /does not start with 05 64 \(got 05 00\)/],
    [[0x05, 0x64, 0x04], 3, /length 4 is below 5/],
  ];
  for (const [bytes, at, re] of cases) {
    const c = new Frames();
    const s = new LinkSplitter(c);
    for (let i = 0; i < bytes.length; i++) {
      s.push(Buffer.from([bytes[i]]));
      assert.is(c.errors.length, i + 1 >= at ? 1 : 0, `after ${i + 1} of ${Buffer.from(bytes).toString('hex')}`);
    }
    assert.match(c.errors[0], re);
  }
  // A good prefix waits for the rest; a good frame then garbage in one push: the frame, then the error.
  const good = encodeLinkFrame({ control: 0xc4, dest: 10, src: 1, data: Buffer.alloc(3, 1) });
  const c = new Frames();
  const s = new LinkSplitter(c);
  s.push(good, 0, 3);
  assert.equal([c.errors, s.partialBytes], [[], 3]);
  s.push(Buffer.concat([good.subarray(3), Buffer.from([0x05, 0x64, 0x00])]));
  assert.is(c.frames.length, 1);
  assert.equal(c.errors, ['link length 0 is below 5']);
});

test('transport: segments reassemble in sequence; out of sequence, no FIR and past the cap are malformed', () => {
  const frag = Buffer.from(Array.from({ length: 600 }, (_, i) => i & 0xff));
  const segs = segmentFragment(frag, 62);
  assert.is(segs.length, 3);
  assert.equal(segs.map((s) => s[0]), [0x40 | 62, 63, 0x80 | 0]);
  const r = new Reassembler(2048);
  assert.is(r.push(1, 10, segs[0], segs[0].length).kind, 'partial');
  assert.is(r.push(1, 10, segs[1], segs[1].length).kind, 'partial');
  const done = r.push(1, 10, segs[2], segs[2].length);
  assert.is(done.kind, 'fragment');
  if (done.kind === 'fragment') assert.is(done.data.subarray(done.offset, done.offset + done.length).toString('hex'), frag.toString('hex'));

  const r2 = new Reassembler(2048);
  r2.push(1, 10, segs[0], segs[0].length);
  const bad = r2.push(1, 10, segs[2], segs[2].length);
  assert.equal(bad, { kind: 'malformed', message: 'transport segment 0 out of sequence (expected 63)' });
  assert.equal(new Reassembler().push(1, 10, segs[1], segs[1].length), { kind: 'malformed', message: 'transport segment 63 without a first segment (FIR)' });

  const small = new Reassembler(500);
  small.push(1, 10, segs[0], segs[0].length);
  small.push(1, 10, segs[1], segs[1].length);
  assert.equal(small.push(1, 10, segs[2], segs[2].length), { kind: 'malformed', message: 'application fragment exceeds 500 bytes' });
});

test('transport: interleaved address pairs reassemble separately', () => {
  const f1 = Buffer.alloc(300, 1), f2 = Buffer.alloc(300, 2);
  const s1 = segmentFragment(f1), s2 = segmentFragment(f2, 5);
  const r = new Reassembler();
  r.push(1, 10, s1[0], s1[0].length);
  r.push(2, 10, s2[0], s2[0].length);
  const a = r.push(1, 10, s1[1], s1[1].length);
  assert.ok(a.kind === 'fragment' && a.length === 300 && a.data[0] === 1);
  const b = r.push(2, 10, s2[1], s2[1].length);
  assert.ok(b.kind === 'fragment' && b.length === 300 && b.data[0] === 2);
});

test('transport: frames kept only when given; a one-frame fragment pushed without its frame leaves none behind', () => {
  const big = segmentFragment(Buffer.alloc(300, 3)), one = segmentFragment(Buffer.alloc(20, 4), 9);
  const raw = (seg: Buffer): Buffer => encodeLinkFrame({ control: 0xc4, dest: 10, src: 1, data: seg });
  const r = new Reassembler();
  const whole = r.push(1, 10, one[0], one[0].length);
  assert.ok(whole.kind === 'fragment' && whole.length === 20 && whole.frames.length === 0);
  // A fragment in two frames after it: its own two frames, copies (the caller's buffers may be reused).
  const first = raw(big[0]), second = raw(big[1]);
  r.push(1, 10, big[0], big[0].length, first);
  const two = r.push(1, 10, big[1], big[1].length, second);
  assert.ok(two.kind === 'fragment' && two.length === 300);
  if (two.kind !== 'fragment') return;
  assert.equal(two.frames.map((f) => f.toString('hex')), [first.toString('hex'), second.toString('hex')]);
  first.fill(0);
  assert.is.not(two.frames[0][0], 0, 'kept frames are copies');
  // And a one-frame fragment after that gets none of them.
  const again = r.push(1, 10, one[0], one[0].length);
  assert.ok(again.kind === 'fragment' && again.frames.length === 0);
});

test('transport: a one-segment fragment, handed out where it lies, is checked as any other (cap, empty, a fragment in progress dropped)', () => {
  const one = segmentFragment(Buffer.from([0xc1, 0x01, 0x3c, 0x02, 0x06]), 5)[0];
  const r = new Reassembler(2048);
  const got = r.push(1, 10, one, one.length);
  assert.ok(got.kind === 'fragment' && got.data === one && got.offset === 1 && got.length === 5, 'the segment itself, after its transport header');
  assert.equal(new Reassembler(4).push(1, 10, one, one.length), { kind: 'malformed', message: 'application fragment exceeds 4 bytes' });
  assert.equal(r.push(1, 10, Buffer.from([0xc0 | 7]), 1), { kind: 'malformed', message: 'empty application fragment' });
  // A one-segment fragment in the middle of a two-segment one drops it: its next segment has no FIR.
  const big = segmentFragment(Buffer.alloc(300, 3), 20);
  assert.is(r.push(1, 10, big[0], big[0].length).kind, 'partial');
  assert.is(r.held, 249);
  assert.is(r.push(1, 10, one, one.length).kind, 'fragment');
  assert.is(r.held, 0);
  assert.equal(r.push(1, 10, big[1], big[1].length), { kind: 'malformed', message: 'transport segment 21 without a first segment (FIR)' });
  // Pairs: a fifth pair while four are mid-fragment is refused, a one-segment fragment too.
  const p = new Reassembler(2048);
  for (let src = 1; src <= 4; src++) assert.is(p.push(src, 10, big[0], big[0].length).kind, 'partial');
  assert.equal(p.push(5, 10, one, one.length), { kind: 'malformed', message: 'more than 4 link address pairs reassembling at once' });
});

test('link: a frame says whether it carries a whole fragment, and copies itself out of the reused buffer', () => {
  const got: { whole: boolean; copy: Buffer }[] = [];
  const sp = new LinkSplitter({ onLinkFrame: (f) => { got.push({ whole: f.wholeFragment, copy: f.rawCopy() }); return true; }, onLinkMalformed: (m) => { throw new Error(m); } });
  const segs = segmentFragment(Buffer.alloc(300, 5));
  const frames = [...segmentFragment(Buffer.alloc(30, 6)), ...segs].map((seg) => encodeLinkFrame({ control: 0xc4, dest: 10, src: 1, data: seg }));
  const status = encodeLinkFrame({ control: 0xc9, dest: 10, src: 1 });
  sp.push(Buffer.concat([...frames, status]));
  assert.equal(got.map((g) => g.whole), [true, false, false, false]);
  assert.equal(got.map((g) => g.copy.toString('hex')), [...frames, status].map((f) => f.toString('hex')));
});

const parse = (b: Buffer): { err: string | null; f: AppFragment } => {
  const f = new AppFragment(2048);
  return { err: parseFragment(b, 0, b.length, f), f };
};

test('app: integrity poll (class 1,2,3,0 with qualifier 0x06)', () => {
  const b = encodeFragment({ seq: 3, fn: FC.READ, headers: [60, 60, 60, 60].map((g, i) => ({ group: g, variation: [2, 3, 4, 1][i], qualifier: 0x06 })) });
  assert.is(b.toString('hex'), 'c301' + '3c0206' + '3c0306' + '3c0406' + '3c0106');
  const { err, f } = parse(b);
  assert.is(err, null);
  assert.equal([f.fn, f.seq, f.headers, f.iin], [1, 3, 4, -1]);
  assert.equal([...f.variation.subarray(0, 4)], [2, 3, 4, 1]);
  assert.equal([f.lo[0], f.hi[0], f.count[0]], [-1, -1, 0]);
});

test('app: SELECT of two CROBs by 2-octet index records indices and control codes', () => {
  const b = encodeFragment({ fn: FC.SELECT, headers: [{ group: 12, variation: 1, qualifier: 0x28, indices: [3, 9], objects: [crob({ code: 0x41 }), crob({ code: 0x81 })] }] });
  assert.is(b.length, 2 + 3 + 2 + 2 * (2 + 11));
  const { err, f } = parse(b);
  assert.is(err, null);
  assert.equal([f.headers, f.points, f.lo[0], f.hi[0], f.count[0]], [1, 2, 3, 9, 2]);
  assert.equal([...f.ptIndex.subarray(0, 2)], [3, 9]);
  assert.equal([...f.ptValue.subarray(0, 2)], [0x41, 0x81]);
});

test('app: analog outputs by range record values per point', () => {
  const b = encodeFragment({ fn: FC.DIRECT_OPERATE, headers: [{ group: 41, variation: 2, qualifier: 0x00, start: 4, stop: 5, objects: [analogOutput(2, -7), analogOutput(2, 300)] }] });
  const { err, f } = parse(b);
  assert.is(err, null);
  assert.equal([...f.ptIndex.subarray(0, 2)], [4, 5]);
  assert.equal([...f.ptValue.subarray(0, 2)], [-7, 300]);
  const b3 = encodeFragment({ fn: FC.OPERATE, headers: [{ group: 41, variation: 3, qualifier: 0x17, indices: [1], objects: [analogOutput(3, 1.5)] }] });
  const p3 = parse(b3);
  assert.is(p3.err, null);
  assert.is(p3.f.ptValue[0], 1.5);
});

test('app: response with IIN, packed binary inputs, analogs and a time object', () => {
  const b = encodeFragment({
    fn: FC.RESPONSE, iin: 0x8000, headers: [
      { group: 1, variation: 1, qualifier: 0x00, start: 0, stop: 9, data: Buffer.from([0xff, 0x03]) },
      { group: 30, variation: 1, qualifier: 0x01, start: 0, stop: 1, data: Buffer.alloc(10) },
      { group: 50, variation: 1, qualifier: 0x07, count: 1, data: Buffer.alloc(6) },
      { group: 110, variation: 4, qualifier: 0x00, start: 0, stop: 0, data: Buffer.from('abcd') },
    ],
  });
  const { err, f } = parse(b);
  assert.is(err, null);
  assert.equal([f.iin, f.headers, f.points], [0x8000, 4, 0]);
  assert.equal([f.lo[1], f.hi[1], f.count[1]], [0, 1, 2]);
});

test('app: free-format objects (0x5B) are skipped by their size prefix, whatever the group', () => {
  const b = encodeFragment({ fn: FC.AUTHENTICATE_RESPONSE, iin: 0, headers: [{ group: 120, variation: 99, qualifier: 0x5b, objects: [Buffer.alloc(7), Buffer.alloc(3)] }] });
  assert.is(parse(b).err, null);
});

test('app: every lie is malformed with a reason', () => {
  const cases: [Buffer, RegExp][] = [
    [Buffer.from([0xc0]), /fragment of 1 byte/],
    [Buffer.from([0xc0, 129, 0]), /without IIN/],
    [Buffer.from([0x80, 1, 60, 1, 6]), /without FIR and FIN/],
    [Buffer.from([0xc0, 1, 60, 1]), /header truncated/],
    [Buffer.from([0xc0, 1, 1, 2, 0x86]), /reserved bit/],
    [Buffer.from([0xc0, 1, 1, 2, 0x00, 5, 4]), /stop 4 below start 5/],
    [Buffer.from([0xc0, 1, 1, 2, 0x01, 5]), /range field truncated/],
    [Buffer.from([0xc0, 1, 1, 2, 0x03, 0, 0]), /unsupported range specifier 3/],
    [Buffer.from([0xc0, 1, 1, 2, 0x07, 0]), /object count 0/],
    [Buffer.from([0xc0, 2, 50, 1, 0x07, 1, 1, 2, 3]), /1 objects overrun/],
    [Buffer.from([0xc0, 5, 12, 1, 0x28, 0xff, 0xff, 0, 0]), /65535 objects overrun/],
    [Buffer.from([0xc0, 5, 12, 1, 0x17, 2, 1, ...crob({ code: 1 })]), /2 objects overrun/],
    [Buffer.from([0xc0, 2, 99, 1, 0x07, 1, 0]), /unknown object \(size unknown\)/],
    [Buffer.from([0xc0, 2, 80, 1, 0x17, 1, 7, 0]), /packed objects cannot be index-prefixed/],
    [Buffer.from([0xc0, 2, 80, 1, 0x00, 0, 15, 0]), /packed objects overrun/],
    [Buffer.from([0xc0, 129, 0, 0, 1, 2, 0x06]), /all objects\) where objects carry data/],
    [Buffer.from([0xc0, 129, 0, 0, 120, 1, 0x5b, 1, 9, 0, 1]), /object of 9 bytes overruns/],
    [Buffer.from([0xc0, 129, 0, 0, 120, 1, 0x0b, 1]), /free format without a size prefix/],
    [Buffer.from([0xc0, 129, 0, 0, 1, 2, 0x70, 1]), /reserved object prefix code 7/],
  ];
  for (const [b, re] of cases) {
    const { err } = parse(b);
    assert.ok(err !== null, `expected malformed: ${b.toString('hex')}`);
    assert.match(err!, re);
  }
});

test('app: an unknown function code is not malformed, just unknown', () => {
  const { err, f } = parse(Buffer.from([0xc0, 77, 1, 2, 3]));
  assert.is(err, null);
  assert.is(f.known, false);
  assert.is(f.headers, 0);
});

test('app: READ by index list carries no object data', () => {
  const b = encodeFragment({ fn: FC.READ, headers: [{ group: 30, variation: 1, qualifier: 0x17, indices: [1, 4, 2] }] });
  const { err, f } = parse(b);
  assert.is(err, null);
  assert.equal([f.lo[0], f.hi[0], f.points], [1, 4, 3]);
});

test.run();
