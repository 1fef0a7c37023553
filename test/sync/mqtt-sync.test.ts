/**
 * The gateway's MQTT sync against a REAL mosquitto on loopback (test/helpers/mosquitto.ts), with
 * fake handlers: delivery, retained status and last will, backoff and catch-up after a broker
 * restart, oversize refusal, QoS 1 redelivery, handler errors, the audit pipe.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { connect, type MqttClient, type IClientOptions } from 'mqtt';
import { startMosquitto, skipReason, type Mosquitto } from '../helpers/mosquitto';
import { createMqttSync, type MqttSync, type MqttSyncOptions } from '../../runtime/sync/mqtt-sync';
import { createBackoff } from '../../protocol/backoff';
import { parseStatus, type StatusDocument } from '../../protocol/mqtt/status';
import { deviceTopic, siteTopic } from '../../protocol/mqtt/topics';
import { ZonegateError } from '../../policy/errors';
import type { AuditEvent } from '../../drivers/types';
import { fakeHandlers, manualTimers, waitFor, observer, publish, subscribe, end } from './helpers';

const skip = skipReason();
let broker: Mosquitto;
let fleet: MqttClient;
const statuses = new Map<string, StatusDocument[]>();
const syncs: MqttSync[] = [];
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test.before(async () => {
  if (skip) return;
  broker = await startMosquitto();
  fleet = await observer(broker.url);
  fleet.on('message', (topic, payload) => {
    const doc = parseStatus(payload);
    if (!doc) return;
    const list = statuses.get(doc.device) ?? [];
    list.push(doc);
    statuses.set(doc.device, list);
  });
  await subscribe(fleet, 'zonegate/v1/+/+/status');
});

test.after(async () => {
  for (const s of syncs) await s.stop().catch(() => undefined);
  await end(fleet);
  await broker?.close();
});

const lastStatus = (device: string) => statuses.get(device)?.[statuses.get(device)!.length - 1];

function makeSync(device: string, extra: Partial<MqttSyncOptions> = {}): { sync: MqttSync; rec: ReturnType<typeof fakeHandlers>; clients: MqttClient[]; audit: AuditEvent[] } {
  const rec = fakeHandlers();
  const clients: MqttClient[] = [];
  const audit: AuditEvent[] = [];
  const sync = createMqttSync({
    site: 'site-a', device, url: broker.url, handlers: rec.handlers, runtimeVersion: '9.9.9-test',
    state: () => ({ policyVersion: 7, alarms: ['policy-expiring'] }),
    audit: { record: (e) => audit.push(e) },
    backoff: { initialMs: 20, maxMs: 200 },
    connect: (url: string, o: IClientOptions) => { const c = connect(url, o); clients.push(c); return c; },
    ...extra,
  });
  syncs.push(sync);
  return { sync, rec, clients, audit };
}

if (skip) {
  test('mqtt sync (skipped)', () => { console.log(`SKIP test/sync/mqtt-sync: ${skip}`); });
} else {

test('a policy on the device topic reaches the handler and the status reflects it', async () => {
  const { sync, rec } = makeSync('gw-1');
  await sync.start();
  await waitFor(() => lastStatus('gw-1')?.online === true, 'gw-1 online status');
  const first = lastStatus('gw-1')!;
  assert.is(first.site, 'site-a');
  assert.is(first.runtimeVersion, '9.9.9-test');
  assert.equal(first.alarms, ['policy-expiring']);
  assert.is(first.policyVersion, 7);

  const bundle = Buffer.from('pretend-signed-bundle-1');
  await publish(fleet, deviceTopic({ site: 'site-a', device: 'gw-1', kind: 'policy' }), bundle);
  await waitFor(() => lastStatus('gw-1')?.applied.policy === sha(bundle), 'status with the applied hash');
  assert.is(rec.calls.length, 1);
  assert.is(rec.calls[0].kind, 'policy');
  assert.ok(rec.calls[0].bytes.equals(bundle), 'the handler gets the exact bytes');
  assert.is(rec.calls[0].meta.hash, sha(bundle));
  assert.is(rec.calls[0].meta.siteWide, false);
  assert.is(lastStatus('gw-1')!.policyHash, sha(bundle), 'policyHash falls back to the applied hash');

  // a site-wide grant reaches it too; another device's and another site's do not
  await publish(fleet, deviceTopic({ site: 'site-a', device: 'gw-other', kind: 'grant' }), Buffer.from('not-mine'));
  await publish(fleet, siteTopic({ site: 'site-b', kind: 'grant' }), Buffer.from('other-site'));
  const grant = Buffer.from('site-wide-grant');
  await publish(fleet, siteTopic({ site: 'site-a', kind: 'grant' }), grant);
  await waitFor(() => rec.calls.length === 2, 'the site-wide grant');
  assert.is(rec.calls[1].kind, 'grant');
  assert.is(rec.calls[1].meta.siteWide, true);
  assert.ok(rec.calls[1].bytes.equals(grant));
  const s = sync.status();
  assert.is(s.connected, true);
  assert.is(s.messagesRefused, 0);
  assert.is(s.handled, 2);
  // clear the retained site-wide grant (an empty retained message), so later gateways don't get it
  await publish(fleet, siteTopic({ site: 'site-a', kind: 'grant' }), Buffer.alloc(0));
});

test('retained status and last will: a dead socket leaves a retained offline status', async () => {
  const timers = manualTimers();
  const { sync, clients } = makeSync('gw-will', { timers, statusIntervalMs: 3_600_000 });
  await sync.start();
  await waitFor(() => lastStatus('gw-will')?.online === true, 'online');
  (clients[0] as unknown as { stream: { destroy(): void } }).stream.destroy();
  await waitFor(() => lastStatus('gw-will')?.online === false, 'the last will');
  assert.is(lastStatus('gw-will')!.device, 'gw-will');
  assert.is(lastStatus('gw-will')!.policyVersion, 7);
  await waitFor(() => timers.pending.some((p) => p.ms < 3_600_000), 'a retry scheduled');
  // a fresh subscriber sees the retained offline document
  const late = await observer(broker.url);
  const got: StatusDocument[] = [];
  late.on('message', (_t, p) => { const d = parseStatus(p); if (d) got.push(d); });
  await subscribe(late, deviceTopic({ site: 'site-a', device: 'gw-will', kind: 'status' }));
  await waitFor(() => got.length === 1, 'the retained status');
  assert.is(got[0].online, false);
  await end(late);
  assert.is(sync.status().connected, false);
  assert.ok(sync.status().lastDisconnectAt !== null);
  await sync.stop();
});

test('oversize payloads are refused before the handler, counted, audited and reported', async () => {
  const { sync, rec, audit } = makeSync('gw-big', { limits: { policy: 1024 } });
  await sync.start();
  await waitFor(() => lastStatus('gw-big')?.online === true, 'online');
  await publish(fleet, deviceTopic({ site: 'site-a', device: 'gw-big', kind: 'policy' }), Buffer.alloc(2048, 0xa1));
  await waitFor(() => sync.status().messagesRefused === 1, 'the refusal');
  assert.is(rec.calls.length, 0, 'handler never called');
  assert.is(sync.status().lastError?.code, 'ERR_MQTT_PAYLOAD');
  assert.match(sync.status().lastError!.message, 'policy payload of 2048 bytes exceeds the 1024-byte limit');
  await waitFor(() => lastStatus('gw-big')?.lastError?.code === 'ERR_MQTT_PAYLOAD', 'status last error');
  assert.is(audit.length, 1);
  assert.is(audit[0].kind, 'policy');
  assert.is(audit[0].source, 'mqtt-sync');
  assert.equal(audit[0].detail, { topic: deviceTopic({ site: 'site-a', device: 'gw-big', kind: 'policy' }), bytes: 2048, limit: 1024 });
  // a payload within the limit still works afterwards
  await publish(fleet, deviceTopic({ site: 'site-a', device: 'gw-big', kind: 'policy' }), Buffer.alloc(512, 1));
  await waitFor(() => rec.calls.length === 1, 'the small one');
});

test('QoS 1 redelivery and retained replay: the same bytes are handled once', async () => {
  const { sync, rec, clients } = makeSync('gw-dup');
  await sync.start();
  await waitFor(() => lastStatus('gw-dup')?.online === true, 'online');
  const topic = deviceTopic({ site: 'site-a', device: 'gw-dup', kind: 'policy' });
  const b = Buffer.from('bundle-v3');
  await publish(fleet, topic, b);
  await publish(fleet, topic, b);
  await waitFor(() => sync.status().messagesDuplicate === 1, 'the duplicate');
  assert.is(rec.calls.length, 1);
  // reconnect: the broker replays the retained message; still handled once
  (clients[0] as unknown as { stream: { destroy(): void } }).stream.destroy();
  await waitFor(() => clients.length === 2 && sync.status().connected, 'reconnected');
  await waitFor(() => sync.status().messagesDuplicate === 2, 'the replayed duplicate');
  assert.is(rec.calls.length, 1);
  // different bytes on the same topic are a new payload
  await publish(fleet, topic, Buffer.from('bundle-v4'));
  await waitFor(() => rec.calls.length === 2, 'v4');
});

test('handler errors are caught, reported and do not stop the loop', async () => {
  const { sync, rec } = makeSync('gw-err');
  rec.fail.policy = new ZonegateError('ERR_BUNDLE_SIGNATURE', 'no valid signature from the policy role');
  await sync.start();
  await waitFor(() => lastStatus('gw-err')?.online === true, 'online');
  const topic = deviceTopic({ site: 'site-a', device: 'gw-err', kind: 'policy' });
  await publish(fleet, topic, Buffer.from('forged'));
  await waitFor(() => lastStatus('gw-err')?.lastError?.code === 'ERR_BUNDLE_SIGNATURE', 'the error in the status');
  assert.is(lastStatus('gw-err')!.lastError!.message, 'no valid signature from the policy role');
  assert.is(sync.status().handlerErrors, 1);
  assert.is(lastStatus('gw-err')!.applied.policy, undefined);
  // a refused payload is retried when a new trust root is accepted
  delete rec.fail.policy;
  await publish(fleet, deviceTopic({ site: 'site-a', device: 'gw-err', kind: 'trust' }), Buffer.from('new-root'));
  await waitFor(() => lastStatus('gw-err')?.applied.policy === sha(Buffer.from('forged')), 'policy retried after trust');
  assert.equal(rec.calls.map((c) => c.kind), ['policy', 'trust', 'policy']);
});

test('a busy handler: newer payloads of a topic replace the pending one (counted); the status interval republishes', async () => {
  const timers = manualTimers();
  const { sync, rec } = makeSync('gw-busy', { timers, statusIntervalMs: 3_600_000 });
  let release: () => void = () => undefined;
  const gate = new Promise<void>((r) => { release = r; });
  const inner = rec.handlers.policy;
  rec.handlers.policy = async (b, m) => { await inner(b, m); if (rec.calls.length === 1) await gate; };
  await sync.start();
  await waitFor(() => lastStatus('gw-busy')?.online === true, 'online');
  const topic = deviceTopic({ site: 'site-a', device: 'gw-busy', kind: 'policy' });
  for (const v of ['v1', 'v2', 'v3', 'v4']) await publish(fleet, topic, Buffer.from(v));
  await waitFor(() => sync.status().messagesReceived >= 4 && rec.calls.length === 1, 'all four received, the first in the handler');
  assert.is(sync.status().queueDropped, 2, 'v2 and v3 were replaced while v1 ran');
  release();
  await sync.idle();
  assert.equal(rec.calls.map((c) => String(c.bytes)), ['v1', 'v4']);
  await waitFor(() => lastStatus('gw-busy')?.applied.policy === sha(Buffer.from('v4')), 'status after v4');
  // the interval timer republishes the status (lastSeen moves on)
  const n = statuses.get('gw-busy')!.length;
  timers.fire(3_600_000);
  await waitFor(() => statuses.get('gw-busy')!.length === n + 1, 'the periodic status');
  assert.ok(timers.pending.some((p) => p.ms === 3_600_000), 'and re-armed');
  await sync.stop();
});

test('broker down: growing backoff, then reconnect and catch up on a policy published meanwhile', async () => {
  const timers = manualTimers();
  const delays: number[] = [];
  const { sync, rec } = makeSync('gw-restart', { timers, random: () => 0.5, backoff: { initialMs: 100, maxMs: 800 }, statusIntervalMs: 3_600_000 });
  await sync.start();
  await waitFor(() => lastStatus('gw-restart')?.online === true, 'online');
  await broker.stop();
  const retry = () => timers.pending.find((p) => p.ms !== 3_600_000);
  for (let i = 1; i <= 5; i += 1) {
    await waitFor(() => retry() !== undefined && sync.status().reconnectAttempts === i, `retry ${i} scheduled`);
    const r = retry()!;
    delays.push(r.ms);
    timers.fire(r.ms); // attempt while the broker is down: refused, next retry scheduled
  }
  await waitFor(() => retry() !== undefined && sync.status().reconnectAttempts === 6, 'retry 6 scheduled');
  const b = createBackoff({ initialMs: 100, maxMs: 800 });
  assert.equal(delays, [1, 2, 3, 4, 5].map((n) => b.delay(n, () => 0.5)));
  assert.equal(delays, [75, 150, 300, 600, 600]);
  assert.is(sync.status().connected, false);
  assert.is(sync.status().lastConnectError?.code, 'ERR_MQTT_CONNECT');
  assert.match(sync.status().lastConnectError!.message, 'ECONNREFUSED');
  assert.is(sync.status().lastError, null, 'connection trouble stays out of the status document');

  await broker.start(); // same port, empty (no persistence)
  const f2 = await observer(broker.url);
  const bundle = Buffer.from('policy-published-while-the-gateway-was-away');
  await publish(f2, deviceTopic({ site: 'site-a', device: 'gw-restart', kind: 'policy' }), bundle);
  await end(f2);
  timers.fire(retry()!.ms);
  await waitFor(() => sync.status().connected, 'reconnected');
  await waitFor(() => rec.calls.length === 1, 'the policy');
  assert.ok(rec.calls[0].bytes.equals(bundle));
  assert.is(sync.status().reconnectAttempts, 0);
  // the fleet observer lost its connection with the restart; reconnect it for the next tests
  await end(fleet);
  fleet = await observer(broker.url);
  fleet.on('message', (topic, payload) => {
    const doc = parseStatus(payload);
    if (doc) { const l = statuses.get(doc.device) ?? []; l.push(doc); statuses.set(doc.device, l); }
  });
  await subscribe(fleet, 'zonegate/v1/+/+/status');
  await waitFor(() => lastStatus('gw-restart')?.applied.policy === sha(bundle), 'status after catch-up');
});

test('audit pipe: publishAuditBatch is acknowledged, audit/ack reaches onAuditAck; offline rejects', async () => {
  const { sync } = makeSync('gw-audit');
  const acks: Buffer[] = [];
  sync.onAuditAck((b) => acks.push(Buffer.from(b)));
  const offline = await sync.publishAuditBatch(Buffer.from('x')).then(() => undefined, (e: ZonegateError) => e);
  assert.is(offline?.code, 'ERR_MQTT_OFFLINE');
  assert.is(offline?.message, 'not connected to the broker');
  await sync.start();
  await waitFor(() => sync.status().connected && lastStatus('gw-audit')?.online === true, 'online');
  const got: Buffer[] = [];
  const f = await observer(broker.url);
  f.on('message', (_t, p) => got.push(p));
  await subscribe(f, deviceTopic({ site: 'site-a', device: 'gw-audit', kind: 'audit' }));
  await sync.publishAuditBatch(Buffer.from('batch-1'));
  await waitFor(() => got.length === 1, 'the batch at the fleet');
  assert.is(got[0].toString(), 'batch-1');
  await publish(f, deviceTopic({ site: 'site-a', device: 'gw-audit', kind: 'audit/ack' }), Buffer.from('{"upTo":41}'), false);
  await waitFor(() => acks.length === 1, 'the ack');
  assert.is(acks[0].toString(), '{"upTo":41}');
  assert.ok(sync.publishTelemetry({ cpu: 0.5 }));
  await end(f);
  await sync.stop();
  await waitFor(() => lastStatus('gw-audit')?.online === false, 'offline after stop');
  assert.not.ok(sync.publishTelemetry({ cpu: 0.5 }));
  assert.is(sync.status().telemetryDropped, 1);
});

}

test.run();
