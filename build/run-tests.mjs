// Runs the uvu test files: each test/**/*.test.ts is bundled by esbuild (node_modules stay
// external) into .out/ and run in its own node process, cores + 1 at a time, so that one file's
// servers or timers cannot leak into another. Prints every file's output and one closing line
// "N passed, N failed". Usage: node build/run-tests.mjs [path-prefix ...]
import { build } from 'esbuild';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { cpus } from 'node:os';

const root = new URL('..', import.meta.url).pathname;
const filters = process.argv.slice(2).map((p) => relative(root, join(process.cwd(), p)));
const perFileTimeoutMs = Number(process.env.ZG_TEST_TIMEOUT_MS ?? 300_000);
// One more file than cores: many files wait on peers, sockets and child processes (3 on 2 cores
// measured 177 s against 200 s for 2, same results).
const jobs = Number(process.env.ZG_TEST_JOBS ?? cpus().length + 1);

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) { if (name !== 'bench' && name !== 'fixtures') out.push(...walk(p)); }
    else if (name.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out.sort();
}

// A filter naming one .test.ts file runs it even where the walk does not look (test/fixtures/runner).
const named = filters.filter((f) => f.endsWith('.test.ts') && existsSync(join(root, f)));
const files = [...new Set([...walk(join(root, 'test')).filter((f) => filters.length === 0 || filters.some((p) => f.startsWith(p))), ...named])];
if (files.length === 0) { console.error('no test files match'); process.exit(2); }

// Each run builds into its own folder, so that runs side by side never see each other's files.
const outDir = join(root, '.out', `run-${process.pid}`);
rmSync(outDir, { recursive: true, force: true });
process.on('exit', () => rmSync(outDir, { recursive: true, force: true }));
await build({
  entryPoints: files.map((f) => join(root, f)),
  outdir: outDir, outbase: root,
  bundle: true, platform: 'node', format: 'cjs', target: 'node18',
  packages: 'external', sourcemap: 'inline', logLevel: 'warning',
});

const strip = (s) => s.replace(/\x1b\[[0-9;]*m/g, '');
let passed = 0, failed = 0, skipped = 0;
const failedFiles = [];

function runOne(file) {
  const js = join(outDir, file.replace(/\.ts$/, '.js'));
  return new Promise((resolve) => {
    const started = Date.now();
    // build/uvu-hooks.cjs prints every error thrown in a before/after hook and fails the file.
    const child = spawn(process.execPath, ['--enable-source-maps', '--require', join(root, 'build/uvu-hooks.cjs'), js], {
      // NODE_PATH: CLIs that tests bundle into temp folders still find the external native modules.
      cwd: root, env: { ...process.env, FORCE_COLOR: '0', NODE_PATH: join(root, 'node_modules') }, stdio: ['ignore', 'pipe', 'pipe'], detached: true,
    });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    const timer = setTimeout(() => {
      out += `\n[run-tests] ${file} timed out after ${perFileTimeoutMs} ms; killed\n`;
      try { process.kill(-child.pid, 'SIGKILL'); } catch { child.kill('SIGKILL'); }
    }, perFileTimeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      const text = strip(out);
      const total = Number(/Total:\s+(\d+)/.exec(text)?.[1] ?? 0);
      const ok = Number(/Passed:\s+(\d+)/.exec(text)?.[1] ?? 0);
      const skip = Number(/Skipped:\s+(\d+)/.exec(text)?.[1] ?? 0);
      // uvu's Total counts the tests that ran (skipped ones are not in it). A file that exits
      // non-zero, or never prints uvu's summary, fails even when every test it ran passed.
      const summary = /Total:\s+\d+/.test(text);
      if (!summary && code === 0) out += `\n[run-tests] ${file} exited without uvu's summary (no test.run()?)\n`;
      const bad = total - ok + ((code !== 0 || !summary) && total - ok === 0 ? 1 : 0);
      passed += ok; skipped += skip; failed += bad;
      if (bad > 0) failedFiles.push(file);
      process.stdout.write(`\n── ${file} (${((Date.now() - started) / 1000).toFixed(1)} s, exit ${code})\n${out}`);
      resolve();
    });
  });
}

// The longest files start first, so that the two workers end together instead of one of them
// running a 40-second file alone at the end (durations measured on the developer machine).
const SLOW_FIRST = [
  'test/demo.test.ts', 'test/fleet/console/console-browser.test.ts', 'test/build/deb.test.ts', 'test/build/deb-lintian.test.ts',
  'test/drivers/nftables-netns.test.ts', 'test/update/ab-hang.test.ts', 'test/update/ab-refused.test.ts', 'test/update/ab.test.ts',
  'test/update/ab-rollback.test.ts', 'test/readme.test.ts', 'test/build/cli-start.test.ts', 'test/drivers/libmodbus-suite.test.ts', 'test/drivers/modbus-discover.test.ts',
  'test/e2e/gateway-lifecycle.test.ts', 'test/runtime/gateway.test.ts',
];
const rank = (f) => { const i = SLOW_FIRST.indexOf(f); return i < 0 ? SLOW_FIRST.length : i; };
const queue = [...files].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
await Promise.all(Array.from({ length: jobs }, async () => { while (queue.length) await runOne(queue.shift()); }));
if (failedFiles.length) console.log(`\nfailing files:\n  ${failedFiles.join('\n  ')}`);
console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 ? 1 : 0);
