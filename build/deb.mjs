// Builds the Debian package of one architecture with dpkg-deb:
//   node build/deb.mjs --arch amd64|arm64|armhf [--version V] [--out-dir DIR]   (or `make deb ARCH=...`)
// → DIR/zonegate_<version>_<arch>.deb (default dist/), and prints its size and sha256.
// It reuses build/package.mjs's staged tree (the minified bundle and the prebuilt @node-rs/argon2
// binary of the architecture) and lays it out the Debian way:
//   /usr/lib/zonegate/           zonegate.js, chunks/ (its code, build/cli-build.mjs), node_modules/@node-rs/argon2
//                                + the binary, VERSION
//   /usr/bin/zonegate            sh wrapper: Debian's node with the gateway's flags (build/node-flags)
//   /lib/systemd/system/zonegate.service   build/zonegate.service without the A/B slot steps
//   /etc/zonegate/gateway.yaml, policy.yaml   conffiles (an example to edit)
//   /var/lib/zonegate            the state folder, 0700, owned by the system user zonegate (postinst)
// Updates of a .deb come from apt; the tarball (make package) stays for over-the-air A/B updates.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';

/** Debian architecture → build/package.mjs's architecture. */
const ARCHES = { amd64: 'x64', arm64: 'arm64', armhf: 'armv7' };

