/** The pure protocol pieces: topic table and id validation, backoff schedule, status parsing, config block. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { auditResyncTopic, deviceTopic, siteTopic, siteFilter, parseTopic, gatewaySubscriptions, idProblem, TOPIC_KINDS } from '../../protocol/mqtt/topics';
import { createBackoff } from '../../protocol/backoff';
import { parseStatus, encodeStatus, statusExtras, MAX_STATUS_LISTENERS, type StatusDocument } from '../../protocol/mqtt/status';
import { parseMqttConfig } from '../../protocol/mqtt/config';
import { mqttClientOptions, syncConnection } from '../../protocol/mqtt/connect-options';

test('topics: builders, parser and the subscription list', () => {
  assert.is(deviceTopic({ site: 's1', device: 'gw-1', kind: 'policy' }), 'zonegate/v1/s1/gw-1/policy');
  assert.is(deviceTopic({ site: 's1', device: 'gw-1', kind: 'audit/ack' }), 'zonegate/v1/s1/gw-1/audit/ack');
  assert.is(siteTopic({ site: 's1', kind: 'trust' }), 'zonegate/v1/s1/all/trust');
  assert.is(siteFilter({ site: 's1', kind: 'status' }), 'zonegate/v1/s1/+/status');
  assert.equal(parseTopic('zonegate/v1/s1/gw-1/audit/ack'), { site: 's1', device: 'gw-1', kind: 'audit/ack', siteWide: false });
  assert.equal(parseTopic('zonegate/v1/s1/all/policy'), { site: 's1', device: 'all', kind: 'policy', siteWide: true });
  assert.is(parseTopic('zonegate/v1/s1/all/status'), undefined, 'status has no site-wide topic');
  assert.is(parseTopic('zonegate/v1/s1/gw-1/firmware'), undefined);
  assert.is(parseTopic('zonegate/v2/s1/gw-1/policy'), undefined);
  assert.is(parseTopic('zonegate/v1/s1/gw-1/__proto__'), undefined);
  assert.equal(gatewaySubscriptions({ site: 's', device: 'd' }), [
    'zonegate/v1/s/d/policy', 'zonegate/v1/s/all/policy', 'zonegate/v1/s/d/trust', 'zonegate/v1/s/all/trust',
    'zonegate/v1/s/d/grant', 'zonegate/v1/s/all/grant', 'zonegate/v1/s/d/command', 'zonegate/v1/s/all/command',
    'zonegate/v1/s/d/audit/ack', 'zonegate/v1/s/all/audit-resync',
  ]);
  assert.is(TOPIC_KINDS.policy.maxBytes, 4 * 1024 * 1024);
});

test('topics: audit-resync lives on the site-wide level only', () => {
  assert.is(auditResyncTopic('s1'), 'zonegate/v1/s1/all/audit-resync');
  assert.equal(parseTopic('zonegate/v1/s1/all/audit-resync'), { site: 's1', device: 'all', kind: 'audit-resync', siteWide: true });
  assert.is(parseTopic('zonegate/v1/s1/gw-1/audit-resync'), undefined, 'no per-device resync');
  assert.throws(() => deviceTopic({ site: 's1', device: 'gw-1', kind: 'audit-resync' }), /kind audit-resync has no per-device topic/);
  assert.throws(() => auditResyncTopic('a/b'), /site id must not contain/);
  assert.is(TOPIC_KINDS['audit-resync'].maxBytes, 1024);
});

test('topics: ids with wildcards, separators or NUL are refused', () => {
  for (const bad of ['a+b', '#', 'a/b', 'a\u0000b', '', 'all']) {
    assert.throws(() => deviceTopic({ site: 's', device: bad, kind: 'status' }), (e: Error) => e instanceof TypeError && /device id/.test(e.message));
  }
  assert.throws(() => siteTopic({ site: 'x/y', kind: 'policy' }), /site id must not contain '\+', '#', '\/' or NUL/);
  assert.is(idProblem('site-12', 'site'), undefined);
  assert.is(idProblem('all', 'site'), undefined);
  assert.is(idProblem('all', 'device'), "device id 'all' is reserved for site-wide topics");
  assert.is(idProblem('x'.repeat(129), 'site'), 'site id is longer than 128 bytes');
});

test('backoff: capped exponential with bounded jitter', () => {
  const b = createBackoff({ initialMs: 100, maxMs: 1000, factor: 2, jitter: 0.5 });
  assert.equal([1, 2, 3, 4, 5, 6].map((n) => b.delay(n, () => 0)), [50, 100, 200, 400, 500, 500]);
  assert.equal([1, 2, 3, 4, 5, 6].map((n) => b.delay(n, () => 0.999999)), [100, 200, 400, 800, 1000, 1000]);
  assert.is(b.delay(10_000, () => 1), 1000, 'no overflow at huge attempt numbers');
  assert.throws(() => b.delay(0, Math.random), /attempt must be an integer >= 1/);
  assert.throws(() => createBackoff({ initialMs: 10, maxMs: 5 }), /0 < initialMs <= maxMs/);
});

test('status: round trip, and hostile payloads parse to safe values or undefined', () => {
  const doc: StatusDocument = {
    schema: 1, device: 'gw', site: 's', online: true, policyVersion: 3, policyHash: 'a'.repeat(64), policyExpiresAt: 5,
    applied: { policy: 'a'.repeat(64) }, lastError: { at: 1, code: 'ERR_X', message: 'm' }, uptimeSeconds: 9,
    alarms: ['x'], runtimeVersion: '1', lastSeen: 7,
  };
  assert.equal(parseStatus(encodeStatus(doc)), doc);
  assert.is(parseStatus(Buffer.from('not json')), undefined);
  assert.is(parseStatus(Buffer.from('[1]')), undefined);
  assert.is(parseStatus(Buffer.alloc(0)), undefined);
  const weird = parseStatus(Buffer.from(JSON.stringify({ device: 'd', site: 's', online: false, policyHash: 'zz', policyVersion: '7', alarms: [1, 'ok'], __proto__: { x: 1 }, applied: { policy: 'nothex' } })))!;
  assert.is(weird.policyHash, null);
  assert.is(weird.policyVersion, null);
  assert.equal(weird.alarms, ['ok']);
  assert.equal(weird.applied, {});
  assert.is((weird as unknown as { x?: number }).x, undefined);
});

test('status: the optional slot and listeners round trip; absent stays absent; hostile lists are capped and cleaned', () => {
  const base = { schema: 1, device: 'gw', site: 's', online: true, policyVersion: null, policyHash: null, policyExpiresAt: null, applied: {}, lastError: null, uptimeSeconds: 0, alarms: [], runtimeVersion: '1', lastSeen: 7 };
  const listeners = [{ listen: '127.0.0.1:5020', asset: 'plc-1', service: 'modbus', servicePort: 502, state: 'up' }, { listen: '0.0.0.0:20000', asset: 'rtu', service: 'dnp3', servicePort: 20000, state: 'failed', error: 'EADDRINUSE' }];
  const doc: StatusDocument = { ...base, ...statusExtras({ slot: 'b', listeners }) };
  assert.equal(parseStatus(encodeStatus(doc)), doc);
  // An older gateway's document has neither field, and the parsed document does not invent them.
  const old = parseStatus(encodeStatus(base))!;
  assert.not.ok('slot' in old || 'listeners' in old);
  assert.equal(statusExtras({}), {});
  const hostile = parseStatus(JSON.stringify({ ...base, slot: 'c', listeners: [...Array.from({ length: 200 }, (_, i) => ({ listen: `h:${i}`, state: 'up'.repeat(50) })), 7, null] }))!;
  assert.not.ok('slot' in hostile);
  assert.is(hostile.listeners!.length, MAX_STATUS_LISTENERS);
  assert.equal(hostile.listeners![0], { listen: 'h:0', asset: '', service: '', servicePort: 0, state: 'up'.repeat(8) });
  assert.equal(parseStatus(JSON.stringify({ ...base, slot: null, listeners: [1, { listen: 3 }] }))!.listeners, []);
});

test('status: `refused` (the bytes a gateway said no to) round trips; malformed entries are dropped', () => {
  const base = { schema: 1, device: 'gw', site: 's', online: true, policyVersion: null, policyHash: null, policyExpiresAt: null, applied: {}, lastError: null, uptimeSeconds: 0, alarms: [], runtimeVersion: '1', lastSeen: 7 };
  const doc: StatusDocument = { ...base, refused: { policy: { hash: 'b'.repeat(64), code: 'ERR_BUNDLE_SIGNATURE', at: 5 } } };
  assert.equal(parseStatus(encodeStatus(doc)), doc);
  assert.not.ok('refused' in parseStatus(encodeStatus(base))!, 'absent stays absent');
  const hostile = parseStatus(JSON.stringify({ ...base, refused: { policy: { hash: 'nothex', code: 'X', at: 1 }, grant: { hash: 'c'.repeat(64), code: 'Y'.repeat(500), at: 2 }, trust: { hash: 'd'.repeat(64) }, firmware: { hash: 'e'.repeat(64), code: 'Z', at: 3 } } }))!;
  assert.equal(hostile.refused, { grant: { hash: 'c'.repeat(64), code: 'Y'.repeat(64), at: 2 } });
  assert.not.ok('refused' in parseStatus(JSON.stringify({ ...base, refused: [1] }))!);
});

test('parseMqttConfig: defaults, and every problem reported with its path', () => {
  const ok = parseMqttConfig({ url: 'mqtts://broker.example:8883', username: 'gw-1', ca: 'ca.pem', cert: 'c.pem', key: 'k.pem' });
  assert.equal(ok.issues, []);
  assert.equal(ok.config, { url: 'mqtts://broker.example:8883', username: 'gw-1', ca: 'ca.pem', cert: 'c.pem', key: 'k.pem', keepalive: 30, maxPayloadBytes: 4194304 });
  const bad = parseMqttConfig({ url: 'http://x', keepalive: -1, cert: 'c.pem', maxPayloadBytes: 1.5, extra: 1, clientId: 'a#b' }, 'gateway.mqtt');
  assert.is(bad.config, undefined);
  assert.equal(bad.issues.map((i) => `${i.path}: ${i.message}`), [
    'gateway.mqtt.extra: unknown key (expected one of url, clientId, username, passwordFile, ca, cert, key, keepalive, maxPayloadBytes)',
    'gateway.mqtt.url: scheme must be one of mqtt, mqtts, tcp, ssl',
    "gateway.mqtt.clientId: at most 256 bytes, without NUL, '+' or '#'",
    'gateway.mqtt.keepalive: must be an integer within 0..65535',
    'gateway.mqtt.maxPayloadBytes: must be an integer within 1024..268435456',
    'gateway.mqtt.key: cert and key must be given together',
  ]);
  assert.equal(parseMqttConfig(undefined).issues, [{ path: 'mqtt', message: 'must be a mapping with at least `url`' }]);
  assert.equal(parseMqttConfig({}).issues, [{ path: 'mqtt.url', message: 'is required' }]);
});

test('mqttClientOptions: reads the password and TLS files, names a missing one', () => {
  const files: Record<string, string> = { pw: 'secret\nignored', ca: 'CA', c: 'CERT', k: 'KEY' };
  const read = (p: string) => { if (!(p in files)) throw new Error('ENOENT'); return Buffer.from(files[p]); };
  const o = mqttClientOptions({ username: 'u', passwordFile: 'pw', ca: 'ca', cert: 'c', key: 'k', keepalive: 15 }, read);
  assert.is(o.protocolVersion, 5);
  assert.is(o.password, 'secret');
  assert.is(String(o.ca), 'CA');
  assert.is(o.keepalive, 15);
  const conn = syncConnection({ url: 'mqtts://b:8883', username: 'gw', passwordFile: 'pw', keepalive: 30, maxPayloadBytes: 2048 }, read);
  assert.is(conn.url, 'mqtts://b:8883');
  assert.equal(conn.limits, { policy: 2048 });
  assert.is(conn.clientOptions.password, 'secret');
  assert.throws(() => mqttClientOptions({ ca: 'missing', keepalive: 30 }, read), (e: Error & { code?: string }) => e.code === 'ERR_CONFIG_INVALID' && e.message === 'mqtt.ca: cannot read missing: ENOENT');
});

test.run();
