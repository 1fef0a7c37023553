// The DNP3 proxy's fast paths refuse what the slow path refuses. A frame that lies whole in the
// master's read is checked in that read and forwarded as (the part of) it, without a copy; a
// one-segment fragment is parsed where it lies; a poll's audit text is reused. Each case here is
// a raw master (its writes cut as the case says) through the proxy to a raw outstation that
// records every byte it gets: the outstation must get exactly the allowed frames' bytes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { parsePolicy } from '../../policy/parse';
import { compile } from '../../policy/compile';
import { IndexDecider } from '../../policy/decider';
import { createDnp3Proxy, crob, encodeFrames, encodeFragment, encodeLinkFrame, FC, Iin2, LinkControl, type Dnp3Proxy, type HeaderSpec } from '../../drivers/dnp3';
import type { AuditEvent } from '../../drivers/types';
import { Dnp3Stream } from '../../runtime/lab/dnp3-stream';

const FILE = 'test/fixtures/policy/dnp3-substation.yaml';
const text = readFileSync(FILE, 'utf8');
const SCADA = '127.10.0.2';

const request = (seq: number, fn: number, headers: HeaderSpec[]): Buffer =>
  encodeFrames({ fragment: encodeFragment({ seq, fn, headers }), src: 1, dest: 10, fromMaster: true, transportSeq: seq });
const poll = (seq: number): Buffer => request(seq, FC.READ, [2, 3, 4, 1].map((v) => ({ group: 60, variation: v, qualifier: 0x06 })));
/** A READ of 7 headers: 24 bytes of user data (transport header, AC, FC, 7 x 3), two CRC blocks. */
const longRead = (seq: number): Buffer => request(seq, FC.READ, [1, 2, 3, 4, 1, 2, 3].map((v, i) => ({ group: i < 4 ? 60 : 30, variation: v, qualifier: 0x06 })));
/** A READ of g110 (octet strings): not in the policy's objects. */
const deniedRead = (seq: number): Buffer => request(seq, FC.READ, [{ group: 110, variation: 0, qualifier: 0x06 }]);

interface Master { master: Socket; answers: () => { seq: number; fn: number; iin: number }[] }
interface Rig extends Master { proxy: Dnp3Proxy; events: AuditEvent[]; received: () => Buffer; connect: () => Promise<Master>; done: () => Promise<void> }

async function rig(o: { decider?: IndexDecider; now?: () => number } = {}): Promise<Rig> {
  const got: Buffer[] = [];
  const server: Server = createServer((c) => {
    const stream = new Dnp3Stream({
      fragment: (f) => {
        if (f.fn === FC.CONFIRM) return;
        c.write(encodeFrames({ fragment: encodeFragment({ seq: f.seq, fn: FC.RESPONSE, headers: [{ group: 30, variation: 1, qualifier: 0x00, start: 0, stop: 1, data: Buffer.alloc(10, 1) }] }), src: 10, dest: 1, fromMaster: false, transportSeq: f.seq }));
      },
      service: () => undefined, error: () => c.destroy(),
    });
    c.on('data', (d: Buffer) => { got.push(Buffer.from(d)); stream.push(d); });
    c.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const events: AuditEvent[] = [];
  const decider = o.decider ?? new IndexDecider(compile(parsePolicy(text, { file: FILE }), { version: '7' }));
  const proxy = createDnp3Proxy({
    listen: { host: '127.0.0.1', port: 0 }, upstream: { host: '127.0.0.1', port: (server.address() as AddressInfo).port }, asset: 'rtu-7', servicePort: 20000,
    decider, audit: { record: (e) => { events.push(e); } }, now: o.now ?? Date.now, limits: (id) => decider.conduit(id)?.rateLimit,
  });
  await proxy.start(new AbortController().signal);
  const open = async (): Promise<Master> => {
    const master = connect({ host: '127.0.0.1', port: proxy.address().port, localAddress: SCADA });
    master.setNoDelay(true);
    const answers: { seq: number; fn: number; iin: number }[] = [];
    const stream = new Dnp3Stream({ fragment: (f) => { answers.push({ seq: f.seq, fn: f.fn, iin: f.iin }); }, service: () => undefined, error: (m) => { throw new Error(m); } });
    master.on('data', (d: Buffer) => stream.push(d));
    master.on('error', () => undefined);
    await new Promise((r) => master.once('connect', r));
    return { master, answers: () => answers };
  };
  const first = await open();
  return {
    ...first, proxy, events, received: () => Buffer.concat(got), connect: open,
    done: async () => { first.master.destroy(); await proxy.stop(); await new Promise((r) => server.close(r)); },
  };
}

const until = async (cond: () => boolean, what: string): Promise<void> => {
  for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), `timed out waiting for ${what}`);
};

