/**
 * The signed path end to end, with real peers: a real mosquitto, a real Modbus server (pymodbus),
 * fleet keygen / trust init / sign through the CLI, fleet publishBundle over the broker, the
 * gateway in process (createGateway) and then as the bundled daemon (`node ... run`).
 *
 * v1 (reads) published → activated, retained status shows v1 → read allowed, write denied;
 * v2 (writes) → the write passes on the SAME open connection; a tampered copy → refused, status
 * lastError, v2 still enforced; broker stopped, gateway restarted as a child → v2 from disk (cold
 * boot, offline); broker back, v3 published → the daemon reconnects and catches up. The audit
 * folder then verifies and holds the decisions and the activations.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { createGateway, type Gateway } from '../../runtime/gateway';
import { startMosquitto, skipReason, type Mosquitto } from '../helpers/mosquitto';
import { RawClient, adu, pdus } from '../helpers/modbus';
import { connectBroker, closeBroker } from '../../fleet/broker';
import { publishBundle } from '../../fleet/publish';
import { collectFleetStatus } from '../../fleet/status';
import { verifyAuditDir } from '../../protocol/audit/verify';
import { readAuditRecords } from '../../protocol/audit/query';
import { makeLab, signedConfig, modbusUpstream, labPolicy, waitFor, bundleCli, daemon, type Cleanup } from './helpers';

const cleanups: Cleanup[] = [];
test.after.each(async () => { while (cleanups.length) { try { await cleanups.pop()!(); } catch { /* keep cleaning */ } } });

const READ = (tid: number) => adu(tid, 1, pdus.read(3, 0, 2));
const WRITE = (tid: number) => adu(tid, 1, pdus.writeSingle(6, 10, 4242));
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const quietLog = () => {
  const lines: string[] = [];
  return { lines, log: { info: (m: string) => lines.push(`info ${m}`), warn: (m: string) => lines.push(`warn ${m}`), error: (m: string) => lines.push(`error ${m}`) } };
};

