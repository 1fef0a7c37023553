/**
 * installUpdate checks everything before it changes anything (runtime/update/install-update.ts):
 * a refused package leaves the inactive slot and the high-water mark as they were, and an older
 * runtime is refused unless the release is signed as a deliberate downgrade. Small packages made
 * here (zonegate.js + VERSION): what is checked is the install, not the daemon.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { installUpdate } from '../../runtime/update/install-update';
import { UpdateState } from '../../runtime/update/state-files';
import { ZonegateError } from '../../policy/errors';
import { signRelease } from '../../fleet/release';
import { runtimeBundle, trustWorld } from './helpers';

const world = trustWorld();
const dirs: string[] = [];
test.after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

/** A device running `running` from slot a, with `previous` kept in slot b. */
function device(running: string, previous = '0.0.9') {
  const dir = mkdtempSync(join(tmpdir(), 'zg-install-checks-'));
  dirs.push(dir);
  const root = join(dir, 'opt'), stateDir = join(dir, 'state');
  for (const [slot, v] of [['a', running], ['b', previous]]) {
    mkdirSync(join(root, 'slots', slot), { recursive: true });
    writeFileSync(join(root, 'slots', slot, 'VERSION'), `${v}\n`);
    writeFileSync(join(root, 'slots', slot, 'zonegate.js'), `// ${v}\n`);
  }
  symlinkSync('slots/a', join(root, 'current'));
  return { dir, root, stateDir };
}

function pkg(dir: string, version: string): { file: string; bytes: Uint8Array } {
  const stage = mkdtempSync(join(dir, 'pkg-'));
  writeFileSync(join(stage, 'zonegate.js'), `// zonegate ${version}\n`);
  writeFileSync(join(stage, 'VERSION'), `${version}\n`);
  const file = join(dir, `zonegate-${version}.tar.gz`);
  const r = spawnSync('tar', ['-czf', file, '-C', stage, '.']);
  assert.is(r.status, 0, String(r.stderr));
  return { file, bytes: new Uint8Array(readFileSync(file)) };
}

async function install(d: ReturnType<typeof device>, o: { packageVersion: string; signedVersion: string; bundleVersion: number; downgrade?: boolean }) {
  const p = pkg(d.dir, o.packageVersion);
  // A deliberate downgrade is signed the way the fleet manager signs it (fleet release --downgrade).
  const bundle = o.downgrade
    ? signRelease({ pkg: p.bytes, packageVersion: o.signedVersion, arch: 'x64', version: o.bundleVersion, site: 'lab', targets: ['gw-test'], issuedAt: Date.now() - 1000, expiresAt: Date.now() + 86_400_000, keys: [world.runtimeKey], downgrade: true }).bytes
    : runtimeBundle({ key: world.runtimeKey, version: o.bundleVersion, pkg: p.bytes, packageVersion: o.signedVersion });
  return installUpdate({ root: d.root, stateDir: d.stateDir, bundle, packageFile: p.file, trustRoot: world.root, site: 'lab', device: 'gw-test', arch: 'x64', now: () => 1000, source: 'import' });
}

const refusal = (e: unknown) => e as ZonegateError;

test('a package whose VERSION differs from the signed one is refused before the slot or the high-water mark changes', async () => {
  const d = device('0.1.0');
  const err = refusal(await install(d, { packageVersion: '0.3.0', signedVersion: '0.2.0', bundleVersion: 4 }).catch((e) => e));
  assert.instance(err, ZonegateError);
  assert.is(err.code, 'ERR_UPDATE_PACKAGE');
  assert.is(err.message, 'the package says VERSION 0.3.0, the signed update says 0.2.0; refused');
  const state = await UpdateState.open(d.stateDir);
  assert.is(await state.highWater(), 0, 'the high-water mark did not move');
  assert.is(readFileSync(join(d.root, 'slots/b/VERSION'), 'utf8'), '0.0.9\n', 'the inactive slot (the version to fall back to) is untouched');
  assert.equal(readdirSync(join(d.root, 'slots')).sort(), ['a', 'b'], 'nothing left beside the slots');
  assert.is(await state.readTrial(), null);
  assert.equal((await state.journal()).map((e) => [e.outcome, e.code]), [['refused', 'ERR_UPDATE_PACKAGE']]);
  // The same bundle version with a good package is still accepted: the mark was not raised.
  const ok = await install(d, { packageVersion: '0.2.0', signedVersion: '0.2.0', bundleVersion: 4 });
  assert.equal([ok.to, ok.version, await state.highWater()], ['b', '0.2.0', 4]);
});

test('an older runtime in a newer bundle is refused unless signed as a deliberate downgrade', async () => {
  const d = device('0.2.0');
  const err = refusal(await install(d, { packageVersion: '0.1.5', signedVersion: '0.1.5', bundleVersion: 7 }).catch((e) => e));
  assert.is(err.code, 'ERR_UPDATE_DOWNGRADE');
  assert.is(err.message, 'the package holds zonegate 0.1.5, older than 0.2.0 in the active slot; refused (a deliberate downgrade must be signed as one: fleet release --downgrade)');
  const state = await UpdateState.open(d.stateDir);
  assert.equal([await state.highWater(), readFileSync(join(d.root, 'slots/b/VERSION'), 'utf8')], [0, '0.0.9\n']);
  // A pre-release of the running version is older too.
  assert.is(refusal(await install(d, { packageVersion: '0.2.0-rc.1', signedVersion: '0.2.0-rc.1', bundleVersion: 7 }).catch((e) => e)).code, 'ERR_UPDATE_DOWNGRADE');
  // Signed as a downgrade: installed, on trial like any update.
  const ok = await install(d, { packageVersion: '0.1.5', signedVersion: '0.1.5', bundleVersion: 7, downgrade: true });
  assert.equal([ok.from, ok.to, ok.version, ok.previousVersion], ['a', 'b', '0.1.5', '0.2.0']);
  assert.is(readFileSync(join(d.root, 'slots/b/VERSION'), 'utf8'), '0.1.5\n');
  assert.ok(existsSync(join(d.stateDir, 'update.trial')));
  assert.equal((await state.journal()).map((e) => [e.outcome, e.code ?? null]), [['refused', 'ERR_UPDATE_DOWNGRADE'], ['refused', 'ERR_UPDATE_DOWNGRADE'], ['installed', null]]);
});

test('the same version again is not a downgrade', async () => {
  const d = device('0.2.0');
  const ok = await install(d, { packageVersion: '0.2.0', signedVersion: '0.2.0', bundleVersion: 2 });
  assert.is(ok.version, '0.2.0');
});

test.run();
