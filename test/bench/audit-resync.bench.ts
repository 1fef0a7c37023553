// The resync storm through a REAL mosquitto on loopback: G gateways (real audit logs and
// uploaders, one MQTT connection each, ack timeout 10 min) each hold one batch that went to
// nobody (no collector subscribed); a collector (a group member: clean session) starts and
// announces itself. With the spread it computes for G devices, beside the same with spread 0
// (every gateway answers at once: the storm): the most batches that reached the collector in
// any 100 ms (as a plain subscriber receives them), and the time from the announcement until every gateway was acknowledged.
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startCollector, resyncSpreadMs } from '../../fleet/audit-collect-mqtt';
import { startMosquitto, skipReason } from '../helpers/mosquitto';
import { startAuditGateway, type AuditGateway } from '../helpers/audit-gateway';
import { observer, waitFor } from '../sync/helpers';
import { siteFilter } from '../../protocol/mqtt/topics';
import { makeKey, tempDir } from '../audit/helpers';
import { printTable } from './report';

const G = Number(process.env.ZG_RESYNC_GATEWAYS ?? 300);
const SITE = 'storm';

async function main(): Promise<void> {
  const skip = skipReason();
  if (skip) { console.log(`SKIP: ${skip}`); return; }
  const t = tempDir('zg-resync-bench-');
  const broker = await startMosquitto();
  const key = makeKey();
  const gws: AuditGateway[] = [];
  try {
    for (let i = 0; i < G; i++) gws.push(await startAuditGateway({ broker: broker.url, site: SITE, device: `gw-${i}`, dir: join(t.dir, 'gw'), key, ackTimeoutMs: 10 * 60_000, maxRecords: 64, window: 4 }));
    const round = async (spreadMs: number) => {
      for (const g of gws) await g.write(10);
      await waitFor(() => gws.every((g) => { const s = g.uploader.status(); return s.sentThrough === g.lastSeq() && g.pubacked() === s.batchesSent; }), 'every batch PUBACKed to nobody', 120_000);
      // Arrivals as the broker hands them out (a plain subscriber beside the collector), not as
      // the collector finishes storing them (its fsyncs bunch completions together).
      const arrivals: number[] = [];
      const watch = await observer(broker.url);
      watch.on('message', () => arrivals.push(performance.now()));
      await watch.subscribeAsync(siteFilter({ site: SITE, kind: 'audit' }), { qos: 1 });
      const t0 = performance.now();
      const c = await startCollector({ broker: { url: broker.url }, site: SITE, out: join(t.dir, 'fleet'), group: 'bench', resyncSpreadMs: spreadMs });
      await waitFor(() => gws.every((g) => g.uploader.status().ackedThrough === g.lastSeq()), 'every gateway acknowledged', 120_000);
      const allAcked = (performance.now() - t0) / 1000;
      await c.close();
      await watch.endAsync();
      arrivals.sort((a, b) => a - b);
      let peak = 0;
      for (let i = 0, j = 0; i < arrivals.length; i++) { while (arrivals[i] - arrivals[j] > 100) j++; peak = Math.max(peak, i - j + 1); }
      // Arrivals per 100 ms after the collector started, e.g. "3:40 4:22 ..." (tenths of a second: count).
      const hist = new Map<number, number>();
      for (const a of arrivals) { const k = Math.floor((a - t0) / 100); hist.set(k, (hist.get(k) ?? 0) + 1); }
      return { peak, allAcked, hist: [...hist].map(([k, n]) => `${k}:${n}`).join(' ') };
    };
    await round(0); // warm-up: the first batch of every gateway (seq 0, no key pinned yet)
    const spread = resyncSpreadMs(G);
    const ours = await round(spread);
    const storm = await round(0);
    printTable(`audit resync, ${G} gateways each with one batch that reached nobody, one announcement, loopback mosquitto, file store`, [
      { what: `most batches at the collector in 100 ms (spread ${spread} ms)`, value: ours.peak, unit: 'batches', peer: 'spread 0 (all answer at once)', peerValue: storm.peak, better: 'lower' },
      { what: 'announcement to every gateway acknowledged', value: ours.allAcked, unit: 's', peer: 'spread 0', peerValue: storm.allAcked, better: 'lower', goal: '< 30 s (the ack timeout)' },
    ], [
      `arrivals per 100 ms after the collector started (tenth of a second:batches), spread ${spread} ms: ${ours.hist}; spread 0: ${storm.hist}`,
      `${G} gateways share one node process here: their event loop bunches what the spread scatters.`,
      '2 shared cores, other helpers running: figures are noisy.',
    ]);
  } finally {
    for (const g of gws) await g.close().catch(() => undefined);
    await broker.close();
    t.cleanup();
  }
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