/** Writes the pieces one by one, each after the proxy has had a turn to read the last (so each is its own read). */
async function writePieces(s: Socket, pieces: Buffer[]): Promise<void> {
  for (const p of pieces) {
    s.write(p);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a bad CRC in a later block of a frame read whole: malformed, connection closed, nothing forwarded', async () => {
  const r = await rig();
  try {
    await writePieces(r.master, [poll(0)]);
    await until(() => r.answers().length === 1, 'the first poll answered');
    const bad = longRead(1);
    assert.is(bad.length, 10 + 24 + 4, 'two data blocks');
    bad[10 + 18 + 3] ^= 0x40; // a byte of the second block (its CRC left as it was)
    let closed = false;
    r.master.once('close', () => { closed = true; });
    await writePieces(r.master, [bad]);
    await until(() => closed, 'the proxy to close the connection');
    assert.ok(r.events.some((e) => e.kind === 'malformed' && e.message === 'link data CRC mismatch in block 1'), 'audited as the second block');
    assert.ok(r.received().equals(poll(0)), 'the outstation got the first poll and nothing else');
  } finally { await r.done(); }
});

test('a denied request alone in its read is answered locally; the outstation never sees it', async () => {
  const r = await rig();
  try {
    await writePieces(r.master, [deniedRead(3)]);
    await until(() => r.answers().length === 1, 'the local answer');
    assert.equal(r.answers()[0], { seq: 3, fn: FC.RESPONSE, iin: Iin2.OBJECT_UNKNOWN });
    const op = request(4, FC.DIRECT_OPERATE, [{ group: 12, variation: 1, qualifier: 0x17, indices: [9], objects: [crob({ code: 0x41 })] }]);
    await writePieces(r.master, [op]);
    await until(() => r.answers().length === 2, 'the second local answer');
    assert.equal(r.answers()[1], { seq: 4, fn: FC.RESPONSE, iin: Iin2.PARAMETER_ERROR });
    await writePieces(r.master, [poll(5)]);
    await until(() => r.answers().length === 3, 'the poll answered');
    assert.ok(r.received().equals(poll(5)), 'only the poll reached the outstation');
    assert.equal(r.events.filter((e) => e.kind === 'decision' && e.dnp3).map((e) => e.decision!.reason ?? e.decision!.decision), ['object-not-allowed', 'address-out-of-range', 'allow']);
  } finally { await r.done(); }
});

test('two frames in one read: each decided on its own, only the allowed one forwarded, as its own bytes', async () => {
  const r = await rig();
  try {
    await writePieces(r.master, [Buffer.concat([poll(6), deniedRead(7)])]);
    await until(() => r.answers().length === 2, 'both answered');
    assert.ok(r.received().equals(poll(6)), 'the poll alone reached the outstation');
    assert.equal(r.answers().map((a) => [a.seq, a.iin & 0xff]).sort(), [[6, 0], [7, Iin2.OBJECT_UNKNOWN]]);
    // The other way round: the allowed frame second in the read.
    await writePieces(r.master, [Buffer.concat([deniedRead(8), poll(9)])]);
    await until(() => r.answers().length === 4, 'both answered');
    assert.ok(r.received().equals(Buffer.concat([poll(6), poll(9)])), 'the second poll alone added');
  } finally { await r.done(); }
});

