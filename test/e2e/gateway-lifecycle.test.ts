/**
 * The gateway's policy lifecycle without a broker: cold start with nothing (deny all, no-policy,
 * still up), expiry with onExpiry deny-all (injected clock → policy-expired), a lab policy file
 * beside the signed store (the store wins once it has a bundle), nftables that cannot be applied
 * (alarm, the proxies keep enforcing), and `zonegate bundle import` into a running daemon (SIGHUP).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createGateway, type Gateway, type GatewayOptions } from '../../runtime/gateway';
import { RawClient, adu, pdus } from '../helpers/modbus';
import { verifyAuditDir } from '../../protocol/audit/verify';
import { readAuditRecords } from '../../protocol/audit/query';
import { readStatusFile } from '../../runtime/telemetry/status-file';
import { netnsUnavailable, createLab } from '../helpers/netns';
import { makeLab, signedConfig, modbusUpstream, labPolicy, cli, waitFor, bundleCli, daemon, type Cleanup, type Lab } from './helpers';

const cleanups: Cleanup[] = [];
test.after.each(async () => { while (cleanups.length) { try { await cleanups.pop()!(); } catch { /* keep cleaning */ } } });

const READ = (tid: number) => adu(tid, 1, pdus.read(3, 0, 2));
const WRITE = (tid: number) => adu(tid, 1, pdus.writeSingle(6, 10, 4242));

interface Running { gw: Gateway; lines: string[]; decisions: Record<string, unknown>[]; port: number }

async function run(lab: Lab, extra: Partial<GatewayOptions> = {}): Promise<Running> {
  const lines: string[] = [];
  const decisions: Record<string, unknown>[] = [];
  const gw = createGateway({
    configFile: lab.config,
    log: { info: (m) => lines.push(`info ${m}`), warn: (m) => lines.push(`warn ${m}`), error: (m) => lines.push(`error ${m}`) },
    writeLine: (c) => { for (const l of c.trim().split('\n')) decisions.push(JSON.parse(l)); },
    ...extra,
  });
  await gw.start(new AbortController().signal);
  cleanups.push(() => gw.stop());
  const port = Number(gw.status().listeners[0].address!.split(':').pop());
  return { gw, lines, decisions, port };
}

async function setupLab(config: (upstreamPort: number) => string): Promise<Lab> {
  const lab = await makeLab();
  cleanups.push(() => lab.remove());
  const upstreamPort = await modbusUpstream(cleanups);
  lab.write('gateway.yaml', config(upstreamPort));
  return lab;
}

const flushed = () => new Promise((r) => setImmediate(r));

test('cold start with no bundle and no policy file: listeners up, everything denied no-policy, critical alarm, status.json says so', async () => {
  const lab = await setupLab((port) => signedConfig({ upstreamPort: port }));
  const { gw, decisions, port, lines } = await run(lab);
  const st = gw.status();
  assert.is(st.state, 'running');
  assert.is(st.policy.enforcement, 'no-policy');
  assert.is(st.policy.version, null);
  assert.is(st.policy.store!.state, 'no-policy');
  assert.equal(st.alarms.filter((a) => a.id === 'no-policy').map((a) => a.severity), ['critical']);
  assert.equal(st.listeners.map((l) => [l.asset, l.servicePort, l.state]), [['plc-1', 502, 'up']]);
  assert.ok(lines.includes('error no verified policy: denying everything (no-policy)'), lines.join('\n'));
  const c = await RawClient.open(port);
  cleanups.push(() => c.close());
  assert.is(await c.waitClosed(3000), true, 'the connection is refused');
  await flushed();
  const d = decisions.find((x) => x.kind === 'decision') as { decision: { decision: string; reason: string } };
  assert.equal([d.decision.decision, d.decision.reason], ['deny', 'no-policy']);
  const doc = JSON.parse(readFileSync(lab.p('state', 'status.json'), 'utf8'));
  assert.is(doc.pid, process.pid);
  const file = doc.status;
  assert.is(file.policy.enforcement, 'no-policy');
  assert.ok(file.alarms.some((a: { id: string }) => a.id === 'no-policy'));
  assert.ok(st.auditLog && st.auditLog.dir === lab.p('state', 'audit'));
});

