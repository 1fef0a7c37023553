/**
 * Fleet rollout through one mosquitto on loopback (design.md performance budget: "1,000 gateways
 * on one broker all enforcing a new 200-conduit site policy: under 5 s").
 *
 * Simulated gateways are the real thing minus the drivers: each is an mqtt.js client inside the
 * real MqttSync, handing payloads to its own real PolicyStore (verify signatures, validate,
 * compile, run the embedded tests, persist atomically in a tmpfs folder, activate), and
 * reporting its status. They run in CHILDREN child processes (one per core).
 *
 * Measured from the moment the fleet publishes the signed bundle (retained, QoS 1, site-wide
 * topic) until 200 and then all 1,000 gateways' retained statuses carry the bundle's hash.
 * Peer, same run, same broker, same processes: a plain ~100 KiB retained message fanned out to
 * 1,000 plain mqtt.js clients, each answering with a small QoS 1 ack (the same round trip shape,
 * with no verification or activation). Run: node build/run-bench.mjs rollout
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as mqttConnect, type MqttClient } from 'mqtt';
import { startMosquitto, skipReason } from '../helpers/mosquitto';
import { createMqttSync, type MqttSync } from '../../runtime/sync/mqtt-sync';
import { storeHandlers, storeState } from '../../runtime/sync/store-binding';
import { FsBlobStore } from '../../runtime/store/fs-blob-store';
import { TrustStore } from '../../runtime/store/trust-store';
import { PolicyStore } from '../../runtime/store/policy-store';
import { connectBroker, closeBroker } from '../../fleet/broker';
import { watchFleet } from '../../fleet/status';
import { world, policyBundle, sitePolicy, T0, DAY } from '../bundle/fixtures';
import { printTable, type BenchRow } from './report';
import { createHash } from 'node:crypto';

const SITE = 'substation-12';
const TOTAL = Number(process.env.ZG_ROLLOUT_GATEWAYS ?? 1000);
const CHILDREN = Number(process.env.ZG_ROLLOUT_CHILDREN ?? 2);
const PEER_BYTES = 100 * 1024;
/** Activations in flight per simulating process (see withLane in the child). */
const LANE_COUNT = Number(process.env.ZG_ROLLOUT_LANES ?? 4);
/** ZG_ROLLOUT_PROF=DIR: the simulating children write V8 CPU profiles there (--cpu-prof). */

type ToChild = { cmd: 'start'; url: string; root: string; from: number; count: number; dir: string } | { cmd: 'stop' };
type ToParent = { ev: 'ready' } | { ev: 'stopped'; activations: number; activationMs: number; refused: number };

