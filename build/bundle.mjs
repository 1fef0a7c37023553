// Bundles the zonegate CLI and daemon into dist/zonegate.js for Node 18 and prints its size.
// Native modules (@node-rs/argon2, cbor-extract) stay outside the bundle.
import { build } from 'esbuild';
import { statSync, chmodSync, readFileSync } from 'node:fs';
import { asciiOnly } from './ascii.mjs';

const minify = process.argv.includes('--minify');
const outfile = 'dist/zonegate.js';
await build({
  entryPoints: ['cli/main.ts'],
  outfile, bundle: true, platform: 'node', format: 'cjs', target: 'node18',
  external: ['@node-rs/argon2', 'cbor-extract', 'playwright-core'],
  banner: { js: '#!/usr/bin/env node' },
  define: { ZONEGATE_VERSION: JSON.stringify(JSON.parse(readFileSync('package.json', 'utf8')).version) },
  minify, sourcemap: 'linked', legalComments: 'none', logLevel: 'warning',
});
asciiOnly(outfile);
chmodSync(outfile, 0o755);
await build({
  entryPoints: ['examples/demo/demo.ts'], outfile: 'dist/demo.js', bundle: true, platform: 'node', format: 'cjs',
  target: 'node18', sourcemap: 'linked', logLevel: 'warning',
});
console.log(`${outfile}  ${(statSync(outfile).size / 1024).toFixed(1)} KiB${minify ? ' (minified)' : ''}`);
