/**
 * The gateway's own audit log travels to the fleet: a real mosquitto, the gateway in process with
 * a signed policy, Modbus decisions through it, the gateway's uploader publishing batches on its
 * `audit` topic, and the fleet's collector (startCollector, as `zonegate fleet audit collect` runs
 * it) verifying, storing and acknowledging them. The collected folder verifies on its own with
 * the gateway's key and holds the decisions; the gateway's acked mark follows the collector.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGateway } from '../../runtime/gateway';
import { skipReason } from '../helpers/mosquitto';
import { RawClient, adu, pdus } from '../helpers/modbus';
import { publishBundle } from '../../fleet/publish';
import { startCollector } from '../../fleet/audit-collect-mqtt';
import { verifyAuditDir } from '../../protocol/audit/verify';
import { readAuditRecords } from '../../protocol/audit/query';
import { parseDevicePublicKey } from '../../protocol/device-public-key';
import { brokerLab, signedConfig, waitFor, type Cleanup } from './helpers';

const cleanups: Cleanup[] = [];
test.after.each(async () => { while (cleanups.length) { try { await cleanups.pop()!(); } catch { /* keep cleaning */ } } });
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

const skip = skipReason();
test('the gateway uploads its audit log; the fleet collects, verifies and acknowledges it', async () => {
  if (skip) { console.log(`SKIP test/e2e/audit-upload: ${skip}`); return; }
  const { broker, lab, upstreamPort, v1, fleet } = await brokerLab(cleanups);
  lab.write('gateway.yaml', signedConfig({ upstreamPort, mqttUrl: broker.url, audit: 'checkpointIntervalMs: 500', extra: 'telemetry: { intervalMs: 5000 }\n' }));

  const out = mkdtempSync(join(tmpdir(), 'zg-collect-'));
  cleanups.push(() => rmSync(out, { recursive: true, force: true }));
  const collector = await startCollector({ out, site: 'lab', broker: { url: broker.url } });
  cleanups.push(() => collector.close());

  const gw = createGateway({ configFile: lab.config, log: quiet });
  await gw.start(new AbortController().signal);
  let stopped = false;
  cleanups.push(() => (stopped ? undefined : gw.stop()));
  await waitFor(() => gw.status().sync?.connected === true, 'the gateway connected');
  const r = await publishBundle({ client: fleet, site: 'lab', device: 'gw-e2e', bytes: v1, wait: 1, timeoutMs: 20_000 });
  assert.ok(r.rollout!.done);

  const port = Number(gw.status().listeners[0].address!.split(':').pop());
  const c = await RawClient.open(port);
  cleanups.push(() => c.close());
  for (let i = 0; i < 5; i++) assert.equal((await c.request(adu(i + 1, 1, pdus.read(3, 0, 2))))!.registers, [1000, 1001]);
  assert.is((await c.request(adu(9, 1, pdus.writeSingle(6, 10, 1))))!.exception, 1);
  c.close();

  // The uploader sends while the gateway runs; wait until the collector holds the decisions of the
  // traffic (their records get a sequence number when their group commit is written) and a signed
  // checkpoint over them: a pinned verify needs one (issue 13 item 9), and the log writes one at
  // least every checkpointIntervalMs while records arrive (status, telemetry keep coming).
  const dir = join(out, 'gw-e2e');
  const key = parseDevicePublicKey(readFileSync(join(lab.dir, 'state', 'device-key.pub'), 'utf8'), 'device-key.pub');
  const collected = async () => {
    const report = await verifyAuditDir(dir, { devicePublicKey: key });
    const { records } = await readAuditRecords(dir, {});
    const decisions = records.filter((x) => x.kind === 'decision' && x.modbus);
    return { report, decisions };
  };
  await waitFor(async () => {
    try {
      const { report, decisions } = await collected();
      return report.ok && decisions.filter((x) => x.decision?.decision === 'allow').length >= 5
        && decisions.some((x) => x.decision?.reason === 'function-not-allowed');
    } catch { return false; } // the collector is still writing its first file
  }, 'the collector to store the decisions under a signed checkpoint', 30_000);
  await gw.stop();
  stopped = true;

  const { report, decisions } = await collected();
  assert.ok(report.ok, JSON.stringify(report.error));
  assert.is(report.firstSeq, 0);
  assert.ok(decisions.filter((x) => x.decision?.decision === 'allow').length >= 5, 'the allowed reads arrived');
  assert.ok(decisions.some((x) => x.decision?.reason === 'function-not-allowed'), 'the refused write arrived');
  const up = JSON.parse(readFileSync(join(lab.dir, 'state', 'status.json'), 'utf8')) as { status: { upload?: { ackedThrough: number } } };
  assert.ok((up.status.upload?.ackedThrough ?? -1) >= 0, 'the gateway saw the fleet acknowledge');
});

test.run();
