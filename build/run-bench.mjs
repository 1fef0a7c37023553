// Runs the benchmarks in test/bench/*.bench.ts one after another (never in parallel: they
// measure), each bundled by esbuild and run in its own node process. Each prints its own table;
// the tables are gathered into .out/bench.md. Usage: node build/run-bench.mjs [name-filter]
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { readdirSync, writeFileSync, mkdirSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { asciiOnly } from './ascii.mjs';

const root = new URL('..', import.meta.url).pathname;
const filter = process.argv[2] ?? '';
const files = readdirSync(join(root, 'test/bench')).filter((f) => f.endsWith('.bench.ts') && f.includes(filter)).sort();
const outDir = join(root, '.out', `bench-${process.pid}`);
process.on('exit', () => rmSync(outDir, { recursive: true, force: true }));
await build({
  entryPoints: files.map((f) => join(root, 'test/bench', f)),
  outdir: outDir, bundle: true, platform: 'node', format: 'cjs', target: 'node18',
  packages: 'external', sourcemap: 'inline', logLevel: 'warning',
});
for (const f of files) asciiOnly(join(outDir, f.replace(/\.ts$/, '.js')));
mkdirSync(join(root, '.out/bench'), { recursive: true });
const tables = [];
let failed = 0;
for (const f of files) {
  const name = f.replace(/\.bench\.ts$/, '');
  const tableFile = join(root, '.out/bench', `${name}.md`);
  rmSync(tableFile, { force: true });
  console.log(`\n=== bench ${name}`);
  const r = spawnSync(process.execPath, [...process.execArgv, '--expose-gc', '--enable-source-maps', join(outDir, f.replace(/\.ts$/, '.js'))], {
    cwd: root, stdio: 'inherit', env: { ...process.env, ZG_BENCH_TABLE: tableFile }, timeout: 15 * 60_000,
  });
  if (r.status !== 0) { failed += 1; console.log(`bench ${name} failed (exit ${r.status ?? r.signal})`); }
  if (existsSync(tableFile)) tables.push(readFileSync(tableFile, 'utf8'));
}
writeFileSync(join(root, '.out/bench.md'), tables.join('\n'));
console.log(`\nall tables: .out/bench.md${failed ? ` (${failed} bench(es) failed)` : ''}`);
process.exit(failed ? 1 : 0);
