/**
 * examples/mosquitto.conf + examples/mosquitto-acl.conf for real: TLS with client certificates
 * (CN = username), a throwaway CA made with openssl. The gateway's `mqtt:` block goes through
 * parseMqttConfig and mqttClientOptions exactly as the daemon does; a client without a
 * certificate is refused; the ACL applies to the certificate's identity.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { startMosquitto, skipReason, freePort, type Mosquitto } from '../helpers/mosquitto';
import { parseMqttConfig } from '../../protocol/mqtt/config';
import { mqttClientOptions } from '../../protocol/mqtt/connect-options';
import { createMqttSync, type MqttSync } from '../../runtime/sync/mqtt-sync';
import { deviceTopic } from '../../protocol/mqtt/topics';
import { connectBroker, closeBroker } from '../../fleet/broker';
import { collectFleetStatus } from '../../fleet/status';
import type { ZonegateError } from '../../policy/errors';
import { fakeHandlers, waitFor, publish } from './helpers';

const openssl = spawnSync('openssl', ['version']).status === 0;
const skip = skipReason() ?? (openssl ? undefined : 'openssl is not installed');
let pki: string;
let broker: Mosquitto;
let fleet: MqttClient | undefined;
let sync: MqttSync | undefined;

function ssl(args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: pki, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

function issue(name: string, cn: string, ext?: string): void {
  ssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
  const args = ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2'];
  if (ext) { writeFileSync(join(pki, `${name}.ext`), ext); args.push('-extfile', `${name}.ext`); }
  ssl(args);
}

test.before(async () => {
  if (skip) return;
  pki = mkdtempSync(join(tmpdir(), 'zg-pki-'));
  ssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-subj', '/CN=zonegate test CA', '-days', '2']);
  issue('broker', '127.0.0.1', 'subjectAltName=IP:127.0.0.1\n');
  issue('gw-1', 'gw-1');
  issue('gw-2', 'gw-2');
  issue('fleet', 'zonegate-fleet');
  const example = readFileSync(join(process.cwd(), 'examples/mosquitto.conf'), 'utf8');
  const acl = readFileSync(join(process.cwd(), 'examples/mosquitto-acl.conf'), 'utf8');
  const fleetPort = await freePort();
  broker = await startMosquitto({
    config: ({ port, dir }) => {
      writeFileSync(join(dir, 'mosquitto-acl.conf'), acl);
      const pw = spawnSync('mosquitto_passwd', ['-c', '-b', join(dir, 'fleet.passwd'), 'zonegate-fleet', 'pw-fleet'], { encoding: 'utf8' });
      if (pw.status !== 0) throw new Error(`mosquitto_passwd: ${pw.stderr}`);
      for (const f of ['ca.pem', 'broker.pem', 'broker.key']) writeFileSync(join(dir, f), readFileSync(join(pki, f)));
      // the sample as shipped, with its paths and listener pointed at this test's folder and port
      return `user root\n${example
        .replace(/\/etc\/mosquitto\/zonegate\//g, `${dir}/`)
        .replace(/^persistence_location .*$/m, `persistence_location ${dir}/`)
        .replace(/^listener 8883$/m, `listener ${port} 127.0.0.1`)
        .replace(/^listener 8884$/m, `listener ${fleetPort} 127.0.0.1`)
        .replace(/^log_dest syslog$/m, 'log_dest stderr')}`;
    },
  });
});

test.after(async () => {
  await sync?.stop();
  if (fleet) await closeBroker(fleet);
  await broker?.close();
  if (pki) rmSync(pki, { recursive: true, force: true });
});

if (skip) {
  test('tls (skipped)', () => { console.log(`SKIP test/sync/tls: ${skip}`); });
} else {

test('a gateway with a client certificate syncs over TLS; the fleet sees its status', async () => {
  const parsed = parseMqttConfig({ url: `mqtts://127.0.0.1:${broker.port}`, ca: join(pki, 'ca.pem'), cert: join(pki, 'gw-1.pem'), key: join(pki, 'gw-1.key'), keepalive: 20 });
  assert.equal(parsed.issues, []);
  const rec = fakeHandlers();
  sync = createMqttSync({
    site: 'plant-1', device: 'gw-1', url: parsed.config!.url, clientOptions: mqttClientOptions(parsed.config!),
    handlers: rec.handlers, runtimeVersion: 'tls-test',
  });
  await sync.start();
  fleet = await connectBroker({ url: `mqtts://127.0.0.1:${broker.port}`, ca: join(pki, 'ca.pem'), cert: join(pki, 'fleet.pem'), key: join(pki, 'fleet.key') });
  await waitFor(() => sync!.status().connected, 'TLS connection', 20_000);
  await publish(fleet, deviceTopic({ site: 'plant-1', device: 'gw-1', kind: 'policy' }), Buffer.from('over-tls'));
  await publish(fleet, deviceTopic({ site: 'plant-1', device: 'gw-2', kind: 'policy' }), Buffer.from('not-for-gw-1'));
  await publish(fleet, deviceTopic({ site: 'plant-1', device: 'gw-1', kind: 'command' }), Buffer.from('after'), false);
  await waitFor(() => rec.calls.length === 2, 'policy and command');
  assert.equal(rec.calls.map((c) => `${c.kind}=${c.bytes}`), ['policy=over-tls', 'command=after']);
  const docs = await collectFleetStatus({ client: fleet, site: 'plant-1' });
  assert.equal(docs.map((d) => [d.device, d.online, d.runtimeVersion]), [['gw-1', true, 'tls-test']]);
});

test("gw-1's certificate with gw-2's client id does not take over gw-2's session (client id := the certificate's CN)", async () => {
  const opts = (name: string) => mqttClientOptions(parseMqttConfig({ url: `mqtts://127.0.0.1:${broker.port}`, ca: join(pki, 'ca.pem'), cert: join(pki, `${name}.pem`), key: join(pki, `${name}.key`) }).config!);
  const rec = fakeHandlers();
  const gw2 = createMqttSync({ site: 'plant-1', device: 'gw-2', url: `mqtts://127.0.0.1:${broker.port}`, clientOptions: opts('gw-2'), handlers: rec.handlers, runtimeVersion: 'tls-test' });
  try {
    await gw2.start();
    await waitFor(() => gw2.status().connected, 'gw-2 over TLS', 20_000);
    const cmd = deviceTopic({ site: 'plant-1', device: 'gw-2', kind: 'command' });
    await publish(fleet!, cmd, Buffer.from('c0'), false);
    await waitFor(() => rec.calls.some((c) => String(c.bytes) === 'c0'), 'c0 at gw-2');
    const thief = await connectBroker({ url: `mqtts://127.0.0.1:${broker.port}`, ca: join(pki, 'ca.pem'), cert: join(pki, 'gw-1.pem'), key: join(pki, 'gw-1.key'), clientId: 'zonegate-plant-1-gw-2' });
    const got: string[] = [];
    thief.on('message', (t) => got.push(t));
    await publish(fleet!, cmd, Buffer.from('c1'), false);
    await waitFor(() => rec.calls.some((c) => String(c.bytes) === 'c1'), 'c1 at gw-2');
    assert.is(gw2.status().lastDisconnectAt, null, 'gw-2 was never disconnected');
    assert.equal(got, []);
    await closeBroker(thief);
  } finally {
    await gw2.stop();
  }
});

test('without a client certificate the broker refuses the connection', async () => {
  const err = await connectBroker({ url: `mqtts://127.0.0.1:${broker.port}`, ca: join(pki, 'ca.pem'), connectTimeoutMs: 5000 }).then(
    (c) => { void closeBroker(c); return undefined; }, (e: ZonegateError) => e);
  assert.is(err?.code, 'ERR_MQTT_CONNECT');
  assert.match(err!.message, `cannot connect to mqtts://127.0.0.1:${broker.port}: `);
});

}

test.run();
