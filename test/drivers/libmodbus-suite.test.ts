// libmodbus's own conformance programs (tests/unit-test-server.c and unit-test-client.c of the
// libmodbus Debian ships, fetched from Debian's source package by build/setup-deps.sh into a
// cache folder outside the work tree, with their licence beside them) built against the installed
// libmodbus-dev with the port set at build time, and run twice: client straight to the server,
// then through the proxy with a policy that allows every function, unit and address.
// Every assertion that passes directly must pass through the proxy, except the byte-timeout one:
// the server sends that reply one byte every 5 ms and the client expects to see the gap, but the
// proxy inspects whole frames and relays each one in a single write (README, "Modbus conformance").
// The client is patched at build time only to go on after a failed assertion and to print the
// line of each assertion (ASSERT_TRUE), so that both runs can be compared assertion by assertion.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createModbusProxy } from '../../drivers/modbus-tcp';
import { compile } from '../../policy/compile';
import { IndexDecider } from '../../policy/decider';
import { MODBUS_FUNCTIONS } from '../../policy/modbus';
import type { PolicyDocument } from '../../policy/types';
import { freePort } from '../helpers/ports';

const SUITE = process.env.ZG_LIBMODBUS_CACHE ?? '/var/cache/zonegate/libmodbus-tests';

function missing(): string | null {
  for (const f of ['unit-test-client.c', 'unit-test-server.c', 'unit-test.h.in']) {
    if (!existsSync(join(SUITE, f))) return `${join(SUITE, f)} missing (build/setup-deps.sh fetches it as root with apt-get source libmodbus)`;
  }
  const pc = spawnSync('pkg-config', ['--cflags', '--libs', 'libmodbus'], { encoding: 'utf8' });
  if (pc.status !== 0) return `libmodbus-dev not installed (pkg-config libmodbus: ${(pc.stderr || pc.error?.message || '').trim()})`;
  if (spawnSync('gcc', ['--version']).status !== 0) return 'gcc not installed';
  return null;
}

