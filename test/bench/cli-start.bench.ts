/**
 * CLI start cost: CPU time (user + sys) of whole `zonegate` processes, the built dist/zonegate.js
 * run with the gateway's node flags (build/node-flags) as the installed wrapper runs it, beside
 * bare `node -e 0` with the same flags, interleaved round by round, median of ZG_BENCH_ROUNDS
 * (default 20). A process's CPU comes from bash's `times` (the children's line, 1 ms steps).
 * The daemon: `zonegate run` with a lab config (7 listeners on free ports, the example policy)
 * until it logs "running:", its CPU read from /proc/PID/stat at that line (10 ms steps).
 * Run: node build/run-bench.mjs cli-start   (after make build)
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../helpers/ports';
import { printTable, type BenchRow } from './report';

const ROOT = process.cwd();
const CLI = join(ROOT, 'dist/zonegate.js');
const FLAGS = readFileSync(join(ROOT, 'build/node-flags'), 'utf8').trim().split(/\s+/);
const ROUNDS = Number(process.env.ZG_BENCH_ROUNDS ?? 20);
const TICK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** CPU seconds (user + sys) of one run of node with args, from bash's `times`. */
function cpuOf(args: string[]): number {
  const cmd = `${[process.execPath, ...FLAGS, ...args].map(quote).join(' ')} >/dev/null 2>&1; times`;
  const r = spawnSync('bash', ['-c', cmd], { cwd: ROOT, encoding: 'utf8' });
  const children = r.stdout.trim().split('\n')[1] ?? '';
  const m = /(\d+)m([\d.]+)s\s+(\d+)m([\d.]+)s/.exec(children);
  if (!m) throw new Error(`no times from bash: ${r.stdout}${r.stderr}`);
  return Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4]);
}

/** CPU seconds of `zonegate run` until its "running:" line. */
function daemonCpu(config: string, state: string): Promise<number> {
  rmSync(state, { recursive: true, force: true });
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [...FLAGS, CLI, 'run', '--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '', cpu: number | undefined;
    p.stderr.on('data', (d) => {
      err += d;
      if (cpu === undefined && /running: policy/.test(err)) {
        const st = readFileSync(`/proc/${p.pid}/stat`, 'utf8').split(') ')[1].split(' ');
        cpu = (Number(st[11]) + Number(st[12])) / TICK;
        p.kill('SIGTERM');
      }
    });
    p.on('exit', (code) => (cpu === undefined ? reject(new Error(`zonegate run exited ${code}: ${err.slice(-400)}`)) : resolve(cpu)));
  });
}

const median = (a: number[]) => a.slice().sort((x, y) => x - y)[Math.floor(a.length / 2)];

async function main(): Promise<void> {
  if (!existsSync(CLI)) throw new Error('dist/zonegate.js is not built (make build)');
  const dir = mkdtempSync(join(tmpdir(), 'zg-cli-start-bench-'));
  try {
    const labPolicy = join(dir, 'lab.yaml');
    const made = spawnSync(process.execPath, [CLI, 'lab', 'policy', 'examples/substation.yaml', '--out', labPolicy], { cwd: ROOT, encoding: 'utf8' });
    if (made.status !== 0) throw new Error(made.stderr);
    // The example gateway's listeners, on free ports.
    let config = readFileSync(join(ROOT, 'examples/gateway.yaml'), 'utf8')
      .replace(/^stateDir: .*$/m, `stateDir: ${join(dir, 'state')}`)
      .replace(/^policyFile: .*$/m, `policyFile: ${labPolicy}`);
    for (const m of config.match(/listen: 127\.0\.0\.1:\d+/g) ?? []) config = config.replace(m, `listen: 127.0.0.1:${await freePort()}`);
    writeFileSync(join(dir, 'gateway.yaml'), config);

    const cases: [string, string[]][] = [
      ['zonegate --help', [CLI, '--help']],
      ['zonegate status --help', [CLI, 'status', '--help']],
      ['zonegate policy check examples/substation.yaml', [CLI, 'policy', 'check', 'examples/substation.yaml']],
    ];
    const peer: number[] = [];
    const samples = cases.map((): number[] => []);
    const daemon: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      peer.push(cpuOf(['-e', '0']));
      cases.forEach(([, args], j) => samples[j].push(cpuOf(args)));
      if (i % 2 === 0) daemon.push(await daemonCpu(join(dir, 'gateway.yaml'), join(dir, 'state')));
    }
    const p = median(peer) * 1000;
    const rows: BenchRow[] = cases.map(([what], j) => ({
      what: `${what}, CPU user+sys (median of ${ROUNDS})`, value: median(samples[j]) * 1000, unit: 'ms',
      peer: 'node -e 0', peerValue: p, better: 'lower',
    }));
    rows.push({
      what: `zonegate run until "running" (7 listeners, example policy), CPU (median of ${daemon.length})`, value: median(daemon) * 1000, unit: 'ms',
      peer: 'node -e 0', peerValue: p, better: 'lower',
    });
    printTable('CLI start (dist/zonegate.js with build/node-flags)', rows, [
      `node ${process.versions.node}, flags ${FLAGS.join(' ')}; load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`,
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
