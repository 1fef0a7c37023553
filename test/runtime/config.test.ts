import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, loadConfig, listenLabel, type GatewayConfig } from '../../runtime/config';
import { resolveListeners, resolveListenersLenient, upstreamLabel } from '../../runtime/config/resolve-listeners';
import { splitIssuePath } from '../../runtime/config/blocks';
import { parseHostPort } from '../../protocol/host-port';
import { ZonegateError, formatIssue } from '../../policy/errors';
import { parsePolicy } from '../../policy/parse';

const POLICY = parsePolicy(`
site: lab
zones: [{ id: control, networks: [10.10.1.0/24], securityLevel: 3 }]
assets:
  - { id: plc-1, zone: control, address: 10.10.1.20, kind: plc, services: [{ protocol: modbus, port: 502 }] }
  - { id: rtu-1, zone: control, address: 10.10.1.30, kind: rtu,
      services: [{ protocol: modbus, port: 502 }, { protocol: tcp, port: 20000 }, { protocol: tcp, port: 2404 }] }
  - { id: historian, zone: control, address: 10.10.1.40, kind: historian, services: [{ protocol: tcp, port: 443 }] }
identities: []
conduits: []
`, { file: 'policy.yaml' });

const IEC104_POLICY = parsePolicy(`
site: lab
zones: [{ id: control, networks: [10.10.1.0/24], securityLevel: 3 }]
assets:
  - { id: rtu-1, zone: control, address: 10.10.1.30, kind: rtu, services: [{ protocol: iec104, port: 2404 }] }
identities: []
conduits: []
`, { file: 'policy.yaml' });

function errorOf(fn: () => unknown): ZonegateError {
  try { fn(); } catch (e) { if (e instanceof ZonegateError) return e; throw e; }
  throw new Error('expected a ZonegateError');
}
const lines = (e: ZonegateError) => e.issues.map(formatIssue);

const GOOD = `device: gw-01
site: lab
stateDir: ./state
policyFile: policy.yaml
listeners:
  - listen: 127.0.0.1:15020
    asset: plc-1
    service: modbus
    upstream: 127.0.0.1:16020
  - { listen: "[::1]:15443", asset: historian, service: tcp }
`;

test('a good config: defaults, paths relative to the config folder, IPv6 listen', () => {
  const c = parseConfig(GOOD, { file: '/etc/zonegate/gw.yaml' });
  assert.is(c.device, 'gw-01');
  assert.is(c.stateDir, '/etc/zonegate/state');
  assert.is(c.policyFile, '/etc/zonegate/policy.yaml');
  assert.equal(c.listeners[0].listen, { host: '127.0.0.1', port: 15020 });
  assert.equal(c.listeners[0].upstream, { host: '127.0.0.1', port: 16020 });
  assert.equal(c.listeners[1].listen, { host: '::1', port: 15443 });
  assert.is(c.listeners[1].upstream, undefined);
  assert.equal(c.log, { level: 'info', decisions: 'stdout' });
  assert.is(c.timeouts.idleMs, 600_000);
  assert.is(c.limits.perSourceMax, 64);
});

test('unknown keys are refused with did-you-mean, at their line and column', () => {
  const e = errorOf(() => parseConfig(GOOD.replace('listeners:', 'listners:'), { file: 'gw.yaml' }));
  assert.is(e.code, 'ERR_CONFIG_INVALID');
  assert.match(e.message, 'gw.yaml');
  const l = lines(e);
  assert.ok(l.includes("gw.yaml:5:1: listners: unknown field 'listners' (did you mean 'listeners'?)"), l.join('\n'));
  assert.ok(l.includes("gw.yaml:1:1: listeners: required field 'listeners' is missing (a list of { listen, asset, service })"), l.join('\n'));
  const e2 = errorOf(() => parseConfig(GOOD.replace('    service: modbus', '    servce: modbus'), { file: 'gw.yaml' }));
  assert.ok(lines(e2).includes("gw.yaml:8:5: listeners[0].servce: unknown field 'servce' (did you mean 'service'?)"), lines(e2).join('\n'));
});

