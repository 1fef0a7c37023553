/**
 * Runtime updates over MQTT with a real mosquitto: `zonegate fleet release --broker` (the real
 * CLI) signs and publishes the announcement and the package's chunks; the gateway side
 * (subscribeUpdates + createUpdateReceiver, on a real mqtt.js client) verifies the bundle,
 * assembles the chunks in the state folder, checks the signed hash and size, installs A/B and
 * asks for a restart. Forged chunks, foreign targets and replays are refused and say why.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type MqttClient } from 'mqtt';
import { startMosquitto, skipReason, type Mosquitto } from '../helpers/mosquitto';
import { writeKeyPair } from '../../fleet/keys';
import { createUpdateReceiver, type UpdateReceiver } from '../../runtime/update/update-receiver';
import { subscribeUpdates } from '../../runtime/update/subscribe-updates';
import { chunkTopic, encodeChunks, runtimeTopic, decodeChunk, CHUNK_BYTES } from '../../protocol/update/topics';
import { UpdateState } from '../../runtime/update/state-files';
import type { InstallResult } from '../../runtime/update/install-update';
import { bundle, makePackage, runtimeBundle, sha256, tempDir, trustWorld } from './helpers';

const skip = skipReason();
const cleanups: (() => Promise<unknown> | unknown)[] = [];
test.after.each(async () => { while (cleanups.length) { try { await cleanups.pop()!(); } catch { /* keep cleaning */ } } });
const world = trustWorld();

interface Gw { dir: string; root: string; state: string; receiver: UpdateReceiver; restarts: InstallResult[]; errors: Error[]; broker: Mosquitto; client: MqttClient }

