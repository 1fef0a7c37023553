// Telemetry on THIS machine (real systeminformation probes), the sampler with injected timers and
// publish function, and `zonegate status` reading the daemon's status file.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, writeFileSync, readFileSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { sampleTelemetry, type SystemInfo, type TelemetrySample } from '../../runtime/telemetry/sample';
import { createTelemetrySampler } from '../../runtime/telemetry/sampler';
import { summariseTelemetry, formatTelemetryLine } from '../../runtime/telemetry/summary';
import { readStatusFile, writeStatusFile, type DaemonStatus } from '../../runtime/telemetry/status-file';
import { statusCommand } from '../../cli/status';
import { runCli } from '../../cli/framework';
import { manualTimers } from '../sync/helpers';
import { tempDir } from '../audit/helpers';

const t = tempDir('zg-telemetry-');
let real: TelemetrySample;

test.after(() => t.cleanup());

test('a real sample of this machine has sane numbers', async () => {
  real = await sampleTelemetry({ stateDir: t.dir });
  console.log(`telemetry here: ${formatTelemetryLine(summariseTelemetry(real))}`);
  if (real.unavailable.length) console.log(`  unavailable: ${real.unavailable.join('; ')}`);
  assert.ok(real.cpu, 'cpu load measured');
  assert.ok(real.cpu!.loadPercent >= 0 && real.cpu!.loadPercent <= 100, `load ${real.cpu!.loadPercent}`);
  assert.ok(real.memory!.totalBytes > 64 * 1024 * 1024);
  assert.ok(real.memory!.usedBytes > 0 && real.memory!.usedBytes < real.memory!.totalBytes);
  assert.ok(real.memory!.usedPercent > 0 && real.memory!.usedPercent < 100);
  // The disk of the state folder (a temp folder): the mount that holds it.
  assert.ok(real.disk, real.unavailable.join('; '));
  assert.ok(t.dir.startsWith(real.disk!.mount === '/' ? '/' : `${real.disk!.mount}`), `${real.disk!.mount} holds ${t.dir}`);
  assert.ok(real.disk!.sizeBytes > 0 && real.disk!.availableBytes >= 0);
  assert.ok(real.uptimeSeconds! > 0);
  const lo = real.interfaces.find((i) => i.name === 'lo');
  assert.ok(lo, 'loopback listed');
  assert.ok((lo!.rxBytes ?? -1) >= 0, 'loopback counters');
  // A temperature is a number in a plausible range, or null with the reason noted (VMs).
  if (real.temperature.celsius === null) assert.ok(real.unavailable.some((u) => u.startsWith('temperature')));
  else assert.ok(real.temperature.celsius > 0 && real.temperature.celsius < 120);
  assert.ok(real.process.rssBytes > 0);
});

test('failed and unavailable probes give null and a note, never an exception', async () => {
  const broken: SystemInfo = {
    currentLoad: () => Promise.reject(new Error('EACCES /proc/stat')),
    cpuTemperature: async () => ({ main: null, max: null, cores: [] }),
    mem: async () => ({ total: 1000, available: 250, used: 900 }),
    fsSize: async () => [{ fs: '/dev/a', mount: '/', size: 100, used: 10, available: 90 }, { fs: '/dev/b', mount: '/var', size: 50, used: 25, available: 25 }],
    networkInterfaces: () => new Promise(() => undefined), // never answers
    networkStats: async () => [],
    time: () => ({ uptime: 42 }),
  };
  const s = await sampleTelemetry({ stateDir: '/var/lib/zonegate', si: broken, timeoutMs: 100, now: () => 7 });
  assert.is(s.at, 7);
  assert.is(s.cpu, null);
  assert.is(s.temperature.celsius, null);
  assert.equal(s.memory, { totalBytes: 1000, usedBytes: 750, availableBytes: 250, usedPercent: 75 });
  assert.is(s.disk!.mount, '/var', 'the longest mount holding the state folder');
  assert.is(s.disk!.usedPercent, 50);
  assert.equal(s.interfaces, []);
  assert.is(s.uptimeSeconds, 42);
  assert.ok(s.unavailable.includes('cpu load: EACCES /proc/stat'), s.unavailable.join('; '));
  assert.ok(s.unavailable.includes('interfaces: interfaces: no answer within 100 ms'), s.unavailable.join('; '));
  assert.ok(s.unavailable.some((u) => u.startsWith('temperature: no sensor')));
  assert.match(formatTelemetryLine(summariseTelemetry(s)), 'cpu n/a · temp n/a (no sensor) · mem 75% · disk /var 50%');
});

test('sampler: samples at start and on each interval, publishes, counts offline publishes', async () => {
  const timers = manualTimers();
  let i = 0;
  const published: Record<string, unknown>[] = [];
  let online = false;
  const sampler = createTelemetrySampler({
    sample: async () => ({ ...real, at: ++i }),
    publish: (d) => { if (!online) return false; published.push(d); return true; },
    intervalMs: 10_000, timers, labels: { device: 'gw-1' },
  });
  sampler.start();
  await new Promise((r) => setImmediate(r));
  assert.is(sampler.latest()!.at, 1);
  assert.is(sampler.status().notPublished, 1);
  assert.is(timers.pending.length, 1);
  assert.is(timers.pending[0].ms, 10_000);
  online = true;
  timers.fire(10_000);
  await new Promise((r) => setImmediate(r));
  assert.is(sampler.latest()!.at, 2);
  assert.is(published.length, 1);
  assert.is(published[0].device, 'gw-1');
  assert.is(published[0].at, 2);
  assert.equal(sampler.status(), { samples: 2, published: 1, notPublished: 1, failures: 0, lastError: null, lastAt: 2 });
  sampler.stop();
  assert.is(timers.pending.length, 0);
});

