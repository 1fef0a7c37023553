import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { createGateway, type Gateway } from '../../runtime/gateway';
import { ZonegateError, formatIssue } from '../../policy/errors';
import { RawClient, adu, pdus, modbusUpstream } from '../helpers/modbus';
import { labPolicy, BROKEN_POLICY, gatewayConfig, labDir, type LabDir } from './gateway-fixtures';
import { verifyAuditDir } from '../../protocol/audit/verify';
import { readAuditRecords } from '../../protocol/audit/query';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
test.after.each(async () => { while (cleanups.length) { try { await cleanups.pop()!(); } catch { /* keep cleaning */ } } });

function collectLog() {
  const lines: string[] = [];
  return { lines, log: { info: (m: string) => lines.push(`info ${m}`), warn: (m: string) => lines.push(`warn ${m}`), error: (m: string) => lines.push(`error ${m}`) } };
}

async function echoServer(): Promise<{ server: Server; port: number }> {
  const server = createServer({ allowHalfOpen: true }, (s) => { s.on('error', () => {}); s.pipe(s); });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => new Promise((r) => server.close(r)));
  return { server, port: (server.address() as { port: number }).port };
}

async function setup(): Promise<{ lab: LabDir; gw: Gateway; lines: string[]; decisions: string[]; modbusPort: number; tcpPort: number }> {
  const lab = labDir();
  cleanups.push(() => lab.remove());
  const mb = await modbusUpstream(cleanups);
  const echo = await echoServer();
  lab.write('policy.yaml', labPolicy({ writes: false, tcp: true }));
  lab.write('gateway.yaml', gatewayConfig({ modbusUpstream: mb, tcpUpstream: echo.port }));
  const { lines, log } = collectLog();
  const decisions: string[] = [];
  const gw = createGateway({ configFile: lab.config, log, writeLine: (c) => decisions.push(...c.trim().split('\n')) });
  await gw.start(new AbortController().signal);
  cleanups.push(() => gw.stop());
  const st = gw.status();
  const port = (service: string) => Number(st.listeners.find((l) => l.service === service)!.address!.split(':').pop());
  return { lab, gw, lines, decisions, modbusPort: port('modbus'), tcpPort: port('tcp') };
}

const READ = (tid: number) => adu(tid, 1, pdus.read(3, 0, 2));
const WRITE = (tid: number) => adu(tid, 1, pdus.writeSingle(6, 10, 4242));

test('start: status shows device, policy (unsigned warning), listeners up; allowed read and denied write through Modbus', async () => {
  const { gw, lines, decisions, modbusPort } = await setup();
  const st = gw.status();
  assert.is(st.device, 'gw-test');
  assert.is(st.site, 'lab');
  assert.is(st.state, 'running');
  assert.match(st.policy.version!, /^file-[0-9a-f]{12}$/);
  assert.is(st.policy.source, 'file');
  assert.is(st.policy.warning, 'UNSIGNED POLICY FILE IN USE — labs only');
  assert.is(st.policy.conduits, 2);
  assert.ok(st.alarms.some((a) => a.id === 'unsigned-policy' && a.severity === 'warning'));
  assert.equal(st.listeners.map((l) => [l.asset, l.service, l.servicePort, l.state]), [['plc-1', 'modbus', 502, 'up'], ['historian', 'tcp', 443, 'up']]);
  assert.ok(lines.some((l) => l.startsWith('warn WARNING: UNSIGNED POLICY FILE IN USE — labs only')), lines.join('\n'));
  assert.ok(JSON.parse(JSON.stringify(st)), 'status is plain JSON data');

  const c = await RawClient.open(modbusPort);
  cleanups.push(() => c.close());
  const r = await c.request(READ(1));
  assert.equal(r!.registers, [1000, 1001]);
  const w = await c.request(WRITE(2));
  assert.is(w!.exception, 1, 'function-not-allowed → exception 01');
  assert.is(c.closed, false);
  gw.audit.flush();
  const ds = decisions.map((d) => JSON.parse(d)).filter((d) => d.kind === 'decision' && d.modbus);
  assert.equal(ds.map((d) => [d.decision.decision, d.decision.conduit ?? d.decision.reason, d.modbus.function]), [
    ['allow', 'hmi-reads-plc', 3], ['deny', 'function-not-allowed', 6],
  ]);
  assert.is(ds[0].policyVersion, st.policy.version);
});