test('part blocks are mappings read into typed values at load; anything else is refused', () => {
  const c = parseConfig(`${GOOD}mqtt: { url: mqtt://127.0.0.1:1883 }\ntelemetry: {}\n`, { file: 'gw.yaml' });
  assert.equal(c.parts.mqtt, { url: 'mqtt://127.0.0.1:1883', keepalive: 30, maxPayloadBytes: 4 * 1024 * 1024 });
  assert.equal(c.parts.telemetry, { enabled: true, intervalMs: 60_000 });
  assert.not.ok('reserved' in c, 'no raw block is kept for a part to read again');
  const e = errorOf(() => parseConfig(`${GOOD}audit: yes\n`, { file: 'gw.yaml' }));
  assert.equal(lines(e), ['gw.yaml:11:1: audit: must be a mapping (reserved for the audit settings)']);
});

test('listen and upstream addresses: every malformed kind named with file, line, col, path', () => {
  const cfg = `device: gw-01
site: lab
stateDir: s
listeners:
  - { listen: "15020", asset: plc-1, service: modbus }
  - { listen: "::1:15020", asset: plc-1, service: modbus }
  - { listen: "plc.local:15020", asset: plc-1, service: modbus }
  - { listen: "127.0.0.1:70000", asset: plc-1, service: modbus }
  - { listen: "127.0.0.1:15021", asset: plc-1, service: modbus, upstream: "bad host:502" }
  - { listen: "[10.0.0.1]:15022", asset: plc-1, service: modbus }
  - { listen: "127.0.0.1:15023", asset: plc-1, service: iec6185 }
`;
  const e = errorOf(() => parseConfig(cfg, { file: 'gw.yaml' }));
  assert.equal(lines(e), [
    'gw.yaml:5:7: listeners[0].listen: must be HOST:PORT (e.g. 127.0.0.1:15020 or [::1]:15020), got "15020"',
    'gw.yaml:6:7: listeners[1].listen: an IPv6 address must be written in brackets: [::1]:15020',
    'gw.yaml:7:7: listeners[2].listen: the host must be an IP address (a listener binds to a local address), got "plc.local"',
    'gw.yaml:8:7: listeners[3].listen: port must be 0..65535, got 70000',
    'gw.yaml:9:65: listeners[4].upstream: "bad host" is neither an IP address nor a host name',
    'gw.yaml:10:7: listeners[5].listen: only IPv6 addresses go in brackets, got [10.0.0.1]',
    'gw.yaml:11:48: listeners[6].service: must be one of modbus, tcp, dnp3, iec104, modbus-rtu-gateway, modbus-rtu, got "iec6185"',
  ]);
});

test('duplicate listen addresses, missing fields, bad types', () => {
  const cfg = `device: "gw 01"
site: lab
listeners:
  - { listen: 127.0.0.1:15020, asset: plc-1, service: modbus }
  - { listen: 127.0.0.1:15020, asset: rtu-1, service: modbus }
  - { listen: 127.0.0.1:15021 }
log: { level: loud }
timeouts: { idleMs: -1, connectMs: "3s" }
limits: { perSourceMax: 0 }
`;
  const e = errorOf(() => parseConfig(cfg, { file: 'gw.yaml' }));
  assert.equal(lines(e), [
    "gw.yaml:1:1: device: 'gw 01' is not a valid id: use letters, digits and - _ . : @ (starting with a letter or digit, at most 128)",
    "gw.yaml:1:1: stateDir: required field 'stateDir' is missing",
    'gw.yaml:5:7: listeners[1].listen: duplicate listen address 127.0.0.1:15020 (also listeners[0])',
    "gw.yaml:6:5: listeners[2].asset: required field 'asset' is missing",
    "gw.yaml:6:5: listeners[2].service: required field 'service' is missing (modbus, dnp3, iec104, tcp, modbus-rtu-gateway or modbus-rtu)",
    'gw.yaml:7:8: log.level: must be one of debug, info, warn, error, got "loud"',
    'gw.yaml:8:13: timeouts.idleMs: a duration in milliseconds must be 0..86400000, got -1',
    'gw.yaml:8:25: timeouts.connectMs: must be a duration in milliseconds (an integer 0..86400000), got the string "3s"',
    'gw.yaml:9:11: limits.perSourceMax: must be at least 1',
  ]);
});