async function gateway(tag: string): Promise<Gw> {
  const dir = tempDir(tag);
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const root = join(dir, 'opt'), state = join(dir, 'state');
  mkdirSync(join(root, 'slots/a'), { recursive: true });
  mkdirSync(join(root, 'slots/b'), { recursive: true });
  writeFileSync(join(root, 'slots/a/VERSION'), '0.1.0\n');
  writeFileSync(join(root, 'slots/a/zonegate.js'), '');
  symlinkSync('slots/a', join(root, 'current'));
  const broker = await startMosquitto();
  cleanups.push(() => broker.close());
  const restarts: InstallResult[] = [];
  const errors: Error[] = [];
  const receiver = createUpdateReceiver({
    root, stateDir: state, trustRoot: () => world.root, site: 'lab', device: 'gw-test', arch: 'x64', now: Date.now,
    restart: (r) => { restarts.push(r); },
  });
  const client = connect(broker.url, { clientId: `gw-test-${tag}`, reconnectPeriod: 0 });
  cleanups.push(() => new Promise<void>((r) => client.end(true, {}, () => r())));
  await new Promise<void>((resolve, reject) => { client.once('connect', () => resolve()); client.once('error', reject); });
  await subscribeUpdates({ client, site: 'lab', device: 'gw-test', receiver, onError: (e) => errors.push(e) });
  return { dir, root, state, receiver, restarts, errors, broker, client };
}

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [bundle(), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    c.stdout.on('data', (d) => { stdout += d; });
    c.stderr.on('data', (d) => { stderr += d; });
    c.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function until(pred: () => boolean, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function publish(client: MqttClient, topic: string, bytes: Uint8Array, retain = false): Promise<void> {
  return new Promise((resolve, reject) => client.publish(topic, Buffer.from(bytes), { qos: 1, retain }, (e) => (e ? reject(e) : resolve())));
}

test('fleet release --broker: the gateway verifies, assembles the chunks, installs into slot b and restarts', async () => {
  if (skip) { console.log(`skipped: ${skip}`); return; }
  const gw = await gateway('release');
  const pkg = makePackage({ dir: gw.dir, version: '0.2.0' });
  assert.ok(pkg.bytes.length > CHUNK_BYTES, 'the package needs more than one chunk');
  const keys = await writeKeyPair({ dir: join(gw.dir, 'keys'), name: 'runtime-1', key: world.runtimeKey });
  const out = join(gw.dir, 'r2.bundle');
  const r = await cli(['fleet', 'release', pkg.file, '--key', keys.privateFile, '--version', '2', '--arch', 'x64', '--targets', 'gw-test',
    '--site', 'lab', '--package-version', '0.2.0', '--out', out, '--broker', gw.broker.url, '--json']);
  assert.is(r.code, 0, r.stderr + r.stdout);
  const summary = JSON.parse(r.stdout);
  assert.is(summary.sha256, sha256(pkg.bytes));
  assert.equal(summary.published, { topic: 'zonegate/v1/lab/all/runtime', chunkTopic: 'zonegate/v1/lab/all/runtime/chunk', chunks: Math.ceil(pkg.bytes.length / CHUNK_BYTES) });
  await until(() => gw.restarts.length === 1 || gw.errors.length > 0, 'the install');
  assert.equal(gw.errors, []);
  assert.equal(gw.restarts[0], { from: 'a', to: 'b', version: '0.2.0', previousVersion: '0.1.0', bundleVersion: 2 });
  assert.is(readlinkSync(join(gw.root, 'current')), 'slots/b');
  assert.is(readFileSync(join(gw.root, 'slots/b/VERSION'), 'utf8').trim(), '0.2.0');
  const state = await UpdateState.open(gw.state);
  const trial = await state.readTrial();
  assert.equal([trial?.from, trial?.to, trial?.version, trial?.attempts, trial?.sha256], ['a', 'b', '0.2.0', 0, sha256(pkg.bytes)]);
  assert.is(await state.highWater(), 2);
  assert.not.ok(existsSync(join(gw.state, 'runtime.staging')), 'the staging file is gone');
  // The retained announcement comes again (a reconnect): it is the installed version, ignored quietly.
  await gw.receiver.onBundle(new Uint8Array(readFileSync(out)));
  assert.is(gw.restarts.length, 1);
  assert.is(gw.receiver.status().pending, null);
});

test('forged chunks under the announced hash are assembled, fail the hash check, and change nothing', async () => {
  if (skip) { console.log(`skipped: ${skip}`); return; }
  const gw = await gateway('forged');
  const good = makePackage({ dir: gw.dir, version: '0.2.0' });
  const bundle = runtimeBundle({ key: world.runtimeKey, version: 2, pkg: good.bytes, packageVersion: '0.2.0' });
  const evil = Buffer.from(good.bytes); evil[100] ^= 0x55;
  await publish(gw.client, runtimeTopic({ site: 'lab' }), bundle, true);
  await until(() => gw.receiver.status().pending !== null, 'the announcement');
  for (const c of encodeChunks(evil, sha256(good.bytes))) await publish(gw.client, chunkTopic({ site: 'lab' }), c);
  await until(() => gw.errors.length > 0, 'the refusal');
  assert.is((gw.errors[0] as { code?: string }).code, 'ERR_UPDATE_PACKAGE');
  assert.match(gw.errors[0].message, /has sha256 [0-9a-f]{16}…, the signed update says [0-9a-f]{16}…; refused/);
  assert.is(gw.receiver.status().lastError?.code, 'ERR_UPDATE_PACKAGE');
  assert.equal(gw.restarts, []);
  assert.is(readlinkSync(join(gw.root, 'current')), 'slots/a');
  assert.not.ok(existsSync(join(gw.root, 'slots/b/VERSION')));
  const j = await (await UpdateState.open(gw.state)).journal();
  assert.equal(j.map((e) => [e.outcome, e.code, e.source]), [['refused', 'ERR_UPDATE_PACKAGE', 'mqtt']]);
});

test('chunks without a verified announcement are dropped; a bundle for another device or arch is refused', async () => {
  if (skip) { console.log(`skipped: ${skip}`); return; }
  const gw = await gateway('refuse');
  const pkg = makePackage({ dir: gw.dir, version: '0.2.0' });
  const chunks = encodeChunks(pkg.bytes, sha256(pkg.bytes));
  for (const c of chunks) await publish(gw.client, chunkTopic({ site: 'lab' }), c);
  await until(() => gw.receiver.status().chunks.received === chunks.length, 'the chunks');
  assert.equal(gw.receiver.status().chunks, { received: chunks.length, dropped: chunks.length });
  assert.not.ok(existsSync(join(gw.state, 'runtime.staging')));

  await publish(gw.client, runtimeTopic({ site: 'lab' }), runtimeBundle({ key: world.runtimeKey, version: 2, pkg: pkg.bytes, packageVersion: '0.2.0', targets: ['gw-other'] }));
  await until(() => gw.errors.length === 1, 'the target refusal');
  assert.is((gw.errors[0] as { code?: string }).code, 'ERR_BUNDLE_TARGET');
  assert.match(gw.errors[0].message, /targets gw-other, not 'gw-test'/);

  await publish(gw.client, runtimeTopic({ site: 'lab', device: 'gw-test' }), runtimeBundle({ key: world.runtimeKey, version: 2, pkg: pkg.bytes, packageVersion: '0.2.0', arch: 'arm64' }));
  await until(() => gw.errors.length === 2, 'the arch refusal');
  assert.match(gw.errors[1].message, /runtime bundle v2 is for arm64, this device is x64/);

  // Signed by the policy key instead of the runtime role: a signature refusal.
  await publish(gw.client, runtimeTopic({ site: 'lab' }), runtimeBundle({ key: world.policyKey, version: 2, pkg: pkg.bytes, packageVersion: '0.2.0' }));
  await until(() => gw.errors.length === 3, 'the signature refusal');
  assert.is((gw.errors[2] as { code?: string }).code, 'ERR_BUNDLE_SIGNATURE');
  assert.equal(gw.restarts, []);
  assert.is(await (await UpdateState.open(gw.state)).highWater(), 0, 'nothing refused moves the high-water mark');
});

test('chunk format: round trip, and malformed chunks are refused with ERR_MQTT_PAYLOAD', () => {
  const pkg = new Uint8Array(CHUNK_BYTES * 2 + 5).map((_, i) => i & 0xff);
  const hash = sha256(pkg);
  const chunks = encodeChunks(pkg, hash).map(decodeChunk);
  assert.equal(chunks.map((c) => [c.index, c.total, c.offset, c.bytes.length]), [[0, 3, 0, CHUNK_BYTES], [1, 3, CHUNK_BYTES, CHUNK_BYTES], [2, 3, 2 * CHUNK_BYTES, 5]]);
  assert.equal(Buffer.concat(chunks.map((c) => c.bytes)), Buffer.from(pkg));
  assert.throws(() => decodeChunk(new Uint8Array([0xa0])), (e: { code: string; message: string }) => e.code === 'ERR_MQTT_PAYLOAD' && /sha256 is not 64/.test(e.message));
  assert.throws(() => decodeChunk(new Uint8Array(CHUNK_BYTES + 2000)), (e: { code: string }) => e.code === 'ERR_MQTT_PAYLOAD');
});

test.run();
