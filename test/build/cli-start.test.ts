/**
 * The built CLI (dist/zonegate.js, build/cli-build.mjs) loads a command's code only when that
 * command runs. What a process loads is observed, not inferred: a preload script records every
 * script V8 compiles (the inspector's Debugger.scriptParsed), and each loaded file is mapped to
 * the sources it holds through its source map. Help and usage errors must compile nothing but the
 * registry and the CLI framework; `policy check` its own code and yaml, none of mqtt, pg, cbor-x,
 * systeminformation or argon2; `fleet publish` does load mqtt (the observer sees what is loaded).
 * The registry's help is the real commands' help: every `zonegate COMMAND --help` equals
 * commandHelp() of the source registry (cli/commands.ts).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { commands } from '../../cli/commands';
import { commandHelp, groupHelp } from '../../cli/framework';

const REPO = process.cwd();
const CLI = join(REPO, 'dist/zonegate.js');
const built = existsSync(CLI) ? null : 'dist/zonegate.js is not built (make test builds it first)';
const dir = mkdtempSync(join(tmpdir(), 'zg-cli-start-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const OBSERVER = join(dir, 'observe.cjs');
writeFileSync(OBSERVER, `
const inspector = require('node:inspector');
const { writeFileSync } = require('node:fs');
const scripts = [];
const session = new inspector.Session();
session.connect();
session.on('Debugger.scriptParsed', (m) => { if (m.params.url) scripts.push(m.params.url); });
session.post('Debugger.enable');
process.on('exit', () => writeFileSync(process.env.ZG_LOAD_LOG, JSON.stringify(scripts)));
`);

let runs = 0;
/** Runs the CLI with the observer; the source files (repo-relative) of every script it compiled. */
function loaded(args: string[]): { status: number | null; stdout: string; stderr: string; sources: string[] } {
  const log = join(dir, `load-${runs++}.json`);
  const r = spawnSync(process.execPath, ['-r', OBSERVER, CLI, ...args], {
    cwd: REPO, encoding: 'utf8', timeout: 60_000, env: { ...process.env, ZG_LOAD_LOG: log },
  });
  const scripts = JSON.parse(readFileSync(log, 'utf8')) as string[];
  const sources = new Set<string>();
  for (const url of scripts) {
    if (!url.startsWith('file:')) continue;
    const file = fileURLToPath(url);
    if (file === OBSERVER) continue;
    const text = readFileSync(file, 'utf8');
    const mapName = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(text)?.[1];
    if (!mapName) { sources.add(relative(REPO, file)); continue; }
    const map = JSON.parse(readFileSync(resolve(dirname(file), mapName), 'utf8')) as { sources: string[] };
    // A chunk of esbuild's own helpers maps to the build's intermediate folder (cli-build.mjs).
    for (const s of map.sources) if (!s.includes('.chunks-esm/')) sources.add(relative(REPO, resolve(dirname(file), decodeURIComponent(s))));
  }
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, sources: [...sources].sort() };
}

const packagesOf = (sources: string[]) =>
  [...new Set(sources.filter((s) => s.startsWith('node_modules/')).map((s) => s.split('/').slice(1, s.split('/')[1].startsWith('@') ? 3 : 2).join('/')))];
/** What help and usage errors may load: the registry, the framework and the error class. */
const REGISTRY = new Set(['cli/(lazy registry).ts', 'cli/start.ts', 'cli/lazy-command.ts', 'cli/framework.ts', 'policy/errors.ts', 'dist/zonegate.js']);

test('zonegate --help, a command\'s --help and a usage error compile only the registry and the framework', () => {
  if (built) { console.log(`SKIP: ${built}`); return; }
  for (const [args, status] of [[['--help'], 0], [['status', '--help'], 0], [['fleet', 'serve', '--help'], 0], [['policy', 'check'], 2]] as const) {
    const r = loaded([...args]);
    assert.is(r.status, status, `${args.join(' ')}: ${r.stderr}`);
    assert.ok(r.sources.includes('cli/framework.ts'), `${args.join(' ')}: the observer saw the framework (${r.sources.join(', ')})`);
    assert.equal(r.sources.filter((s) => !REGISTRY.has(s)), [], `zonegate ${args.join(' ')} loaded more than the registry`);
  }
});

test('policy check loads its own code and yaml, not mqtt, pg, cbor-x, systeminformation, argon2 or another command', () => {
  if (built) { console.log(`SKIP: ${built}`); return; }
  const r = loaded(['policy', 'check', 'examples/substation.yaml']);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /^ok: site substation-12/);
  assert.ok(r.sources.includes('cli/policy-check.ts'), r.sources.join(', '));
  assert.equal(packagesOf(r.sources), ['yaml']);
  assert.equal(r.sources.filter((s) => /^cli\/(fleet\/|run\.ts|status\.ts|console\.ts|report\.ts)/.test(s)), []);
});

test('fleet publish does load mqtt: the observer sees a command\'s dependencies when they are loaded', () => {
  if (built) { console.log(`SKIP: ${built}`); return; }
  const r = loaded(['fleet', 'publish', join(dir, 'missing.bundle'), '--broker', 'mqtt://127.0.0.1:1', '--site', 's', '--all']);
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, /cannot read .*missing\.bundle/);
  assert.ok(r.sources.includes('cli/fleet/publish.ts'), r.sources.join(', '));
  assert.ok(packagesOf(r.sources).includes('mqtt'), packagesOf(r.sources).join(', '));
  assert.not.ok(packagesOf(r.sources).some((p) => p === 'pg' || p === 'systeminformation'), packagesOf(r.sources).join(', '));
});

/** Runs the CLI (no observer) and resolves to its exit code and output. */
function cli(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const p = spawn(process.execPath, [CLI, ...args], { cwd: REPO });
    let stdout = '', stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    p.on('close', (status) => done({ status, stdout, stderr }));
  });
}

test('every command\'s --help, and zonegate --help, is the source registry\'s help', async () => {
  if (built) { console.log(`SKIP: ${built}`); return; }
  const top = await cli(['--help']);
  assert.is(top.stdout, `${groupHelp([], commands)}\n`);
  for (let i = 0; i < commands.length; i += 3) {
    await Promise.all(commands.slice(i, i + 3).map(async (c) => {
      const r = await cli([...c.path, '--help']);
      assert.is(r.status, 0, r.stderr);
      assert.is(r.stdout, `${commandHelp(c)}\n`, c.path.join(' '));
    }));
  }
});

test.run();
