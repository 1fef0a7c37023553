// Builds the flashable package of one architecture: `node build/package.mjs --arch arm64|armv7|x64`
// (or `make package ARCH=...`) → dist/zonegate-<version>-linux-<arch>.tar.gz, and prints its size
// (budget: under 5 MiB compressed). Layout inside the tarball (what runtime/update unpacks into a
// slot, and what build/install.sh lays out on a device):
//   zonegate.js, chunks/           the CLI and daemon, minified, target node18, CommonJS: zonegate.js
//                                  loads chunks/main.js, which loads a command's chunks when it runs
//                                  (build/cli-build.mjs); a source map beside each chunk
//   bin/zonegate                   sh wrapper: runs zonegate.js with the device's node (Debian nodejs 18)
//   node_modules/@node-rs/argon2 + the prebuilt argon2 binary package of the architecture
//   share/                          zonegate.service, gateway.example.yaml, policy.example.yaml
//   install.sh, boot-check.sh, VERSION, MANIFEST (sha256 of every file)
// cbor-x needs no native part: cbor-extract stays out and cbor-x uses its pure JS decoder (its
// node-index.js wraps require('cbor-extract') in try/catch).
import { buildCli } from './cli-build.mjs';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

const ARCHES = {
  arm64: { argon2: '@node-rs/argon2-linux-arm64-gnu' },
  armv7: { argon2: '@node-rs/argon2-linux-arm-gnueabihf' },
  x64: { argon2: '@node-rs/argon2-linux-x64-gnu' },
};
const BUDGET = 5 * 1024 * 1024;

const argv = process.argv.slice(2);
const opt = (name, dflt) => { const i = argv.indexOf(`--${name}`); return i >= 0 ? argv[i + 1] : dflt; };
const arch = opt('arch', process.env.ARCH || 'x64');
if (!ARCHES[arch]) { console.error(`package: unknown arch '${arch}' (arm64, armv7, x64)`); process.exit(2); }
const root = new URL('..', import.meta.url).pathname;
const pkgJson = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const version = opt('version', pkgJson.version);
const outDir = opt('out-dir', join(root, 'dist'));
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'));
const lockVersion = (name) => lock.packages?.[`node_modules/${name}`]?.version;

const stage = join(outDir, '.pkg', arch);
rmSync(stage, { recursive: true, force: true });
mkdirSync(join(stage, 'bin'), { recursive: true });
mkdirSync(join(stage, 'share'), { recursive: true });

// 1. The bundle (build/cli-build.mjs, as build/bundle.mjs builds it, minified).
const cli = await buildCli({ outdir: stage, version, minify: true });

// 2. argon2: the JS loader from node_modules, the binary package for the target from the npm
// registry (npm pack NAME@VERSION-from-package-lock), cached under dist/.cache.
const loaderDir = join(root, 'node_modules/@node-rs/argon2');
const loaderDest = join(stage, 'node_modules/@node-rs/argon2');
mkdirSync(loaderDest, { recursive: true });
for (const f of ['package.json', 'index.js', 'LICENSE']) if (existsSync(join(loaderDir, f))) copyFileSync(join(loaderDir, f), join(loaderDest, f));
const binName = ARCHES[arch].argon2;
const binVersion = lockVersion(binName) ?? lockVersion('@node-rs/argon2');
if (!binVersion) throw new Error(`package-lock.json names no version of ${binName} or @node-rs/argon2`);
const cache = join(root, 'dist/.cache/npm');
mkdirSync(cache, { recursive: true });
const tgz = join(cache, `${binName.replace('@', '').replace('/', '-')}-${binVersion}.tgz`);
// The host's own platform package, when npm installed it at that version, needs no download.
const local = join(root, 'node_modules', binName);
const localVersion = existsSync(join(local, 'package.json')) ? JSON.parse(readFileSync(join(local, 'package.json'), 'utf8')).version : undefined;
if (!existsSync(tgz) && localVersion === binVersion) {
  execFileSync('tar', ['-czf', tgz, '--transform', 's,^\\.,package,', '-C', local, '.']);
}
if (!existsSync(tgz)) {
  const name = execFileSync('npm', ['pack', `${binName}@${binVersion}`, '--pack-destination', cache, '--silent'], { cwd: cache, encoding: 'utf8' }).trim().split('\n').pop();
  if (join(cache, name) !== tgz) execFileSync('mv', [join(cache, name), tgz]);
}
const binDest = join(stage, 'node_modules', binName);
mkdirSync(binDest, { recursive: true });
execFileSync('tar', ['-xzf', tgz, '-C', binDest, '--strip-components=1', '--no-same-owner']);
if (!readdirSync(binDest).some((f) => f.endsWith('.node'))) throw new Error(`${tgz} holds no .node binary`);

