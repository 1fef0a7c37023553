/**
 * The flashable package (build/package.mjs), its installer (build/install.sh, DESTDIR), its
 * systemd unit and the rollback check (build/boot-check.sh), with the real tools: the x64
 * package is built, listed, verified against its MANIFEST, installed twice (A then B) into a temp
 * root and run with this machine's node; boot-check.sh is driven through every marker state.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseKv } from '../../runtime/update/kv';
import { UpdateState } from '../../runtime/update/state-files';
import { readUpdateStatus } from '../../runtime/update/update-status';

const REPO = process.cwd();
const VERSION = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).version as string;
const dir = mkdtempSync(join(tmpdir(), 'zg-package-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

let built: { file: string; out: string } | null = null;
let buildError = '';
function pkg(): { file: string; out: string } {
  if (built) return built;
  const r = spawnSync(process.execPath, ['build/package.mjs', '--arch', 'x64', '--out-dir', join(dir, 'dist')], { cwd: REPO, encoding: 'utf8', timeout: 180_000 });
  if (r.status !== 0) { buildError = `${r.stdout}${r.stderr}`; throw new Error(`package.mjs failed: ${buildError}`); }
  built = { file: join(dir, 'dist', `zonegate-${VERSION}-linux-x64.tar.gz`), out: r.stdout };
  return built;
}

test('package.mjs builds the x64 tarball under 5 MiB with the bundle, argon2 for x64, unit, installer and example config', () => {
  const { file, out } = pkg();
  const size = statSync(file).size;
  assert.ok(size < 5 * 1024 * 1024, `package is ${size} bytes`);
  // The README says how big it is; the arm64 and x64 packages differ by a few KiB.
  const said = Number(/The package \(about ([\d.]+) MiB\)/.exec(readFileSync(join(REPO, 'README.md'), 'utf8'))?.[1]);
  assert.ok(Math.abs(size / 2 ** 20 - said) <= 0.1, `README says about ${said} MiB, the x64 package is ${(size / 2 ** 20).toFixed(2)} MiB`);
  assert.match(out, new RegExp(`zonegate-${VERSION.replace(/\./g, '\\.')}-linux-x64\\.tar\\.gz\\s+[\\d.]+ KiB compressed \\(budget 5120\\.0 KiB\\)`));
  assert.match(out, /@node-rs\/argon2-linux-x64-gnu@\d+\.\d+\.\d+/);
  const list = spawnSync('tar', ['-tzf', file], { encoding: 'utf8' }).stdout.split('\n').map((l) => l.replace(/^\.\//, '')).filter(Boolean);
  for (const f of ['zonegate.js', 'chunks/main.js', 'chunks/main.js.map', 'bin/zonegate', 'install.sh', 'boot-check.sh', 'VERSION', 'MANIFEST',
    'share/zonegate.service', 'share/gateway.example.yaml', 'share/policy.example.yaml',
    'node_modules/@node-rs/argon2/index.js', 'node_modules/@node-rs/argon2-linux-x64-gnu/argon2.linux-x64-gnu.node']) {
    assert.ok(list.includes(f), `${f} in the package`);
  }
  assert.not.ok(list.some((f) => f.includes('cbor-extract')), 'cbor-x runs on its pure JS decoder; no cbor-extract');
  // Every chunk a chunk imports is in the package (zonegate.js loads chunks/ a command at a time).
  // (Unpacked once: one `tar -xzOf` per chunk unpacked the whole tarball 107 times, 15 s.)
  const shipped = new Set(list);
  const unpacked = mkdtempSync(join(dir, 'unpacked-'));
  assert.is(spawnSync('tar', ['-xzf', file, '-C', unpacked]).status, 0);
  for (const f of list.filter((n) => /^chunks\/[^/]+\.js$/.test(n))) {
    const text = readFileSync(join(unpacked, f), 'utf8');
    for (const m of text.matchAll(/require\(["']\.\/([\w.-]+\.js)["']\)/g)) assert.ok(shipped.has(`chunks/${m[1]}`), `${f} imports chunks/${m[1]}, not in the package`);
  }
  assert.not.ok(list.some((f) => /arm64|gnueabihf/.test(f)), 'no other architecture\'s binary');
});

test('install.sh lays out slots, current, boot-check, unit and config; a second install goes to slot b', () => {
  const { file } = pkg();
  const dest = join(dir, 'device');
  const r1 = spawnSync('sh', [join(REPO, 'build/install.sh'), file], { env: { ...process.env, DESTDIR: dest }, encoding: 'utf8' });
  assert.is(r1.status, 0, r1.stderr);
  assert.match(r1.stdout, /install: zonegate .+ in .+\/opt\/zonegate\/slots\/a \(current → slots\/a\)/);
  const root = join(dest, 'opt/zonegate');
  assert.is(readlinkSync(join(root, 'current')), 'slots/a');
  for (const f of ['boot-check.sh', 'slots/a/zonegate.js', 'slots/a/bin/zonegate']) assert.ok(existsSync(join(root, f)), f);
  assert.ok(existsSync(join(dest, 'etc/systemd/system/zonegate.service')));
  assert.ok(existsSync(join(dest, 'etc/zonegate/gateway.yaml')));
  assert.is(statSync(join(dest, 'var/lib/zonegate')).mode & 0o777, 0o700);
  // MANIFEST: every file's sha256, as installed.
  const slot = join(root, 'slots/a');
  for (const line of readFileSync(join(slot, 'MANIFEST'), 'utf8').trim().split('\n')) {
    const [hash, name] = line.split(/\s+/);
    assert.is(createHash('sha256').update(readFileSync(join(slot, name))).digest('hex'), hash, name);
  }
  // The wrapper runs the bundle with the device's node; argon2 loads from the slot.
  const v = spawnSync(join(root, 'current/bin/zonegate'), ['version'], { env: { ...process.env, ZONEGATE_NODE: process.execPath }, encoding: 'utf8' });
  assert.is(v.status, 0, v.stderr);
  assert.match(v.stdout, new RegExp(`zonegate ${VERSION.replace(/\./g, '\\.')} \\(node`));
  // A command whose code is in chunks of its own runs from the slot too.
  const c = spawnSync(join(root, 'current/bin/zonegate'), ['policy', 'check', join(dest, 'etc/zonegate/policy.yaml')], { env: { ...process.env, ZONEGATE_NODE: process.execPath }, encoding: 'utf8' });
  assert.is(c.status, 0, c.stderr);
  assert.match(c.stdout, /^ok: site /);
  const a = spawnSync(process.execPath, ['-e', 'const a=require("@node-rs/argon2");process.stdout.write(String(a.verifySync(a.hashSync("x",{memoryCost:1024,timeCost:1}),"x")))'], { cwd: slot, encoding: 'utf8' });
  assert.is(a.stdout, 'true', a.stderr);
  const r2 = spawnSync('sh', [join(REPO, 'build/install.sh'), file], { env: { ...process.env, DESTDIR: dest }, encoding: 'utf8' });
  assert.is(r2.status, 0, r2.stderr);
  assert.is(readlinkSync(join(root, 'current')), 'slots/b');
});

test('the unit is Type=notify with the watchdog, restart, a dedicated user, the nftables capabilities and a strict sandbox', () => {
  const unit = readFileSync(join(REPO, 'build/zonegate.service'), 'utf8');
  for (const line of ['Type=notify', 'NotifyAccess=all', 'Restart=always', 'User=zonegate', 'NoNewPrivileges=yes', 'PrivateTmp=yes',
    'ProtectSystem=strict', 'CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_BIND_SERVICE', 'AmbientCapabilities=CAP_NET_ADMIN CAP_NET_BIND_SERVICE',
    'ExecStart=/opt/zonegate/current/bin/zonegate run --config /etc/zonegate/gateway.yaml',
    'ExecStartPre=+/opt/zonegate/boot-check.sh --root /opt/zonegate --state /var/lib/zonegate']) {
    assert.ok(unit.split('\n').includes(line), line);
  }
  assert.match(unit, /^WatchdogSec=\d+$/m);
  assert.match(unit, /^TimeoutStartSec=\d+$/m);
  assert.match(unit, /^ReadWritePaths=\/var\/lib\/zonegate /m);
  // A trial version commits itself after its health period, not at READY (ExecStartPost did that).
  assert.not.match(unit, /^ExecStartPost=.*update commit/m);
  assert.match(unit, /^ExecStopPost=\+\/opt\/zonegate\/boot-check\.sh .*--stopped/m);
  const v = spawnSync('systemd-analyze', ['verify', '--man=no', join(REPO, 'build/zonegate.service')], { encoding: 'utf8' });
  if (!v.error) {
    // Paths under /opt/zonegate do not exist here; anything else it says is a unit error.
    const problems = v.stderr.split('\n').filter((l) => l.trim() && !/opt\/zonegate|Command .* is not executable|No such file/.test(l));
    assert.equal(problems, [], v.stderr);
  }
});

/** A fake installation for boot-check.sh. */
function layout(tag: string): { root: string; state: string; check: (...a: string[]) => { status: number | null; stderr: string } } {
  const base = join(dir, `bc-${tag}`);
  const root = join(base, 'opt'), state = join(base, 'state');
  for (const s of ['a', 'b']) { mkdirSync(join(root, 'slots', s), { recursive: true }); writeFileSync(join(root, 'slots', s, 'VERSION'), `v-${s}\n`); }
  mkdirSync(state, { recursive: true });
  symlinkSync('slots/b', join(root, 'current'));
  return {
    root, state,
    check: (...a) => { const r = spawnSync('sh', [join(REPO, 'build/boot-check.sh'), '--root', root, '--state', state, ...a], { encoding: 'utf8' }); return { status: r.status, stderr: r.stderr }; },
  };
}