const skip = skipReason();
if (skip) {
  test('signed gateway end to end (skipped)', () => { console.log(`SKIP test/e2e/signed-gateway: ${skip}`); });
} else {

test('signed bundles over MQTT: activate, flip a decision on an open connection, refuse a tamper, boot offline from disk, catch up', async () => {
  const broker: Mosquitto = await startMosquitto();
  cleanups.push(() => broker.close());
  const lab = await makeLab();
  cleanups.push(() => lab.remove());
  const upstreamPort = await modbusUpstream(cleanups);
  const v1 = readFileSync(await lab.sign('v1', labPolicy({ writes: false }), 1));
  const v2 = readFileSync(await lab.sign('v2', labPolicy({ writes: true }), 2));
  lab.write('gateway.yaml', signedConfig({ upstreamPort, mqttUrl: broker.url }));
  const fleet: MqttClient = await connectBroker({ url: broker.url });
  cleanups.push(() => closeBroker(fleet));

  // 1. In process: cold start, nothing on disk → listeners up, everything denied.
  const { lines, log } = quietLog();
  const decisions: string[] = [];
  const gw: Gateway = createGateway({ configFile: lab.config, log, writeLine: (c) => decisions.push(...c.trim().split('\n')) });
  await gw.start(new AbortController().signal);
  let stopped = false;
  cleanups.push(() => (stopped ? undefined : gw.stop()));
  let st = gw.status();
  assert.is(st.policy.enforcement, 'no-policy');
  assert.is(st.policy.source, null);
  assert.ok(st.alarms.some((a) => a.id === 'no-policy' && a.severity === 'critical'));
  assert.is(st.listeners[0].state, 'up');
  const port = Number(st.listeners[0].address!.split(':').pop());
  await waitFor(() => gw.status().sync?.connected === true, 'the gateway connected to the broker');

  // 2. v1 published → activated; the retained status shows it.
  const r1 = await publishBundle({ client: fleet, site: 'lab', device: 'gw-e2e', bytes: v1, wait: 1, timeoutMs: 20_000 });
  assert.ok(r1.rollout!.done, JSON.stringify(r1.rollout));
  st = gw.status();
  assert.is(st.policy.source, 'signed');
  assert.is(st.policy.enforcement, 'enforcing');
  assert.is(st.policy.store!.active!.version, 1);
  assert.is(st.policy.version, `v1-${sha(v1).slice(0, 8)}`);
  assert.not.ok(st.alarms.some((a) => a.id === 'no-policy'));
  const fleetView = await collectFleetStatus({ client: fleet, site: 'lab' });
  assert.equal(fleetView.map((d) => [d.device, d.online, d.policyVersion, d.policyHash]), [['gw-e2e', true, 1, sha(v1)]]);

  const c = await RawClient.open(port);
  cleanups.push(() => c.close());
  assert.equal((await c.request(READ(1)))!.registers, [1000, 1001]);
  assert.is((await c.request(WRITE(2)))!.exception, 1, 'v1 does not allow writes');

  // 3. v2 → the write passes on the same connection.
  const r2 = await publishBundle({ client: fleet, site: 'lab', device: 'gw-e2e', bytes: v2, wait: 1, timeoutMs: 20_000 });
  assert.ok(r2.rollout!.done);
  assert.is(gw.status().policy.store!.active!.version, 2);
  const w = await c.request(WRITE(3));
  assert.is(w!.exception, undefined, 'v2 allows the write on the already open connection');
  assert.is(c.closed, false);

  // 4. A tampered copy of a v3 (one letter of a conduit id changed after signing) → refused, v2 stays.
  const v3 = readFileSync(await lab.sign('v3', labPolicy({ writes: true, tag: 'three' }), 3));
  const tampered = Buffer.from(v3);
  const at = tampered.indexOf('hmi-reads-plc-three');
  assert.ok(at > 0, 'the conduit id is in the bundle bytes');
  tampered[at] = 'H'.charCodeAt(0);
  const rt = await publishBundle({ client: fleet, site: 'lab', device: 'gw-e2e', bytes: tampered, wait: 1, timeoutMs: 600_000 });
  assert.is(rt.rollout!.done, false);
  assert.match(rt.rollout!.refused[0]?.error ?? '', /^ERR_BUNDLE_SIGNATURE: /, 'the gateway\'s refusal ends the wait');
  assert.match(String(rt.rollout!.lagging[0].lastError), /^ERR_BUNDLE_SIGNATURE: /);
  st = gw.status();
  assert.is(st.policy.store!.active!.version, 2);
  assert.is(st.policy.store!.lastError!.code, 'ERR_BUNDLE_SIGNATURE');
  assert.is(st.policy.lastError!.code, 'ERR_BUNDLE_SIGNATURE');
  assert.ok(st.alarms.some((a) => a.id === 'policy-refused'));
  assert.is((await c.request(WRITE(4)))!.exception, undefined, 'v2 still enforced');
  c.close();

  // 5. Broker down, gateway restarted as the bundled daemon: v2 from disk, offline.
  await gw.stop();
  stopped = true;
  await broker.stop();
  const bundle = await bundleCli();
  cleanups.push(() => bundle.remove());
  const d = daemon(bundle.file, lab.config, cleanups);
  const m = await d.waitErr(/signed policy (v2-[0-9a-f]{8}) enforcing/);
  assert.is(m[1], `v2-${sha(v2).slice(0, 8)}`);
  const dport = Number((await d.waitErr(/listening on 127\.0\.0\.1:(\d+): modbus for plc-1/))[1]);
  await d.waitErr(/running: policy v2-/);
  const c2 = await RawClient.open(dport);
  cleanups.push(() => c2.close());
  assert.is((await c2.request(WRITE(5)))!.exception, undefined, 'v2 enforced after a cold boot without the broker');
  assert.equal((await c2.request(READ(6)))!.registers, [1000, 1001]);
  const statusFile = lab.p('state', 'status.json');
  await waitFor(() => { try { return JSON.parse(readFileSync(statusFile, 'utf8')).status.policy.store.active.version === 2; } catch { return false; } }, 'status.json shows v2');
  const fileDoc = JSON.parse(readFileSync(statusFile, 'utf8'));
  assert.is(fileDoc.pid, d.child.pid);
  const fileStatus = fileDoc.status;
  assert.is(fileStatus.sync.connected, false);
  assert.is(fileStatus.policy.source, 'signed');

  // 6. Broker back, v3 published meanwhile → the daemon reconnects and catches up.
  await broker.start();
  const fleet2 = await connectBroker({ url: broker.url });
  cleanups.push(() => closeBroker(fleet2));
  const r3 = await publishBundle({ client: fleet2, site: 'lab', device: 'gw-e2e', bytes: v3, wait: 1, timeoutMs: 40_000 });
  assert.ok(r3.rollout!.done, JSON.stringify(r3.rollout));
  await d.waitErr(/signed policy v3-[0-9a-f]{8} enforcing/);
  assert.is((await c2.request(WRITE(7)))!.exception, undefined);
  d.child.kill('SIGTERM');
  assert.is(await d.exit, 0, d.err());
  const last = JSON.parse(readFileSync(statusFile, 'utf8')).status;
  assert.is(last.state, 'stopped');
  assert.is(last.policy.store.active.version, 3);

  // 7. The audit folder verifies and holds the decisions and the activations.
  const report = await verifyAuditDir(lab.p('state', 'audit'));
  assert.ok(report.ok, JSON.stringify(report.error));
  assert.ok(report.checkpoints >= 2, 'a final checkpoint at each stop');
  const { records, problems } = await readAuditRecords(lab.p('state', 'audit'));
  assert.equal(problems, []);
  const decided = records.filter((r) => r.kind === 'decision');
  assert.ok(decided.some((r) => r.decision?.decision === 'allow' && r.policyVersion === `v2-${sha(v2).slice(0, 8)}` && r.modbus?.function === 6), 'the v2 write allowed');
  assert.ok(decided.some((r) => r.decision?.decision === 'deny' && r.decision.reason === 'function-not-allowed' && r.policyVersion?.startsWith('v1-')), 'the v1 write denied');
  const policyMsgs = records.filter((r) => r.kind === 'policy').map((r) => r.message ?? '');
  for (const v of [1, 2, 3]) assert.ok(policyMsgs.some((msg) => new RegExp(`^policy v${v}-[0-9a-f]{8} activated \\(mqtt\\)`).test(msg)), `v${v} activation recorded:\n${policyMsgs.join('\n')}`);
  assert.ok(policyMsgs.some((msg) => /^policy v2-[0-9a-f]{8} loaded from policy\.active/.test(msg)), 'the cold boot recorded');
  assert.ok(policyMsgs.some((msg) => /bundle refused \(mqtt\): ERR_BUNDLE_SIGNATURE/.test(msg)), 'the tamper recorded');
  assert.ok(records.some((r) => r.kind === 'config' && r.message === 'gateway started'));
  assert.ok(lines.some((l) => l.startsWith('error bundle refused (mqtt): ERR_BUNDLE_SIGNATURE')), lines.join('\n'));
});

}

test.run();
