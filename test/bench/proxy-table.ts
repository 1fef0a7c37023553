/**
 * The protocol proxies in one table (issue 17: "in the same table as Modbus and DNP3"): each
 * proxy bench (modbus-proxy, dnp3-proxy, iec104-proxy) prints its own tables, and printTable
 * (report.ts) also records their rows as JSON lines in the file ZG_BENCH_ROWS names;
 * build/run-bench.mjs then runs this file (`--combine FILE...`) once the benches are done, and
 * it prints one table: per exchange and connection count, zonegate's req/s beside HAProxy's and
 * direct, and its CPU per request beside HAProxy's, each with the ratio. Each row's figures come
 * from one bench run (the same run for zonegate and its peers); rows of different protocols come
 * from the benches run one after another.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import type { BenchRow } from './report';

/** One printed table, as report.ts records it. */
export interface RecordedTable { title: string; rows: BenchRow[] }

const PROXY_TITLE = /^(.*? proxy: .*?), closed loop/;
const RATE = /^req\/s, (\d+) conn \(direct = limit: ([\d,]+)\)/;
const CPU = /^proxy CPU per request \(user\+sys\), (\d+) conn/;

const HEADER = ['exchange', 'conn', 'zonegate', 'HAProxy', 'direct', 'ratio', 'CPU per request', 'HAProxy CPU', 'ratio'];

const num = (n: number): string => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1));
const ratio = (a: number, b: number | undefined): string => (b ? `${(a / b).toFixed(2)}×` : '');

/** The combined rows (cells as printed), one per proxy table and connection count, in the order given. */
export function combineProxyTables(tables: readonly RecordedTable[]): string[][] {
  const out: string[][] = [];
  for (const t of tables) {
    const m = PROXY_TITLE.exec(t.title);
    if (m === null) continue;
    const byConn = new Map<string, { rate?: BenchRow; direct?: string; cpu?: BenchRow }>();
    for (const r of t.rows) {
      const rate = RATE.exec(r.what), cpu = CPU.exec(r.what);
      if (rate !== null) byConn.set(rate[1], { ...byConn.get(rate[1]), rate: r, direct: rate[2] });
      else if (cpu !== null) byConn.set(cpu[1], { ...byConn.get(cpu[1]), cpu: r });
    }
    for (const [conn, { rate, direct, cpu }] of byConn) {
      if (rate === undefined) continue;
      out.push([
        m[1], conn, `${num(rate.value)} req/s`, rate.peerValue !== undefined ? num(rate.peerValue) : '', direct ?? '', ratio(rate.value, rate.peerValue),
        cpu ? `${num(cpu.value)} µs` : '', cpu?.peerValue !== undefined ? `${num(cpu.peerValue)} µs` : '', cpu ? ratio(cpu.value, cpu.peerValue) : '',
      ]);
    }
  }
  return out;
}

/** The combined table as printed text and as markdown (null when no proxy table was recorded). */
export function renderProxyTable(tables: readonly RecordedTable[]): { text: string; markdown: string } | null {
  const body = combineProxyTables(tables);
  if (body.length === 0) return null;
  const title = 'Protocol proxies side by side: round trips through zonegate, HAProxy (mode tcp) and direct, closed loop';
  const note = 'Each row from its own bench run (zonegate, HAProxy and direct measured in the same run, interleaved); ratios are zonegate ÷ HAProxy. Details and latencies: the tables above.';
  const widths = HEADER.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i])).join('  ');
  const text = [title, line(HEADER), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line), `  ${note}`].join('\n');
  const markdown = [`### ${title}`, '', `| ${HEADER.join(' | ')} |`, `|${HEADER.map(() => '---').join('|')}|`, ...body.map((b) => `| ${b.join(' | ')} |`), '', `- ${note}`, ''].join('\n');
  return { text, markdown };
}

/** Reads the JSON lines files report.ts wrote (missing files are skipped). */
export function readRecorded(files: readonly string[]): RecordedTable[] {
  const out: RecordedTable[] = [];
  for (const f of files) {
    if (!existsSync(f)) continue;
    for (const line of readFileSync(f, 'utf8').split('\n')) if (line.trim() !== '') out.push(JSON.parse(line) as RecordedTable);
  }
  return out;
}

if (process.argv[2] === '--combine') {
  const table = renderProxyTable(readRecorded(process.argv.slice(3)));
  if (table !== null) {
    console.log(`\n${table.text}`);
    if (process.env.ZG_BENCH_TABLE) appendFileSync(process.env.ZG_BENCH_TABLE, `${table.markdown}\n`);
  }
}