test('boot-check.sh: counts the first start, records how it ended, rolls back on the second start', async () => {
  const l = layout('flow');
  assert.is(l.check().status, 0, 'no marker: nothing to do');
  assert.is(readlinkSync(join(l.root, 'current')), 'slots/b');
  const state = await UpdateState.open(l.state);
  await state.writeTrial({ from: 'a', to: 'b', version: 'v-b', previousVersion: 'v-a', bundleVersion: 4, sha256: 'ab'.repeat(32), at: 1, attempts: 0 });
  assert.is(l.check().status, 0);
  assert.is((await state.readTrial())?.attempts, 1, 'first start counted');
  assert.is(readlinkSync(join(l.root, 'current')), 'slots/b', 'the trial version starts');
  assert.is(l.check('--stopped', 'exit-code', 'exited', '3').status, 0);
  assert.is((await state.readTrial())?.lastExit, 'exit-code/exited/3');
  const r = l.check();
  assert.is(r.status, 0);
  assert.match(r.stderr, /boot-check: rolled back from slot b \(v-b\) to slot a \(v-a\)/);
  assert.is(readlinkSync(join(l.root, 'current')), 'slots/a');
  assert.is(await state.readTrial(), null);
  const result = parseKv(readFileSync(join(l.state, 'update.result'), 'utf8'));
  assert.equal([result.outcome, result.from, result.to], ['rolled-back', 'a', 'b']);
  // The TypeScript side takes it into the journal and the status.
  const st = await readUpdateStatus({ root: l.root, stateDir: l.state });
  assert.equal([st.activeSlot, st.version, st.last?.outcome], ['a', 'v-a', 'rolled-back']);
  assert.is(st.last?.reason, 'version v-b did not become healthy after 1 start(s) (last exit: exit-code/exited/3); slot a (v-a) restored (crashed)');
  assert.is(st.last?.code, 'ERR_UPDATE_CRASH', 'the journal says why it was rolled back');
  assert.not.ok(existsSync(join(l.state, 'update.result')), 'moved into the journal');
});

test('boot-check.sh: a marker naming no valid slot is removed, nothing switched; unknown arguments exit 2', () => {
  const l = layout('bad');
  writeFileSync(join(l.state, 'update.trial'), 'from=c\nto=../../etc\nattempts=5\n');
  const r = l.check();
  assert.is(r.status, 0);
  assert.match(r.stderr, /bad trial marker \(from=c\); removing it/);
  assert.not.ok(existsSync(join(l.state, 'update.trial')));
  assert.is(readlinkSync(join(l.root, 'current')), 'slots/b');
  assert.is(l.check('--bogus').status, 2);
});

test.run();