/** Builds one program of the suite for `port`; the client also counts on after a failed assertion. */
function build(dir: string, program: 'server' | 'client', port: number): string {
  let src = readFileSync(join(SUITE, `unit-test-${program}.c`), 'utf8')
    .replace('modbus_new_tcp("127.0.0.1", 1502)', 'modbus_new_tcp("127.0.0.1", UT_PORT)');
  if (program === 'client') {
    src = src
      .replace(/printf\("OK\\n"\);(\s*\\\n\s*\} else \{\s*\\\n\s*BUG_REPORT\(_cond, _format, ## __args\);\s*\\\n)\s*goto close;/, 'printf("OK line %d\\n", __LINE__);$1 ut_failed++;')
      .replace('int main(int argc, char *argv[])', 'static int ut_failed = 0; int main(int argc, char *argv[])');
    if (!src.includes('ut_failed++')) throw new Error('unit-test-client.c: ASSERT_TRUE not found (another libmodbus version?)');
  }
  const file = join(dir, `ut-${program}-${port}.c`);
  writeFileSync(file, src);
  const out = join(dir, `ut-${program}-${port}`);
  const flags = spawnSync('pkg-config', ['--cflags', '--libs', 'libmodbus'], { encoding: 'utf8' }).stdout.trim().split(/\s+/);
  const r = spawnSync('gcc', ['-w', `-DUT_PORT=${port}`, `-I${dir}`, file, '-o', out, ...flags], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`gcc ${program}: ${r.stderr}`);
  return out;
}

async function waitListening(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((res) => {
      const c = connect({ host: '127.0.0.1', port }, () => { c.destroy(); res(true); });
      c.on('error', () => res(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`unit-test-server not listening on ${port}`);
}

interface Run { passed: Map<number, number>; total: number; failed: Map<number, string>; output: string }

/** Starts the server (it serves one client, then exits), runs the client, collects its verdicts. */
async function runSuite(server: string, client: string, serverPort: number, probePort: number): Promise<Run> {
  const srv = spawn(server, ['tcp'], { stdio: ['ignore', 'ignore', 'ignore'] });
  try {
    // Probing the server would take its one accept: wait for the port to be bound instead.
    await waitBound(serverPort);
    if (probePort !== serverPort) await waitListening(probePort);
    // stdout (the OK lines; block-buffered into a pipe) and stderr (libmodbus's debug bytes) are
    // kept apart: mixed, a stderr chunk can land inside "OK line 910" and count a line 9.
    const { stdout, output } = await new Promise<{ stdout: string; output: string }>((resolve) => {
      const c = spawn(client, ['tcp'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '', all = '';
      const t = setTimeout(() => c.kill('SIGKILL'), 60_000);
      c.stdout!.on('data', (d) => { out += d; all += d; });
      c.stderr!.on('data', (d) => { all += d; });
      c.on('close', () => { clearTimeout(t); resolve({ stdout: out, output: all }); });
    });
    // An assertion inside a loop passes once per round: count passes per source line.
    const passed = new Map<number, number>();
    let total = 0;
    const failed = new Map<number, string>();
    for (const m of stdout.matchAll(/OK line (\d+)$/gm)) { passed.set(Number(m[1]), (passed.get(Number(m[1])) ?? 0) + 1); total++; }
    for (const m of stdout.matchAll(/Line (\d+): assertion error for '([^']*)'/g)) failed.set(Number(m[1]), m[2]);
    return { passed, total, failed, output };
  } finally {
    srv.kill('SIGKILL');
  }
}

/** Whether something listens on the port (from /proc/net/tcp: no connection is made). */
async function waitBound(port: number): Promise<void> {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  for (let i = 0; i < 200; i++) {
    const table = readFileSync('/proc/net/tcp', 'utf8');
    if (new RegExp(`^\\s*\\d+: [0-9A-F]{8}:${hex} [0-9A-F]{8}:0000 0A `, 'm').test(table)) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`unit-test-server did not bind ${port}`);
}

function allowAll(): PolicyDocument {
  return {
    site: 'conformance',
    zones: [{ id: 'lab', networks: ['127.0.0.0/8'], interfaces: [], securityLevel: 1 }],
    assets: [{ id: 'ut-server', zone: 'lab', addresses: ['127.0.0.1'], kind: 'plc', services: [{ protocol: 'modbus', port: 502 }] }],
    identities: [{ id: 'ut-client', kind: 'device', zone: 'lab', addresses: ['127.0.0.1'], roles: [] }],
    conduits: [{
      id: 'allow-all', from: { identities: ['ut-client'], roles: [], zones: [] }, to: { assets: ['ut-server'], zones: [] },
      protocol: 'modbus', requires: { edgeAuth: false, grant: false }, mode: 'enforce',
      allow: { functions: MODBUS_FUNCTIONS.map((f) => f.code), addresses: [{ start: 0, end: 65535 }] },
    }],
    quarantine: [], settings: { onExpiry: 'keep-enforcing' }, tests: [],
  } as unknown as PolicyDocument;
}

test('libmodbus unit-test-client passes through the proxy every assertion it passes directly (but the byte timeout)', async () => {
  const why = missing();
  if (why) { console.log(`SKIP: ${why}`); return; }
  const dir = mkdtempSync(join(tmpdir(), 'zg-libmodbus-'));
  const events: { message?: string }[] = [];
  const proxy = { stop: async () => undefined } as { stop(): Promise<void> };
  try {
    writeFileSync(join(dir, 'unit-test.h'), readFileSync(join(SUITE, 'unit-test.h.in'), 'utf8').replace(/@HAVE_(INTTYPES|STDINT)_H@/g, '1'));
    const serverPort = await freePort();
    const server = build(dir, 'server', serverPort);
    const direct = await runSuite(server, build(dir, 'client', serverPort), serverPort, serverPort);
    // Timing assertions (5 ms between bytes, 0.5 s server sleeps) can miss directly on a loaded
    // machine; only what passes directly is required through the proxy.
    if (direct.failed.size > 0) console.log(`  direct run missed: ${[...direct.failed].map(([l, c]) => `line ${l} (${c})`).join('; ')}`);
    assert.ok(direct.total >= 90, `direct run passed only ${direct.total} assertions:\n${direct.output.slice(-2000)}`);

    const p = createModbusProxy({
      listen: { host: '127.0.0.1', port: 0 }, upstream: { host: '127.0.0.1', port: serverPort },
      asset: 'ut-server', servicePort: 502, decider: new IndexDecider(compile(allowAll(), { version: '1' })),
      audit: { record: (e) => { events.push(e); } }, now: Date.now, sweepMs: 50,
      timeouts: { upstreamMs: 1_000 },
    });
    proxy.stop = () => p.stop();
    await p.start(new AbortController().signal);
    const port = p.address().port;
    const viaClient = build(dir, 'client', port);
    const via = await runSuite(server, viaClient, serverPort, port);
    const lines = [...direct.passed.keys()];
    const byteTimeout = lines.filter((line) => /^1\/2 Too small byte timeout/.test(sourceLine(line)));
    const lostIn = (r: Run) => lines.filter((line) => (r.passed.get(line) ?? 0) < direct.passed.get(line)! && !byteTimeout.includes(line));
    let lost = lostIn(via);
    if (lost.length > 0) {
      // The suite has timing assertions (server sleeps, response timeouts) that a loaded machine can
      // miss (two suites side by side lost line 541, report slave id, twice in a row once in ten
      // runs); a defect loses its assertion every time, so up to two more runs through the proxy decide.
      for (let run = 2; run <= 3 && lost.length > 0; run++) {
        console.log(`  through the proxy, run ${run - 1} missed line(s) ${lost.join(', ')}; running it again`);
        const again = await runSuite(server, viaClient, serverPort, port);
        lost = lost.filter((l) => lostIn(again).includes(l));
      }
    }
    const named = lost.map((l) => `line ${l}: ${via.failed.get(l) ?? 'not reached'}`);
    assert.equal(named, [], `assertions lost through the proxy in three runs: ${named.join('; ')}\n${via.output.slice(-3000)}`);
    console.log(`  libmodbus ${readVersion()}: ${direct.total} assertions passed directly, ${via.total} through the proxy (${byteTimeout.filter((l) => !via.passed.has(l)).length} byte-timeout assertion lost by whole-frame relaying)`);
  } finally {
    await proxy.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** The text of the client source around an assertion line (to recognise the byte-timeout ones). */
function sourceLine(line: number): string {
  const lines = readFileSync(join(SUITE, 'unit-test-client.c'), 'utf8').split('\n');
  return lines.slice(Math.max(0, line - 12), line).join('\n').split(/printf\("/).pop() ?? '';
}

function readVersion(): string {
  try { return readFileSync(join(SUITE, 'VERSION'), 'utf8').trim(); } catch { return '?'; }
}

test.run();
