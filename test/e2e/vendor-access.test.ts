/**
 * Vendor access end to end, with real peers: the gateway in process (createGateway) with its
 * access layer attached, a real mosquitto, a real Modbus PLC simulator behind the proxy
 * (runtime/lab/plc-sim.ts), a trust root with a grant key, the policy and the grant signed by
 * the CLI (`fleet sign`, `fleet grant`) and published over MQTT (`zonegate/v1/lab/gw-e2e/grant`).
 *
 * The vendor's laptop (a client bound to 127.77.0.9) is refused before login as `no-conduit`: the
 * policy refuses addresses on a vendor identity (policy/validate: "a vendor authenticates at the
 * edge and is not bound to addresses"), so until a login binds acme-support to 127.77.0.9 that
 * address is nobody and no conduit starts from it (`edge-auth-required` is what an identified
 * source without a login gets; the session decider's own tests cover it); `acme-support` (added to the user store, picked up on reload = SIGHUP)
 * logs in at the login page over HTTPS (node:https trusting the device's self-signed
 * certificate, the CSRF double-submit dance); the proxy then allows its reads
 * (vendor-maintenance, edgeAuth + grant); logout → the same connection's next request is refused;
 * login again → allowed; the grant revoked by a signed revocation over MQTT → refused again.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request as httpsRequest } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import { spawnSync } from 'node:child_process';
import type { MqttClient } from 'mqtt';
import { createGateway, type Gateway } from '../../runtime/gateway';
import { startPlcSim } from '../../runtime/lab/plc-sim';
import { startMosquitto, skipReason, type Mosquitto } from '../helpers/mosquitto';
import { connectBroker, closeBroker } from '../../fleet/broker';
import { publishBundle } from '../../fleet/publish';
import { usersIn } from '../auth/helpers';
import { DemoModbusClient } from '../../examples/demo/modbus-client';
import { cli, signedConfig, waitFor, type Cleanup } from './helpers';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';

const cleanups: Cleanup[] = [];
test.after.each(async () => { while (cleanups.length) { try { await cleanups.pop()!(); } catch { /* keep cleaning */ } } });

const VENDOR_IP = '127.77.0.9';

const POLICY = `site: lab
zones:
  - { id: maint, networks: [127.0.0.0/8], securityLevel: 1 }
  - { id: control, networks: [10.10.1.0/24], securityLevel: 3 }
assets:
  - { id: plc-1, zone: control, address: 10.10.1.20, kind: plc, services: [{ protocol: modbus, port: 502 }] }
identities:
  - { id: hmi-1, kind: device, zone: maint, addresses: [127.0.0.1] }
  - { id: acme-support, kind: vendor, roles: [vendor] }
conduits:
  - id: hmi-reads-plc
    from: { identities: [hmi-1] }
    to: { assets: [plc-1] }
    protocol: modbus
    allow: { functions: [read-holding-registers], units: [1], addresses: ["0-99"] }
  - id: vendor-maintenance
    from: { roles: [vendor] }
    to: { assets: [plc-1] }
    protocol: modbus
    requires: { edgeAuth: true, grant: true }
    allow: { functions: [read-holding-registers], units: [1], addresses: ["0-99"] }
settings: { onExpiry: keep-enforcing }
tests:
  - { request: { from: acme-support, to: plc-1, modbus: { function: 3, unit: 1, address: 0 }, session: { edgeAuth: true, grant: [vendor-maintenance] } }, expect: allow, conduit: vendor-maintenance }
  - { request: { from: acme-support, to: plc-1, modbus: { function: 3, unit: 1, address: 0 }, session: { edgeAuth: true } }, expect: deny, reason: grant-required }
`;

interface Res { status: number; headers: IncomingHttpHeaders; body: string }

function https(o: { port: number; ca: string; method: string; path: string; cookie?: string; form?: Record<string, string> }): Promise<Res> {
  const body = o.form ? new URLSearchParams(o.form).toString() : undefined;
  return new Promise((resolve, reject) => {
    const r = httpsRequest({
      host: '127.0.0.1', port: o.port, method: o.method, path: o.path, ca: o.ca, localAddress: VENDOR_IP,
      headers: {
        ...(o.cookie ? { cookie: o.cookie } : {}),
        ...(body !== undefined ? { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) } : {}),
      },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    r.on('error', reject);
    r.end(body);
  });
}

const cookieOf = (res: Res, name: string): string | undefined => {
  for (const c of res.headers['set-cookie'] ?? []) {
    const pair = c.split(';')[0];
    const i = pair.indexOf('=');
    if (pair.slice(0, i).trim() === name) return pair.slice(i + 1);
  }
  return undefined;
};

/** GET / for the CSRF token, POST /login; returns the session cookie. */
async function login(port: number, ca: string, user: string, password: string): Promise<{ cookie: string; res: Res }> {
  const page = await https({ port, ca, method: 'GET', path: '/' });
  assert.is(page.status, 200);
  const csrf = /name="csrf" value="([^"]+)"/.exec(page.body)![1];
  const res = await https({ port, ca, method: 'POST', path: '/login', cookie: `zg_csrf=${cookieOf(page, 'zg_csrf')}`, form: { user, password, csrf } });
  const sid = cookieOf(res, 'zg_session');
  return { cookie: sid ? `zg_session=${sid}` : '', res };
}

