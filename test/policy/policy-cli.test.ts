/**
 * `zonegate policy test` and `zonegate policy explain`, run as the bundled CLI (the same esbuild
 * options as build/bundle.mjs, bundled into a temporary folder so that parallel test files never
 * race on dist/) against examples/substation.yaml and test/fixtures/policy-engine/.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = process.cwd();
const dir = mkdtempSync(join(tmpdir(), 'zg-policy-cli-'));
const cli = join(dir, 'zonegate.js');
const FIX = 'test/fixtures/policy-engine';

function run(...args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

test.before(async () => {
  await build({
    entryPoints: [join(root, 'cli/main.ts')], outfile: cli, bundle: true, platform: 'node', format: 'cjs', target: 'node18',
    external: ['@node-rs/argon2', 'cbor-extract', 'playwright-core'], define: { ZONEGATE_VERSION: '"test"' }, logLevel: 'error',
    nodePaths: [join(root, 'node_modules')],
  });
});
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('policy test: the example substation passes all its tests', () => {
  const r = run('policy', 'test', 'examples/substation.yaml', '--at', '2026-01-13T16:00:00Z');
  assert.is(r.code, 0, r.out + r.err);
  assert.match(r.out, /26 tests in examples\/substation\.yaml: 26 passed, 0 failed/);
  assert.match(r.out, /ok {4}tests\[0\] HMI reads feeder status/);
  const j = run('policy', 'test', 'examples/substation.yaml', '--json', '--at', '2026-01-13T16:00:00Z');
  assert.is(j.code, 0);
  const doc = JSON.parse(j.out);
  assert.is(doc.ok, true);
  assert.is(doc.passed, 26);
  assert.is(doc.results[18].decided.monitor, true);
  assert.is(doc.results[18].decided.reason, 'address-out-of-range');
});

test('policy test: failures print request, expectation and decision; exit 1', () => {
  const r = run('policy', 'test', `${FIX}/failing.yaml`);
  assert.is(r.code, 1);
  assert.match(r.out, 'ok    tests[0] passes');
  assert.match(r.out, 'FAIL  tests[1] wrong decision');
  assert.match(r.out, '"address":40,"count":20');
  assert.match(r.out, 'expected: allow\n');
  assert.match(r.out, 'decided:  deny (address-out-of-range)');
  assert.match(r.out, 'expected: deny (function-not-allowed)');
  assert.match(r.out, 'decided:  deny (no-conduit)');
  assert.match(r.out, '3 tests in test/fixtures/policy-engine/failing.yaml: 1 passed, 2 failed');
  const j = JSON.parse(run('policy', 'test', `${FIX}/failing.yaml`, '--json').out);
  assert.is(j.ok, false);
  assert.equal(j.results.map((x: { pass: boolean }) => x.pass), [true, false, false]);
  assert.equal(j.results[2].decided, { decision: 'deny', conduit: null, reason: 'no-conduit', identity: null });
});

test('policy test: JSON policy with IPv6 and monitor mode; bad files and usage', () => {
  const r = run('policy', 'test', `${FIX}/small.json`);
  assert.is(r.code, 0, r.out + r.err);
  assert.match(r.out, '4 passed, 0 failed');
  const missing = run('policy', 'test', `${FIX}/nope.yaml`);
  assert.is(missing.code, 1);
  assert.match(missing.err, 'no such file');
  assert.is(run('policy', 'test').code, 2);
  const badAt = run('policy', 'test', `${FIX}/small.json`, '--at', 'yesterday');
  assert.is(badAt.code, 2);
  assert.match(badAt.err, '--at: not a time: yesterday');
});

test('policy explain: decision, reason, identity, and every conduit to the destination', () => {
  const req = { from: { ip: '10.10.0.5' }, to: 'plc-feeder-2', modbus: { function: 'write-single-coil', unit: 1, address: 3 }, session: { identity: 'alice' } };
  const r = run('policy', 'explain', 'examples/substation.yaml', '--request', JSON.stringify(req));
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /decision: +deny/);
  // alice at the HMI's address: the source is alice AND hmi-1, so the HMI's read conduit is a
  // candidate too and, getting further than the operators' (function vs edge auth), gives the reason
  assert.match(r.out, /reason: +function-not-allowed/);
  assert.match(r.out, /identity: +alice/);
  assert.match(r.out, /source: +10\.10\.0\.5 = device hmi-1, zone station\n +\+ person alice \(from the session\), zone station\n/);
  assert.match(r.out, /operators-write-coils +fails: edge-auth-required \(via the person\)/);
  assert.match(r.out, /hmi-reads-feeders +fails: function-not-allowed \(via the device\)/);
  const ok = run('policy', 'explain', 'examples/substation.yaml', '--json', '--request',
    JSON.stringify({ ...req, session: { identity: 'alice', edgeAuth: true } }));
  assert.is(ok.code, 0);
  const j = JSON.parse(ok.out);
  assert.equal(j.decision, { decision: 'allow', conduit: 'operators-write-coils', reason: null, identity: 'alice' });
  assert.equal(j.destination, { asset: 'plc-feeder-2', zone: 'control', protocol: 'modbus', port: 502 });
  assert.equal(j.source, { identity: 'alice', zone: 'station', ip: '10.10.0.5', person: { identity: 'alice', zone: 'station' }, device: { identity: 'hmi-1', zone: 'station' } });
  assert.ok(j.conduits.some((c: { conduit: string; result: string; via?: string }) => c.conduit === 'operators-write-coils' && c.result === 'allow' && c.via === 'person'));
  assert.ok(j.conduits.some((c: { conduit: string; result: string; via?: string }) => c.conduit === 'hmi-reads-feeders' && c.result === 'fail' && c.via === 'device'));
  // a deny is still exit 0
  const d = run('policy', 'explain', 'examples/substation.yaml', '--request', '{"from":{"ip":"10.20.3.4"},"to":{"ip":"10.30.0.10","port":22},"protocol":"tcp"}');
  assert.is(d.code, 0);
  assert.match(d.out, /reason: +port-not-allowed/);
  assert.match(d.out, /enterprise-to-historian +not a candidate: port not allowed/);
});

test('policy explain: bad request JSON names the field; usage errors exit 2', () => {
  const bad = run('policy', 'explain', 'examples/substation.yaml', '--request', '{"from":"hmi-1","to":"plc-feeder-1","modbus":{"function":"write-coil","address":-3}}');
  assert.is(bad.code, 1);
  assert.match(bad.err, "request.modbus.function: unknown Modbus function 'write-coil'");
  assert.match(bad.err, 'request.modbus.address:');
  const notJson = run('policy', 'explain', 'examples/substation.yaml', '--request', '{"from"');
  assert.is(notJson.code, 1);
  assert.match(notJson.err, '--request is not valid JSON');
  const j = run('policy', 'explain', 'examples/substation.yaml', '--json', '--request', '{"from":1,"to":"x"}');
  assert.is(j.code, 1);
  assert.is(JSON.parse(j.out).code, 'ERR_REQUEST_INVALID');
  assert.is(JSON.parse(j.out).issues[0].path, 'request.from');
  assert.is(run('policy', 'explain', 'examples/substation.yaml').code, 2);
  assert.is(run('policy', 'explain', '--request', '{}').code, 2);
});

test('policy explain: a name the policy lacks is an error with "did you mean", as in embedded tests (not a no-conduit deny)', () => {
  const r = run('policy', 'explain', 'examples/substation.yaml', '--request', '{"from":"hmi-2","to":"plc-feeder-1","modbus":{"function":3,"unit":1,"address":0}}');
  assert.is(r.code, 1, r.out);
  assert.match(r.err, "request.from: unknown identity 'hmi-2' (did you mean 'hmi-1'?)");
  assert.not.match(r.out, 'no-conduit');
  const j = run('policy', 'explain', 'examples/substation.yaml', '--json', '--request', '{"from":"hmi-1","to":"plc-feeder-9","protocol":"tcp","port":22}');
  assert.is(j.code, 1);
  assert.equal(JSON.parse(j.out).issues, [{ path: 'request.to', message: "unknown asset 'plc-feeder-9' (did you mean 'plc-feeder-1'?)" }]);
  // Sources and destinations by address stay free: an address nobody owns is still decided.
  assert.is(run('policy', 'explain', 'examples/substation.yaml', '--request', '{"from":{"ip":"10.99.0.1"},"to":"plc-feeder-1","modbus":{"function":3,"unit":1,"address":0}}').code, 0);
});

test.run();