const argv = process.argv.slice(2);
const opt = (name, dflt) => { const i = argv.indexOf(`--${name}`); return i >= 0 ? argv[i + 1] : dflt; };
const arch = opt('arch', process.env.ARCH || 'amd64');
if (!ARCHES[arch]) { console.error(`deb: unknown arch '${arch}' (amd64, arm64, armhf)`); process.exit(2); }
const root = new URL('..', import.meta.url).pathname;
const pkgJson = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const version = opt('version', pkgJson.version);
if (!/^[0-9][A-Za-z0-9.+~-]*$/.test(version)) { console.error(`deb: '${version}' is not a Debian version`); process.exit(2); }
const outDir = opt('out-dir', join(root, 'dist'));
const work = mkdtempSync(join(tmpdir(), 'zg-deb-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

// 1. The staged tree of the tarball (bundle, argon2 for the arch).
execFileSync(process.execPath, [join(root, 'build/package.mjs'), '--arch', ARCHES[arch], '--version', version, '--out-dir', join(work, 'pkg')], { stdio: ['ignore', 'ignore', 'inherit'] });
const stage = join(work, 'pkg', '.pkg', ARCHES[arch]);

// 2. The file system of the package.
const tree = join(work, 'root');
const put = (rel, text, mode = 0o644) => {
  const p = join(tree, rel);
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, text);
  chmodSync(p, mode);
};
const lib = join(tree, 'usr/lib/zonegate');
mkdirSync(lib, { recursive: true });
for (const f of ['zonegate.js', 'chunks', 'VERSION']) cpSync(join(stage, f), join(lib, f), { recursive: true });
cpSync(join(stage, 'node_modules'), join(lib, 'node_modules'), { recursive: true });
// The bundle is run by the wrapper, not executed itself.
writeFileSync(join(lib, 'zonegate.js'), readFileSync(join(lib, 'zonegate.js'), 'utf8').replace(/^#!.*\n/, ''));
chmodSync(join(lib, 'zonegate.js'), 0o644);
const nodeFlags = readFileSync(join(root, 'build/node-flags'), 'utf8').trim().split(/\s+/).join(' ');
put('usr/bin/zonegate', `#!/bin/sh
# zonegate ${version}: the gateway and its CLI, run by Debian's node (nodejs >= 18) with the
# gateway's V8 flags.
exec "\${ZONEGATE_NODE:-/usr/bin/node}" ${nodeFlags} /usr/lib/zonegate/zonegate.js "$@"
`, 0o755);

// The unit: same hardening as the tarball's, without the A/B slot steps (boot-check, update
// commit) that only the over-the-air layout under /opt/zonegate has.
const unit = readFileSync(join(root, 'build/zonegate.service'), 'utf8')
  .replace(/^# zonegate gateway daemon \(installed by install\.sh[^\n]*\n(#[^\n]*\n)*/, `# zonegate gateway daemon (Debian package: /lib/systemd/system/zonegate.service).
# READY=1 comes from the daemon once the policy is enforcing and every listener is up
# (Type=notify); it is restarted forever if it crashes or stops pinging the watchdog.
`)
  .replace(/^Documentation=.*$/m, 'Documentation=file:///usr/share/doc/zonegate/README.md')
  .replace(/^ExecStartPre=.*\n/m, '')
  .replace(/^ExecStart=.*$/m, 'ExecStart=/usr/bin/zonegate run --config /etc/zonegate/gateway.yaml')
  .replace(/^ExecStartPost=.*\n/m, '')
  .replace(/^ExecStopPost=.*\n/m, '')
  .replace(/^# The health deadline of a trial version[^\n]*\n/m, '# How long the first READY may take (the first policy load).\n')
  .replace(/^# The state \(policy store[^\n]*\n# installs into;[^\n]*\n/m, '# The state (policy store, trust root, audit log); everything else is read-only.\n')
  .replace(/^ReadWritePaths=.*$/m, 'ReadWritePaths=/var/lib/zonegate');
for (const step of ['boot-check', 'update commit', '/opt/zonegate']) if (unit.includes(step)) throw new Error(`deb: the unit still names ${step}`);
put('lib/systemd/system/zonegate.service', unit);

put('etc/zonegate/gateway.yaml', readFileSync(join(stage, 'share/gateway.example.yaml'), 'utf8')
  .replace(/^# zonegate gateway config \(install\.sh copies[^\n]*\n/, '# zonegate gateway config (the Debian package\'s example; a conffile: your edits are kept).\n'));
put('etc/zonegate/policy.yaml', readFileSync(join(stage, 'share/policy.example.yaml'), 'utf8'));
mkdirSync(join(tree, 'var/lib/zonegate'), { recursive: true });
chmodSync(join(tree, 'var/lib/zonegate'), 0o700);

const doc = 'usr/share/doc/zonegate';
put(`${doc}/copyright`, `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: zonegate
Source: https://github.com/zonegate/zonegate

Files: *
Copyright: 2026 The zonegate authors
License: Apache-2.0

Files: usr/lib/zonegate/node_modules/@node-rs/*
Copyright: 2020-2026 LongYinan and the napi-rs contributors
License: MIT

License: Apache-2.0
 On Debian systems, the full text of the Apache License, Version 2.0 can be
 found in /usr/share/common-licenses/Apache-2.0.

License: MIT
 Permission is hereby granted, free of charge, to any person obtaining a copy
 of this software and associated documentation files (the "Software"), to deal
 in the Software without restriction, including without limitation the rights
 to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
 copies of the Software, and to permit persons to whom the Software is
 furnished to do so, subject to the following conditions:
 .
 The above copyright notice and this permission notice shall be included in
 all copies or substantial portions of the Software.
 .
 THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
 IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
 FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
 AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
 LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
 OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN
 THE SOFTWARE.
`);
// A native package's changelog (Debian policy 12.7), compressed without a timestamp.
const date = 'Tue, 01 Dec 2026 00:00:00 +0000';
const changelog = `zonegate (${version}) unstable; urgency=medium\n\n  * Release ${version}.\n\n -- zonegate maintainers <maintainers@zonegate.invalid>  ${date}\n`;
const cl = join(tree, doc, 'changelog.gz');
writeFileSync(cl, gzipSync(changelog, { level: 9 }));
chmodSync(cl, 0o644);
cpSync(join(root, 'README.md'), join(tree, doc, 'README.md'));

// The argon2 binary links libc and libgcc_s: depend on them, libc at the newest symbol version
// the binary uses (the GLIBC_x.y strings of its version needs, read from the file itself).
const nodeBin = readdirSync(join(lib, 'node_modules/@node-rs')).filter((n) => n !== 'argon2')
  .flatMap((n) => readdirSync(join(lib, 'node_modules/@node-rs', n)).filter((f) => f.endsWith('.node')).map((f) => join(lib, 'node_modules/@node-rs', n, f)))[0];
const elf = readFileSync(nodeBin).toString('latin1');
const glibc = [...elf.matchAll(/GLIBC_(\d+)\.(\d+)(?:\.(\d+))?/g)].map((m) => m.slice(1).map((x) => Number(x ?? 0)))
  .sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]).pop();
if (!glibc) throw new Error(`deb: ${nodeBin} names no GLIBC version`);
const libs = `libc6 (>= ${glibc[0]}.${glibc[1]}${glibc[2] ? `.${glibc[2]}` : ''})${elf.includes('libgcc_s.so.1') ? ', libgcc-s1' : ''}`;

// 3. The control files.
const files = [];
const walk = (d) => { for (const n of readdirSync(d).sort()) { const p = join(d, n); statSync(p).isDirectory() ? walk(p) : files.push(p); } };
walk(tree);
const installedKiB = Math.ceil(files.reduce((n, f) => n + statSync(f).size, 0) / 1024);
const control = join(tree, 'DEBIAN');
mkdirSync(control, { mode: 0o755 });
put('DEBIAN/control', `Package: zonegate
Version: ${version}
Architecture: ${arch}
Maintainer: zonegate maintainers <maintainers@zonegate.invalid>
Installed-Size: ${installedKiB}
Depends: nodejs (>= 18), adduser, ${libs}
Recommends: nftables
Section: net
Priority: optional
Homepage: https://github.com/zonegate/zonegate
Description: Zero Trust segmentation runtime for OT edge gateways
 zonegate decides every connection and every Modbus operation that crosses
 an edge gateway between the zones of a substation, plant or pipeline
 station: default deny, identity and policy on each interaction, signed
 policy bundles enforced offline, MQTT fleet sync and a tamper-evident
 audit log.
`);
put('DEBIAN/conffiles', '/etc/zonegate/gateway.yaml\n/etc/zonegate/policy.yaml\n');
put('DEBIAN/md5sums', files.filter((f) => !relative(tree, f).startsWith('etc/'))
  .map((f) => `${createHash('md5').update(readFileSync(f)).digest('hex')}  ${relative(tree, f)}`).join('\n') + '\n');
put('DEBIAN/postinst', `#!/bin/sh
# zonegate postinst: the system user, its state folder (0700), and the unit enabled (not started:
# the gateway needs its config and trust root provisioned first).
set -e
if [ "$1" = configure ]; then
  if ! getent passwd zonegate >/dev/null; then
    adduser --system --group --home /var/lib/zonegate --no-create-home --quiet zonegate
  fi
  chown zonegate:zonegate /var/lib/zonegate
  chmod 0700 /var/lib/zonegate
  chgrp zonegate /etc/zonegate/gateway.yaml /etc/zonegate/policy.yaml
  chmod 0640 /etc/zonegate/gateway.yaml /etc/zonegate/policy.yaml
fi
if [ "$1" = configure ] || [ "$1" = abort-upgrade ] || [ "$1" = abort-deconfigure ] || [ "$1" = abort-remove ]; then
  if command -v deb-systemd-helper >/dev/null; then
    deb-systemd-helper unmask zonegate.service >/dev/null || true
    if deb-systemd-helper --quiet was-enabled zonegate.service; then
      deb-systemd-helper enable zonegate.service >/dev/null || true
    else
      deb-systemd-helper update-state zonegate.service >/dev/null || true
    fi
  fi
  if [ -d /run/systemd/system ]; then
    systemctl --system daemon-reload >/dev/null || true
    if [ -n "$2" ]; then deb-systemd-invoke try-restart zonegate.service >/dev/null || true; fi
  fi
fi
`, 0o755);
put('DEBIAN/prerm', `#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
  deb-systemd-invoke stop zonegate.service >/dev/null || true
fi
`, 0o755);
put('DEBIAN/postrm', `#!/bin/sh
# zonegate postrm: on purge, the state (policy store, audit log, device key) and the unit's
# enablement go; the system user stays (Debian practice: its files may be elsewhere).
set -e
if [ -d /run/systemd/system ]; then
  systemctl --system daemon-reload >/dev/null || true
fi
if [ "$1" = remove ] && command -v deb-systemd-helper >/dev/null; then
  deb-systemd-helper mask zonegate.service >/dev/null || true
fi
if [ "$1" = purge ]; then
  if command -v deb-systemd-helper >/dev/null; then
    deb-systemd-helper purge zonegate.service >/dev/null || true
    deb-systemd-helper unmask zonegate.service >/dev/null || true
  fi
  rm -rf /var/lib/zonegate
  rmdir --ignore-fail-on-non-empty /etc/zonegate 2>/dev/null || true
fi
`, 0o755);

// 4. The package: root-owned, files sorted by dpkg-deb, no timestamps from this build in the data.
mkdirSync(outDir, { recursive: true });
const out = join(outDir, `zonegate_${version}_${arch}.deb`);
execFileSync('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', tree, out], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, SOURCE_DATE_EPOCH: '1796083200' } });
const size = statSync(out).size;
const sha = createHash('sha256').update(readFileSync(out)).digest('hex');
console.log(`${relative(process.cwd(), out)}  ${(size / 1024).toFixed(1)} KiB, Depends: nodejs (>= 18), ${readdirSync(join(lib, 'node_modules/@node-rs')).filter((n) => n !== 'argon2').map((n) => `@node-rs/${n}`).join(', ')}`);
console.log(`sha256 ${sha}`);
if (!existsSync(out)) process.exit(1);
