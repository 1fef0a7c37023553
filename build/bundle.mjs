// Bundles the zonegate CLI and daemon for Node 18 (build/cli-build.mjs: dist/zonegate.js, the
// executable, and dist/chunks/, its code, loaded a command at a time) and prints the size.
// Native modules (@node-rs/argon2, cbor-extract) stay outside the bundle.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { buildCli } from './cli-build.mjs';

const minify = process.argv.includes('--minify');
const version = JSON.parse(readFileSync('package.json', 'utf8')).version;
const cli = await buildCli({ outdir: 'dist', version, minify });
await build({
  entryPoints: ['examples/demo/demo.ts'], outfile: 'dist/demo.js', bundle: true, platform: 'node', format: 'cjs',
  target: 'node18', sourcemap: 'linked', logLevel: 'warning',
});
console.log(`dist/zonegate.js + dist/chunks/  ${(cli.bytes / 1024).toFixed(1)} KiB in ${cli.chunks} chunks, ${cli.commands} commands${minify ? ' (minified)' : ''}`);
