/**
 * The sync with the REAL PolicyStore (H5's runtime/store) over a REAL mosquitto: a signed policy
 * published with fleet publish --wait is verified, activated and reported; a forged bundle and a
 * rollback are refused by the store and shown in the status while the active policy stays.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { startMosquitto, skipReason, type Mosquitto } from '../helpers/mosquitto';
import { createMqttSync, type MqttSync } from '../../runtime/sync/mqtt-sync';
import { storeHandlers, storeState } from '../../runtime/sync/store-binding';
import { publishBundle } from '../../fleet/publish';
import { connectBroker, closeBroker } from '../../fleet/broker';
import { collectFleetStatus } from '../../fleet/status';
import { rig, type Rig } from '../store/helpers';
import { world, policyBundle, testKey, T0, DAY } from '../bundle/fixtures';
import { waitFor } from './helpers';
import { buildTrustRoot, specOf } from '../../fleet/trust';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const skip = skipReason();
const w = world('sync');
let broker: Mosquitto;
let fleet: MqttClient;
let gw: Rig;
let sync: MqttSync;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

test.before(async () => {
  if (skip) return;
  broker = await startMosquitto();
  gw = await rig({ root: w.root, device: 'gw-01' });
  sync = createMqttSync({
    site: 'substation-12', device: 'gw-01', url: broker.url, runtimeVersion: 't', now: () => gw.clock.now,
    handlers: storeHandlers({ store: gw.store }), state: storeState(gw.store),
  });
  await sync.start();
  fleet = await connectBroker({ url: broker.url });
  await waitFor(() => sync.status().connected, 'gateway connected');
});

test.after(async () => {
  await sync?.stop();
  if (fleet) await closeBroker(fleet);
  await broker?.close();
});

if (skip) {
  test('store integration (skipped)', () => { console.log(`SKIP test/sync/store-integration: ${skip}`); });
} else {

test('a signed policy published site-wide is verified, activated and reported', async () => {
  const before = await collectFleetStatus({ client: fleet, site: 'substation-12' });
  assert.equal(before.map((d) => [d.device, d.online, d.policyVersion, d.alarms]), [['gw-01', true, null, ['no-policy']]]);
  const v1 = policyBundle({ version: 1, keys: w.policyKeys.slice(0, 2), targets: ['*'] });
  const r = await publishBundle({ client: fleet, site: 'substation-12', all: true, bytes: v1, wait: 1, timeoutMs: 20_000 });
  assert.ok(r.rollout!.done);
  assert.equal(r.rollout!.matched, ['gw-01']);
  assert.is(gw.store.status().active?.version, 1);
  assert.is(gw.store.status().active?.hash, sha(v1));
  const after = await collectFleetStatus({ client: fleet, site: 'substation-12' });
  assert.is(after[0].policyVersion, 1);
  assert.is(after[0].policyHash, sha(v1));
  assert.is(after[0].policyExpiresAt, T0 + 30 * DAY);
  assert.equal(after[0].alarms, []);
});

test('a forged bundle and a rollback are refused by the store; the active policy stays', async () => {
  const v2 = policyBundle({ version: 2, keys: w.policyKeys.slice(0, 2) });
  const r = await publishBundle({ client: fleet, site: 'substation-12', device: 'gw-01', bytes: v2, wait: 1, timeoutMs: 20_000 });
  assert.ok(r.rollout!.done);
  assert.is(gw.store.status().active?.version, 2);

  const forged = policyBundle({ version: 3, keys: [testKey('intruder-1'), testKey('intruder-2')] });
  const r2 = await publishBundle({ client: fleet, site: 'substation-12', device: 'gw-01', bytes: forged, wait: 1, timeoutMs: 600_000 });
  assert.is(r2.rollout!.done, false);
  assert.equal(r2.rollout!.refused.map((x) => x.device), ['gw-01'], 'the refusal ends the wait');
  assert.match(r2.rollout!.refused[0].error, /^ERR_BUNDLE_SIGNATURE: /);
  assert.is(r2.rollout!.lagging[0].device, 'gw-01');
  assert.match(String(r2.rollout!.lagging[0].lastError), /^ERR_BUNDLE_SIGNATURE: /);
  assert.is(gw.store.status().active?.version, 2);

  // v1 again, on the site-wide topic (still retained there with v1): a rollback
  const v1again = policyBundle({ version: 1, keys: w.policyKeys.slice(1, 3), targets: ['*'] });
  await publishBundle({ client: fleet, site: 'substation-12', all: true, bytes: v1again });
  await waitFor(() => sync.statusDocument().lastError?.code === 'ERR_BUNDLE_ROLLBACK', 'the rollback refusal');
  assert.match(sync.statusDocument().lastError!.message, 'bundle v1 is older than v2');
  assert.is(gw.store.status().active?.version, 2);
  assert.is(sync.statusDocument().policyVersion, 2);
  assert.is(sync.status().handlerErrors, 2);
});

test('a retained trust rotation already in force is "unchanged" after a restart: no ERR_TRUST_ROOT in the fleet status', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'zg-sync-trust-'));
  const spec = { ...specOf(w.root), version: 2, issuedAt: T0, expiresAt: T0 + 300 * DAY };
  const rot = buildTrustRoot({ spec, signers: w.rootKeys.slice(0, 2) });
  const boot = async () => {
    const r = await rig({ root: w.root, dir, device: 'gw-02' });
    const sy = createMqttSync({
      site: 'substation-12', device: 'gw-02', url: broker.url, runtimeVersion: 't', now: () => r.clock.now,
      handlers: storeHandlers({ store: r.store }), state: storeState(r.store),
    });
    await sy.start();
    return { r, sy };
  };
  try {
    let g = await boot();
    const pub = await publishBundle({ client: fleet, site: 'substation-12', device: 'gw-02', bytes: rot, wait: 1, timeoutMs: 20_000 });
    assert.ok(pub.rollout!.done);
    assert.is(g.r.store.status().trustRoot.version, 2);
    await g.sy.stop();
    // The restart: the broker delivers the retained rotation again.
    g = await boot();
    await waitFor(() => g.sy.statusDocument().applied?.trust === sha(rot), 'the retained root applied again');
    assert.is(g.r.store.status().lastError, null);
    assert.is(g.r.store.status().counts.refused, 0);
    const docs = await collectFleetStatus({ client: fleet, site: 'substation-12' });
    const d = docs.find((x) => x.device === 'gw-02')!;
    assert.is(d.lastError, null, JSON.stringify(d.lastError));
    await g.sy.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

}

test.run();
