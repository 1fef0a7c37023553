import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { blobStoreContract } from './blob-store.contract';
import { FsBlobStore } from '../../runtime/store/fs-blob-store';
import { MemoryBlobStore } from '../../runtime/store/memory-blob-store';

const dirs: string[] = [];
const fresh = () => { const d = mkdtempSync(join(tmpdir(), 'zg-blob-')); dirs.push(d); return d; };

blobStoreContract(test, 'memory', async () => new MemoryBlobStore());
blobStoreContract(test, 'fs', async () => FsBlobStore.open({ dir: join(fresh(), 'state') }));

test('fs: open sweeps temp files a crash left; blobs are mode 0600 in a 0700 folder', async () => {
  const dir = join(fresh(), 'state');
  let s = await FsBlobStore.open({ dir });
  await s.write('keep', new Uint8Array([1]));
  writeFileSync(join(dir, '.keep.tmp-123-abcd'), 'torn');
  s = await FsBlobStore.open({ dir });
  assert.equal(readdirSync(dir), ['keep']);
  assert.is(statSync(join(dir, 'keep')).mode & 0o777, 0o600);
  assert.is(statSync(dir).mode & 0o777, 0o700);
});

test('fs: a failed write leaves the old blob and no temp file', async () => {
  const dir = join(fresh(), 'state');
  const s = await FsBlobStore.open({ dir });
  await s.write('a', new Uint8Array([1, 2]));
  rmSync(dir, { recursive: true });
  try { await s.write('a', new Uint8Array([3])); assert.unreachable(); } catch (e) { assert.is((e as { code?: string }).code, 'ERR_STORAGE'); }
});

test('fs: commit leaves no temp file; a failed commit is ERR_STORAGE and leaves none either', async () => {
  const dir = join(fresh(), 'state');
  const s = await FsBlobStore.open({ dir });
  await s.write('a', new Uint8Array([1]));
  await s.commit({ moves: [{ from: 'a', to: 'b' }], writes: [{ name: 'a', bytes: new Uint8Array([2]) }, { name: 'c', bytes: new Uint8Array([3]) }] });
  assert.equal(readdirSync(dir), ['a', 'b', 'c']);
  assert.is(statSync(join(dir, 'a')).mode & 0o777, 0o600);
  // A blob name taken by a folder: the rename over it fails after the temp files were written.
  mkdirSync(join(dir, 'd'));
  writeFileSync(join(dir, 'd', 'x'), 'occupied');
  try {
    await s.commit({ writes: [{ name: 'a', bytes: new Uint8Array([4]) }, { name: 'd', bytes: new Uint8Array([5]) }] });
    assert.unreachable();
  } catch (e) {
    assert.is((e as { code?: string }).code, 'ERR_STORAGE');
    assert.match((e as Error).message, 'cannot commit a, d');
  }
  assert.equal(readdirSync(dir).filter((n) => n.startsWith('.')), [], 'no temp file left');
});

test.after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
test.run();