// ---------------------------------------------------------------- child: CHILDREN of these
async function child(): Promise<void> {
  const syncs: MqttSync[] = [];
  const plain: MqttClient[] = [];
  const stores: PolicyStore[] = [];
  let activationMs = 0;
  // A few activations at a time per process: each real gateway has its own CPU and disk, so the
  // file-system waits of one accept (one BlobStore.commit, about 6 round trips deep) overlap with
  // another's CPU work as they would across devices; hundreds interleaved on one simulating core
  // would only add contention and hold the first finishers back until the last one is done.
  const LANES = LANE_COUNT;
  let active = 0;
  const waiting: (() => void)[] = [];
  const withLane = async <T>(fn: () => Promise<T>): Promise<T> => {
    while (active >= LANES) await new Promise<void>((r) => waiting.push(r));
    active += 1;
    try { return await fn(); } finally { active -= 1; waiting.shift()?.(); }
  };
  const send = (m: ToParent) => process.send?.(m);
  process.on('message', async (m: ToChild) => {
    if (m.cmd === 'start') {
      const rootBytes = Buffer.from(m.root, 'base64');
      const now = () => T0 + DAY;
      for (let i = m.from; i < m.from + m.count; i += 1) {
        const device = `gw-${String(i).padStart(4, '0')}`;
        const blobs = await FsBlobStore.open({ dir: join(m.dir, device) });
        const trust = await TrustStore.open({ blobs, provisioned: rootBytes });
        const store = new PolicyStore({ blobs, trust, device, site: SITE, now });
        await store.boot();
        stores.push(store);
        const h = storeHandlers({ store });
        const timed = {
          ...h,
          policy: (b: Uint8Array, meta: Parameters<typeof h.policy>[1]) => withLane(async () => {
            const t = process.hrtime.bigint();
            try { await h.policy(b, meta); } finally { activationMs += Number(process.hrtime.bigint() - t) / 1e6; }
          }),
        };
        const sync = createMqttSync({ site: SITE, device, url: m.url, runtimeVersion: 'bench', handlers: timed, state: storeState(store), now, clientOptions: { connectTimeout: 60_000 } });
        syncs.push(sync);
        await sync.start();
        // the peer's plain client: subscribes to the fan-out topic and acks each message
        const c = mqttConnect(m.url, { protocolVersion: 5, clientId: `plain-${i}`, reconnectPeriod: 1000, connectTimeout: 60_000 });
        c.on('connect', () => c.subscribe('bench/fanout', { qos: 1 }));
        c.on('message', (_t, p) => c.publish(`bench/ack/${i}`, String(p.length), { qos: 1 }));
        plain.push(c);
        if (i % 50 === 49) await new Promise((r) => setTimeout(r, 20)); // don't stampede the broker
      }
      while (!syncs.every((s) => s.status().connected) || !plain.every((c) => c.connected)) await new Promise((r) => setTimeout(r, 50));
      send({ ev: 'ready' });
    } else if (m.cmd === 'stop') {
      const activations = stores.filter((s) => s.status().active).length;
      const refused = stores.reduce((n, s) => n + s.status().counts.refused, 0);
      const firstError = stores.map((s) => s.status().lastError).find((e) => e);
      if (firstError) console.error(`bench child: first store refusal: ${firstError.code}: ${firstError.message} ${JSON.stringify(firstError.issues)}`);
      await Promise.all(syncs.map((s) => s.stop()));
      await Promise.all(plain.map((c) => new Promise<void>((r) => c.end(true, {}, () => r()))));
      send({ ev: 'stopped', activations, activationMs, refused });
      setTimeout(() => process.exit(0), 50);
    }
  });
}

// ---------------------------------------------------------------- parent
function once<T extends ToParent['ev']>(c: ChildProcess, ev: T): Promise<Extract<ToParent, { ev: T }>> {
  return new Promise((resolve, reject) => {
    const onMsg = (m: ToParent) => { if (m.ev === ev) { c.off('message', onMsg); resolve(m as Extract<ToParent, { ev: T }>); } };
    c.on('message', onMsg);
    c.once('exit', (code) => reject(new Error(`bench child exited (${code}) before '${ev}'`)));
  });
}

