// Runs the benchmarks in test/bench/*.bench.ts one after another (never in parallel: they
// measure), each bundled by esbuild and run in its own node process. Each prints its own table;
// the tables are gathered into .out/bench.md, and the protocol proxies' figures (Modbus, DNP3,
// IEC 104) are printed once more at the end in one table (test/bench/proxy-table.ts).
// Usage: node build/run-bench.mjs [name-filter]
// ZG_BENCH_DIR / ZG_BENCH_OUT: another folder of benches, another output folder (tests).
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { readdirSync, writeFileSync, mkdirSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { asciiOnly } from './ascii.mjs';

const root = new URL('..', import.meta.url).pathname;
const filter = process.argv[2] ?? '';
const benchDir = resolve(root, process.env.ZG_BENCH_DIR ?? 'test/bench');
const out = resolve(root, process.env.ZG_BENCH_OUT ?? '.out');
const files = readdirSync(benchDir).filter((f) => f.endsWith('.bench.ts') && f.includes(filter)).sort();
const outDir = join(root, '.out', `bench-${process.pid}`);
process.on('exit', () => rmSync(outDir, { recursive: true, force: true }));
await build({
  entryPoints: Object.fromEntries([...files.map((f) => [f.replace(/\.ts$/, ''), join(benchDir, f)]), ['proxy-table', join(root, 'test/bench/proxy-table.ts')]]),
  outdir: outDir, bundle: true, platform: 'node', format: 'cjs', target: 'node18',
  packages: 'external', sourcemap: 'inline', logLevel: 'warning',
});
for (const f of files) asciiOnly(join(outDir, f.replace(/\.ts$/, '.js')));
mkdirSync(join(out, 'bench'), { recursive: true });
const tables = [];
const rowFiles = [];
let failed = 0;
for (const f of files) {
  const name = f.replace(/\.bench\.ts$/, '');
  const tableFile = join(out, 'bench', `${name}.md`);
  const rowsFile = join(out, 'bench', `${name}.rows.jsonl`);
  rmSync(tableFile, { force: true });
  rmSync(rowsFile, { force: true });
  console.log(`\n=== bench ${name}`);
  const r = spawnSync(process.execPath, [...process.execArgv, '--expose-gc', '--enable-source-maps', join(outDir, f.replace(/\.ts$/, '.js'))], {
    cwd: root, stdio: 'inherit', env: { ...process.env, ZG_BENCH_TABLE: tableFile, ZG_BENCH_ROWS: rowsFile }, timeout: 15 * 60_000,
  });
  if (r.status !== 0) { failed += 1; console.log(`bench ${name} failed (exit ${r.status ?? r.signal})`); }
  if (existsSync(tableFile)) tables.push(readFileSync(tableFile, 'utf8'));
  rowFiles.push(rowsFile);
}
// The proxies side by side (printed only when a proxy bench ran).
const combinedFile = join(out, 'bench', 'proxies.md');
rmSync(combinedFile, { force: true });
spawnSync(process.execPath, [join(outDir, 'proxy-table.js'), '--combine', ...rowFiles], { cwd: root, stdio: 'inherit', env: { ...process.env, ZG_BENCH_TABLE: combinedFile } });
if (existsSync(combinedFile)) tables.push(readFileSync(combinedFile, 'utf8'));
writeFileSync(join(out, 'bench.md'), tables.join('\n'));
console.log(`\nall tables: ${join(out, 'bench.md')}${failed ? ` (${failed} bench(es) failed)` : ''}`);
process.exit(failed ? 1 : 0);