test('frames cut across reads (in the header, in a block, glued to the next) reach the outstation byte for byte', async () => {
  const r = await rig();
  try {
    // a: cut in its header and in its second block, its tail glued to the head of b (a link
    // status request, no user data); c a byte at a time.
    const a = longRead(10), b = encodeLinkFrame({ control: LinkControl.DIR | LinkControl.PRM | LinkControl.REQUEST_LINK_STATUS, dest: 10, src: 1 }), c = longRead(12);
    const all = Buffer.concat([a, b]);
    await writePieces(r.master, [all.subarray(0, 5), all.subarray(5, 29), all.subarray(29, a.length + 3), all.subarray(a.length + 3)]);
    await until(() => r.answers().length === 1 && r.received().length === a.length + b.length, 'a answered, b relayed');
    await writePieces(r.master, [...c].map((x) => Buffer.from([x])));
    await until(() => r.answers().length === 2, 'c answered');
    assert.ok(r.received().equals(Buffer.concat([a, b, c])), 'relayed byte for byte');
    assert.equal(r.answers().map((x) => x.seq), [10, 12]);
    // A cut frame whose second block is bad is refused as the whole one is.
    const bad = longRead(13);
    bad[10 + 18 + 3] ^= 0x40;
    let closed = false;
    r.master.once('close', () => { closed = true; });
    await writePieces(r.master, [bad.subarray(0, 12), bad.subarray(12)]);
    await until(() => closed, 'the proxy to close the connection');
    assert.ok(r.events.some((e) => e.kind === 'malformed' && e.message === 'link data CRC mismatch in block 1'));
    assert.ok(r.received().equals(Buffer.concat([a, b, c])), 'nothing of the bad frame forwarded');
  } finally { await r.done(); }
});

test('a poll\'s audit text is reused only for the same function and headers: a changed header gets its own text', async () => {
  const r = await rig();
  try {
    const read = (seq: number, hs: HeaderSpec[]): Buffer => request(seq, FC.READ, hs);
    const asks = [poll(0), poll(1), read(2, [{ group: 30, variation: 1, qualifier: 0x00, start: 0, stop: 3 }]), read(3, [{ group: 30, variation: 1, qualifier: 0x00, start: 0, stop: 4 }]), read(4, [{ group: 30, variation: 1, qualifier: 0x00, start: 0, stop: 4 }]), poll(5)];
    for (const [i, ask] of asks.entries()) {
      await writePieces(r.master, [ask]);
      await until(() => r.answers().length === i + 1, `answer ${i}`);
    }
    const ds = r.events.filter((e) => e.kind === 'decision' && e.dnp3).map((e) => e.dnp3!);
    const all = ['g60v2 q06 all', 'g60v3 q06 all', 'g60v4 q06 all', 'g60v1 q06 all'];
    assert.equal(ds.map((d) => [d.seq, d.objects]), [[0, all], [1, all], [2, ['g30v1 q00 0-3']], [3, ['g30v1 q00 0-4']], [4, ['g30v1 q00 0-4']], [5, all]]);
    // A write of the same bytes after the function code is a different request: its own text.
    await writePieces(r.master, [request(6, FC.DIRECT_OPERATE, [{ group: 12, variation: 1, qualifier: 0x17, indices: [2], objects: [crob({ code: 0x41 })] }])]);
    await until(() => r.answers().length === 7, 'seven answers');
    await writePieces(r.master, [request(7, FC.SELECT, [{ group: 12, variation: 1, qualifier: 0x17, indices: [3], objects: [crob({ code: 0x41 })] }])]);
    await until(() => r.answers().length === 8, 'eight answers');
    const more = r.events.filter((e) => e.kind === 'decision' && e.dnp3).slice(6).map((e) => [e.dnp3!.name, e.dnp3!.objects, e.dnp3!.points]);
    assert.equal(more, [['direct-operate', ['g12v1 q17 2'], [2]], ['select', ['g12v1 q17 3'], [3]]]);
    // The same bytes after the function code read as other headers under another function: a
    // READ of g20v1 point 0 and g30v1 point 0, then a WRITE of g20v1 point 0 whose object is
    // those g30 bytes (denied: the policy writes only g50v1 and g80v1).
    const same = [20, 1, 0, 0, 0, 30, 1, 0, 0, 0];
    const readBoth = request(8, FC.READ, [{ group: 20, variation: 1, qualifier: 0x00, start: 0, stop: 0 }, { group: 30, variation: 1, qualifier: 0x00, start: 0, stop: 0 }]);
    const write = request(9, FC.WRITE, [{ group: 20, variation: 1, qualifier: 0x00, start: 0, stop: 0, data: Buffer.from([30, 1, 0, 0, 0]) }]);
    assert.ok(readBoth.subarray(13, 23).equals(Buffer.from(same)) && write.subarray(13, 23).equals(Buffer.from(same)), 'the same header bytes');
    await writePieces(r.master, [readBoth]);
    await until(() => r.answers().length === 9, 'nine answers');
    await writePieces(r.master, [write]);
    await until(() => r.answers().length === 10, 'ten answers');
    const last = r.events.filter((e) => e.kind === 'decision' && e.dnp3).slice(8).map((e) => [e.dnp3!.name, e.dnp3!.objects]);
    assert.equal(last, [['read', ['g20v1 q00 0', 'g30v1 q00 0']], ['write', ['g20v1 q00 0']]]);
  } finally { await r.done(); }
});

