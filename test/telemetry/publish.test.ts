// Telemetry published the way the gateway wires it: the sampler's publish is MqttSync's
// publishTelemetry, through a REAL mosquitto, read by a fleet-side subscriber.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createMqttSync } from '../../runtime/sync/mqtt-sync';
import { deviceTopic } from '../../protocol/mqtt/topics';
import { sampleTelemetry } from '../../runtime/telemetry/sample';
import { createTelemetrySampler } from '../../runtime/telemetry/sampler';
import { startMosquitto, skipReason } from '../helpers/mosquitto';
import { fakeHandlers, manualTimers, observer, waitFor } from '../sync/helpers';
import { tempDir } from '../audit/helpers';

test('samples reach the fleet on .../telemetry; offline samples are counted, not queued', async () => {
  const skip = skipReason();
  if (skip) { console.log(`SKIP: ${skip}`); return; }
  const broker = await startMosquitto();
  const t = tempDir('zg-telemetry-pub-');
  const sync = createMqttSync({ site: 's1', device: 'gw-t', url: broker.url, handlers: fakeHandlers().handlers, runtimeVersion: 'test' });
  const timers = manualTimers();
  const sampler = createTelemetrySampler({
    sample: () => sampleTelemetry({ stateDir: t.dir }), publish: (d) => sync.publishTelemetry(d), intervalMs: 60_000, timers, labels: { device: 'gw-t', site: 's1' },
  });
  const fleet = await observer(broker.url);
  try {
    // Before the sync is connected: counted as not published.
    await sampler.sampleNow();
    assert.is(sampler.status().notPublished, 1);
    const got: Record<string, unknown>[] = [];
    await fleet.subscribeAsync(deviceTopic({ site: 's1', device: 'gw-t', kind: 'telemetry' }));
    fleet.on('message', (_t, p) => got.push(JSON.parse(p.toString())));
    await sync.start();
    await waitFor(() => sync.status().connected, 'the sync connected');
    await sampler.sampleNow();
    await waitFor(() => got.length === 1, 'a telemetry message');
    const m = got[0] as { device: string; site: string; schema: number; memory: { totalBytes: number }; disk: { mount: string }; interfaces: { name: string }[] };
    assert.is(m.device, 'gw-t');
    assert.is(m.site, 's1');
    assert.is(m.schema, 1);
    assert.ok(m.memory.totalBytes > 0);
    assert.ok(typeof m.disk.mount === 'string');
    assert.ok(m.interfaces.some((i) => i.name === 'lo'));
    assert.is(sampler.status().published, 1);
  } finally {
    sampler.stop();
    await sync.stop();
    await fleet.endAsync();
    await broker.close();
    t.cleanup();
  }
});

test.run();