test('reload with a changed policy flips a decision on an already open connection without closing it', async () => {
  const { gw, lab, modbusPort } = await setup();
  const c = await RawClient.open(modbusPort);
  cleanups.push(() => c.close());
  assert.is((await c.request(WRITE(1)))!.exception, 1);
  const v1 = gw.status().policy.version;
  lab.write('policy.yaml', labPolicy({ writes: true, tcp: true }));
  const res = await gw.reload();
  assert.is(res.ok, true);
  assert.is(res.policyChanged, true);
  assert.equal(res.listeners, { started: 0, stopped: 0, kept: 2, failed: 0 });
  assert.is.not(gw.status().policy.version, v1);
  const w = await c.request(WRITE(2));
  assert.is(w!.exception, undefined, 'the write is allowed now');
  assert.is(w!.fn, 6);
  assert.is(c.closed, false);
  assert.equal((await c.request(adu(3, 1, pdus.read(3, 10, 1))))!.registers, [4242]);
});

test('reload with a broken policy keeps the old one, logs file:line:col, and goes on', async () => {
  const { gw, lab, lines, modbusPort } = await setup();
  const c = await RawClient.open(modbusPort);
  cleanups.push(() => c.close());
  const v1 = gw.status().policy.version;
  lab.write('policy.yaml', BROKEN_POLICY);
  const res = await gw.reload();
  assert.is(res.ok, false);
  assert.is((res.error as ZonegateError).code, 'ERR_POLICY_INVALID');
  const st = gw.status();
  assert.is(st.policy.version, v1);
  assert.is(st.state, 'running');
  assert.is(st.config.failedReloads, 1);
  assert.ok(st.policy.lastError!.issues.some((i) => i.startsWith(`${lab.policy}:3:`) && i.includes('colour')), st.policy.lastError!.issues.join('\n'));
  assert.ok(st.alarms.some((a) => a.id === 'policy-refused'));
  assert.ok(lines.some((l) => l.startsWith('error ') && l.includes(`${lab.policy}:3:`)), lines.join('\n'));
  // Still enforcing the old policy on the same connection.
  assert.equal((await c.request(READ(1)))!.registers, [1000, 1001]);
  assert.is((await c.request(WRITE(2)))!.exception, 1);
  // A good policy afterwards clears the alarm.
  lab.write('policy.yaml', labPolicy({ writes: true, tcp: true }));
  assert.is((await gw.reload()).ok, true);
  assert.is(gw.status().policy.lastError, null);
  assert.not.ok(gw.status().alarms.some((a) => a.id === 'policy-refused'));
});

