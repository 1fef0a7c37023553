/**
 * `make install` (build/install-prefix.sh): the bundle and argon2 under PREFIX/lib/zonegate, and a
 * `zonegate` wrapper in PREFIX/bin that runs it with build/node-flags; DESTDIR stages the files
 * while the wrapper names PREFIX. Runs the installed command from another folder.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'zg-install-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const built = existsSync('dist/zonegate.js') ? null : 'dist/zonegate.js is not built (make test builds it first)';

test('make install puts a zonegate wrapper with the gateway node flags on PREFIX/bin', () => {
  if (built) { console.log(`SKIP: ${built}`); return; }
  const prefix = join(dir, 'usr');
  const r = spawnSync('bash', ['build/install-prefix.sh', prefix], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  const wrapper = readFileSync(join(prefix, 'bin/zonegate'), 'utf8');
  assert.ok(wrapper.includes(readFileSync('build/node-flags', 'utf8').trim()), wrapper);
  assert.ok(wrapper.includes(`"${prefix}/lib/zonegate/zonegate.js"`));
  assert.is(statSync(join(prefix, 'bin/zonegate')).mode & 0o777, 0o755);
  const v = spawnSync(join(prefix, 'bin/zonegate'), ['version'], { cwd: dir, encoding: 'utf8' });
  assert.is(v.status, 0, v.stderr);
  assert.match(v.stdout, /^zonegate \d+\.\d+\.\d+/);
  // argon2 (native) loads from the installed copy: hashing a password works from anywhere.
  const h = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(join(prefix, 'lib/zonegate/node_modules/@node-rs/argon2'))}).hashSync('x')`], { cwd: dir, encoding: 'utf8' });
  assert.is(h.status, 0, h.stderr);
});

test('DESTDIR stages the files; the wrapper names PREFIX; a relative PREFIX is a usage error', () => {
  if (built) { console.log(`SKIP: ${built}`); return; }
  const stage = join(dir, 'stage');
  const r = spawnSync('bash', ['build/install-prefix.sh', '/opt/zg', stage], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  assert.ok(existsSync(join(stage, 'opt/zg/lib/zonegate/zonegate.js')));
  assert.match(readFileSync(join(stage, 'opt/zg/bin/zonegate'), 'utf8'), /"\/opt\/zg\/lib\/zonegate\/zonegate\.js"/);
  const bad = spawnSync('bash', ['build/install-prefix.sh', 'relative/prefix'], { encoding: 'utf8' });
  assert.is(bad.status, 2);
  assert.match(bad.stderr, /PREFIX must be absolute/);
});

test.run();
