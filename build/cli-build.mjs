// Builds the CLI and daemon as the executable `zonegate.js` and its code in `chunks/` beside it
// (used by build/bundle.mjs, build/package.mjs and the update tests' packages).
//
// Why chunks: V8 pre-parses every byte of a script it compiles, so one 3.5 MB bundle cost every
// command ~0.12 s of CPU before its first line ran (0.30 s for `zonegate --help` against 0.12 s
// for `node -e 0`). Here the registry is plain data and each command's code is loaded when it
// runs: esbuild's code splitting, one split point per command module, shared code in shared
// chunks (one instance of each module, so `instanceof ZonegateError` holds across chunks).
// esbuild splits only ES modules; each chunk is then turned into CommonJS (bundle: false), because
// node's ES module loader cost the daemon's start more than it saved (`zonegate run` until
// running: 0.75 s CPU from ES module chunks, 0.68 s as one bundle, 0.67 s from CommonJS chunks).
//   zonegate.js          the only file node is given: requires chunks/main.js
//   chunks/main.js       the registry (help, options, positionals of every command) and framework
//   chunks/*.js          a command's code and what it shares with others (+ .map each)
// The registry's data comes from the real commands: cli/commands.ts is bundled and run once at
// build time, and each of its commands is matched to the module and export it came from.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asciiOnly } from './ascii.mjs';

const root = new URL('..', import.meta.url).pathname;
export const EXTERNAL = ['@node-rs/argon2', 'cbor-extract', 'playwright-core'];
export const CHUNKS = 'chunks';

/** The modules cli/commands.ts imports commands from: [{ from: './policy-check', names: [...] }]. */
function registryImports() {
  const text = readFileSync(join(root, 'cli/commands.ts'), 'utf8');
  const out = [];
  for (const m of text.matchAll(/^import\s*\{([^}]*)\}\s*from\s*'(\.\/[^']+)';/gm)) {
    out.push({ from: m[2], names: m[1].split(',').map((s) => s.trim()).filter(Boolean) });
  }
  if (out.length === 0) throw new Error('cli-build: cli/commands.ts imports no command');
  return out;
}