// 3. The wrapper, the unit, the installer, the example config and policy.
// V8 flags of the gateway (build/node-flags): a 2 MiB young generation and one V8 worker thread
// keep the daemon's resident memory inside the 80 MiB budget of a Pi-class device.
const nodeFlags = readFileSync('build/node-flags', 'utf8').trim();
writeFileSync(join(stage, 'bin/zonegate'), `#!/bin/sh
# zonegate ${version} (linux-${arch}): runs the bundle with the device's node (Debian nodejs >= 18).
here=$(dirname "$(readlink -f "$0")")
exec "\${ZONEGATE_NODE:-node}" ${nodeFlags} "$here/../zonegate.js" "$@"
`);
chmodSync(join(stage, 'bin/zonegate'), 0o755);
for (const [from, to, mode] of [
  ['build/zonegate.service', 'share/zonegate.service', 0o644],
  ['build/install.sh', 'install.sh', 0o755],
  ['build/boot-check.sh', 'boot-check.sh', 0o755],
  ['examples/substation.yaml', 'share/policy.example.yaml', 0o644],
]) { copyFileSync(join(root, from), join(stage, to)); chmodSync(join(stage, to), mode); }
writeFileSync(join(stage, 'share/gateway.example.yaml'), `# zonegate gateway config (install.sh copies this to /etc/zonegate/gateway.yaml if none exists).
# Edit device, site and listeners; paths are relative to this file's folder.
device: gw-01
site: substation-12
stateDir: /var/lib/zonegate
# An unsigned policy file, until the fleet sends a signed bundle.
policyFile: policy.yaml
listeners:
  - { listen: 0.0.0.0:502, asset: plc-feeder-1, service: modbus, upstream: 10.10.1.20:502 }
log: { level: info, decisions: stdout }
`);
writeFileSync(join(stage, 'VERSION'), `${version}\n`);

// 4. MANIFEST, then the tarball (sorted, root-owned, fixed mtime: the same tree gives the same bytes).
const files = [];
const walk = (d) => { for (const n of readdirSync(d).sort()) { const p = join(d, n); statSync(p).isDirectory() ? walk(p) : files.push(p); } };
walk(stage);
writeFileSync(join(stage, 'MANIFEST'), files.map((p) => `${createHash('sha256').update(readFileSync(p)).digest('hex')}  ${relative(stage, p)}`).join('\n') + '\n');
const out = join(outDir, `zonegate-${version}-linux-${arch}.tar.gz`);
mkdirSync(dirname(out), { recursive: true });
execFileSync('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '-czf', out, '-C', stage, '.']);
const size = statSync(out).size;
const sha = createHash('sha256').update(readFileSync(out)).digest('hex');
const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
console.log(`${relative(process.cwd(), out)}  ${kib(size)} compressed (budget ${kib(BUDGET)}), bundle ${kib(cli.bytes)} in ${cli.chunks} chunks, ${binName}@${binVersion}`);
console.log(`sha256 ${sha}`);
if (size >= BUDGET) { console.error(`package: ${out} is over the 5 MiB budget`); process.exit(1); }
