/**
 * One activation publishes the MQTT status once. The path was store → gateway → sync → store:
 * the sync hands a bundle to the store, the store activates it and tells the gateway (the index
 * swap clears the no-policy alarm, then the `activated` event), each of which asked the sync to
 * publish the status, and the sync published again once the handler returned: three documents
 * for one bundle. Real mosquitto, the gateway in process; the fleet side counts the live status
 * documents carrying the new version between the publish and the gateway's offline document.
 * The store's events travel on the gateway's bus (`store:activated`).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createGateway } from '../../runtime/gateway';
import { skipReason } from '../helpers/mosquitto';
import { deviceTopic, siteTopic } from '../../protocol/mqtt/topics';
import { parseStatus, type StatusDocument } from '../../protocol/mqtt/status';
import { brokerLab, signedConfig, waitFor, type Cleanup } from '../e2e/helpers';

const cleanups: Cleanup[] = [];
test.after.each(async () => { while (cleanups.length) { try { await cleanups.pop()!(); } catch { /* keep cleaning */ } } });
const log = { info: () => undefined, warn: () => undefined, error: () => undefined };

const skip = skipReason();
if (skip) {
  test('status published once per activation (skipped)', () => { console.log(`SKIP test/runtime/gateway-status-publish: ${skip}`); });
} else {
  test('a bundle activated over MQTT publishes the status once, not once per part that noticed', async () => {
    const { broker, lab, upstreamPort, v1, fleet } = await brokerLab(cleanups);
    lab.write('gateway.yaml', signedConfig({ upstreamPort, mqttUrl: broker.url }));
    const docs: StatusDocument[] = [];
    const statusTopic = deviceTopic({ site: 'lab', device: 'gw-e2e', kind: 'status' });
    fleet.on('message', (topic, payload) => { const d = topic === statusTopic ? parseStatus(payload) : undefined; if (d) docs.push(d); });
    await new Promise<void>((res, rej) => fleet.subscribe(statusTopic, { qos: 1 }, (e) => (e ? rej(e) : res())));

    const gw = createGateway({ configFile: lab.config, log });
    const activations: number[] = [];
    gw.bus.on('store:activated', 'test', (a) => { activations.push(a.version); });
    await gw.start(new AbortController().signal);
    let stopped = false;
    cleanups.push(() => (stopped ? undefined : gw.stop()));
    await waitFor(() => docs.some((d) => d.online && d.policyVersion === null), 'the first online status');

    await new Promise<void>((res, rej) => fleet.publish(siteTopic({ site: 'lab', kind: 'policy' }), Buffer.from(v1), { qos: 1, retain: true }, (e) => (e ? rej(e) : res())));
    await waitFor(() => docs.some((d) => d.online && d.policyVersion === 1 && d.applied.policy !== undefined), 'the status of v1, applied');
    await gw.stop();
    stopped = true;
    await waitFor(() => docs.some((d) => !d.online), 'the offline status (published on stop)');

    const v1Live = docs.filter((d) => d.online && d.policyVersion === 1);
    assert.is(v1Live.length, 1, `live status documents with v1: ${v1Live.length} (${JSON.stringify(v1Live.map((d) => ({ alarms: d.alarms, applied: Object.keys(d.applied) })))})`);
    assert.ok(v1Live[0].applied.policy, 'the one document says the policy payload was applied');
    assert.not.ok(v1Live[0].alarms.includes('no-policy'), 'and no longer carries no-policy');
    assert.equal(activations, [1], "the store's activation went out once on the gateway's bus");
  });
}

test.run();