function gatewayStatus(): DaemonStatus {
  return {
    device: 'gw-01', site: 'substation-12', state: 'running', startedAt: 1_000, uptimeMs: 3_600_000,
    config: { file: '/etc/zonegate/gateway.yaml', loadedAt: 1_000, reloads: 0, failedReloads: 0 },
    policy: { version: '7', source: 'file', file: 'substation.yaml', warning: null, activatedAt: 1_000, conduits: 11, lastError: null },
    listeners: [{ key: 'k', listen: '127.0.0.1:15020', address: '127.0.0.1:15020', asset: 'plc-feeder-1', service: 'modbus', servicePort: 502, upstream: '127.0.0.1:16020', state: 'up' }],
    alarms: [{ id: 'audit-upload', severity: 'warning', message: 'audit upload behind', since: 2_000 }],
    audit: { recorded: 5 } as unknown as DaemonStatus['audit'],
    telemetry: summariseTelemetry(real),
    upload: { running: true, ackedThrough: 99, sentThrough: 120, inFlight: 1, backlog: 21, batchesSent: 3, recordsSent: 121, rewinds: 0, resyncs: 0, resyncResends: 0, acks: 2, acksIgnored: 0, publishFailures: 0, lastAckAt: 5, lastError: null, nextAttemptAt: null },
  };
}

test('status file: atomic write, read back, stale and dead-process judgement', async () => {
  const dir = join(t.dir, 'state1');
  mkdirSync(dir);
  await writeStatusFile(dir, gatewayStatus(), { now: () => 10_000 });
  assert.equal(readdirSync(dir), ['status.json'], 'no temp file left');
  const ok = await readStatusFile(dir, { now: () => 12_000, alive: () => true });
  assert.is(ok.state, 'running');
  const stale = await readStatusFile(dir, { now: () => 100_000, alive: () => true });
  assert.is(stale.state, 'stale');
  assert.match((stale as { why: string }).why, 'last written 90 s ago (more than 30 s)');
  const dead = await readStatusFile(dir, { now: () => 12_000, alive: () => false });
  assert.is(dead.state, 'stale');
  assert.match((dead as { why: string }).why, `process ${process.pid} is not running`);
  assert.is((await readStatusFile(join(t.dir, 'nowhere'))).state, 'missing');
  // The daemon writes its final state on stop: `stopped` is not running, however fresh.
  await writeStatusFile(dir, { ...gatewayStatus(), state: 'stopped' }, { now: () => 10_000 });
  const stopped = await readStatusFile(dir, { now: () => 10_001, alive: () => true });
  assert.is(stopped.state, 'stale');
  assert.match((stopped as { why: string }).why, 'the daemon stopped (status written 1970-01-01T00:00:10.000Z)');
});

test('zonegate status --config: running, --json, not running, usage', async () => {
  const state = join(t.dir, 'state2');
  mkdirSync(state);
  const cfg = join(t.dir, 'gateway.yaml');
  writeFileSync(cfg, `device: gw-01\nsite: substation-12\nstateDir: state2\npolicyFile: p.yaml\nlisteners:\n  - { listen: 127.0.0.1:15020, asset: plc-feeder-1, service: modbus, upstream: 127.0.0.1:16020 }\n`);
  const cli = async (...args: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(args, [statusCommand], { out: (s) => out.push(s), err: (s) => err.push(s) }, new AbortController().signal);
    return { code, out: out.join('\n'), err: err.join('\n') };
  };
  let r = await cli('status', '--config', cfg);
  assert.is(r.code, 1, r.err);
  assert.match(r.out, `zonegate is not running: no status file ${join(state, 'status.json')}`);
  await writeStatusFile(state, gatewayStatus());
  r = await cli('status', '--config', cfg);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, 'zonegate running: device gw-01 at site substation-12, up 60m');
  assert.match(r.out, 'policy: 7 from file, 11 conduit(s)');
  assert.match(r.out, 'listener 127.0.0.1:15020 modbus → plc-feeder-1 (127.0.0.1:16020): up');
  assert.match(r.out, 'audit upload: acked through seq 99, 21 record(s) waiting');
  assert.match(r.out, 'host: cpu ');
  assert.match(r.out, 'ALARM warning: audit upload behind');
  r = await cli('status', '--config', cfg, '--json');
  assert.is(r.code, 0);
  const doc = JSON.parse(r.out);
  assert.is(doc.running, true);
  assert.is(doc.status.policy.version, '7');
  assert.is(doc.status.upload.ackedThrough, 99);
  // A status written by a process that is gone.
  await writeStatusFile(state, gatewayStatus(), { pid: 2 ** 22 + 12345 });
  r = await cli('status', '--config', cfg);
  assert.is(r.code, 1);
  assert.match(r.out, 'zonegate is not running: process 4206649 is not running.');
  assert.match(r.out, 'Last known state');
  r = await cli('status');
  assert.is(r.code, 2);
  assert.match(r.err, '--config FILE is required');
  r = await cli('status', '--config', join(t.dir, 'missing.yaml'));
  assert.is(r.code, 1);
  assert.match(r.err, 'cannot read gateway config');
  assert.not.match(r.err, '    at ');
  assert.ok(existsSync(join(state, 'status.json')));
  assert.ok(readFileSync(join(state, 'status.json'), 'utf8').includes('"schema": 1'));
});

test.run();