test('YAML syntax errors and a document that is not a mapping', () => {
  const e = errorOf(() => parseConfig('device: gw-01\nlisteners: [\n', { file: 'gw.yaml' }));
  assert.is(e.code, 'ERR_CONFIG_INVALID');
  assert.is(e.issues[0].file, 'gw.yaml');
  assert.type(e.issues[0].line, 'number');
  const e2 = errorOf(() => parseConfig('- a\n- b\n', { file: 'gw.yaml' }));
  assert.equal(lines(e2), ['gw.yaml:1:1: (document): must be a mapping of gateway settings, got a list']);
});

test('listeners checked against the policy: unknown asset, missing service, ambiguous port, site', () => {
  const cfg = `device: gw-01
site: lab2
stateDir: s
listeners:
  - { listen: 127.0.0.1:15020, asset: plc-l, service: modbus }
  - { listen: 127.0.0.1:15021, asset: historian, service: modbus }
  - { listen: 127.0.0.1:15022, asset: rtu-1, service: tcp }
  - { listen: 127.0.0.1:15023, asset: rtu-1, service: tcp, port: 20001 }
`;
  const c = parseConfig(cfg, { file: 'gw.yaml' });
  const e = errorOf(() => resolveListeners(c, POLICY));
  assert.is(e.code, 'ERR_CONFIG_INVALID');
  assert.equal(lines(e), [
    "gw.yaml:2:1: site: the config is for site 'lab2' but the policy is for site 'lab'",
    "gw.yaml:5:32: listeners[0].asset: the policy has no asset 'plc-l' (did you mean 'plc-1'?)",
    "gw.yaml:6:50: listeners[1].service: asset 'historian' offers no modbus service in the policy (it offers: tcp/443)",
    "gw.yaml:7:5: listeners[2].port: asset 'rtu-1' has several tcp services (ports 20000, 2404): say which with 'port'",
    "gw.yaml:8:60: listeners[3].port: asset 'rtu-1' has no tcp service on port 20001 (ports: 20000, 2404)",
  ]);
});

test('upstream defaults to the asset policy address and service port', () => {
  const c: GatewayConfig = parseConfig(GOOD.replace('site: lab', 'site: lab') + '  - { listen: 127.0.0.1:15031, asset: rtu-1, service: tcp, port: 2404 }\n', { file: 'gw.yaml' });
  const r = resolveListeners(c, POLICY);
  assert.equal(r.map((l) => [l.servicePort, `${l.upstream.host}:${l.upstream.port}`, l.upstreamFromPolicy]), [
    [502, '127.0.0.1:16020', false],
    [443, '10.10.1.40:443', true],
    [2404, '10.10.1.30:2404', true],
  ]);
  assert.is(r[0].key, '127.0.0.1:15020 plc-1 modbus/502 -> 127.0.0.1:16020');
});

test('parseHostPort edge cases', () => {
  assert.equal(parseHostPort('[::ffff:127.0.0.1]:1', { allowName: false, allowZero: false }), { host: '127.0.0.1', port: 1 } as never);
  assert.equal(parseHostPort('127.0.0.1:0', { allowName: false, allowZero: true }), { host: '127.0.0.1', port: 0 });
  assert.equal(parseHostPort('127.0.0.1:0', { allowName: false, allowZero: false }), { error: 'port must be 1..65535, got 0' });
  assert.equal(parseHostPort('plc.example:502', { allowName: true, allowZero: false }), { host: 'plc.example', port: 502 });
  assert.equal(parseHostPort('127.0.0.1:0502', { allowName: false, allowZero: false }), { host: '127.0.0.1', port: 502 });
});

