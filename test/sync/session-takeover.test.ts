/**
 * MQTT session takeover (issue 20 item 1) against a REAL mosquitto running
 * examples/mosquitto-passwd.conf and examples/mosquitto-acl.conf as shipped (paths and ports
 * pointed at this test's folder; the TLS lines dropped: loopback only, test/sync/tls.test.ts runs
 * the certificate variant). Password files are made with mosquitto_passwd.
 *
 * gw-1's credentials with gw-2's client id must neither disconnect the real gw-2 (the gateway's
 * own sync) nor receive a QoS 1 command queued in gw-2's persistent session; the fleet tools
 * have their own listener, where gateways cannot log in and several fleet clients coexist.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { startMosquitto, skipReason, freePort, type Mosquitto } from '../helpers/mosquitto';
import { createMqttSync, type MqttSync } from '../../runtime/sync/mqtt-sync';
import { deviceTopic } from '../../protocol/mqtt/topics';
import { connectBroker, closeBroker } from '../../fleet/broker';
import type { ZonegateError } from '../../policy/errors';
import { fakeHandlers, waitFor, observer, publish, end } from './helpers';

const skip = skipReason();
const gatewayUsers = { 'gw-1': 'pw-gw-1', 'gw-2': 'pw-gw-2' };
let broker: Mosquitto;
let fleetUrl = '';
let dir = '';
const clients: MqttClient[] = [];
const syncs: MqttSync[] = [];

function passwd(file: string, users: Record<string, string>): void {
  for (const [i, [u, p]] of Object.entries(users).entries()) {
    const r = spawnSync('mosquitto_passwd', [...(i === 0 ? ['-c'] : []), '-b', file, u, p], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`mosquitto_passwd: ${r.stderr}`);
  }
}

test.before(async () => {
  if (skip) return;
  const example = readFileSync(join(process.cwd(), 'examples/mosquitto-passwd.conf'), 'utf8');
  const acl = readFileSync(join(process.cwd(), 'examples/mosquitto-acl.conf'), 'utf8');
  const fleetPort = await freePort();
  broker = await startMosquitto({
    config: ({ port, dir: d }) => {
      dir = d;
      writeFileSync(join(d, 'mosquitto-acl.conf'), acl);
      passwd(join(d, 'gateways.passwd'), gatewayUsers);
      passwd(join(d, 'fleet.passwd'), { 'zonegate-fleet': 'pw-fleet' });
      writeFileSync(join(d, 'fleet.pw'), 'pw-fleet\n');
      return `user root\n${example
        .replace(/^(cafile|certfile|keyfile|tls_version) .*\n/gm, '')
        .replace(/\/etc\/mosquitto\/zonegate\//g, `${d}/`)
        .replace(/^persistence_location .*$/m, `persistence_location ${d}/`)
        .replace(/^listener 8883$/m, `listener ${port} 127.0.0.1`)
        .replace(/^listener 8884$/m, `listener ${fleetPort} 127.0.0.1`)
        .replace(/^log_dest syslog$/m, 'log_dest stderr')}`;
    },
  });
  fleetUrl = `mqtt://127.0.0.1:${fleetPort}`;
});

test.after(async () => {
  for (const s of syncs) await s.stop();
  for (const c of clients) await end(c);
  await broker?.close();
});

function gateway(device: 'gw-1' | 'gw-2') {
  const rec = fakeHandlers();
  const sync = createMqttSync({
    site: 'plant-1', device, url: broker.url, runtimeVersion: 'takeover-test', handlers: rec.handlers,
    clientOptions: { username: device, password: gatewayUsers[device] },
    backoff: { initialMs: 50, maxMs: 200 },
  });
  syncs.push(sync);
  return { rec, sync };
}
const commands = (rec: ReturnType<typeof fakeHandlers>) => rec.calls.filter((c) => c.kind === 'command').map((c) => String(c.bytes));

if (skip) {
  test('session takeover (skipped)', () => { console.log(`SKIP test/sync/session-takeover: ${skip}`); });
} else {

test("gw-1's password with gw-2's client id neither disconnects gw-2 nor swallows the QoS 1 command queued for it", async () => {
  const fleet = await connectBroker({ url: fleetUrl, username: 'zonegate-fleet', passwordFile: join(dir, 'fleet.pw') });
  const cmd = deviceTopic({ site: 'plant-1', device: 'gw-2', kind: 'command' });
  try {
    let gw2 = gateway('gw-2');
    await gw2.sync.start();
    await waitFor(() => gw2.sync.status().connected, 'gw-2 connected');
    // A command delivered proves gw-2's subscription is in place (and its session exists).
    await publish(fleet, cmd, 'c0', false);
    await waitFor(() => commands(gw2.rec).includes('c0'), 'c0 at gw-2');

    // The borrowed identity: gw-1's credentials, gw-2's (predictable) client id, a persistent session.
    const thiefGot: string[] = [];
    const thiefOpts = { username: 'gw-1', password: gatewayUsers['gw-1'], clientId: 'zonegate-plant-1-gw-2', clean: false, properties: { sessionExpiryInterval: 3600 } };
    const thief = await observer(broker.url, thiefOpts);
    clients.push(thief);
    thief.on('message', (t, p) => thiefGot.push(`${t}=${p}`));
    await publish(fleet, cmd, 'c1', false);
    await waitFor(() => commands(gw2.rec).includes('c1'), 'c1 at gw-2');
    assert.is(gw2.sync.status().lastDisconnectAt, null, 'gw-2 was never disconnected');
    assert.is(gw2.sync.status().reconnectAttempts, 0);

    // gw-2 goes offline keeping its session; a quarantine command is queued for it (QoS 1).
    await gw2.sync.stop();
    await end(thief);
    await publish(fleet, cmd, 'quarantine', false);
    const thief2 = await observer(broker.url, thiefOpts);
    clients.push(thief2);
    thief2.on('message', (t, p) => thiefGot.push(`${t}=${p}`));
    gw2 = gateway('gw-2');
    await gw2.sync.start();
    await waitFor(() => commands(gw2.rec).includes('quarantine'), 'the queued command at gw-2');
    // One more round trip through the broker, so anything misrouted to the thief would have arrived.
    await publish(fleet, cmd, 'c3', false);
    await waitFor(() => commands(gw2.rec).includes('c3'), 'c3 at gw-2');
    assert.equal(thiefGot, [], 'nothing for gw-2 reached gw-1');
    assert.equal(commands(gw2.rec), ['quarantine', 'c3']);
  } finally {
    await closeBroker(fleet);
  }
});

test('a refused gateway says why in its log (the CONNACK reason code), once while the reason stays the same', async () => {
  const lines: string[] = [];
  const rec = fakeHandlers();
  const sync = createMqttSync({
    site: 'plant-1', device: 'gw-1', url: broker.url, runtimeVersion: 'refused-test', handlers: rec.handlers,
    clientOptions: { username: 'gw-1', password: 'wrong' }, backoff: { initialMs: 20, maxMs: 40 },
    log: (level, m) => lines.push(`${level} ${m}`),
  });
  syncs.push(sync);
  await sync.start();
  await waitFor(() => sync.status().reconnectAttempts >= 4, 'four refused attempts');
  await sync.stop();
  const why = lines.filter((l) => l.includes('refused or dropped the connection'));
  assert.equal(why, [`warn broker ${broker.url} refused or dropped the connection: Connection refused: Not authorized (MQTT reason code 135 / 0x87)`], lines.join('\n'));
  assert.match(sync.status().lastConnectError!.message, 'Not authorized (MQTT reason code 135 / 0x87)');
});

test('the fleet listener: fleet tools side by side; a gateway password does not log in there, nor the fleet on the gateways\' listener', async () => {
  const a = await connectBroker({ url: fleetUrl, username: 'zonegate-fleet', passwordFile: join(dir, 'fleet.pw') });
  const b = await connectBroker({ url: fleetUrl, username: 'zonegate-fleet', passwordFile: join(dir, 'fleet.pw') });
  try {
    await publish(a, deviceTopic({ site: 'plant-1', device: 'gw-1', kind: 'policy' }), 'x', false);
    await publish(b, deviceTopic({ site: 'plant-1', device: 'gw-1', kind: 'policy' }), 'y', false);
    assert.ok(a.connected && b.connected, 'two fleet tools at once do not disconnect each other');
  } finally {
    await closeBroker(a);
    await closeBroker(b);
  }
  writeFileSync(join(dir, 'gw-1.pw'), 'pw-gw-1\n');
  const refused = (url: string, username: string, file: string) => connectBroker({ url, username, passwordFile: join(dir, file), connectTimeoutMs: 5000 })
    .then((c) => { void closeBroker(c); return undefined; }, (e: ZonegateError) => e);
  const e1 = await refused(fleetUrl, 'gw-1', 'gw-1.pw');
  assert.is(e1?.code, 'ERR_MQTT_CONNECT');
  const e2 = await refused(broker.url, 'zonegate-fleet', 'fleet.pw');
  assert.is(e2?.code, 'ERR_MQTT_CONNECT');
});

}

test.run();
