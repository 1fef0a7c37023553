/**
 * A signed runtime update reaches the gateway through its own MQTT sync: the real gateway (in
 * process, signed-policy mode, a trust root with a runtime role), a real mosquitto, and
 * `zonegate fleet release --broker` publishing the announcement and the package's chunks. The
 * gateway verifies, assembles, checks the signed hash, installs into slot b, switches `current`
 * and asks to restart; its status shows the trial. (The restart, the health deadline and the
 * rollbacks are test/update/ab.test.ts, with a real service-manager stand-in.)
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { createGateway } from '../../runtime/gateway';
import { startMosquitto, skipReason } from '../helpers/mosquitto';
import { writeKeyPair } from '../../fleet/keys';
import { bundle, makePackage, tempDir, trustWorld, LAB_POLICY } from '../update/helpers';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
test.after.each(async () => { while (cleanups.length) { try { await cleanups.pop()!(); } catch { /* keep cleaning */ } } });
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

test('fleet release over MQTT: the daemon installs the signed package into slot b and asks to restart', async () => {
  const skip = skipReason();
  if (skip) { console.log(`SKIP test/e2e/runtime-update: ${skip}`); return; }
  if (process.arch !== 'x64' && process.arch !== 'arm64' && process.arch !== 'arm') { console.log(`SKIP: no package architecture for ${process.arch}`); return; }
  const arch = process.arch === 'arm' ? 'armv7' : process.arch;
  const world = trustWorld();
  const dir = tempDir('gw-release');
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const root = join(dir, 'opt');
  mkdirSync(join(root, 'slots/a'), { recursive: true });
  mkdirSync(join(root, 'slots/b'), { recursive: true });
  writeFileSync(join(root, 'slots/a/VERSION'), '0.1.0\n');
  symlinkSync('slots/a', join(root, 'current'));
  const broker = await startMosquitto();
  cleanups.push(() => broker.close());
  writeFileSync(join(dir, 'root.cbor'), world.root.bytes);
  writeFileSync(join(dir, 'policy.yaml'), LAB_POLICY);
  writeFileSync(join(dir, 'gateway.yaml'), `device: gw-test
site: lab
stateDir: ./state
trustRoot: { file: root.cbor }
policyFile: policy.yaml
mqtt: { url: "${broker.url}", keepalive: 5 }
listeners:
  - { listen: 127.0.0.1:0, asset: plc-1, service: modbus, upstream: 127.0.0.1:1 }
log: { level: info, decisions: none }
timeouts: { drainMs: 100 }
`);
  let restarts = 0;
  const gw = createGateway({ configFile: join(dir, 'gateway.yaml'), log: quiet, updateRoot: root, restartForUpdate: () => { restarts += 1; } });
  await gw.start(new AbortController().signal);
  cleanups.push(() => gw.stop());
  const until = async (pred: () => boolean, what: string) => {
    const end = Date.now() + 30_000;
    while (!pred()) { if (Date.now() > end) throw new Error(`gave up waiting for ${what}`); await new Promise((r) => setTimeout(r, 25)); }
  };
  await until(() => gw.status().sync?.connected === true, 'the gateway connected');
  assert.is(gw.status().update?.activeSlot, 'a');

  const pkg = makePackage({ dir, version: '0.2.0' });
  const keys = await writeKeyPair({ dir: join(dir, 'keys'), name: 'runtime-1', key: world.runtimeKey });
  const r = spawnSync(process.execPath, [bundle(), 'fleet', 'release', pkg.file, '--key', keys.privateFile, '--version', '2', '--arch', arch,
    '--targets', 'gw-test', '--site', 'lab', '--package-version', '0.2.0', '--out', join(dir, 'r2.bundle'), '--broker', broker.url], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr + r.stdout);
  await until(() => restarts === 1, 'the install and the restart request');
  assert.is(readlinkSync(join(root, 'current')), 'slots/b');
  assert.is(readFileSync(join(root, 'slots/b/VERSION'), 'utf8').trim(), '0.2.0');
  await until(() => gw.status().update?.trial?.version === '0.2.0', 'the trial in the status');
  assert.is(gw.status().update?.activeSlot, 'b');
});

test.run();
