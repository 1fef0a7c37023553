/**
 * examples/mosquitto-acl.conf, loaded verbatim into a REAL mosquitto with password users: a
 * gateway reads its own and its site's topics and nothing else, writes only its own status /
 * telemetry / audit; the fleet user publishes bundles and reads every status.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MqttClient, IClientOptions } from 'mqtt';
import { startMosquitto, skipReason, type Mosquitto } from '../helpers/mosquitto';
import { createMqttSync, type MqttSync } from '../../runtime/sync/mqtt-sync';
import { deviceTopic, siteTopic } from '../../protocol/mqtt/topics';
import { parseStatus } from '../../protocol/mqtt/status';
import { fakeHandlers, waitFor, observer, subscribe, end } from './helpers';

const skip = skipReason();
const users = { 'gw-1': 'pw-gw-1', 'gw-2': 'pw-gw-2', 'gw-9': 'pw-gw-9', 'zonegate-fleet': 'pw-fleet' };
let broker: Mosquitto;
let fleet: MqttClient;
const clients: MqttClient[] = [];
let sync: MqttSync;

const as = (u: keyof typeof users): IClientOptions => ({ username: u, password: users[u], clientId: `${u}-${Math.random().toString(36).slice(2)}` });
const T = (site: string, device: string, kind: Parameters<typeof deviceTopic>[0]['kind']) => deviceTopic({ site, device, kind });

/** Publishes QoS 1 and returns the PUBACK's error (MQTT 5 reason >= 0x80), if any. */
function tryPublish(c: MqttClient, topic: string, payload: string, retain = false): Promise<Error | undefined> {
  return new Promise((resolve) => c.publish(topic, payload, { qos: 1, retain }, (e) => resolve(e ?? undefined)));
}

test.before(async () => {
  if (skip) return;
  const acl = readFileSync(join(process.cwd(), 'examples/mosquitto-acl.conf'), 'utf8');
  broker = await startMosquitto({ users, acl });
  fleet = await observer(broker.url, as('zonegate-fleet'));
  clients.push(fleet);
});

test.after(async () => {
  await sync?.stop();
  for (const c of clients) await end(c);
  await broker?.close();
});

if (skip) {
  test('acl (skipped)', () => { console.log(`SKIP test/sync/acl: ${skip}`); });
} else {

test('the fleet user publishes bundles; a gateway (the real sync) gets its own and its site-wide ones', async () => {
  assert.is(await tryPublish(fleet, T('plant-1', 'gw-1', 'policy'), 'for-gw-1', true), undefined);
  assert.is(await tryPublish(fleet, T('plant-1', 'gw-2', 'policy'), 'for-gw-2', true), undefined);
  assert.is(await tryPublish(fleet, siteTopic({ site: 'plant-1', kind: 'grant' }), 'plant-1-grant', true), undefined);
  assert.is(await tryPublish(fleet, siteTopic({ site: 'plant-2', kind: 'grant' }), 'plant-2-grant', true), undefined);
  const statuses: string[] = [];
  fleet.on('message', (t, p) => { const d = parseStatus(p); if (d) statuses.push(`${t} online=${d.online}`); });
  await subscribe(fleet, 'zonegate/v1/+/+/status');

  const rec = fakeHandlers();
  sync = createMqttSync({ site: 'plant-1', device: 'gw-1', url: broker.url, clientOptions: as('gw-1'), handlers: rec.handlers, runtimeVersion: 't' });
  await sync.start();
  await waitFor(() => rec.calls.length === 2, 'own policy and the site-wide grant');
  assert.equal(rec.calls.map((c) => `${c.kind}:${c.bytes}`).sort(), ['grant:plant-1-grant', 'policy:for-gw-1']);
  await waitFor(() => statuses.includes(`${T('plant-1', 'gw-1', 'status')} online=true`), 'gw-1 status at the fleet');
  assert.is(sync.status().lastError, null, 'no subscription was refused');
});

test('a gateway cannot read another device\'s policy nor another site\'s site-wide topics', async () => {
  const gw1 = await observer(broker.url, as('gw-1'));
  clients.push(gw1);
  const got: string[] = [];
  gw1.on('message', (t, p) => got.push(`${t}=${p}`));
  await subscribe(gw1, T('plant-1', 'gw-2', 'policy'));
  await subscribe(gw1, siteTopic({ site: 'plant-2', kind: 'grant' }));
  await subscribe(gw1, 'zonegate/v1/plant-1/+/policy'); // a wildcard does not widen what it may read
  await subscribe(gw1, T('plant-1', 'gw-1', 'policy'));
  // its own retained policy arrives after anything the earlier subscriptions would have delivered
  await waitFor(() => got.includes(`${T('plant-1', 'gw-1', 'policy')}=for-gw-1`), 'its own policy');
  assert.equal(got.filter((g) => !g.startsWith(T('plant-1', 'gw-1', 'policy'))), []);
  // gw-9 of plant-2 reads plant-2's grant but not plant-1's
  const gw9 = await observer(broker.url, as('gw-9'));
  clients.push(gw9);
  const got9: string[] = [];
  gw9.on('message', (t, p) => got9.push(`${t}=${p}`));
  await subscribe(gw9, siteTopic({ site: 'plant-1', kind: 'grant' }));
  await subscribe(gw9, siteTopic({ site: 'plant-2', kind: 'grant' }));
  await waitFor(() => got9.length >= 1, 'plant-2 grant');
  assert.equal(got9, [`${siteTopic({ site: 'plant-2', kind: 'grant' })}=plant-2-grant`]);
});

test('a gateway cannot write another device\'s status, nor any policy; it can write its own status', async () => {
  const gw1 = await observer(broker.url, as('gw-1'));
  clients.push(gw1);
  const seen: string[] = [];
  const watcher = await observer(broker.url, as('zonegate-fleet'));
  clients.push(watcher);
  watcher.on('message', (t, p) => seen.push(`${t}=${p}`));
  await subscribe(watcher, [T('plant-1', 'gw-2', 'status'), T('plant-1', 'gw-1', 'telemetry'), T('plant-1', 'gw-2', 'policy')]);
  await waitFor(() => seen.length === 1, 'the retained gw-2 policy'); // retained from the first test
  seen.length = 0;

  const forged = await tryPublish(gw1, T('plant-1', 'gw-2', 'status'), '{"device":"gw-2","site":"plant-1","online":true}', true);
  assert.ok(forged, 'PUBACK carries "not authorized"');
  assert.match(forged!.message, /not authori[sz]ed/i);
  const policy = await tryPublish(gw1, T('plant-1', 'gw-2', 'policy'), 'evil', true);
  assert.match(String(policy?.message), /not authori[sz]ed/i);
  assert.is(await tryPublish(gw1, T('plant-1', 'gw-1', 'telemetry'), 'cpu=1'), undefined);
  await waitFor(() => seen.length === 1, 'the allowed telemetry');
  assert.equal(seen, [`${T('plant-1', 'gw-1', 'telemetry')}=cpu=1`], 'neither the forged status nor the policy got through');
});

}

test.run();
