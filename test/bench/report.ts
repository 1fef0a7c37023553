/**
 * Prints a benchmark table, each figure beside its peer measured in the same run, with the
 * ratio, and appends it as markdown to the file named by ZG_BENCH_TABLE (build/run-bench.mjs
 * gathers them into .out/bench.md for the README) and its rows as a JSON line to ZG_BENCH_ROWS
 * (the proxies' combined table, proxy-table.ts).
 */
import { appendFileSync } from 'node:fs';

export interface BenchRow {
  /** What was measured, e.g. "decision, 10,000 conduits (median)". */
  what: string;
  value: number;
  unit: string;
  /** The peer measured in the same run, e.g. "Int32Array lookup". */
  peer?: string;
  peerValue?: number;
  /** How to read the ratio: 'lower' if lower values are better (latency), 'higher' (throughput). */
  better?: 'lower' | 'higher';
  /** The goal in words, e.g. "≤ 200 ns". */
  goal?: string;
}

const fmt = (n: number): string =>
  n >= 100 ? Math.round(n).toLocaleString('en-US') : n >= 10 ? n.toFixed(1) : n >= 1 ? n.toFixed(2) : n.toPrecision(2);

export function printTable(title: string, rows: BenchRow[], notes: string[] = []): void {
  const header = ['measure', 'zonegate', 'peer', 'peer value', 'ratio', 'goal'];
  const body = rows.map((r) => [
    r.what,
    `${fmt(r.value)} ${r.unit}`,
    r.peer ?? '',
    r.peerValue !== undefined ? `${fmt(r.peerValue)} ${r.unit}` : '',
    r.peerValue ? `${(r.value / r.peerValue).toFixed(2)}×` : '',
    r.goal ?? '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ');
  console.log(`\n${title}\n${line(header)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}`);
  for (const b of body) console.log(line(b));
  for (const n of notes) console.log(`  ${n}`);
  const md = [`### ${title}`, '', `| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`,
    ...body.map((b) => `| ${b.join(' | ')} |`), ...(notes.length ? ['', ...notes.map((n) => `- ${n}`)] : []), ''].join('\n');
  if (process.env.ZG_BENCH_TABLE) appendFileSync(process.env.ZG_BENCH_TABLE, `${md}\n`);
  // The rows as data, for the tables build/run-bench.mjs combines at the end (proxy-table.ts).
  if (process.env.ZG_BENCH_ROWS) appendFileSync(process.env.ZG_BENCH_ROWS, `${JSON.stringify({ title, rows })}\n`);
}

/** Median and p99 of a sample of numbers (sorted copy). */
export function percentiles(samples: number[] | Float64Array): { p50: number; p99: number; mean: number } {
  const s = Float64Array.from(samples).sort();
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  let sum = 0; for (const x of s) sum += x;
  return { p50: at(0.5), p99: at(0.99), mean: sum / s.length };
}
