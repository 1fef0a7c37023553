/**
 * build/run-tests.mjs itself, run on the fixture files in test/fixtures/runner: an error thrown
 * in a uvu before or after hook is printed with its message and fails the file (uvu alone prints
 * "(0 / 2)" and exits 0), a file that never prints uvu's summary fails, a passing file passes.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';

const fixtures = ['before-throws', 'after-throws', 'no-run', 'passes'].map((n) => `test/fixtures/runner/${n}.test.ts`);

// One run of the runner over the four fixtures (each run bundles; once keeps this file fast).
let ran: { code: number | null; out: string } | undefined;
function run(): { code: number | null; out: string } {
  if (ran) return ran;
  const r = spawnSync(process.execPath, ['build/run-tests.mjs', ...fixtures], { encoding: 'utf8', timeout: 120_000 });
  return (ran = { code: r.status, out: `${r.stdout}${r.stderr}` });
}

/** The runner's output for one fixture file: from its "── FILE" header to the next one. */
function section(name: string): string {
  const { out } = run();
  const at = out.indexOf(`── test/fixtures/runner/${name}.test.ts`);
  assert.ok(at >= 0, out);
  const next = out.indexOf('\n── ', at + 1);
  return out.slice(at, next < 0 ? undefined : next);
}

test('a before hook error is printed with its message and fails the file', () => {
  const out = section('before-throws');
  assert.match(out, /\[run-tests\] before hook failed: Error: fixture: the peer did not start/);
  assert.match(out, /exit 1\)/);
  assert.match(run().out, /failing files:\n(\s+test\/fixtures\/runner\/\S+\n)*\s+test\/fixtures\/runner\/before-throws\.test\.ts/);
});

test('an after hook error is printed, the next after hook still runs, and the file fails', () => {
  const out = section('after-throws');
  assert.match(out, /\[run-tests\] after hook of suite "cleanup" failed: Error: fixture: cleanup failed/);
  assert.match(out, /second after hook ran: true/);
  assert.match(out, /exit 1\)/);
});

test('a file that never prints the uvu summary fails; a passing file passes; the totals add up', () => {
  assert.match(section('no-run'), /exited without uvu's summary/);
  assert.match(section('passes'), /exit 0\)/);
  const { code, out } = run();
  assert.is(code, 1, out);
  const failing = out.slice(out.indexOf('failing files:'), out.lastIndexOf('\n\n'));
  assert.not.match(failing, /passes\.test\.ts/);
  // before-throws: 2 tests never ran; after-throws: 1 passed + its hook; no-run: 1; passes: 1 passed.
  assert.match(out, /\n2 passed, 4 failed\n/);
});

test.run();
