// The README cannot drift from the code: every zonegate command it shows names a real command
// with options that command declares, every command of the CLI is in its reference table, every
// sample output (`$ command` then its lines) is what the command prints, the config sample is
// valid and shows the defaults it says, and both walks run for real here: the lab walk (PLC
// simulator, `make run`'s recipe, the lab client's allow and deny) and the signed walk (keys,
// trust root, sign, verify, a signed gateway, publish --wait 1 through a real mosquitto on
// loopback, fleet status). Only ports and the broker address are swapped for free ones, and the
// walks run in a temp folder holding copies of examples/.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cpSync, mkdirSync, readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { build } from 'esbuild';
import { commands } from '../cli/commands';
import { DEFAULT_LIMITS, DEFAULT_TIMEOUTS, parseConfig } from '../runtime/config';
import { IEC104_LINK_DEFAULTS } from '../drivers/iec104';
import { startMosquitto, skipReason, type Mosquitto } from './helpers/mosquitto';
import { freePort } from './helpers/ports';

const readme = readFileSync('README.md', 'utf8');
const shBlocks = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]);

/** Splits a shell line into words (quotes kept simple: '...' and "..."). */
function words(line: string): string[] {
  return [...line.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]);
}

/** The zonegate invocations in a text: `zonegate …`, `node dist/zonegate.js …`, `$zg …`. */
function invocations(text: string): string[][] {
  const out: string[][] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\s+#.*$/, '').trim();
    for (const m of line.matchAll(/(?:^|[\s;&|(`])(?:zonegate|node dist\/zonegate\.js|\$zg)\s+([^`|;&)]*)/g)) {
      const w = words(m[1]);
      if (w.length && /^[a-z]/.test(w[0])) out.push(w);
    }
  }
  return out;
}

function resolve(w: string[]) {
  let best: (typeof commands)[number] | undefined;
  for (const c of commands) if (c.path.every((p, i) => w[i] === p) && (!best || c.path.length > best.path.length)) best = c;
  return best;
}

test('every zonegate command the README shows exists, with options it declares', () => {
  const inline = [...readme.replace(/```[\s\S]*?```/g, '').matchAll(/`([^`\n]+)`/g)].map((m) => m[1]);
  const all = [...shBlocks.flatMap(invocations), ...inline.flatMap(invocations)];
  assert.ok(all.length > 25, `found ${all.length} invocations`);
  const problems: string[] = [];
  for (const w of all) {
    const cmd = resolve(w);
    if (!cmd) { problems.push(`unknown command: zonegate ${w.join(' ')}`); continue; }
    for (const word of w.slice(cmd.path.length)) {
      const opt = /^--([a-z][a-z0-9-]*)/.exec(word)?.[1];
      if (!opt || opt === 'help' || (opt === 'json' && cmd.json)) continue;
      if (!cmd.options || !(opt in cmd.options)) problems.push(`zonegate ${cmd.path.join(' ')}: no option --${opt}`);
    }
  }
  assert.equal(problems, []);
});

test("the README's gateway configuration is a valid config", () => {
  const at = readme.indexOf('## Configuration (gateway)');
  const block = /```yaml\n([\s\S]*?)```/.exec(readme.slice(at))![1];
  const c = parseConfig(block, { file: '/etc/zonegate/gateway.yaml' });
  assert.equal(Object.keys(c.parts).sort(), ['audit', 'console', 'mqtt', 'nftables', 'telemetry', 'trustRootFile']);
  assert.is(c.listeners.length, 1);
  // The lines that say "the defaults" show the defaults.
  assert.match(block, /^timeouts: .*# the defaults$/m);
  assert.equal(c.timeouts, DEFAULT_TIMEOUTS);
  assert.match(block, /^limits: .*# the defaults$/m);
  assert.equal(c.limits, DEFAULT_LIMITS);
});

test("the README's serial-line listeners are valid", () => {
  const at = readme.indexOf('### Serial lines (Modbus RTU)');
  const block = /```yaml\n([\s\S]*?)```/.exec(readme.slice(at))![1];
  const c = parseConfig(`device: gw-01\nsite: s\nstateDir: /var/lib/zonegate\n${block}`, { file: '/etc/zonegate/gateway.yaml' });
  assert.equal(c.listeners.map((l) => [l.service, l.serial?.device, l.identity]), [
    ['modbus-rtu-gateway', '/dev/ttyUSB0', undefined], ['modbus-rtu', '/dev/ttyAMA0', 'scada-master'],
  ]);
});

test("the README's IEC 104 link settings are valid and name the defaults", () => {
  const at = readme.indexOf('### IEC 104 links');
  const block = /```yaml\n([\s\S]*?)```/.exec(readme.slice(at))![1];
  const c = parseConfig(`device: gw-01\nsite: s\nstateDir: /var/lib/zonegate\n${block}`, { file: '/etc/zonegate/gateway.yaml' });
  assert.equal(c.listeners.map((l) => [l.service, l.iec104]), [['iec104', { k: 24, w: 16, t1Ms: 30_000, t2Ms: 10_000, t3Ms: 60_000 }]]);
  const d = IEC104_LINK_DEFAULTS;
  assert.match(block, `# defaults: ${d.k}, ${d.w}, ${d.t1Ms}, ${d.t2Ms}, ${d.t3Ms}`);
});

