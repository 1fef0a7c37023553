/**
 * The Debian package (build/deb.mjs, `make deb`): built once for amd64 with a version given on
 * the command line, then read back with dpkg-deb --info/--contents/-x: control fields and
 * Depends, conffiles, maintainer scripts, the file modes (/var/lib/zonegate 0700, the wrapper
 * 0755), the argon2 binary of the architecture, a unit without the tarball's A/B slot steps, and
 * the extracted bundle runs. lintian: deb-lintian.test.ts (a file of its own, so the two run in
 * parallel: together they took 76 s beside a second suite). Installing, `systemd-analyze verify`
 * and purging as root: build/deb-install-check.sh.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'zg-deb-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const VERSION = '9.8.7';
const deb = join(dir, `zonegate_${VERSION}_amd64.deb`);
const dpkgDeb = spawnSync('dpkg-deb', ['--version']).error ? 'dpkg-deb is not installed (not a Debian system)' : null;

let built: string | null = null;
function build(): string {
  if (built !== null) return built;
  const r = spawnSync(process.execPath, ['build/deb.mjs', '--arch', 'amd64', '--version', VERSION, '--out-dir', dir], { encoding: 'utf8', timeout: 240_000 });
  assert.is(r.status, 0, `${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /zonegate_9\.8\.7_amd64\.deb\s+[\d.]+ KiB, Depends: nodejs \(>= 18\), @node-rs\/argon2-linux-x64-gnu/);
  return (built = r.stdout);
}
const sh = (cmd: string, args: string[]) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  assert.is(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

test('control: name, version from --version, arch, Depends nodejs >= 18, conffiles, maintainer scripts', () => {
  if (dpkgDeb) { console.log(`SKIP: ${dpkgDeb}`); return; }
  build();
  const field = (f: string) => sh('dpkg-deb', ['--field', deb, f]).trim();
  assert.is(field('Package'), 'zonegate');
  assert.is(field('Version'), VERSION);
  assert.is(field('Architecture'), 'amd64');
  assert.match(field('Depends'), /(^|, )nodejs \(>= 18\)(,|$)/);
  const info = sh('dpkg-deb', ['--info', deb]);
  for (const f of ['conffiles', 'postinst', 'prerm', 'postrm', 'md5sums']) assert.match(info, new RegExp(`\\s${f}\\b`));
  const ctl = join(dir, 'control');
  sh('dpkg-deb', ['--control', deb, ctl]);
  assert.equal(readFileSync(join(ctl, 'conffiles'), 'utf8').trim().split('\n'), ['/etc/zonegate/gateway.yaml', '/etc/zonegate/policy.yaml']);
  const postinst = readFileSync(join(ctl, 'postinst'), 'utf8');
  assert.match(postinst, /adduser --system --group --home \/var\/lib\/zonegate --no-create-home --quiet zonegate/);
  assert.match(postinst, /chmod 0700 \/var\/lib\/zonegate/);
  assert.match(readFileSync(join(ctl, 'postrm'), 'utf8'), /"\$1" = purge[\s\S]*rm -rf \/var\/lib\/zonegate/);
});

test('contents: wrapper on PATH, bundle and argon2 for amd64, unit, conffiles, state folder 0700', () => {
  if (dpkgDeb) { console.log(`SKIP: ${dpkgDeb}`); return; }
  build();
  const lines = sh('dpkg-deb', ['--contents', deb]).trim().split('\n');
  const entry = (path: string) => lines.find((l) => l.endsWith(` ./${path}`) || l.endsWith(` ./${path}/`));
  for (const p of ['usr/lib/zonegate/zonegate.js', 'usr/lib/zonegate/chunks/main.js', 'usr/lib/zonegate/node_modules/@node-rs/argon2/index.js',
    'usr/lib/zonegate/node_modules/@node-rs/argon2-linux-x64-gnu/argon2.linux-x64-gnu.node', 'lib/systemd/system/zonegate.service',
    'etc/zonegate/gateway.yaml', 'usr/share/doc/zonegate/copyright', 'usr/share/doc/zonegate/changelog.gz']) assert.ok(entry(p), `${p} in the package`);
  assert.match(entry('usr/bin/zonegate')!, /^-rwxr-xr-x root\/root /);
  assert.match(entry('var/lib/zonegate')!, /^drwx------ root\/root /);
  assert.ok(lines.every((l) => / root\/root /.test(l)), 'every file root-owned');
  assert.not.ok(lines.some((l) => /arm64|arm-gnueabihf/.test(l)), 'no other architecture');
});

test('the extracted package: the unit runs the wrapper, the wrapper the bundle with the node flags, the bundle runs', () => {
  if (dpkgDeb) { console.log(`SKIP: ${dpkgDeb}`); return; }
  build();
  const x = join(dir, 'x');
  sh('dpkg-deb', ['-x', deb, x]);
  const unit = readFileSync(join(x, 'lib/systemd/system/zonegate.service'), 'utf8');
  assert.match(unit, /^ExecStart=\/usr\/bin\/zonegate run --config \/etc\/zonegate\/gateway\.yaml$/m);
  assert.match(unit, /^Type=notify$/m);
  assert.match(unit, /^User=zonegate$/m);
  assert.match(unit, /^ReadWritePaths=\/var\/lib\/zonegate$/m);
  assert.not.match(unit, /opt\/zonegate|boot-check|update commit/);
  const wrapper = readFileSync(join(x, 'usr/bin/zonegate'), 'utf8');
  assert.ok(wrapper.includes(`${readFileSync('build/node-flags', 'utf8').trim()} /usr/lib/zonegate/zonegate.js "$@"`), wrapper);
  assert.match(wrapper, /\/usr\/bin\/node/);
  assert.match(readFileSync(join(x, 'etc/zonegate/gateway.yaml'), 'utf8'), /^stateDir: \/var\/lib\/zonegate$/m);
  const v = spawnSync(process.execPath, [join(x, 'usr/lib/zonegate/zonegate.js'), 'version'], { cwd: dir, encoding: 'utf8' });
  assert.is(v.status, 0, v.stderr);
  assert.match(v.stdout, new RegExp(`^zonegate ${VERSION.replace(/\./g, '\\.')} `));
  // Every chunk of the build is in the package, and a command with chunks of its own runs.
  const chunks = readdirSync(join(x, 'usr/lib/zonegate/chunks'));
  for (const f of chunks.filter((n) => n.endsWith('.js'))) {
    for (const m of readFileSync(join(x, 'usr/lib/zonegate/chunks', f), 'utf8').matchAll(/require\(["']\.\/([\w.-]+\.js)["']\)/g)) assert.ok(chunks.includes(m[1]), `${f} imports ${m[1]}, not in the package`);
  }
  const c = spawnSync(process.execPath, [join(x, 'usr/lib/zonegate/zonegate.js'), 'policy', 'check', join(x, 'etc/zonegate/policy.yaml')], { cwd: dir, encoding: 'utf8' });
  assert.is(c.status, 0, c.stderr);
  assert.match(c.stdout, /^ok: site /);
});

test('make package and make deb pass VERSION on', () => {
  const make = (target: string) => spawnSync('make', ['-n', target, 'VERSION=1.2.3', 'ARCH=arm64'], { encoding: 'utf8' }).stdout;
  assert.match(make('package'), /build\/package\.mjs --arch arm64 --version 1\.2\.3/);
  assert.match(make('deb'), /build\/deb\.mjs --arch arm64 --version 1\.2\.3/);
  assert.match(spawnSync('make', ['-n', 'deb', 'ARCH=armv7'], { encoding: 'utf8' }).stdout, /build\/deb\.mjs --arch armhf/);
  assert.ok(existsSync('LICENSE') && /Apache License\s+Version 2\.0/.test(readFileSync('LICENSE', 'utf8')));
  assert.is(JSON.parse(readFileSync('package.json', 'utf8')).license, 'Apache-2.0');
});

test.run();