test('rate limits: the bucket looked up once per conduit and policy version, shared by the source\'s connections, a new limit taken up on reload', async () => {
  const doc = parsePolicy(text, { file: FILE });
  doc.conduits = doc.conduits.map((c) => (c.id === 'scada-polls-and-operates' ? { ...c, rateLimit: { perSecond: 0.01, burst: 3 } } : c));
  const decider = new IndexDecider(compile(doc, { version: '7' }));
  let clock = 1_000_000;
  const r = await rig({ decider, now: () => clock });
  try {
    const ask = async (seq: number, m: Master = r): Promise<number> => {
      const before = m.answers().length;
      await writePieces(m.master, [poll(seq)]);
      await until(() => m.answers().length === before + 1, `the answer to poll ${seq}`);
      return m.answers()[before].iin & 0xff;
    };
    assert.equal([await ask(0), await ask(1), await ask(2), await ask(3)], [0, 0, 0, Iin2.NO_FUNC_CODE_SUPPORT], 'a burst of 3');
    assert.is(r.proxy.stats.rateLimited, 1);
    clock += 100_000; // 0.01/s: one token
    assert.equal([await ask(4), await ask(5)], [0, Iin2.NO_FUNC_CODE_SUPPORT]);
    // Another connection from the same address draws on the same bucket.
    const other = await r.connect();
    assert.is(await ask(6, other), Iin2.NO_FUNC_CODE_SUPPORT);
    // A reload with a larger burst: the next request looks the bucket up again (a new limit: a full bucket).
    doc.conduits = doc.conduits.map((c) => (c.id === 'scada-polls-and-operates' ? { ...c, rateLimit: { perSecond: 0.01, burst: 5 } } : c));
    decider.setIndex(compile(doc, { version: '8' }));
    assert.equal([await ask(7), await ask(8)], [0, 0]);
    assert.ok(r.received().equals(Buffer.concat([0, 1, 2, 4, 7, 8].map(poll))), 'only the allowed polls reached the outstation');
    assert.equal(r.events.filter((e) => e.decision?.reason === 'rate-limited').length, 3);
    other.master.destroy();
  } finally { await r.done(); }
});

test.run();