test('expiry with onExpiry deny-all: after the injected clock passes expiresAt, decisions say policy-expired', async () => {
  const lab = await setupLab((port) => signedConfig({ upstreamPort: port, extra: 'timeouts: { idleMs: 86400000, drainMs: 200 }\n' }).replace('timeouts: { drainMs: 200 }\n', ''));
  const bundle = await lab.sign('v1', labPolicy({ writes: false, onExpiry: 'deny-all' }), 1, '1h');
  const imp = await cli('bundle', 'import', bundle, '--config', lab.config);
  assert.is(imp.code, 0, imp.err);
  const clock = { now: Date.now() };
  const { gw, decisions, port } = await run(lab, { now: () => clock.now, expiryCheckMs: 0 });
  assert.is(gw.status().policy.enforcement, 'enforcing');
  const c = await RawClient.open(port);
  cleanups.push(() => c.close());
  assert.equal((await c.request(READ(1)))!.registers, [1000, 1001]);

  clock.now += 30 * 60_000;
  gw.checkExpiry();
  assert.is(gw.status().policy.enforcement, 'enforcing', 'not expired yet');
  clock.now += 31 * 60_000;
  gw.checkExpiry();
  const st = gw.status();
  assert.is(st.policy.enforcement, 'expired-deny-all');
  assert.is(st.policy.store!.state, 'expired-deny-all');
  assert.equal(st.alarms.filter((a) => a.id === 'policy-expired').map((a) => a.severity), ['critical']);
  assert.is(gw.decider.isExpired, true);
  const r = await c.request(READ(2));
  assert.is(r!.exception !== undefined || c.closed, true, 'the read on the open connection is denied');
  const fresh = await RawClient.open(port);
  cleanups.push(() => fresh.close());
  assert.is(await fresh.waitClosed(3000), true);
  await flushed();
  const reasons = decisions.filter((x) => x.kind === 'decision').map((x) => (x.decision as { reason: string }).reason);
  assert.is(reasons.filter((x) => x === 'policy-expired').length, 2, reasons.join(','));
});

test('policyFile beside trustRoot: the lab file enforces (loud warning) until a bundle is imported; then the signed store wins', async () => {
  const lab = await setupLab((port) => signedConfig({ upstreamPort: port, policyFile: 'lab-policy.yaml' }));
  lab.write('lab-policy.yaml', labPolicy({ writes: true, tag: 'file' }));
  const { gw, lines, port } = await run(lab);
  let st = gw.status();
  assert.is(st.policy.source, 'file');
  assert.is(st.policy.warning, 'UNSIGNED POLICY FILE IN USE — labs only');
  assert.match(st.policy.version!, /^file-/);
  assert.ok(lines.some((l) => l.startsWith('warn both trustRoot and policyFile are configured: the signed policy store wins')), lines.join('\n'));
  const c = await RawClient.open(port);
  cleanups.push(() => c.close());
  assert.is((await c.request(WRITE(1)))!.exception, undefined, 'the lab file allows writes');

  const bundle = await lab.sign('v1', labPolicy({ writes: false }), 1);
  assert.is((await cli('bundle', 'import', bundle, '--config', lab.config)).code, 0);
  const r = await gw.reload();
  assert.is(r.ok, true);
  assert.is(r.policyChanged, true);
  st = gw.status();
  assert.is(st.policy.source, 'signed');
  assert.is(st.policy.warning, null);
  assert.not.ok(st.alarms.some((a) => a.id === 'unsigned-policy'));
  assert.is((await c.request(WRITE(2)))!.exception, 1, 'the signed v1 denies writes on the same connection');
  assert.equal(r.listeners, { started: 0, stopped: 0, kept: 1, failed: 0 });
});

