// build/ascii.mjs: the bundles are pure ASCII (a character past Latin-1 made V8 hold the whole
// 3.5 MB script source as a two-byte string, 6.9 MiB of heap in every command and the gateway).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
// @ts-expect-error a build script (plain ESM JavaScript, no types)
import { asciiOnly } from '../../build/ascii.mjs';

const NON_ASCII = /[^\x00-\x7f]/;

test('asciiOnly leaves code that means the same, in pure ASCII', () => {
  const dir = mkdtempSync(join(tmpdir(), 'zg-ascii-'));
  try {
    const file = join(dir, 'b.js');
    writeFileSync(file, '/** role → zone — § 2.7 */\n({ re: /[+-]([^°]*)/g.source, m: "-12°".match(/[+-]([^°]*)/)[1], s: "été 😀", t: `a→b` })\n');
    const before = runInNewContext(readFileSync(file, 'utf8')) as Record<string, string>;
    (asciiOnly as (f: string) => void)(file);
    const text = readFileSync(file, 'utf8');
    assert.not.ok(NON_ASCII.test(text), text);
    const after = runInNewContext(text) as Record<string, string>;
    assert.equal(after.m, before.m);
    assert.equal(after.s, before.s);
    assert.equal(after.t, before.t);
    assert.equal(new RegExp(after.re).exec('+x°')?.[1], 'x');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the built CLI is pure ASCII (zonegate.js and every chunk)', () => {
  if (!existsSync('dist/zonegate.js')) { console.log('SKIP: dist/zonegate.js is not built (make test builds it first)'); return; }
  const files = ['dist/zonegate.js', ...readdirSync('dist/chunks').filter((f) => f.endsWith('.js')).map((f) => `dist/chunks/${f}`)];
  assert.ok(files.length > 2, files.join(', '));
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    const at = text.search(NON_ASCII);
    assert.ok(at < 0, `${f}: non-ASCII at ${at}: ${text.slice(Math.max(0, at - 60), at + 20)}`);
  }
});

test.run();