async function logout(port: number, ca: string, cookie: string): Promise<Res> {
  const page = await https({ port, ca, method: 'GET', path: '/', cookie });
  const csrf = /action="\/logout">\s*<input type="hidden" name="csrf" value="([^"]+)"/.exec(page.body)?.[1];
  assert.ok(csrf, 'the logged-in page carries a logout form');
  return https({ port, ca, method: 'POST', path: '/logout', cookie, form: { csrf: csrf! } });
}

interface Decision { src?: string; message?: string; decision?: { decision: string; reason?: string; conduit?: string; identity?: string } }

const skip = skipReason() ?? (spawnSync('openssl', ['version']).error ? 'openssl not installed (the login page certificate)' : undefined);
if (skip) {
  test('vendor access end to end (skipped)', () => { console.log(`SKIP test/e2e/vendor-access: ${skip}`); });
} else {

test('a vendor with a grant from MQTT logs in over HTTPS, reads through the proxy, logs out, is refused; revocation refuses too', async () => {
  const broker: Mosquitto = await startMosquitto();
  cleanups.push(() => broker.close());
  const dir = mkdtempSync(join(tmpdir(), 'zg-vendor-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const p = (...x: string[]) => join(dir, ...x);
  for (const name of ['root', 'policy', 'grant']) {
    const r = await cli('fleet', 'keygen', '--out', p('keys'), '--name', name);
    assert.is(r.code, 0, r.err);
  }
  let r = await cli('fleet', 'trust', 'init', '--root-key', p('keys', 'root.key'), '--threshold', '1', '--policy-key', p('keys', 'policy.pub'), '--grant-key', p('keys', 'grant.pub'), '--out', p('keys', 'root.json'));
  assert.is(r.code, 0, r.err);
  writeFileSync(p('policy.yaml'), POLICY);
  r = await cli('fleet', 'sign', p('policy.yaml'), '--key', p('keys', 'policy.key'), '--version', '1', '--targets', 'gw-e2e', '--expires', '30d', '--out', p('policy.zgb'));
  assert.is(r.code, 0, r.err);
  r = await cli('fleet', 'grant', '--key', p('keys', 'grant.key'), '--site', 'lab', '--targets', 'gw-e2e', '--identity', 'acme-support', '--conduits', 'vendor-maintenance',
    '--from', 'now', '--until', '2h', '--id', 'acme-1', '--reason', 'relay firmware check', '--version', '1', '--out', p('grant.zgb'));
  assert.is(r.code, 0, r.err);
  r = await cli('fleet', 'grant', '--key', p('keys', 'grant.key'), '--site', 'lab', '--targets', 'gw-e2e', '--revoke', 'acme-1', '--version', '2', '--out', p('revoke.zgb'));
  assert.is(r.code, 0, r.err);

  const plc = await startPlcSim({ host: '127.0.0.1', port: 0 });
  cleanups.push(() => plc.close());
  writeFileSync(p('gateway.yaml'), signedConfig({ upstreamPort: plc.address().port, mqttUrl: broker.url, extra: `console:
  web: { listen: "127.0.0.1:0", sessionMinutes: 60 }
  login: { delayMs: 0 }
` }));
  const logLines: string[] = [];
  const log = { info: (m: string) => logLines.push(`info ${m}`), warn: (m: string) => logLines.push(`warn ${m}`), error: (m: string) => logLines.push(`error ${m}`) };
  const decisions: Decision[] = [];
  const gw: Gateway = createGateway({ configFile: p('gateway.yaml'), log, writeLine: (c) => { for (const l of c.trim().split('\n')) { try { decisions.push(JSON.parse(l) as Decision); } catch { /* not JSON */ } } } });
  await gw.start(new AbortController().signal);
  cleanups.push(() => gw.stop());
  const st0 = gw.status();
  assert.ok(st0.access, 'status carries the access part');
  assert.match(st0.access!.web!, /^https:\/\/127\.0\.0\.1:\d+\/$/);
  const webPort = Number(/:(\d+)\/$/.exec(st0.access!.web!)![1]);
  const ca = readFileSync(p('state', 'web-cert.pem'), 'utf8');
  const proxyPort = Number(st0.listeners[0].address!.split(':').pop());
  await waitFor(() => gw.status().sync?.connected === true, 'the gateway connected to the broker');

  const fleet: MqttClient = await connectBroker({ url: broker.url });
  cleanups.push(() => closeBroker(fleet));
  const pub = await publishBundle({ client: fleet, site: 'lab', device: 'gw-e2e', bytes: readFileSync(p('policy.zgb')), wait: 1, timeoutMs: 20_000 });
  assert.ok(pub.rollout!.done, JSON.stringify(pub.rollout));
  assert.is(gw.status().policy.store!.active!.version, 1);

  // The grant over MQTT, on the device's grant topic.
  const g = await publishBundle({ client: fleet, site: 'lab', device: 'gw-e2e', bytes: readFileSync(p('grant.zgb')) });
  assert.is(g.topic, 'zonegate/v1/lab/gw-e2e/grant');
  await waitFor(() => (gw.status().access?.grants ?? []).some((x) => x.id === 'acme-1'), 'the grant to arrive');
  assert.equal(gw.status().access!.grants.map((x) => [x.id, x.identity, x.state]), [['acme-1', 'acme-support', 'active']]);

  // The vendor's user, added to the store (what `zonegate user add` does), picked up on reload (SIGHUP).
  await usersIn(p('state'), [{ name: 'acme-support', role: 'viewer' }]);
  const rl = await gw.reload();
  assert.ok(rl.ok);

  // Before login: the laptop is nobody.
  const before = await DemoModbusClient.open({ host: '127.0.0.1', port: proxyPort, localAddress: VENDOR_IP });
  const b = await before.readHolding(1, 0, 2);
  assert.not.ok(b.ok, 'refused before login');
  before.close();
  const refused = decisions.filter((d) => d.src === VENDOR_IP && d.decision?.decision === 'deny');
  assert.ok(refused.length > 0, 'a deny decision for the vendor address');
  assert.is(refused[0].decision!.reason, 'no-conduit', JSON.stringify(refused[0]));
  assert.is(refused[0].decision!.identity, null, 'before login the address is nobody');

  // A wrong password is refused, the right one opens a session bound to 127.77.0.9.
  const bad = await login(webPort, ca, 'acme-support', 'not-the-password');
  assert.is(bad.cookie, '');
  assert.ok(bad.res.status === 401 || bad.res.status === 403 || bad.res.status === 200, `bad login status ${bad.res.status}`);
  const ok = await login(webPort, ca, 'acme-support', 'acme-support-password-1');
  assert.is(ok.res.status, 303);
  assert.ok(ok.cookie);
  assert.equal(gw.status().access!.sessions.map((s) => [s.user, s.sourceIp, s.via]), [['acme-support', VENDOR_IP, 'web']]);
  const page = await https({ port: webPort, ca, method: 'GET', path: '/', cookie: ok.cookie });
  assert.match(page.body, /vendor-maintenance/, 'the page shows the active grant');

  // Through the proxy: allowed by vendor-maintenance, real values from the PLC.
  const laptop = await DemoModbusClient.open({ host: '127.0.0.1', port: proxyPort, localAddress: VENDOR_IP });
  cleanups.push(() => laptop.close());
  const read = await laptop.readHolding(1, 0, 2);
  assert.ok(read.ok, JSON.stringify(read));
  assert.equal(read.values, [1000, 1001]);
  const allow = decisions.filter((d) => d.src === VENDOR_IP && d.decision?.decision === 'allow').pop();
  assert.is(allow?.decision?.conduit, 'vendor-maintenance');
  assert.is(allow?.decision?.identity, 'acme-support');

  // Logout → the same connection's next request is refused.
  const out = await logout(webPort, ca, ok.cookie);
  assert.is(out.status, 303);
  assert.equal(gw.status().access!.sessions, []);
  const after = await laptop.readHolding(1, 0, 2);
  assert.not.ok(after.ok, 'refused on the same connection after logout');
  laptop.close();

  // Login again → allowed; then the fleet revokes the grant over MQTT → refused.
  const again = await login(webPort, ca, 'acme-support', 'acme-support-password-1');
  assert.is(again.res.status, 303);
  const laptop2 = await DemoModbusClient.open({ host: '127.0.0.1', port: proxyPort, localAddress: VENDOR_IP });
  cleanups.push(() => laptop2.close());
  assert.ok((await laptop2.readHolding(1, 0, 2)).ok, 'allowed again after a new login');
  const rv = await publishBundle({ client: fleet, site: 'lab', device: 'gw-e2e', bytes: readFileSync(p('revoke.zgb')) });
  assert.is(rv.topic, 'zonegate/v1/lab/gw-e2e/grant');
  await waitFor(() => !(gw.status().access?.grants ?? []).some((x) => x.id === 'acme-1' && x.state === 'active'), 'the revocation to arrive');
  const revoked = await laptop2.readHolding(1, 0, 2);
  assert.not.ok(revoked.ok, 'refused once the grant is revoked');
  const lastDeny = decisions.filter((d) => d.src === VENDOR_IP && d.decision?.decision === 'deny').pop();
  assert.is(lastDeny?.decision?.reason, 'grant-required', JSON.stringify(lastDeny));
  laptop2.close();
  assert.ok(logLines.some((l) => /grant bundle accepted: acme-1 for acme-support/.test(l)), logLines.join('\n'));
});

}

test.run();
