/**
 * The one contract every BlobStore implementation passes (like MQTT.js test/node/abstract_store.ts):
 * call blobStoreContract(suite, name, factory) and run the suite.
 */
import * as assert from 'uvu/assert';
import type { Test } from 'uvu';
import type { BlobStore } from '../../runtime/store/blob-store';

export function blobStoreContract(suite: Test, name: string, factory: () => Promise<BlobStore>): void {
  const bytes = (s: string) => new TextEncoder().encode(s);
  const text = (b: Uint8Array | null) => (b === null ? null : new TextDecoder().decode(b));

  suite(`${name}: read of a missing blob is null`, async () => {
    const s = await factory();
    assert.is(await s.read('nothing'), null);
  });

  suite(`${name}: write then read returns the exact bytes, a copy`, async () => {
    const s = await factory();
    const b = Uint8Array.from([0, 1, 2, 255, 0x9f]);
    await s.write('a.bin', b);
    b[0] = 99;
    const got = await s.read('a.bin');
    assert.equal(Array.from(got!), [0, 1, 2, 255, 0x9f]);
    got![1] = 77;
    assert.equal(Array.from((await s.read('a.bin'))!), [0, 1, 2, 255, 0x9f]);
  });

  suite(`${name}: write replaces, including with empty and larger content`, async () => {
    const s = await factory();
    await s.write('x', bytes('first'));
    await s.write('x', bytes(''));
    assert.is(text(await s.read('x')), '');
    const big = new Uint8Array(300_000).fill(7);
    await s.write('x', big);
    assert.is((await s.read('x'))!.length, 300_000);
  });

  suite(`${name}: list is sorted and shows only blobs`, async () => {
    const s = await factory();
    await s.write('b', bytes('1'));
    await s.write('a', bytes('2'));
    await s.write('c.d-e_f', bytes('3'));
    assert.equal(await s.list(), ['a', 'b', 'c.d-e_f']);
  });

  suite(`${name}: remove deletes and is a no-op when absent`, async () => {
    const s = await factory();
    await s.write('a', bytes('1'));
    await s.remove('a');
    await s.remove('a');
    assert.is(await s.read('a'), null);
    assert.equal(await s.list(), []);
  });

  suite(`${name}: rename moves a blob over another; a missing source is ERR_STORAGE`, async () => {
    const s = await factory();
    await s.write('a', bytes('new'));
    await s.write('b', bytes('old'));
    await s.rename('a', 'b');
    assert.is(await s.read('a'), null);
    assert.is(text(await s.read('b')), 'new');
    assert.equal(await s.list(), ['b']);
    try { await s.rename('a', 'c'); assert.unreachable(); } catch (e) { assert.is((e as { code?: string }).code, 'ERR_STORAGE'); }
    assert.equal(await s.list(), ['b']);
  });

  suite(`${name}: invalid names are programmer errors (TypeError)`, async () => {
    const s = await factory();
    for (const bad of ['', '../x', 'a/b', '.hidden', 'x'.repeat(200)]) {
      try { await s.write(bad, bytes('1')); assert.unreachable(`accepted ${bad}`); } catch (e) { assert.instance(e, TypeError); }
    }
  });

  suite(`${name}: commit moves first, then replaces each written blob; a missing source is skipped`, async () => {
    const s = await factory();
    await s.write('active', bytes('v1'));
    await s.write('previous', bytes('v0'));
    await s.write('hwm', bytes('1'));
    const w2 = bytes('v2');
    const r = await s.commit({ moves: [{ from: 'active', to: 'previous' }, { from: 'absent', to: 'other' }], writes: [{ name: 'active', bytes: w2 }, { name: 'hwm', bytes: bytes('2') }] });
    w2[0] = 0;
    assert.equal(r.moved, [true, false]);
    assert.is(text(await s.read('active')), 'v2', 'the exact bytes, copied');
    assert.is(text(await s.read('previous')), 'v1');
    assert.is(text(await s.read('hwm')), '2');
    assert.equal(await s.list(), ['active', 'hwm', 'previous']);
    // Writes alone, to blobs that did not exist.
    assert.equal((await s.commit({ writes: [{ name: 'new-1', bytes: bytes('') }, { name: 'new-2', bytes: new Uint8Array(200_000).fill(3) }] })).moved, []);
    assert.is(text(await s.read('new-1')), '');
    assert.is((await s.read('new-2'))!.length, 200_000);
    assert.equal(await s.list(), ['active', 'hwm', 'new-1', 'new-2', 'previous']);
    for (const bad of [{ writes: [{ name: '../x', bytes: bytes('1') }] }, { moves: [{ from: 'active', to: '.x' }], writes: [] }]) {
      try { await s.commit(bad); assert.unreachable('accepted a bad name'); } catch (e) { assert.instance(e, TypeError); }
    }
    assert.is(text(await s.read('active')), 'v2', 'nothing done on a bad name');
  });

  suite(`${name}: concurrent writes of one blob end with one of the values, whole`, async () => {
    const s = await factory();
    const values = Array.from({ length: 20 }, (_, i) => bytes(String(i).repeat(1000)));
    await Promise.all(values.map((v) => s.write('race', v)));
    const got = text(await s.read('race'))!;
    assert.ok(values.some((v) => text(v) === got), 'one whole value');
    assert.equal(await s.list(), ['race']);
  });
}