async function parent(): Promise<void> {
  const skip = skipReason();
  if (skip) { console.log(`SKIP rollout bench: ${skip}`); return; }
  const broker = await startMosquitto({ nofile: 65536, extra: ['max_inflight_messages 100', 'max_queued_messages 100000'] });
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  const dir = mkdtempSync(join(base, 'zg-rollout-'));
  const children: ChildProcess[] = [];
  try {
    const w = world('rollout');
    const policy = sitePolicy({ conduits: 200 });
    const bundle = policyBundle({ version: 1, keys: w.policyKeys.slice(0, 2), targets: ['*'], policy });
    const hash = createHash('sha256').update(bundle).digest('hex');
    const per = Math.ceil(TOTAL / CHILDREN);
    const t0 = Date.now();
    for (let k = 0; k < CHILDREN; k += 1) {
      const c = fork(__filename, ['child'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: ['--enable-source-maps', ...(process.env.ZG_ROLLOUT_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.ZG_ROLLOUT_PROF}`] : [])] });
      children.push(c);
      const count = Math.min(per, TOTAL - k * per);
      c.send({ cmd: 'start', url: broker.url, root: Buffer.from(w.root.bytes).toString('base64'), from: k * per, count, dir } satisfies ToChild);
    }
    await Promise.all(children.map((c) => once(c, 'ready')));
    console.log(`${TOTAL} gateways (+${TOTAL} plain clients) connected in ${((Date.now() - t0) / 1000).toFixed(1)} s; bundle ${bundle.length} bytes`);

    const fleet = await connectBroker({ url: broker.url });
    // wait for every gateway's first status, so the rollout clock starts with a quiet fleet
    const docs = new Map<string, string | null>();
    let onChange: (() => void) | undefined;
    const stop = await watchFleet({ client: fleet, site: SITE, onStatus: (d, doc) => { docs.set(d, doc?.policyHash ?? null); onChange?.(); } });
    while (docs.size < TOTAL) await new Promise((r) => setTimeout(r, 50));

    // peer: a plain ~100 KiB retained fan-out, every client acks
    const peerTimes: number[] = [];
    {
      const acks = new Set<string>();
      let mark200 = 0;
      let resolveAll: () => void = () => undefined;
      const all = new Promise<void>((r) => { resolveAll = r; });
      let start = 0;
      fleet.on('message', (t) => {
        if (!t.startsWith('bench/ack/')) return;
        acks.add(t);
        if (acks.size === 200 && !mark200) mark200 = performance.now() - start;
        if (acks.size === TOTAL) resolveAll();
      });
      await new Promise<void>((r, j) => fleet.subscribe('bench/ack/+', { qos: 1 }, (e) => (e ? j(e) : r())));
      start = performance.now();
      fleet.publish('bench/fanout', Buffer.alloc(PEER_BYTES, 0x5a), { qos: 1, retain: true });
      await all;
      peerTimes.push(mark200, performance.now() - start);
      fleet.unsubscribe('bench/ack/+');
    }

    // rollout
    let at200 = 0, atAll = 0;
    const start = performance.now();
    const matched = () => { let n = 0; for (const h of docs.values()) if (h === hash) n += 1; return n; };
    const done = new Promise<void>((resolve) => {
      onChange = () => {
        const n = matched();
        if (n >= 200 && !at200) at200 = performance.now() - start;
        if (n >= TOTAL) { atAll = performance.now() - start; resolve(); }
      };
    });
    fleet.publish(`zonegate/v1/${SITE}/all/policy`, Buffer.from(bundle), { qos: 1, retain: true });
    const timeout = new Promise<void>((r) => setTimeout(r, 120_000));
    await Promise.race([done, timeout]);
    const got = matched();
    stop();
    await closeBroker(fleet);

    const stats = await Promise.all(children.map((c) => { const p = once(c, 'stopped'); c.send({ cmd: 'stop' } satisfies ToChild); return p; }));
    const activations = stats.reduce((n, s) => n + s.activations, 0);
    const activationMs = stats.reduce((n, s) => n + s.activationMs, 0);
    const refused = stats.reduce((n, s) => n + s.refused, 0);

    const rows: BenchRow[] = [
      { what: '200 gateways report the new policy', value: at200, unit: 'ms', peer: '100 KiB retained fan-out + ack, 200 clients', peerValue: peerTimes[0], better: 'lower' },
      { what: `${TOTAL} gateways report the new policy`, value: atAll || NaN, unit: 'ms', peer: `100 KiB retained fan-out + ack, ${TOTAL} clients`, peerValue: peerTimes[1], better: 'lower', goal: '< 5,000 ms' },
      { what: `store accept (verify+validate+compile+tests+persist+activate), mean wall time per gateway, ${LANE_COUNT} overlapping per process`, value: activationMs / Math.max(1, activations), unit: 'ms' },
    ];
    printTable(`Fleet rollout: ${TOTAL} simulated gateways (real sync + real PolicyStore) in ${CHILDREN} processes, one mosquitto on loopback`, rows, [
      `200-conduit site policy bundle of ${bundle.length} bytes; ${got}/${TOTAL} gateways reported it${atAll ? '' : ' (TIMED OUT after 120 s)'}; ${activations} stores active, ${refused} refusals`,
      `peer: ${PEER_BYTES} bytes retained QoS 1 to ${TOTAL} plain mqtt.js clients in the same processes, each acking with QoS 1`,
      'gateways persist to tmpfs (/dev/shm) with the real atomic write + fsync path; 2 cores shared with the broker, the fleet and other work',
    ]);
    if (!atAll) process.exitCode = 1;
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await broker.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === 'child') void child();
else parent().catch((e) => { console.error(e); process.exit(1); });
