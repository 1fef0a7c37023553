/**
 * Config friction (issue 20 item 7), on an in-process gateway: `mqtt` without `trustRoot` is a
 * config error naming file:line:col; with a trust root and a lab `policyFile`, the MQTT status (a
 * real mosquitto) says `unsigned-policy`, not `no-policy`, while the file enforces;
 * `timeouts.frameMs` reaches the Modbus proxy (a half frame is cut after the configured time,
 * named in the audit record).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect } from 'node:net';
import { once } from 'node:events';
import { createGateway, type Gateway } from '../../runtime/gateway';
import { ZonegateError, formatIssue } from '../../policy/errors';
import { readAuditRecords } from '../../protocol/audit/query';
import { parseStatus } from '../../protocol/mqtt/status';
import { startMosquitto, skipReason } from '../helpers/mosquitto';
import { observer, subscribe, end } from '../sync/helpers';
import { makeLab, signedConfig, modbusUpstream, labPolicy, waitFor, type Cleanup, type Lab } from './helpers';

const cleanups: Cleanup[] = [];
test.after.each(async () => { while (cleanups.length) { try { await cleanups.pop()!(); } catch { /* keep cleaning */ } } });

function gateway(lab: Lab): { gw: Gateway; lines: string[] } {
  const lines: string[] = [];
  const gw = createGateway({
    configFile: lab.config,
    log: { info: (m) => lines.push(`info ${m}`), warn: (m) => lines.push(`warn ${m}`), error: (m) => lines.push(`error ${m}`) },
    writeLine: () => undefined,
  });
  cleanups.push(() => gw.stop());
  return { gw, lines };
}

async function lab(): Promise<{ lab: Lab; upstreamPort: number }> {
  const l = await makeLab();
  cleanups.push(() => l.remove());
  l.write('lab-policy.yaml', labPolicy({ writes: true, tag: 'file' }));
  return { lab: l, upstreamPort: await modbusUpstream(cleanups) };
}

test('mqtt without trustRoot is a config error naming the block, not a silent no-op', async () => {
  const { lab: l, upstreamPort } = await lab();
  l.write('gateway.yaml', `device: gw-e2e
site: lab
stateDir: ./state
policyFile: lab-policy.yaml
mqtt: { url: "mqtt://127.0.0.1:1" }
listeners:
  - { listen: 127.0.0.1:0, asset: plc-1, service: modbus, upstream: 127.0.0.1:${upstreamPort} }
`);
  const { gw } = gateway(l);
  let err: unknown;
  try { await gw.start(new AbortController().signal); } catch (e) { err = e; }
  assert.ok(err instanceof ZonegateError, String(err));
  assert.is((err as ZonegateError).code, 'ERR_CONFIG_INVALID');
  assert.equal((err as ZonegateError).issues.map(formatIssue),
    [`${l.config}:5:1: mqtt: needs 'trustRoot': bundles from the broker are verified against it (a lab policyFile is never updated over MQTT)`]);
});

const skip = skipReason();
test('trust root + lab policyFile: the MQTT status says unsigned-policy, not no-policy, while the file enforces', async () => {
  if (skip) { console.log(`  SKIP: ${skip}`); return; }
  const broker = await startMosquitto();
  cleanups.push(() => broker.close());
  const { lab: l, upstreamPort } = await lab();
  l.write('gateway.yaml', signedConfig({ upstreamPort, mqttUrl: broker.url, policyFile: 'lab-policy.yaml' }));
  const fleet = await observer(broker.url);
  cleanups.push(() => end(fleet));
  const docs: { online: boolean; alarms?: string[] }[] = [];
  fleet.on('message', (_t, p) => { const d = parseStatus(p); if (d) docs.push(d as never); });
  await subscribe(fleet, 'zonegate/v1/lab/gw-e2e/status');
  const { gw } = gateway(l);
  await gw.start(new AbortController().signal);
  assert.is(gw.status().policy.source, 'file');
  await waitFor(() => docs.some((d) => d.online), 'an online status from the gateway');
  const last = docs.filter((d) => d.online).pop()!;
  assert.ok(last.alarms?.includes('unsigned-policy'), JSON.stringify(last));
  assert.not.ok(last.alarms?.includes('no-policy'), JSON.stringify(last));
});

test('timeouts.frameMs reaches the Modbus proxy: a half frame is cut after the configured time', async () => {
  const { lab: l, upstreamPort } = await lab();
  l.write('gateway.yaml', `device: gw-e2e
site: lab
stateDir: ./state
policyFile: lab-policy.yaml
audit: { flushDelayMs: 5 }
listeners:
  - { listen: 127.0.0.1:0, asset: plc-1, service: modbus, upstream: 127.0.0.1:${upstreamPort} }
timeouts: { frameMs: 300, drainMs: 200 }
`);
  const { gw } = gateway(l);
  await gw.start(new AbortController().signal);
  const port = Number(gw.status().listeners[0].address!.split(':').pop());
  const s = connect({ host: '127.0.0.1', port });
  await once(s, 'connect');
  s.write(Buffer.from([0x00, 0x01, 0x00])); // 3 bytes of an MBAP header, then nothing
  await once(s, 'close');
  await gw.stop();
  const { records } = await readAuditRecords(l.p('state', 'audit'));
  assert.ok(records.some((r) => r.message === 'frame not completed within 300 ms (3 bytes held)'),
    JSON.stringify(records.filter((r) => r.kind !== 'decision').map((r) => r.message)));
});

test('timeouts.frameMs: 0 is refused', async () => {
  const { lab: l, upstreamPort } = await lab();
  l.write('gateway.yaml', `device: gw-e2e
site: lab
stateDir: ./state
policyFile: lab-policy.yaml
listeners:
  - { listen: 127.0.0.1:0, asset: plc-1, service: modbus, upstream: 127.0.0.1:${upstreamPort} }
timeouts: { frameMs: 0 }
`);
  const { gw } = gateway(l);
  let err: unknown;
  try { await gw.start(new AbortController().signal); } catch (e) { err = e; }
  assert.is((err as ZonegateError).code, 'ERR_CONFIG_INVALID');
  assert.match((err as ZonegateError).issues.map(formatIssue).join('\n'), 'timeouts.frameMs: must be at least 1');
});

test.run();
