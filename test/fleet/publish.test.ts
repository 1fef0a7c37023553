/**
 * `fleet publish` and `fleet status` against a REAL mosquitto with a few in-process gateways
 * (the real sync, fake handlers standing in for the store): the rollout wait, the timeout naming
 * the laggard, the CLI's exit codes and JSON.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { startMosquitto, skipReason, type Mosquitto } from '../helpers/mosquitto';
import { createMqttSync, type MqttSync } from '../../runtime/sync/mqtt-sync';
import type { GatewayState } from '../../protocol/mqtt/status';
import { publishBundle, readBundleLabel, topicKindFor, formatProgress, wireBytes, type RolloutProgress } from '../../fleet/publish';
import { trustFileJson } from '../../policy/bundle/trust-file';
import { world } from '../bundle/fixtures';
import { collectFleetStatus } from '../../fleet/status';
import { connectBroker, closeBroker } from '../../fleet/broker';
import { fleetPublishCommand } from '../../cli/fleet/publish';
import { fleetStatusCommand } from '../../cli/fleet/status';
import { runCli } from '../../cli/framework';
import { signBundle } from '../../policy/bundle/sign';
import { generateSigningKey } from '../../fleet/keys';
import { ZonegateError } from '../../policy/errors';
import { waitFor } from '../sync/helpers';

const skip = skipReason();
let broker: Mosquitto;
let fleet: MqttClient;
let dir: string;
interface Gw { device: string; sync: MqttSync; state: GatewayState; fail?: boolean; hold?: boolean; held?: () => void }
const gateways: Gw[] = [];
const key = generateSigningKey();
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function bundle(version: number, type: 'policy' | 'grant' | 'runtime' = 'policy'): Uint8Array {
  const now = Date.now();
  const payload = type === 'policy' ? { policy: { site: 'plant-1', zones: [] } }
    : type === 'grant' ? { grant: { identity: 'acme', conduits: ['x'] } }
      : { runtime: { sha256: 'a'.repeat(64), size: 1, arch: 'arm64' } };
  return signBundle({ type, body: { site: 'plant-1', targets: ['*'], version, issuedAt: now, expiresAt: now + 3_600_000, ...payload } as never, keys: [key] });
}

async function gateway(device: string, fail = false): Promise<void> {
  const state: GatewayState = { policyVersion: null, policyHash: null };
  const g: Gw = { device, state, fail, sync: undefined as unknown as MqttSync };
  // a stand-in store: "activates" by remembering the label and hash of the bytes, or refuses;
  // with `hold` set it keeps the next bundle until the test calls held()
  const policy = async (bytes: Uint8Array) => {
    if (g.hold) {
      await new Promise<void>((r) => { g.held = r; });
      g.hold = false; g.held = undefined;
    }
    if (g.fail) throw new ZonegateError('ERR_BUNDLE_TARGET', `bundle does not target ${device}`);
    state.policyVersion = readBundleLabel(bytes).version ?? null;
    state.policyHash = sha(bytes);
  };
  const ok = async () => undefined;
  g.sync = createMqttSync({ site: 'plant-1', device, url: broker.url, runtimeVersion: '0.1.0-test', state: () => state,
    handlers: { policy, trust: ok, grant: ok, command: ok } });
  gateways.push(g);
  await g.sync.start();
}

function io() {
  const out: string[] = [], err: string[] = [];
  return { out, err, io: { out: (t: string) => out.push(t), err: (t: string) => err.push(t) } };
}
const sig = new AbortController().signal;
const cmds = [fleetPublishCommand, fleetStatusCommand];

test.before(async () => {
  if (skip) return;
  broker = await startMosquitto();
  dir = mkdtempSync(join(tmpdir(), 'zg-fleet-'));
  for (const d of ['gw-a', 'gw-b', 'gw-c']) await gateway(d, d === 'gw-c');
  fleet = await connectBroker({ url: broker.url });
  await waitFor(() => gateways.every((g) => g.sync.status().connected), 'gateways connected');
});

test.after(async () => {
  for (const g of gateways) await g.sync.stop();
  if (fleet) await closeBroker(fleet);
  await broker?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('bundle label and topic kind come from the (unverified) envelope; --topic-kind overrides', () => {
  const b = bundle(7);
  assert.equal(readBundleLabel(b), { type: 'policy', version: 7, site: 'plant-1', targets: ['*'] });
  assert.equal(readBundleLabel(Buffer.from('garbage')), {});
  assert.is(topicKindFor(readBundleLabel(bundle(2, 'grant'))), 'grant');
  assert.is(topicKindFor({}, 'command'), 'command');
  assert.throws(() => topicKindFor(readBundleLabel(bundle(2, 'runtime'))), (e: ZonegateError) => e.code === 'ERR_USAGE' && /no topic for bundle type 'runtime'/.test(e.message));
  assert.throws(() => topicKindFor({}), (e: ZonegateError) => e.code === 'ERR_USAGE' && /pass --topic-kind/.test(e.message));
  // root.json (the JSON wrapper `fleet trust init` writes) routes by its signed type: no --topic-kind.
  const root = world('pub').root;
  const json = Buffer.from(trustFileJson(root));
  assert.equal([...wireBytes(json)], [...root.bytes]);
  assert.is(topicKindFor(readBundleLabel(wireBytes(json))), 'trust');
  assert.is(wireBytes(b), b, 'a CBOR bundle goes as is');
  assert.is(formatProgress({ matched: 512, wanted: 1000, seen: 1000, elapsedMs: 1800, label: 'v7' }, 10), '[#####.....] 512/1000 gateways on v7, 1.8 s');
});

if (skip) {
  test('fleet publish (skipped)', () => { console.log(`SKIP test/fleet/publish: ${skip}`); });
} else {

test('publish --all --wait 2: done when two gateways report the hash; the refusing one lags', async () => {
  const b = bundle(7);
  const progress: RolloutProgress[] = [];
  const r = await publishBundle({ client: fleet, site: 'plant-1', all: true, bytes: b, wait: 2, timeoutMs: 20_000, onProgress: (p) => progress.push(p) });
  assert.is(r.topic, 'zonegate/v1/plant-1/all/policy');
  assert.is(r.kind, 'policy');
  assert.is(r.hash, sha(b));
  assert.ok(r.rollout?.done);
  assert.equal(r.rollout!.matched, ['gw-a', 'gw-b']);
  assert.is(progress[progress.length - 1].matched, 2);
  assert.is(progress[progress.length - 1].label, 'v7');

  // wanting all three: gw-c's status says it refused these bytes and the others answered, so the
  // wait ends there (not at the 10-minute timeout) and names gw-c with its error
  const r2 = await publishBundle({ client: fleet, site: 'plant-1', all: true, bytes: b, wait: 3, timeoutMs: 600_000 });
  assert.is(r2.rollout!.done, false);
  assert.equal(r2.rollout!.matched, ['gw-a', 'gw-b']);
  assert.equal(r2.rollout!.refused, [{ device: 'gw-c', error: 'ERR_BUNDLE_TARGET: bundle does not target gw-c' }]);
  assert.equal(r2.rollout!.lagging, [{ device: 'gw-c', online: true, policyVersion: null, lastError: 'ERR_BUNDLE_TARGET: bundle does not target gw-c' }]);

  // a refusal while another online gateway has not answered yet does not end the wait
  gateways[0].hold = true;
  const b2 = bundle(7); // v7 again, other bytes (gw-a stays on v7 for the next test)
  const pending = publishBundle({ client: fleet, site: 'plant-1', all: true, bytes: b2, wait: 3, timeoutMs: 600_000 });
  await waitFor(() => gateways[0].held !== undefined, 'gw-a got the bundle');
  // (a client of its own: collectFleetStatus unsubscribes from the status topics when it is done)
  const watcher = await connectBroker({ url: broker.url });
  try {
    for (let i = 0; !(await collectFleetStatus({ client: watcher, site: 'plant-1', quietMs: 100 })).some((d) => d.device === 'gw-c' && d.refused?.policy?.hash === sha(b2)); i++) {
      if (i > 100) throw new Error('gave up waiting for gw-c\'s status to name the refused bundle');
    }
  } finally {
    await closeBroker(watcher);
  }
  let over = false;
  void pending.then(() => { over = true; });
  await new Promise((r) => setTimeout(r, 300));
  assert.is(over, false, 'still waiting for gw-a');
  gateways[0].held!();
  const r3 = await pending;
  assert.is(r3.rollout!.done, false);
  assert.equal(r3.rollout!.matched, ['gw-a', 'gw-b']);
  assert.equal(r3.rollout!.refused.map((x) => x.device), ['gw-c']);
});

test('publish --device: only that device counts', async () => {
  gateways[2].fail = false;
  const b = bundle(8);
  const r = await publishBundle({ client: fleet, site: 'plant-1', device: 'gw-c', bytes: b, wait: 1, timeoutMs: 20_000 });
  assert.is(r.topic, 'zonegate/v1/plant-1/gw-c/policy');
  assert.equal(r.rollout!.matched, ['gw-c']);
  assert.equal(r.rollout!.lagging, []);
  assert.is(gateways[0].state.policyVersion, 7, 'gw-a untouched');
  assert.is(gateways[2].state.policyVersion, 8);
});

test('CLI: fleet publish --wait exits 0 with JSON, 1 on timeout naming the laggards; fleet status --json', async () => {
  const file = join(dir, 'v9.bundle');
  writeFileSync(file, bundle(9));
  let r = io();
  let code = await runCli(['fleet', 'publish', file, '--broker', broker.url, '--site', 'plant-1', '--all', '--wait', '3', '--timeout', '20s', '--json'], cmds, r.io, sig);
  assert.is(code, 0, r.err.join('\n'));
  const doc = JSON.parse(r.out.join(''));
  assert.is(doc.ok, true);
  assert.is(doc.topic, 'zonegate/v1/plant-1/all/policy');
  assert.equal(doc.rollout.matched, ['gw-a', 'gw-b', 'gw-c']);
  assert.is(doc.label.version, 9);

  gateways[1].fail = true;
  writeFileSync(file, bundle(10));
  r = io();
  code = await runCli(['fleet', 'publish', file, '--broker', broker.url, '--site', 'plant-1', '--all', '--wait', '3', '--timeout', '10m'], cmds, r.io, sig);
  assert.is(code, 1);
  assert.match(r.out.join('\n'), /published policy v10 \(\d+ bytes, sha256 [0-9a-f]{16}…\) to zonegate\/v1\/plant-1\/all\/policy/);
  const err = r.err.join('\n');
  assert.match(err, /refused after \d+\.\d s: 1 gateway\(s\) refused it, 2\/3 report it\n {2}gw-b: ERR_BUNDLE_TARGET: bundle does not target gw-b/);
  assert.match(err, /\[#+\.+\] 2\/3 gateways on v10/);


  r = io();
  code = await runCli(['fleet', 'status', '--broker', broker.url, '--site', 'plant-1', '--json'], cmds, r.io, sig);
  assert.is(code, 0, r.err.join('\n'));
  const st = JSON.parse(r.out.join(''));
  assert.is(st.count, 3);
  assert.is(st.online, 3);
  assert.equal(st.gateways.map((g: { device: string; policyVersion: number }) => [g.device, g.policyVersion]), [['gw-a', 10], ['gw-b', 9], ['gw-c', 10]]);
  assert.is(st.gateways[1].lastError.code, 'ERR_BUNDLE_TARGET');

  r = io();
  code = await runCli(['fleet', 'status', '--broker', broker.url, '--site', 'plant-1'], cmds, r.io, sig);
  assert.is(code, 0);
  const table = r.out.join('\n');
  assert.match(table, /^DEVICE\s+ONLINE\s+POLICY\s+EXPIRES\s+ALARMS\s+LAST SEEN\s+RUNTIME/);
  assert.match(table, /gw-b\s+yes\s+v9\s+/);
  assert.match(table, '3 gateway(s), 3 online');

  // gw-b holds v11 without answering: only the timeout ends the wait, and gw-b is named lagging
  gateways[1].fail = false;
  gateways[1].hold = true;
  writeFileSync(file, bundle(11));
  r = io();
  code = await runCli(['fleet', 'publish', file, '--broker', broker.url, '--site', 'plant-1', '--all', '--wait', '3', '--timeout', '1s'], cmds, r.io, sig);
  assert.is(code, 1);
  const late = r.err.join('\n');
  assert.match(late, 'timed out after');
  assert.match(late, '2/3 gateways report it');
  assert.match(late, 'gw-b: online, policy v9, ERR_BUNDLE_TARGET: bundle does not target gw-b');
  gateways[1].held!();
  await waitFor(() => gateways[1].state.policyVersion === 11, 'gw-b takes v11 once let go');
});

test('CLI: fleet publish root.json goes to the trust topic without --topic-kind, as the signed envelope', async () => {
  const root = world('pub').root;
  const file = join(dir, 'root.json');
  writeFileSync(file, trustFileJson(root));
  const r = io();
  const code = await runCli(['fleet', 'publish', file, '--broker', broker.url, '--site', 'plant-1', '--device', 'gw-a', '--json'], cmds, r.io, sig);
  assert.is(code, 0, r.err.join('\n'));
  const doc = JSON.parse(r.out.join(''));
  assert.is(doc.kind, 'trust');
  assert.is(doc.topic, 'zonegate/v1/plant-1/gw-a/trust');
  assert.is(doc.hash, sha(root.bytes), 'the hash gateways report for the root');
  assert.is(doc.bytes, root.bytes.length);
});

test('CLI: usage errors and an unreachable broker', async () => {
  let r = io();
  assert.is(await runCli(['fleet', 'publish', 'x', '--broker', broker.url, '--site', 'plant-1'], cmds, r.io, sig), 2);
  assert.match(r.err.join('\n'), 'give exactly one of --device D or --all');
  r = io();
  assert.is(await runCli(['fleet', 'publish', 'x', '--broker', broker.url, '--site', 'a+b', '--all', '--topic-kind', 'policy'], cmds, r.io, sig), 2);
  r = io();
  assert.is(await runCli(['fleet', 'publish', 'x', '--site', 's', '--all', '--timeout', 'soon'], cmds, r.io, sig), 2);
  assert.match(r.err.join('\n'), '--timeout: not a duration: "soon"');
  const file = join(dir, 'v1.bundle');
  writeFileSync(file, bundle(1));
  r = io();
  // a closed port on loopback: the connection is refused
  const closed = broker.port === 1 ? 2 : 1;
  assert.is(await runCli(['fleet', 'status', '--broker', `mqtt://127.0.0.1:${closed}`, '--site', 's', '--json'], cmds, r.io, sig), 1);
  assert.is(JSON.parse(r.out.join('')).code, 'ERR_MQTT_CONNECT');
});

test('CLI: fleet status --watch --json prints the fleet, and again on each change, until aborted', async () => {
  const ac = new AbortController();
  const lines: string[] = [];
  const running = runCli(['fleet', 'status', '--broker', broker.url, '--site', 'plant-1', '--watch', '--json'], cmds,
    { out: (t) => lines.push(t), err: (t) => lines.push(`ERR ${t}`) }, ac.signal);
  await waitFor(() => lines.length >= 1 && JSON.parse(lines[lines.length - 1]).count === 3, 'the first frame');
  gateways[1].state.alarms = ['policy-expired'];
  gateways[1].sync.refreshStatus();
  await waitFor(() => lines.some((l) => l.includes('policy-expired')), 'a frame with the new alarm');
  ac.abort();
  assert.is(await running, 0);
  const last = JSON.parse(lines[lines.length - 1]);
  assert.equal(last.gateways[1].alarms, ['policy-expired']);
});

test('collectFleetStatus sees an offline gateway after it stops', async () => {
  await gateways[0].sync.stop();
  const client = await connectBroker({ url: broker.url });
  const docs = await collectFleetStatus({ client, site: 'plant-1' });
  await closeBroker(client);
  assert.equal(docs.map((d) => [d.device, d.online]), [['gw-a', false], ['gw-b', true], ['gw-c', true]]);
});

}

test.run();