test('loadConfig: a missing file is ERR_CONFIG_INVALID naming it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'zg-config-'));
  try {
    try { await loadConfig(join(dir, 'nope.yaml')); assert.unreachable(); } catch (e) {
      assert.is((e as ZonegateError).code, 'ERR_CONFIG_INVALID');
      assert.is((e as ZonegateError).message, `cannot read gateway config ${join(dir, 'nope.yaml')}: no such file`);
    }
    writeFileSync(join(dir, 'gw.yaml'), GOOD);
    const c = await loadConfig(join(dir, 'gw.yaml'));
    assert.is(c.policyFile, join(dir, 'policy.yaml'));
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('part blocks: trustRoot, audit, mqtt and nftables validated at load, paths relative to the config or absolute', () => {
  const c = parseConfig(`${GOOD}trustRoot: { file: keys/root.json }
audit: { maxBytes: 16777216, segmentBytes: 1048576, flushDelayMs: 10 }
mqtt: { url: "mqtt://127.0.0.1:18830", passwordFile: /run/secrets/mqtt, ca: tls/ca.pem, keepalive: 15 }
nftables: { enabled: true, table: zg, keepDir: nft }
`, { file: '/etc/zonegate/gw.yaml' });
  assert.is(c.parts.trustRootFile, '/etc/zonegate/keys/root.json');
  assert.equal(c.parts.audit, { enabled: true, maxBytes: 16777216, segmentBytes: 1048576, flushDelayMs: 10 });
  assert.equal(c.parts.mqtt, { url: 'mqtt://127.0.0.1:18830', passwordFile: '/run/secrets/mqtt', ca: '/etc/zonegate/tls/ca.pem', keepalive: 15, maxPayloadBytes: 4 * 1024 * 1024 });
  assert.is(c.parts.nftables!.enabled, true);
  assert.is(c.parts.nftables!.render.table, 'zg');
  assert.is(c.parts.nftables!.keepDir, '/etc/zonegate/nft');
  const bare = parseConfig(GOOD, { file: '/etc/zonegate/gw.yaml' });
  const { console: consoleDefaults, ...others } = bare.parts;
  assert.equal(others, { audit: { enabled: true }, telemetry: { enabled: true, intervalMs: 60_000 } }, 'audit and telemetry on by default; no trust root, mqtt or nftables');
  assert.is(consoleDefaults.web, undefined, 'no login page without a console block');
  const abs = parseConfig(`${GOOD}trustRoot: { file: /tmp/demo-keys/root.json }\n`, { file: '/etc/zonegate/gw.yaml' });
  assert.is(abs.parts.trustRootFile, '/tmp/demo-keys/root.json');
});

test('part blocks: every mistake located at file:line:col', () => {
  const e = errorOf(() => parseConfig(`${GOOD}trustRoot: { path: root.json }
audit: { maxBytes: 10, colour: red }
mqtt: { url: "http://x", keepalive: -1 }
nftables: { enabled: yes, proxies: [{ asset: plc-1, port: 502, listen: nowhere }] }
`, { file: 'gw.yaml' }));
  assert.equal(lines(e), [
    'gw.yaml:11:14: trustRoot.path: unknown key (expected file)',
    'gw.yaml:11:1: trustRoot.file: must name the provisioned trust root file (root.json or root.cbor)',
    'gw.yaml:12:10: audit.maxBytes: must be an integer within 65536..1099511627776',
    'gw.yaml:12:24: audit.colour: unknown key (expected enabled, maxBytes, segmentBytes, flushDelayMs, checkpointIntervalMs)',
    'gw.yaml:13:9: mqtt.url: scheme must be one of mqtt, mqtts, tcp, ssl',
    'gw.yaml:13:26: mqtt.keepalive: must be an integer within 0..65535',
    'gw.yaml:14:13: nftables.enabled: must be true or false',
    'gw.yaml:14:64: nftables.proxies[0].listen: must be "HOST:PORT", "[V6]:PORT" or { host, port }',
  ]);
  assert.equal(splitIssuePath('nftables.proxies[0].listen'), ['nftables', 'proxies', 0, 'listen']);
});

test('the telemetry block: interval and switch, mistakes located', () => {
  const c = parseConfig(`${GOOD}telemetry: { intervalMs: 30000, enabled: false }\n`, { file: 'gw.yaml' });
  assert.equal(c.parts.telemetry, { enabled: false, intervalMs: 30_000 });
  const e = errorOf(() => parseConfig(`${GOOD}telemetry: { intervalMs: 10, every: 5 }\n`, { file: 'gw.yaml' }));
  assert.equal(lines(e), [
    'gw.yaml:11:14: telemetry.intervalMs: must be an integer within 5000..86400000',
    'gw.yaml:11:30: telemetry.every: unknown key (expected enabled, intervalMs)',
  ]);
});

test('the console block (login page, consoles) is checked at load with file:line:col', () => {
  const good = parseConfig(`${GOOD}console:\n  web: { listen: "127.0.0.1:8443" }\n  socket: console.sock\n`, { file: '/etc/zonegate/gw.yaml' });
  assert.equal(good.parts.console, {
    idleMs: 600_000, login: { lockAfter: 10, delayMs: 1_000, maxDelayMs: 60_000, hashConcurrency: 1, hashCooldown: 3 }, breakGlass: { maxMinutes: 240 },
    socket: '/etc/zonegate/console.sock', web: { listen: { host: '127.0.0.1', port: 8443 }, sessionMs: 480 * 60_000 },
  });
  assert.equal(parseConfig(GOOD, { file: 'gw.yaml' }).parts.console, { idleMs: 600_000, login: { lockAfter: 10, delayMs: 1_000, maxDelayMs: 60_000, hashConcurrency: 1, hashCooldown: 3 }, breakGlass: { maxMinutes: 240 } }, 'no block: the defaults, no consoles or login page');
  const e = errorOf(() => parseConfig(`${GOOD}console:
  web: { listen: "nowhere", sessionMinutes: 0 }
  idleMinutes: 99999
  colour: red
`, { file: 'gw.yaml' }));
  assert.equal(lines(e), [
    'gw.yaml:14:3: console.colour: unknown setting (known: idleMinutes, serial, socket, web, login, breakGlass)',
    'gw.yaml:13:3: console.idleMinutes: must be a whole number from 1 to 1440',
    'gw.yaml:12:29: console.web.sessionMinutes: must be a whole number from 1 to 1440',
    'gw.yaml:12:10: console.web.listen: must be HOST:PORT (e.g. 127.0.0.1:15020 or [::1]:15020), got "nowhere"',
  ]);
});

test('lenient listener resolution: fits the policy when it can, else stands on its config upstream or is reported', () => {
  const c = parseConfig(`device: gw-01
site: lab
stateDir: ./state
listeners:
  - { listen: 127.0.0.1:15020, asset: plc-1, service: modbus, upstream: 127.0.0.1:16020 }
  - { listen: 127.0.0.1:15021, asset: plc-9, service: modbus, upstream: 127.0.0.1:16021 }
  - { listen: 127.0.0.1:15022, asset: plc-8, service: modbus }
  - { listen: 127.0.0.1:15443, asset: historian, service: tcp }
`, { file: 'gw.yaml' });
  const withDoc = resolveListenersLenient(c, POLICY);
  assert.equal(withDoc.specs.map((s) => [s.asset, s.servicePort, `${s.upstream.host}:${s.upstream.port}`, s.upstreamFromPolicy]),
    [['plc-1', 502, '127.0.0.1:16020', false], ['plc-9', 502, '127.0.0.1:16021', false], ['historian', 443, '10.10.1.40:443', true]]);
  assert.equal(withDoc.problems.map((p) => [p.asset, p.started, p.message]), [
    ['plc-9', true, "the policy has no asset 'plc-9' (did you mean 'plc-1'?)"],
    ['plc-8', false, "the policy has no asset 'plc-8' (did you mean 'plc-1'?); no 'upstream' in the config, so the listener cannot start"],
  ]);
  const none = resolveListenersLenient(c, null);
  assert.equal(none.specs.map((s) => s.key), ['127.0.0.1:15020 plc-1 modbus/502 -> 127.0.0.1:16020', '127.0.0.1:15021 plc-9 modbus/502 -> 127.0.0.1:16021']);
  assert.equal(none.specs[0].key, withDoc.specs[0].key, 'same key with and without a policy: the listener is kept when the first bundle arrives');
  assert.equal(none.problems.map((p) => [p.asset, p.started]), [['plc-8', false], ['historian', false]]);
});

const RTU_POLICY = parsePolicy(`
site: lab
zones: [{ id: control, networks: [10.10.1.0/24], securityLevel: 3 }]
assets:
  - { id: meters, zone: control, address: 10.10.1.50, kind: serial-gateway, services: [{ protocol: modbus, port: 502 }] }
  - { id: plc-1, zone: control, address: 10.10.1.20, kind: plc, services: [{ protocol: modbus, port: 502 }] }
identities: [{ id: scada-master, kind: device, zone: control }]
conduits: []
`, { file: 'policy.yaml' });

test('RTU listeners: modbus-rtu-gateway (TCP in, serial line out) and modbus-rtu (serial masters in, TCP out) with line defaults', () => {
  const c = parseConfig(`device: gw-01
site: lab
stateDir: s
listeners:
  - listen: 127.0.0.1:1502
    asset: meters
    service: modbus-rtu-gateway
    serial: { device: /dev/ttyUSB0, baud: 19200, parity: even, stopBits: 1, dataBits: 8, responseMs: 500 }
  - asset: plc-1
    service: modbus-rtu
    identity: scada-master
    serial: { device: /dev/ttyAMA0, baud: 9600, parity: none, stopBits: 2, interFrameMs: 10 }
`, { file: 'gw.yaml' });
  assert.equal(c.listeners.map((l) => [l.service, listenLabel(l), l.serial, l.identity]), [
    ['modbus-rtu-gateway', '127.0.0.1:1502', { device: '/dev/ttyUSB0', baud: 19200, parity: 'even', stopBits: 1, responseMs: 500, turnaroundMs: 100 }, undefined],
    ['modbus-rtu', 'serial:/dev/ttyAMA0', { device: '/dev/ttyAMA0', baud: 9600, parity: 'none', stopBits: 2, interFrameMs: 10, responseMs: 1000, turnaroundMs: 100 }, 'scada-master'],
  ]);
  const r = resolveListeners(c, RTU_POLICY);
  assert.equal(r.map((l) => [l.servicePort, upstreamLabel(l), l.upstreamFromPolicy, l.key]), [
    [502, 'serial:/dev/ttyUSB0', false, '127.0.0.1:1502 meters modbus-rtu-gateway/502 -> serial:/dev/ttyUSB0 19200/even/1/-/500/100'],
    [502, '10.10.1.20:502', true, 'serial:/dev/ttyAMA0 plc-1 modbus-rtu/502 -> 10.10.1.20:502 9600/none/2/10/1000/100 as scada-master'],
  ]);
  // Without a policy: the gateway side needs no upstream, the master side does.
  const none = resolveListenersLenient(c, null);
  assert.equal(none.specs.map((l) => l.service), ['modbus-rtu-gateway']);
  assert.equal(none.problems.map((p) => [p.listen, p.started]), [['serial:/dev/ttyAMA0', false]]);
});

test('RTU listeners: every mistake located at file:line:col', () => {
  const e = errorOf(() => parseConfig(`device: gw-01
site: lab
stateDir: s
listeners:
  - { listen: 127.0.0.1:1502, asset: meters, service: modbus-rtu-gateway }
  - { listen: 127.0.0.1:1503, asset: meters, service: modbus-rtu-gateway, upstream: 10.0.0.1:502, serial: { device: ttyUSB0, baud: 14400, parity: mark, stopBits: 3, dataBits: 7, interFrameMs: 1, speed: 9600 } }
  - { listen: 127.0.0.1:1504, asset: plc-1, service: modbus-rtu, serial: { device: /dev/ttyS1, baud: 9600 } }
  - { asset: plc-1, service: modbus-rtu, identity: "bad id", serial: { device: /dev/ttyS1, baud: 9600 } }
  - { listen: 127.0.0.1:1505, asset: plc-1, service: modbus, identity: scada-master, serial: { device: /dev/ttyS2, baud: 9600 } }
`, { file: 'gw.yaml' }));
  assert.is(e.code, 'ERR_CONFIG_INVALID');
  assert.equal(lines(e), [
    "gw.yaml:5:5: listeners[0].serial: required field 'serial' is missing (a modbus-rtu-gateway listener needs { device, baud, parity, stopBits })",
    "gw.yaml:6:196: listeners[1].serial.speed: unknown field 'speed'",
    'gw.yaml:6:109: listeners[1].serial.device: must be an absolute path (e.g. /dev/ttyUSB0), got "ttyUSB0"',
    'gw.yaml:6:126: listeners[1].serial.baud: must be one of 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, got 14400',
    'gw.yaml:6:139: listeners[1].serial.parity: must be one of none, even, odd, got "mark"',
    'gw.yaml:6:153: listeners[1].serial.stopBits: must be 1 or 2, got 3',
    'gw.yaml:6:166: listeners[1].serial.dataBits: Modbus RTU characters have 8 data bits, got 7',
    'gw.yaml:6:179: listeners[1].serial.interFrameMs: a duration in milliseconds must be 2..1000, got 1',
    "gw.yaml:6:75: listeners[1].upstream: a modbus-rtu-gateway's upstream is its serial line (serial.device): remove 'upstream'",
    "gw.yaml:7:7: listeners[2].listen: a modbus-rtu listener listens on its serial device (serial.device), not on an address: remove 'listen'",
    "gw.yaml:7:5: listeners[2].identity: required field 'identity' is missing",
    "gw.yaml:8:42: listeners[3].identity: 'bad id' is not a valid id: use letters, digits and - _ . : @ (starting with a letter or digit, at most 128)",
    'gw.yaml:9:86: listeners[4].serial: only modbus-rtu-gateway and modbus-rtu listeners have a serial line, not modbus',
    "gw.yaml:9:62: listeners[4].identity: only a modbus-rtu listener names the identity of its masters (a modbus listener's clients are known by address)",
  ]);
  // One listener per serial line; an unknown identity is refused against the policy.
  const e2 = errorOf(() => parseConfig(`device: gw-01
site: lab
stateDir: s
listeners:
  - { listen: 127.0.0.1:1502, asset: meters, service: modbus-rtu-gateway, serial: { device: /dev/ttyS1, baud: 9600 } }
  - { asset: plc-1, service: modbus-rtu, identity: scada-master, serial: { device: /dev/ttyS1, baud: 9600 } }
`, { file: 'gw.yaml' }));
  assert.equal(lines(e2), ['gw.yaml:6:76: listeners[1].serial.device: serial device /dev/ttyS1 is already used by listeners[0]']);
  const c = parseConfig(`device: gw-01
site: lab
stateDir: s
listeners:
  - { asset: plc-1, service: modbus-rtu, identity: scada-mastr, serial: { device: /dev/ttyS1, baud: 9600 } }
`, { file: 'gw.yaml' });
  assert.equal(lines(errorOf(() => resolveListeners(c, RTU_POLICY))), ["gw.yaml:5:42: listeners[0].identity: the policy has no identity 'scada-mastr' (did you mean 'scada-master'?)"]);
});

test('iec104 listeners: k, w and t1/t2/t3 per listener, defaults filled in, part of the listener key', () => {
  const c = parseConfig(`device: gw-01
site: lab
stateDir: s
listeners:
  - { listen: 127.0.0.1:2404, asset: rtu-1, service: iec104, upstream: 10.10.1.30:2404, iec104: { k: 24, w: 16, t1Ms: 30000, t3Ms: 60000 } }
  - { listen: 127.0.0.1:2405, asset: rtu-1, service: iec104, upstream: 10.10.1.30:2404 }
`, { file: 'gw.yaml' });
  assert.equal(c.listeners.map((l) => l.iec104), [{ k: 24, w: 16, t1Ms: 30_000, t2Ms: 10_000, t3Ms: 60_000 }, undefined]);
  const specs = resolveListeners(c, IEC104_POLICY);
  assert.equal(specs.map((s) => [s.iec104?.k, s.key]), [
    [24, '127.0.0.1:2404 rtu-1 iec104/2404 -> 10.10.1.30:2404 k24/w16/t1 30000/t2 10000/t3 60000'],
    [undefined, '127.0.0.1:2405 rtu-1 iec104/2404 -> 10.10.1.30:2404'],
  ]);
});

test('iec104 link settings: ranges, w <= k and t2 < t1 (counting the defaults), only on iec104 listeners, located at file:line:col', () => {
  const e = errorOf(() => parseConfig(`device: gw-01
site: lab
stateDir: s
listeners:
  - { listen: 127.0.0.1:2404, asset: rtu-1, service: iec104, iec104: { k: 0, w: 40000, t1Ms: 500, t2Ms: 1.5, t3Ms: 172800001, t0Ms: 30000 } }
  - { listen: 127.0.0.1:2405, asset: rtu-1, service: iec104, iec104: { k: 4 } }
  - { listen: 127.0.0.1:2406, asset: rtu-1, service: iec104, iec104: { k: 4, w: 6, t1Ms: 5000 } }
  - { listen: 127.0.0.1:2407, asset: rtu-1, service: iec104, iec104: { t1Ms: 20000, t2Ms: 20000 } }
  - { listen: 127.0.0.1:2408, asset: rtu-1, service: tcp, iec104: { k: 4 } }
  - { listen: 127.0.0.1:2409, asset: rtu-1, service: iec104, iec104: 12 }
`, { file: 'gw.yaml' }));
  assert.is(e.code, 'ERR_CONFIG_INVALID');
  assert.equal(lines(e), [
    "gw.yaml:5:127: listeners[0].iec104.t0Ms: unknown field 't0Ms' (did you mean 't1Ms'?)",
    'gw.yaml:5:72: listeners[0].iec104.k: a count of I-format APDUs must be 1..32767, got 0',
    'gw.yaml:5:78: listeners[0].iec104.w: a count of I-format APDUs must be 1..32767, got 40000',
    'gw.yaml:5:88: listeners[0].iec104.t1Ms: a duration in milliseconds must be 1000..255000, got 500',
    'gw.yaml:5:99: listeners[0].iec104.t2Ms: must be a duration in milliseconds (an integer 1000..255000), got number 1.5',
    'gw.yaml:5:110: listeners[0].iec104.t3Ms: a duration in milliseconds must be 1000..172800000, got 172800001',
    "gw.yaml:6:72: listeners[1].iec104.k: w 8 (the default) must not exceed k 4: the receiver acknowledges after at most w I-format APDUs, within the sender's k (IEC 60870-5-104 5.5)",
    "gw.yaml:7:78: listeners[2].iec104.w: w 6 must not exceed k 4: the receiver acknowledges after at most w I-format APDUs, within the sender's k (IEC 60870-5-104 5.5)",
    'gw.yaml:7:84: listeners[2].iec104.t1Ms: t2Ms 10000 (the default) must be below t1Ms 5000: acknowledgements (t2) must come before the sender gives up (t1) (IEC 60870-5-104 5.5)',
    'gw.yaml:8:85: listeners[3].iec104.t2Ms: t2Ms 20000 must be below t1Ms 20000: acknowledgements (t2) must come before the sender gives up (t1) (IEC 60870-5-104 5.5)',
    'gw.yaml:9:59: listeners[4].iec104: only iec104 listeners have IEC 104 link settings (k, w, t1Ms, t2Ms, t3Ms), not tcp',
    'gw.yaml:10:62: listeners[5].iec104: must be a mapping { k, w, t1Ms, t2Ms, t3Ms }, got number 12',
  ]);
});

test('the examples load: the lab config (policyFile) and the signed one (trustRoot, mqtt, audit)', async () => {
  const lab = await loadConfig('examples/gateway.yaml');
  assert.match(lab.policyFile!, /state\/substation-lab\.yaml$/, 'the loopback lab copy `make run` writes');
  assert.is(lab.parts.trustRootFile, undefined);
  const signed = await loadConfig('examples/gateway-signed.yaml');
  assert.is(signed.policyFile, undefined);
  assert.match(signed.parts.trustRootFile!, /\/root\.json$/);
  assert.is(signed.parts.mqtt!.url, 'mqtt://127.0.0.1:18830');
  assert.is(signed.parts.audit.enabled, true);
  assert.is(signed.parts.nftables?.enabled ?? false, false, 'nftables off in the loopback examples');
  assert.is(signed.listeners.length, lab.listeners.length);
});

test.run();