test('nftables enabled on a loopback lab: the ruleset is refused, raised as an alarm, the proxies keep enforcing', async () => {
  const lab = await setupLab((port) => signedConfig({ upstreamPort: port, extra: 'nftables: { enabled: true, table: zgtest }\n' }));
  const bundle = await lab.sign('v1', labPolicy({ writes: false }), 1);
  assert.is((await cli('bundle', 'import', bundle, '--config', lab.config)).code, 0);
  const { gw, port } = await run(lab);
  await gw.idle();
  const st = gw.status();
  assert.ok(st.nftables!.enabled);
  assert.ok(st.nftables!.lastError, JSON.stringify(st.nftables));
  assert.is(st.nftables!.appliedSha256, null);
  assert.ok(st.alarms.some((a) => a.id === 'nftables' && a.severity === 'critical'));
  const c = await RawClient.open(port);
  cleanups.push(() => c.close());
  assert.equal((await c.request(READ(1)))!.registers, [1000, 1001]);
  assert.is((await c.request(WRITE(2)))!.exception, 1);
});

test('zonegate bundle import while the daemon runs: it is signalled (SIGHUP) and enforces the bundle; the audit log verifies', async () => {
  const lab = await setupLab((port) => signedConfig({ upstreamPort: port }));
  const cliBundle = await bundleCli();
  cleanups.push(() => cliBundle.remove());
  const d = daemon(cliBundle.file, lab.config, cleanups);
  await d.waitErr(/running: policy none/);
  const port = Number((await d.waitErr(/listening on 127\.0\.0\.1:(\d+): modbus for plc-1/))[1]);
  await waitFor(() => existsSync(lab.p('state', 'zonegate.pid')), 'the pid file');
  assert.is(Number(readFileSync(lab.p('state', 'zonegate.pid'), 'utf8').split('\n')[0]), d.child.pid);

  const bundle = await lab.sign('v1', labPolicy({ writes: false }), 1);
  const imp = spawnSync(process.execPath, [cliBundle.file, 'bundle', 'import', bundle, '--config', lab.config], { encoding: 'utf8' });
  assert.is(imp.status, 0, imp.stderr);
  assert.match(imp.stdout, `daemon signalled (pid ${d.child.pid})`);
  await d.waitErr(/signed policy v1-[0-9a-f]{8} enforcing/);
  await d.waitErr(/reload done: policy v1-[0-9a-f]{8}/);
  const c = await RawClient.open(port);
  cleanups.push(() => c.close());
  assert.equal((await c.request(READ(1)))!.registers, [1000, 1001]);
  assert.is((await c.request(WRITE(2)))!.exception, 1);
  c.close();
  // What `zonegate status` reads: the daemon is running and enforcing v1.
  await waitFor(async () => { const r = await readStatusFile(lab.stateDir); return r.state === 'running' && r.doc.status.policy.source === 'signed'; }, 'status.json with the signed v1');
  const sf = await readStatusFile(lab.stateDir);
  assert.is(sf.state, 'running');
  if (sf.state === 'running') {
    assert.is(sf.doc.pid, d.child.pid);
    assert.is(sf.doc.status.policy.store!.active!.version, 1);
    assert.is(sf.doc.status.policy.enforcement, 'enforcing');
  }
  d.child.kill('SIGTERM');
  assert.is(await d.exit, 0, d.err());
  assert.is(existsSync(lab.p('state', 'zonegate.pid')), false, 'the pid file is removed on stop');
  const report = await verifyAuditDir(lab.p('state', 'audit'));
  assert.ok(report.ok, JSON.stringify(report.error));
  const { records } = await readAuditRecords(lab.p('state', 'audit'));
  assert.ok(records.some((r) => r.kind === 'policy' && /^policy v1-[0-9a-f]{8} loaded from policy\.active/.test(r.message ?? '')));
  assert.ok(records.some((r) => r.kind === 'config' && r.message === 'reloaded'));
  assert.ok(records.some((r) => r.kind === 'decision' && r.decision?.decision === 'allow'));
});

