// Builds the CLI and daemon as the executable `zonegate.js` and its code in `chunks/` beside it
// (used by build/bundle.mjs, build/package.mjs and the update tests' packages).
//
// Why chunks: V8 pre-parses every byte of a script it compiles, so one 3.5 MB bundle cost every
// command ~0.12 s of CPU before its first line ran (0.30 s for `zonegate --help` against 0.12 s
// for `node -e 0`). Here the registry is plain data and each command's code is loaded when it
// runs: esbuild's ESM code splitting, one split point per command module, shared code in shared
// chunks (one instance of each module, so `instanceof ZonegateError` holds across chunks).
//   zonegate.js          CommonJS, the only file node is given: imports chunks/main.mjs
//   chunks/main.mjs      the registry (help, options, positionals of every command) and framework
//   chunks/*.mjs         a command's code and what it shares with others (+ .map each)
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

// Each chunk is an ES module: `require` (node built-ins, the external native modules) and
// `__dirname`/`__filename` are those of zonegate.js, as they were in the single CommonJS bundle
// (cli/update.ts finds its A/B slot from __filename; externals resolve from node_modules beside it).
const CHUNK_BANNER = [
  "import { createRequire as __zgCreateRequire } from 'node:module';",
  "import { fileURLToPath as __zgFileURLToPath } from 'node:url';",
  "const __filename = __zgFileURLToPath(new URL('../zonegate.js', import.meta.url));",
  "const __dirname = __zgFileURLToPath(new URL('..', import.meta.url)).replace(/\\/$/, '');",
  'const require = __zgCreateRequire(__filename);',
].join('\n');

const SHIM = `#!/usr/bin/env node
// zonegate: the CLI and daemon. The code is in ./${CHUNKS}/ (ES modules, loaded as needed).
'use strict';
import('./${CHUNKS}/main.mjs').catch((e) => {
  process.stderr.write('zonegate: cannot load ${CHUNKS}/main.mjs: ' + (e && e.message) + '\\n');
  process.exitCode = 1;
});
`;

/**
 * Builds OUTDIR/zonegate.js and OUTDIR/chunks/ (emptied first). Returns the files written (paths
 * relative to outdir) and the total size of the chunks.
 */
export async function buildCli({ outdir, version, minify = false, sourcemap = 'linked' }) {
  const define = { ZONEGATE_VERSION: JSON.stringify(version) };
  const specs = await commandSpecs(define);
  const chunkDir = join(outdir, CHUNKS);
  rmSync(chunkDir, { recursive: true, force: true });
  mkdirSync(chunkDir, { recursive: true });
  await build({
    stdin: { contents: lazyEntry(specs), resolveDir: join(root, 'cli'), sourcefile: '(lazy registry).ts', loader: 'ts' },
    outdir: chunkDir, entryNames: 'main', chunkNames: '[name]-[hash]', outExtension: { '.js': '.mjs' },
    bundle: true, splitting: true, platform: 'node', format: 'esm', target: 'node18',
    external: EXTERNAL, banner: { js: CHUNK_BANNER }, define,
    minify, sourcemap, legalComments: 'none', logLevel: 'warning',
  });
  const chunks = readdirSync(chunkDir).sort();
  let bytes = 0;
  for (const f of chunks) {
    if (f.endsWith('.mjs')) { asciiOnly(join(chunkDir, f)); bytes += readFileSync(join(chunkDir, f)).length; }
  }
  writeFileSync(join(outdir, 'zonegate.js'), SHIM);
  chmodSync(join(outdir, 'zonegate.js'), 0o755);
  return { files: ['zonegate.js', ...chunks.map((f) => `${CHUNKS}/${f}`)], bytes, commands: specs.length };
}
