/**
 * lintian on the Debian package (build/deb.mjs), built here for amd64: no error. setup-deps
 * installs lintian as root; without it the test says SKIP with the reason. The package's control
 * fields, contents and the extracted bundle are checked in deb.test.ts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'zg-deb-lintian-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const VERSION = '9.8.7';
const deb = join(dir, `zonegate_${VERSION}_amd64.deb`);
const dpkgDeb = spawnSync('dpkg-deb', ['--version']).error ? 'dpkg-deb is not installed (not a Debian system)' : null;

function build(): void {
  const r = spawnSync(process.execPath, ['build/deb.mjs', '--arch', 'amd64', '--version', VERSION, '--out-dir', dir], { encoding: 'utf8', timeout: 240_000 });
  assert.is(r.status, 0, `${r.stdout}${r.stderr}`);
}

test('lintian reports no errors', () => {
  if (dpkgDeb) { console.log(`SKIP: ${dpkgDeb}`); return; }
  if (spawnSync('lintian', ['--version']).error) { console.log('SKIP: lintian is not installed (make test installs it as root)'); return; }
  build();
  const r = spawnSync('lintian', ['--no-tag-display-limit', deb], { encoding: 'utf8', timeout: 240_000 });
  const errors = `${r.stdout}${r.stderr}`.split('\n').filter((l) => /^E: /.test(l));
  assert.equal(errors, []);
  console.log(`  lintian: ${`${r.stdout}`.split('\n').filter((l) => /^[WI]: /.test(l)).length} warning/info line(s), no errors`);
});

test.run();
