// fleet.yaml: the README's sample is valid, and mistakes are reported all at once with
// file:line:col and the path, like the gateway's config.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { parseFleetConfig } from '../../../fleet/console/config';
import { formatIssue, ZonegateError } from '../../../policy/errors';

test("the README's fleet.yaml sample parses, paths resolved against the file's folder", () => {
  const sample = /```yaml\n(# fleet\.yaml[\s\S]*?)```/.exec(readFileSync('README.md', 'utf8'))![1];
  const c = parseFleetConfig(sample, { file: '/etc/zonegate/fleet.yaml' });
  assert.equal(c.listen, { host: '127.0.0.1', port: 8443 });
  assert.is(c.tls.cert, '/etc/zonegate/console-cert.pem');
  assert.equal(c.store, { kind: 'files', dir: '/etc/zonegate/collected' });
  assert.is(c.mqtt.passwordFile, '/etc/zonegate/mqtt-password');
  assert.equal(c.session, { idleMs: 30 * 60_000, maxMs: 12 * 3_600_000 });
});

test('every problem at once, with file:line:col', () => {
  const text = `listen: 127.0.0.1:99999
tls: { cert: c.pem }
users: u.json
sites: [lab, "bad site"]
mqtt: { url: "http://x" }
store: { kind: postgres, dir: x }
sesion: {}
`;
  let err: ZonegateError | undefined;
  try { parseFleetConfig(text, { file: 'fleet.yaml' }); } catch (e) { err = e as ZonegateError; }
  assert.ok(err);
  assert.is(err!.code, 'ERR_CONFIG_INVALID');
  const lines = err!.issues.map(formatIssue);
  const has = (re: RegExp) => assert.ok(lines.some((l) => re.test(l)), `${re} in\n${lines.join('\n')}`);
  has(/^fleet\.yaml:1:1: listen: .*port/);
  has(/^fleet\.yaml:2:\d+: tls\.key: required field 'key' is missing/);
  has(/^fleet\.yaml:4:\d+: sites\[1\]: /);
  has(/^fleet\.yaml:5:\d+: mqtt\.url: must be an mqtt/);
  has(/^fleet\.yaml:6:\d+: store\.url: required field 'url' is missing/);
  has(/^fleet\.yaml:7:1: sesion: unknown field 'sesion'.*session/);
});

test('store: kind postgres takes a postgres:// URL without a password; anything else is refused where it stands', () => {
  const base = 'listen: 127.0.0.1:8443\ntls: { cert: c.pem, key: k.pem }\nusers: u.json\nsites: [lab]\nmqtt: { url: "mqtt://127.0.0.1:1883" }\n';
  const c = parseFleetConfig(`${base}store: { kind: postgres, url: "postgres://fleet@127.0.0.1:5432/fleet" }\n`, { file: 'fleet.yaml' });
  assert.equal(c.store, { kind: 'postgres', url: 'postgres://fleet@127.0.0.1:5432/fleet' });
  for (const [url, re] of [
    ['postgres://fleet:secret@127.0.0.1/fleet', /^fleet\.yaml:6:\d+: store\.url: must not carry a password/],
    ['mysql://127.0.0.1/fleet', /^fleet\.yaml:6:\d+: store\.url: must be a postgres:\/\/ URL/],
  ] as const) {
    let err: ZonegateError | undefined;
    try { parseFleetConfig(`${base}store: { kind: postgres, url: "${url}" }\n`, { file: 'fleet.yaml' }); } catch (e) { err = e as ZonegateError; }
    assert.ok(err && err.issues.map(formatIssue).some((l) => re.test(l)), `${url}: ${err?.issues.map(formatIssue).join('; ')}`);
    assert.not.ok(err!.issues.map(formatIssue).join('\n').includes('secret'), 'the password is not repeated in the error');
  }
});

test.run();