const noNetns = netnsUnavailable();
test('nftables in a network namespace of the test: applied on every activation, status shows the ruleset', async () => {
  if (noNetns) { console.log(`  SKIP nftables apply: ${noNetns}`); return; }
  const ns = createLab();
  cleanups.push(() => ns.cleanup());
  const netns = ns.ns('gw');
  // The proxy address only appears in the rendered DNAT rule; no traffic goes to it.
  const lab = await setupLab((port) => signedConfig({ upstreamPort: port, extra: 'nftables: { enabled: true, table: zgtest, zoneInterfaces: { control: [lo, ctl9] }, proxies: [{ asset: plc-1, port: 502, listen: "10.10.0.1:15020" }] }\n' }));
  assert.is((await cli('bundle', 'import', await lab.sign('v1', labPolicy({ writes: false }), 1), '--config', lab.config)).code, 0);
  const { gw, lines } = await run(lab, { nftCommand: { netns } });
  const applies = () => lines.filter((l) => l.startsWith('info nftables: table zgtest applied')).length;
  await gw.idle();
  let st = gw.status();
  assert.is(st.nftables!.lastError, null, JSON.stringify(st.nftables));
  assert.match(st.nftables!.appliedSha256!, /^[0-9a-f]{64}$/);
  assert.ok(existsSync(st.nftables!.keptAt!), 'the applied ruleset is kept in stateDir/nftables');
  assert.match(st.nftables!.keptAt!, lab.p('state', 'nftables'));
  const listing = ns.sh(netns, ['nft', 'list', 'table', 'inet', 'zgtest']);
  assert.match(listing, /dnat (ip )?to 10\.10\.0\.1:15020/);
  const first = st.nftables!.appliedSha256;
  // An interface the config names that the device lacks is an alarm; a zone without one, a warning.
  assert.equal(st.nftables!.missingInterfaces, ['ctl9']);
  assert.ok(st.alarms.some((a) => a.id === 'nftables-interfaces' && a.severity === 'warning' && /interface\(s\) ctl9 named by the policy or config do not exist on this device/.test(a.message)), JSON.stringify(st.alarms));
  assert.equal(st.nftables!.warnings!.map((w) => w.split(':')[0]), ['zone station names no interfaces']);
  const appliedBefore = applies();
  assert.is(appliedBefore, 1, lines.join('\n'));

  assert.is((await cli('bundle', 'import', await lab.sign('v2', labPolicy({ writes: true, tag: 'two' }), 2), '--config', lab.config)).code, 0);
  assert.is((await gw.reload()).policyChanged, true);
  await gw.idle();
  st = gw.status();
  assert.is(applies(), appliedBefore + 1, `one reload (SIGHUP) applies the ruleset once:\n${lines.join('\n')}`);
  assert.is((await gw.reload()).policyChanged, false);
  await gw.idle();
  assert.is(applies(), appliedBefore + 2, 'a reload that changes nothing applies once too');
  assert.is(st.nftables!.lastError, null);
  assert.is.not(st.nftables!.appliedSha256, first, 'the new policy was rendered and applied');
  assert.match(ns.sh(netns, ['nft', 'list', 'table', 'inet', 'zgtest']), 'hmi-reads-plc-two');
  // The counters are read back after each apply: hits per conduit for `zonegate status`.
  await gw.idle();
  const counters = gw.status().nftables!.counters;
  assert.ok(counters && counters.at > 0, 'counters read back from the kernel');
  assert.ok('hmi-reads-plc-two' in counters!.byConduit, `counter of the proxied conduit: ${JSON.stringify(counters)}`);
  assert.equal(counters!.byConduit['hmi-reads-plc-two'], { packets: 0, bytes: 0 }, 'no traffic went to the proxy address');
  assert.ok(counters!.drops && 'input drop' in counters!.drops && 'quarantine' in counters!.drops, `drop counters in status: ${JSON.stringify(counters)}`);
  assert.equal(Object.keys(counters!.shared ?? { x: 1 }), [], 'one conduit per proxy here: nothing shared');
});

test.run();
