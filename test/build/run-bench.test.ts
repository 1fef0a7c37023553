/**
 * build/run-bench.mjs over the stand-in benches in test/fixtures/bench: each bench's own tables
 * are printed as before, and after the last one the proxies' figures in one table (issue 17:
 * "in the same table as Modbus and DNP3"), also in bench.md; a name filter runs one bench and
 * combines only its rows; tables that are no proxy's stay out of it.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const COMBINED = 'Protocol proxies side by side';

function run(filter?: string): { code: number | null; out: string; md: string } {
  const dir = mkdtempSync(join(tmpdir(), 'zg-run-bench-'));
  try {
    const r = spawnSync(process.execPath, ['build/run-bench.mjs', ...(filter ? [filter] : [])], {
      encoding: 'utf8', timeout: 120_000, env: { ...process.env, ZG_BENCH_DIR: 'test/fixtures/bench', ZG_BENCH_OUT: dir },
    });
    return { code: r.status, out: `${r.stdout}${r.stderr}`, md: readFileSync(join(dir, 'bench.md'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The line of the combined table for this exchange and connection count. */
const lineOf = (text: string, exchange: string, conn: number): string => text.split('\n').find((l) => l.startsWith(exchange) && l.slice(exchange.length).trim().startsWith(`${conn} `)) ?? '';

test('every bench prints its own tables, then one table of both proxies at the end (and in bench.md)', () => {
  const { code, out, md } = run();
  assert.is(code, 0, out);
  const combined = out.indexOf(COMBINED);
  assert.ok(out.indexOf('Alpha proxy: poll round trips, closed loop') >= 0 && out.indexOf('Beta proxy: command') >= 0, out);
  assert.ok(combined > out.indexOf('Beta proxy: command'), `combined table after the last bench:\n${out}`);
  const tail = out.slice(combined);
  assert.match(lineOf(tail, 'Alpha proxy: poll round trips', 1), /4,000 req\/s\s+5,000\s+9,000\s+0\.80×\s+60\.0 µs\s+40\.0 µs\s+1\.50×/);
  assert.match(lineOf(tail, 'Alpha proxy: poll round trips', 32), /12,000 req\/s\s+10,000\s+20,000\s+1\.20×\s+30\.0 µs\s+20\.0 µs\s+1\.50×/);
  assert.match(lineOf(tail, 'Beta proxy: command to its confirmation', 1), /3,000 req\/s\s+8,000/);
  assert.not.match(tail, /parse a frame/);
  assert.ok(md.includes(`### ${COMBINED}`), md);
  assert.match(md, /\| Alpha proxy: poll round trips \| 32 \| 12,000 req\/s \| 10,000 \| 20,000 \| 1\.20× \| 30\.0 µs \| 20\.0 µs \| 1\.50× \|/);
});

test('a filter runs one bench: its own table as before, the combined table with its rows only', () => {
  const { code, out } = run('beta');
  assert.is(code, 0, out);
  assert.not.match(out, /Alpha/);
  const tail = out.slice(out.indexOf(COMBINED));
  assert.ok(out.includes(COMBINED) && lineOf(tail, 'Beta proxy: command to its confirmation', 1).length > 0, out);
});

test.run();