test('every CLI command is in the README', () => {
  const missing = commands.filter((c) => !readme.includes(`zonegate ${c.path.join(' ')}`)).map((c) => c.path.join(' '));
  assert.equal(missing, []);
});

/** Every sample output block: `$ COMMAND` lines, each followed by the lines it prints. */
const samples: { command: string; output: string }[] = [];
for (const m of readme.matchAll(/```\n(\$ [\s\S]*?)```/g)) {
  for (const part of m[1].split(/^\$ /m).filter(Boolean)) {
    const [command, ...out] = part.replace(/\n$/, '').split('\n');
    samples.push({ command, output: out.join('\n') });
  }
}
const checkedSamples = new Set<string>();

/** Compares what a command printed with the README's sample for it. */
function matchesSample(command: string, printed: string): void {
  const sample = samples.find((x) => x.command === command);
  assert.ok(sample, `no sample output for ${command}`);
  assert.fixture(printed.trimEnd(), sample!.output, `README sample of $ ${command}`);
  checkedSamples.add(command);
}

let tmp = '';
let cli = '';
const children: ChildProcess[] = [];
let broker: Mosquitto | undefined;
test.before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'zg-readme-'));
  cli = join(tmp, 'zonegate.js');
  await build({
    entryPoints: ['cli/main.ts'], outfile: cli, bundle: true, platform: 'node', format: 'cjs', target: 'node18',
    external: ['@node-rs/argon2', 'cbor-extract', 'playwright-core'], define: { ZONEGATE_VERSION: '"readme"' }, logLevel: 'error',
  });
});
test.after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await broker?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** A folder for one walk: copies of examples/ and test/fixtures/policy, like a fresh clone. */
function workTree(name: string): string {
  const d = join(tmp, name);
  cpSync('examples', join(d, 'examples'), { recursive: true });
  cpSync('test/fixtures/policy', join(d, 'test/fixtures/policy'), { recursive: true });
  return d;
}

const zonegate = (cwd: string, args: string[]) => spawnSync(process.execPath, [cli, ...args], { cwd, encoding: 'utf8', timeout: 60_000 });

/** Starts a long-running zonegate command; resolves once stderr matches `ready`. */
function startZonegate(cwd: string, args: string[], ready: RegExp): Promise<ChildProcess> {
  const child = spawn(process.execPath, [cli, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let text = '';
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`zonegate ${args.join(' ')} not ready in 60 s:\n${text}`)), 60_000);
    const on = (d: Buffer) => { text += d; if (ready.test(text)) { clearTimeout(t); resolve(child); } };
    child.stdout!.on('data', on);
    child.stderr!.on('data', on);
    child.once('exit', (code) => { clearTimeout(t); reject(new Error(`zonegate ${args.join(' ')} exited ${code}:\n${text}`)); });
  });
}

async function stop(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  return new Promise((res) => { child.removeAllListeners('exit'); child.once('exit', (c) => res(c)); child.kill('SIGTERM'); });
}

/** The listener and upstream ports of the examples, each swapped for a free one. */
async function portMap(text: string): Promise<Map<string, string>> {
  const map = new Map<string, string>();
  for (const m of text.matchAll(/127\.0\.0\.1:(1[56]\d{3}|18830)\b/g)) if (!map.has(m[0])) map.set(m[0], `127.0.0.1:${await freePort()}`);
  return map;
}
const swap = (text: string, map: Map<string, string>): string => text.replace(/127\.0\.0\.1:\d+/g, (a) => map.get(a) ?? a);