test('reload: a tcp conduit removed from the policy closes its open connections; listeners reconcile by key', async () => {
  const { gw, lab, tcpPort, modbusPort } = await setup();
  const s: Socket = connect({ host: '127.0.0.1', port: tcpPort });
  s.on('error', () => {});
  cleanups.push(() => s.destroy());
  s.write('ping');
  assert.is(String((await once(s, 'data'))[0]), 'ping');
  const closed = once(s, 'close');
  const modbus = await RawClient.open(modbusPort);
  cleanups.push(() => modbus.close());
  lab.write('policy.yaml', labPolicy({ writes: false, tcp: false }));
  // Add a third listener in the same reload: started, the others kept.
  const cfg = (await import('node:fs')).readFileSync(lab.config, 'utf8').replace('timeouts:', '  - { listen: 127.0.0.1:0, asset: plc-1, service: tcp, upstream: 127.0.0.1:1 }\ntimeouts:');
  lab.write('gateway.yaml', cfg);
  let res = await gw.reload();
  assert.is(res.ok, false, 'plc-1 has no tcp service: refused');
  assert.match(gw.status().policy.lastError!.issues.join('\n'), /gateway\.yaml:8:\d+: listeners\[2\]\.service: asset 'plc-1' offers no tcp service/);
  lab.write('gateway.yaml', cfg.replace('asset: plc-1, service: tcp, upstream: 127.0.0.1:1', 'asset: plc-1, service: modbus, upstream: 127.0.0.1:1'));
  res = await gw.reload();
  assert.is(res.ok, true);
  assert.equal(res.listeners, { started: 1, stopped: 0, kept: 2, failed: 0 });
  await closed;
  const tcp = gw.status().listeners.find((l) => l.service === 'tcp')!;
  assert.is(tcp.stats!.revoked, 1);
  assert.is(modbus.closed, false, 'the Modbus connection was not touched');
  assert.equal((await modbus.request(READ(7)))!.registers, [1000, 1001]);
  // Remove the new listener again.
  lab.write('gateway.yaml', gatewayConfig({ modbusUpstream: Number(gw.status().listeners[0].upstream.split(':')[1]), tcpUpstream: Number(tcp.upstream.split(':')[1]) }));
  res = await gw.reload();
  assert.equal(res.listeners, { started: 0, stopped: 1, kept: 2, failed: 0 });
});

test('reload applies log.decisions: none (no more decision lines), keeping the recent audit events', async () => {
  const { gw, lab, decisions, modbusPort } = await setup();
  const c = await RawClient.open(modbusPort);
  cleanups.push(() => c.close());
  await c.request(READ(1));
  gw.audit.flush();
  const before = decisions.length;
  assert.ok(before > 0);
  const recorded = gw.audit.recent().length;
  lab.write('gateway.yaml', (await import('node:fs')).readFileSync(lab.config, 'utf8').replace('timeouts:', 'log: { decisions: none }\ntimeouts:'));
  assert.is((await gw.reload()).ok, true);
  await c.request(READ(2));
  gw.audit.flush();
  assert.is(decisions.length, before);
  assert.ok(gw.audit.recent().length > recorded, 'the ring carried over and keeps recording');
});

test('start fails with ERR_CONFIG_INVALID naming file:line:col for a listener the policy lacks', async () => {
  const lab = labDir();
  cleanups.push(() => lab.remove());
  lab.write('policy.yaml', labPolicy({ writes: false, tcp: true }));
  lab.write('gateway.yaml', gatewayConfig({ modbusUpstream: 1, tcpUpstream: 2 }).replace('asset: plc-1', 'asset: plc-2'));
  const gw = createGateway({ configFile: lab.config, log: collectLog().log });
  try { await gw.start(new AbortController().signal); assert.unreachable(); } catch (e) {
    assert.is((e as ZonegateError).code, 'ERR_CONFIG_INVALID');
    assert.equal((e as ZonegateError).issues.map(formatIssue), [`${lab.config}:6:28: listeners[0].asset: the policy has no asset 'plc-2' (did you mean 'plc-1'?)`]);
  }
  assert.is(gw.status().state, 'failed');
});

test('start fails when a listen address is taken, and releases what it bound', async () => {
  const lab = labDir();
  cleanups.push(() => lab.remove());
  const taken = await echoServer();
  lab.write('policy.yaml', labPolicy({ writes: false, tcp: true }));
  lab.write('gateway.yaml', gatewayConfig({ modbusUpstream: 1, tcpUpstream: 2 }).replace('listen: 127.0.0.1:0, asset: historian', `listen: 127.0.0.1:${taken.port}, asset: historian`));
  const gw = createGateway({ configFile: lab.config, log: collectLog().log });
  try { await gw.start(new AbortController().signal); assert.unreachable(); } catch (e) {
    assert.is((e as ZonegateError).code, 'ERR_CONFIG_INVALID');
    assert.match(formatIssue((e as ZonegateError).issues[0]), `${lab.config}:7:7: listeners[1].listen: cannot listen: address already in use`);
  }
  assert.equal(gw.status().listeners, []);
});