/** Every command's spec (all but run) in registry order, with the module and export it is. */
async function commandSpecs(define) {
  const imports = registryImports();
  const lines = [`import { commands } from './commands';`];
  imports.forEach((m, i) => lines.push(`import * as m${i} from '${m.from}';`));
  lines.push(`const mods = [${imports.map((m, i) => `['${m.from}', m${i}]`).join(', ')}];`,
    'const specs = commands.map((c) => {',
    '  const found = [];',
    '  for (const [from, mod] of mods) for (const [name, value] of Object.entries(mod)) if (value === c) found.push({ from, name });',
    "  if (found.length !== 1) throw new Error(`command '${c.path.join(' ')}' is exported by ${found.length} modules cli/commands.ts imports (want 1)`);",
    '  const { run, ...spec } = c;',
    "  if (typeof run !== 'function') throw new Error(`command '${c.path.join(' ')}' has no run()`);",
    '  return { ...found[0], spec };',
    '});',
    'process.stdout.write(JSON.stringify(specs));');
  const work = mkdtempSync(join(tmpdir(), 'zg-cli-specs-'));
  try {
    const file = join(work, 'specs.cjs');
    await build({
      stdin: { contents: lines.join('\n'), resolveDir: join(root, 'cli'), loader: 'ts' },
      outfile: file, bundle: true, platform: 'node', format: 'cjs', target: 'node18',
      external: EXTERNAL, define, logLevel: 'warning',
    });
    const specs = JSON.parse(execFileSync(process.execPath, [file], { encoding: 'utf8', maxBuffer: 64 << 20 }));
    // The data must survive JSON unchanged (no functions, undefined or getters in a spec).
    for (const s of specs) {
      const again = JSON.stringify(s.spec);
      if (JSON.stringify(JSON.parse(again)) !== again) throw new Error(`cli-build: the spec of '${s.spec.path.join(' ')}' is not plain data`);
    }
    return specs;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The entry of the shipped CLI: cli/start.ts over a registry of lazyCommand()s. */
function lazyEntry(specs) {
  return [
    `import { startCli } from './start';`,
    `import { lazyCommand } from './lazy-command';`,
    'startCli([',
    ...specs.map((s) => `  lazyCommand(${JSON.stringify(s.spec)}, () => import('${s.from}').then((m) => m.${s.name})),`),
    ']);',
  ].join('\n');
}

// In the single CommonJS bundle `__dirname`/`__filename` were those of zonegate.js, and they stay
// so in every chunk (cli/update.ts finds its A/B slot from __filename). `require` is the chunk's
// own: externals resolve from the node_modules beside zonegate.js all the same.
const CHUNK_BANNER = "var __filename = require('node:path').join(__dirname, '..', 'zonegate.js'), __dirname = require('node:path').dirname(__filename);";

const SHIM = `#!/usr/bin/env node
// zonegate: the CLI and daemon. The code is in ./${CHUNKS}/, loaded a command at a time.
'use strict';
try {
  require('./${CHUNKS}/main.js');
} catch (e) {
  process.stderr.write('zonegate: cannot start: ' + (e && e.message) + '\\n');
  process.exitCode = 1;
}
`;

/**
 * Builds OUTDIR/zonegate.js and OUTDIR/chunks/ (emptied first). Returns the files written (paths
 * relative to outdir), the total size of the chunks' code and the number of commands.
 */
export async function buildCli({ outdir, version, minify = false, sourcemap = 'linked' }) {
  const define = { ZONEGATE_VERSION: JSON.stringify(version) };
  const specs = await commandSpecs(define);
  const chunkDir = join(outdir, CHUNKS);
  rmSync(chunkDir, { recursive: true, force: true });
  mkdirSync(chunkDir, { recursive: true });
  // 1. ES modules split by esbuild (one split point per command module), in a folder of a fixed
  // name (source maps name it where a chunk holds no code of its own: same tree, same bytes).
  const esm = join(outdir, '.chunks-esm');
  rmSync(esm, { recursive: true, force: true });
  try {
    await build({
      stdin: { contents: lazyEntry(specs), resolveDir: join(root, 'cli'), sourcefile: '(lazy registry).ts', loader: 'ts' },
      outdir: esm, entryNames: 'main', chunkNames: '[name]-[hash]',
      bundle: true, splitting: true, platform: 'node', format: 'esm', target: 'node18',
      external: EXTERNAL, define, sourcemap: sourcemap ? 'linked' : false, legalComments: 'none', logLevel: 'warning',
    });
    // 2. Each chunk as CommonJS: imports become require calls, import() a require in a promise;
    // the source maps of step 1 are followed back to the TypeScript.
    await build({
      entryPoints: readdirSync(esm).filter((f) => f.endsWith('.js')).map((f) => join(esm, f)),
      outdir: chunkDir, bundle: false, platform: 'node', format: 'cjs', target: 'node18',
      banner: { js: CHUNK_BANNER }, minify, sourcemap, legalComments: 'none', logLevel: 'warning',
    });
  } finally {
    rmSync(esm, { recursive: true, force: true });
  }
  // No package.json above may make .js files ES modules here.
  writeFileSync(join(chunkDir, 'package.json'), '{ "type": "commonjs" }\n');
  const chunks = readdirSync(chunkDir).sort();
  let bytes = 0;
  for (const f of chunks) {
    if (f.endsWith('.js')) { asciiOnly(join(chunkDir, f)); bytes += readFileSync(join(chunkDir, f)).length; }
  }
  writeFileSync(join(outdir, 'zonegate.js'), SHIM);
  chmodSync(join(outdir, 'zonegate.js'), 0o755);
  return { files: ['zonegate.js', ...chunks.map((f) => `${CHUNKS}/${f}`)], bytes, chunks: chunks.filter((f) => f.endsWith('.js')).length, commands: specs.length };
}
