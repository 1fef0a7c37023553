// The README cannot drift from the code: every zonegate command it shows names a real command
// with options that command declares, every command of the CLI is in its reference table, and
// the signed-policy walk runs for real here (keys, trust root, sign, verify, publish through a
// real mosquitto on loopback, fleet status) with the broker address swapped for the test's.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { build } from 'esbuild';
import { commands } from '../runtime/cli/commands';
import { parseConfig } from '../runtime/config';
import { startMosquitto, skipReason, type Mosquitto } from './helpers/mosquitto';

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
  assert.equal(Object.keys(c.parts).sort(), ['audit', 'mqtt', 'nftables', 'telemetry', 'trustRootFile']);
  assert.is(c.listeners.length, 1);
});

test('every CLI command is in the README', () => {
  const missing = commands.filter((c) => !readme.includes(`zonegate ${c.path.join(' ')}`)).map((c) => c.path.join(' '));
  assert.equal(missing, []);
});

let dir = '';
let broker: Mosquitto | undefined;
test.after(async () => { await broker?.close(); if (dir) rmSync(dir, { recursive: true, force: true }); });

test('the signed-policy walk runs as written', async () => {
  const why = skipReason();
  if (why) { console.log(`SKIP the README walk: ${why}`); return; }
  broker = await startMosquitto();
  dir = mkdtempSync(join(tmpdir(), 'zg-readme-'));
  const cli = join(process.cwd(), '.out', `readme-cli-${process.pid}.js`);
  await build({
    entryPoints: ['runtime/cli/main.ts'], outfile: cli, bundle: true, platform: 'node', format: 'cjs', target: 'node18',
    external: ['@node-rs/argon2', 'cbor-extract', 'playwright-core'], define: { ZONEGATE_VERSION: '"readme"' }, logLevel: 'error',
  });
  const walk = shBlocks.find((b) => b.includes('fleet trust init'));
  assert.ok(walk, 'the README has the signed walk');
  const lines = walk!.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#') && !l.startsWith('zg='));
  for (const line of lines) {
    const w = words(line.replace(/^\$zg\s+/, '').replace(/mqtt:\/\/broker:1883/g, broker.url).replace(/examples\//g, `${process.cwd()}/examples/`));
    // publish --wait needs a gateway on the other end: the walk publishes; the e2e tests wait.
    const args = w[1] === 'publish' ? w.filter((x, i) => x !== '--wait' && w[i - 1] !== '--wait') : w;
    const r = spawnSync(process.execPath, [cli, ...args], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
    assert.is(r.status, 0, `${line}\n${r.stdout}${r.stderr}`);
  }
  rmSync(cli, { force: true });
});

test('the walk from clone to a running gateway runs as written', async () => {
  const walk = shBlocks.find((b) => b.includes('make run'));
  assert.ok(walk, 'the README has the first walk');
  const cli = join(process.cwd(), '.out', `readme-walk-${process.pid}.js`);
  await build({
    entryPoints: ['runtime/cli/main.ts'], outfile: cli, bundle: true, platform: 'node', format: 'cjs', target: 'node18',
    external: ['@node-rs/argon2', 'cbor-extract', 'playwright-core'], define: { ZONEGATE_VERSION: '"readme"' }, logLevel: 'error',
  });
  try {
    for (const line of walk!.split('\n').map((l) => l.replace(/\s+#.*$/, '').trim())) {
      const m = /^node dist\/zonegate\.js (.*?)( &)?$/.exec(line);
      if (!m || m[2]) continue; // the PLC simulator in the background is the next step's upstream
      const r = spawnSync(process.execPath, [cli, ...words(m[1])], { encoding: 'utf8', timeout: 30_000 });
      assert.is(r.status, 0, `${line}\n${r.stdout}${r.stderr}`);
    }
    // `make run` = zonegate run --config examples/gateway.yaml (the Makefile says so); it must come up and stop cleanly.
    assert.match(readFileSync('Makefile', 'utf8'), /run: .*\n\t\$\(NODE\) dist\/zonegate\.js run --config examples\/gateway\.yaml/);
    const state = mkdtempSync(join(tmpdir(), 'zg-readme-run-'));
    const cfg = join(state, 'gateway.yaml');
    // The example config with its own state folder and free ports (parallel test runs), nothing else changed.
    const text = readFileSync('examples/gateway.yaml', 'utf8').replace(/^stateDir: .*$/m, `stateDir: ${state}`)
      .replace(/^policyFile: .*$/m, `policyFile: ${process.cwd()}/examples/substation.yaml`).replace(/listen: 127\.0\.0\.1:\d+/g, 'listen: 127.0.0.1:0');
    writeFileSync(cfg, text);
    const child = spawn(process.execPath, [cli, 'run', '--config', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => { err += d; });
    const up = await new Promise<boolean>((res) => {
      const t = setTimeout(() => res(false), 20_000);
      child.stderr.on('data', () => { if (/running: policy file-/.test(err)) { clearTimeout(t); res(true); } });
    });
    assert.ok(up, `the gateway came up:\n${err}`);
    assert.match(err, /UNSIGNED|unsigned|labs only/i, 'the loud warning about the unsigned policy file');
    const code = await new Promise<number | null>((res) => { child.once('exit', (c) => res(c)); child.kill('SIGTERM'); });
    assert.is(code, 0);
    rmSync(state, { recursive: true, force: true });
  } finally {
    rmSync(cli, { force: true });
  }
});

test.run();