test('a failing bus handler is logged per owner and does not stop the others', async () => {
  const { gw, lines, lab } = await setup();
  let second = 0;
  gw.bus.on('policy-activated', 'flaky-part', () => { throw new Error('boom'); });
  gw.bus.on('policy-activated', 'steady-part', () => { second += 1; });
  lab.write('policy.yaml', labPolicy({ writes: true, tcp: true }));
  assert.is((await gw.reload()).ok, true);
  await new Promise((r) => setImmediate(r));
  assert.is(second, 1);
  assert.ok(lines.includes("error flaky-part: handler for 'policy-activated' failed: boom"), lines.join('\n'));
});

test('stop drains and is idempotent; the abort signal stops a running gateway', async () => {
  const { gw } = await setup();
  await Promise.all([gw.stop(), gw.stop()]);
  assert.is(gw.status().state, 'stopped');
  assert.equal(gw.status().listeners, []);
  const lab = labDir();
  cleanups.push(() => lab.remove());
  lab.write('policy.yaml', labPolicy({ writes: false, tcp: true }));
  lab.write('gateway.yaml', gatewayConfig({ modbusUpstream: 1, tcpUpstream: 2 }));
  const ac = new AbortController();
  const gw2 = createGateway({ configFile: lab.config, log: collectLog().log });
  await gw2.start(ac.signal);
  ac.abort();
  await gw2.stop();
  assert.is(gw2.status().state, 'stopped');
});

test('start refuses a config with neither trustRoot nor policyFile, naming both', async () => {
  const lab = labDir();
  cleanups.push(() => lab.remove());
  lab.write('gateway.yaml', gatewayConfig({ modbusUpstream: 1, tcpUpstream: 2 }).replace('policyFile: policy.yaml\n', ''));
  const gw = createGateway({ configFile: lab.config, log: collectLog().log });
  try { await gw.start(new AbortController().signal); assert.unreachable(); } catch (e) {
    assert.is((e as ZonegateError).code, 'ERR_CONFIG_INVALID');
    assert.equal((e as ZonegateError).issues.map(formatIssue), [`${lab.config}:1:1: trustRoot: neither 'trustRoot' (signed bundles) nor 'policyFile' (labs) is configured`]);
  }
  assert.is(gw.status().state, 'failed');
  await gw.stop();
  assert.is(gw.status().state, 'stopped');
});

test('the durable audit log is on by default: decisions and config events land in stateDir/audit and verify after stop', async () => {
  const { gw, lab, modbusPort } = await setup();
  const c = await RawClient.open(modbusPort);
  cleanups.push(() => c.close());
  await c.request(READ(1));
  await c.request(WRITE(2));
  c.close();
  assert.ok(gw.status().auditLog!.dir.endsWith('/state/audit'));
  await gw.stop();
  const dir = `${lab.dir}/state/audit`;
  const report = await verifyAuditDir(dir);
  assert.ok(report.ok, JSON.stringify(report.error));
  const { records } = await readAuditRecords(dir);
  assert.equal(records.filter((r) => r.kind === 'config').map((r) => r.message), ['gateway started', 'gateway stopped']);
  assert.ok(records.some((r) => r.kind === 'policy' && r.message === 'activated' && /^file-/.test(r.policyVersion ?? '')));
  assert.equal(records.filter((r) => r.kind === 'decision' && r.message !== 'connect').map((r) => [r.modbus?.function, r.decision?.decision]), [[3, 'allow'], [6, 'deny']]);
});

test.run();