/** The lines of a sh block, comments off, `zg=` dropped. */
const shLines = (block: string): string[] => block.split('\n').map((l) => l.replace(/\s+#.*$/, '').trim()).filter((l) => l && !l.startsWith('zg='));

test('the README sample of a broken policy is what policy check prints', () => {
  const cmd = 'zonegate policy check test/fixtures/policy/broken.yaml';
  const r = zonegate(process.cwd(), words(cmd).slice(1));
  assert.is(r.status, 1);
  matchesSample(cmd, `${r.stdout}${r.stderr}`);
});

test('the walk from clone to a running gateway runs as written: the HMI reads, its write is refused', async () => {
  const walk = shBlocks.find((b) => b.includes('make run'));
  assert.ok(walk, 'the README has the first walk');
  const cwd = workTree('walk');
  const ports = await portMap(`${walk}\n${readFileSync('examples/gateway.yaml', 'utf8')}`);
  writeFileSync(join(cwd, 'examples/gateway.yaml'), swap(readFileSync('examples/gateway.yaml', 'utf8'), ports));
  // `make run` is the Makefile's recipe, run as written (with this test's bundle for dist/zonegate.js).
  const recipe = /\nrun: [^\n]*\n((?:\t[^\n]*\n)+)/.exec(readFileSync('Makefile', 'utf8'))![1].split('\n').map((l) => l.trim()).filter(Boolean);
  assert.equal(recipe.map((l) => l.replace(/^\$\(NODE\) dist\/zonegate\.js /, '')), [
    'lab policy examples/substation.yaml --out state/substation-lab.yaml', 'run --config examples/gateway.yaml']);
  let gateway: ChildProcess | undefined;
  let ran = 0;
  for (const line of shLines(walk!)) {
    if (/^(git clone|make build)/.test(line)) continue;
    if (line === 'make run &') {
      const lab = zonegate(cwd, words(recipe[0]).slice(2));
      assert.is(lab.status, 0, `${recipe[0]}\n${lab.stdout}${lab.stderr}`);
      gateway = await startZonegate(cwd, words(recipe[1]).slice(2), /running: policy file-/);
      ran++;
      continue;
    }
    const m = /^node dist\/zonegate\.js (.*?)( &)?$/.exec(line);
    assert.ok(m, `a line of the walk this test does not know: ${line}`);
    const args = words(swap(m![1], ports));
    if (m![2]) { await startZonegate(cwd, args, /listening on/); ran++; continue; }
    const r = zonegate(cwd, args);
    if (args[0] === 'lab' && args[1] === 'client') {
      // The samples show the README's ports; this run used free ones.
      matchesSample(`node dist/zonegate.js ${m![1]}`, `${r.stdout}${r.stderr}`.replace(/127\.0\.0\.1:\d+/g, (a) => [...ports].find(([, v]) => v === a)?.[0] ?? a));
      assert.is(r.status, args.includes('--write') ? 1 : 0, `${line}\n${r.stdout}${r.stderr}`);
    } else assert.is(r.status, 0, `${line}\n${r.stdout}${r.stderr}`);
    ran++;
  }
  assert.is(ran, 6);
  assert.ok(gateway, 'the walk starts the gateway');
  assert.is(await stop(gateway!), 0, 'SIGTERM stops the gateway cleanly');
});

test('the signed-policy walk runs as written: a signed gateway reports v1 to fleet publish --wait 1', async () => {
  const why = skipReason();
  if (why) { console.log(`SKIP the signed README walk: ${why}`); return; }
  const walk = shBlocks.find((b) => b.includes('fleet trust init'));
  assert.ok(walk, 'the README has the signed walk');
  assert.match(walk!, /mosquitto -c examples\/mosquitto-lab\.conf/);
  assert.match(readFileSync('examples/mosquitto-lab.conf', 'utf8'), /^listener 18830 127\.0\.0\.1$/m);
  broker = await startMosquitto();
  const cwd = workTree('signed');
  const conf = readFileSync('examples/gateway-signed.yaml', 'utf8');
  // What the walk writes is where the config looks (paths relative to examples/).
  assert.match(conf, /^trustRoot: \{ file: \.\.\/fleet-keys\/root\.json \}$/m);
  assert.match(walk!, /--out fleet-keys\/root\.json/);
  assert.match(conf, /^ {2}url: mqtt:\/\/127\.0\.0\.1:18830$/m);
  const ports = await portMap(`${walk}\n${conf}`);
  ports.set('127.0.0.1:18830', broker.url.replace('mqtt://', ''));
  writeFileSync(join(cwd, 'examples/gateway-signed.yaml'), swap(conf, ports));
  let gateway: ChildProcess | undefined;
  for (const line of shLines(walk!)) {
    if (line.startsWith('mosquitto ')) continue; // this test's broker stands in for the lab broker
    const args = words(swap(line.replace(/^\$zg\s+/, ''), ports));
    if (line.endsWith(' &')) {
      gateway = await startZonegate(cwd, args.slice(0, -1), /running: policy none/);
      continue;
    }
    const r = zonegate(cwd, args);
    assert.is(r.status, 0, `${line}\n${r.stdout}${r.stderr}`);
    if (args[0] === 'fleet' && args[1] === 'keygen') assert.not.match(r.stderr, /git work tree/, 'the temp folder is no git work tree');
  }
  assert.ok(gateway, 'the walk starts a signed gateway');
  assert.is(await stop(gateway!), 0);
});

test('fleet keygen warns when it writes a private key inside a git work tree', () => {
  const d = join(tmp, 'repo');
  mkdirSync(d);
  spawnSync('git', ['init', '-q', d]);
  const r = zonegate(d, ['fleet', 'keygen', '--out', 'fleet-keys', '--name', 'root']);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`warning: the private key fleet-keys/root\\.key is inside the git work tree ${d.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')};`));
});

test('every sample output in the README was checked', () => {
  assert.equal(samples.map((x) => x.command).filter((c) => !checkedSamples.has(c)), []);
  assert.ok(samples.length >= 3);
});

test.run();
