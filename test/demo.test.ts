// `make demo BROKER=mqtt://...`: the whole narrated story against a broker the demo did not
// start (a mosquitto this test runs on loopback, standing for a site's broker). Checks that
// every step passes, that the gateway's link was cut and restored through the demo's relay
// while the broker itself stayed up, and that the demo leaves no retained message behind on
// a broker it shares. The fleet side: with Debian's postgresql (as `make test` installs it) the
// collector stored into the demo's own cluster, `fleet audit verify --db` verified gw-01's chain
// from it, the fleet console showed gw-01 online on v2 and its chain state read from the
// database, and the cluster was stopped and its folder removed; without it, one line says so.
// The default path (the demo's own mosquitto) is what `make demo` runs.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { connect as mqttConnect } from 'mqtt';
import { skipReason, startMosquitto } from './helpers/mosquitto';
import { skipReason as pgSkipReason } from './helpers/postgres';

const root = process.cwd();
const demo = join(root, 'dist', 'demo.js');
const reason = skipReason() ?? (existsSync(demo) && existsSync(join(root, 'dist', 'zonegate.js')) ? undefined : 'dist/ is not built (make test builds it first)');
if (reason) console.log(`SKIPPED demo test: ${reason}`);
const it = reason ? test.skip : test;

function runDemo(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [demo, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString('utf8'); });
    child.stderr.on('data', (d: Buffer) => { out += d.toString('utf8'); });
    const t = setTimeout(() => child.kill('SIGKILL'), 150_000);
    child.on('exit', (code) => { clearTimeout(t); resolve({ code, out }); });
  });
}

async function retainedUnder(url: string, prefix: string): Promise<string[]> {
  const c = mqttConnect(url, { protocolVersion: 5, reconnectPeriod: 0 });
  await new Promise<void>((res, rej) => { c.once('connect', () => res()); c.once('error', rej); });
  const topics: string[] = [];
  c.on('message', (topic, payload, packet) => { if (packet.retain && payload.length) topics.push(topic); });
  await c.subscribeAsync(`${prefix}#`, { qos: 1 });
  await new Promise((r) => setTimeout(r, 500));
  await c.endAsync();
  return topics;
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = netConnect({ host: '127.0.0.1', port });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/** The fleet side's output: the database chapter when PostgreSQL runs here, and the console's pages. */
async function checkFleetSide(out: string): Promise<void> {
  const pgWhy = pgSkipReason();
  if (pgWhy) {
    assert.match(out, /no PostgreSQL for the fleet \(.+\): the collector keeps per-device files/);
    assert.match(out, '✔ its page reads the collected audit log from the per-device files: the chain verifies');
  } else {
    const db = /the fleet's database: PostgreSQL \d+ on 127\.0\.0\.1:(\d+), a cluster of the demo's own \(initdb --no-sync in (\S+), fsync off; removed at the end\)/.exec(out);
    assert.ok(db, `the demo started its own cluster:\n${out.slice(0, 3000)}`);
    const [port, dir] = [Number(db![1]), db![2]];
    const url = `postgres://zonegate@127.0.0.1:${port}/postgres`;
    assert.match(out, `fleet.yaml: store { kind: postgres, url: "${url}" }`);
    assert.match(out, `$ zonegate fleet audit verify --db ${url}`);
    assert.match(out, /^ {5}gw-01: OK — seq 0\.\.\d+, \d+ record\(s\), [1-9]\d* checkpoint\(s\)$/m);
    assert.match(out, "✔ the fleet's copy in PostgreSQL verifies record by record");
    assert.match(out, /console ▸ gw-01's audit upload: Stored seq 0\.\.\d+, last record \S+ Chain verifies/);
    assert.match(out, '✔ its page reads the collected audit log from the database: the chain verifies');
    assert.match(out, `PostgreSQL stopped; ${dir} removed.`);
    assert.not.ok(existsSync(dir), 'the cluster folder is gone');
    assert.not.ok(await listening(port), 'the cluster no longer listens');
  }
  assert.match(out, /✔ ops-demo logs in at https:\/\/127\.0\.0\.1:\d+\/ with password and TOTP code/);
  assert.match(out, 'console ▸ 1 gateways, 1 online,');
  assert.match(out, 'console ▸ Site substation-12 (1/1 online)');
  assert.match(out, /console ▸ gw-01 {2}online {2}last seen .+? ago {2}policy v2 \(expires \S+\)/);
  assert.match(out, /console ▸ gw-01 .* alarms: policy-refused/, 'the alarm the tampered bundle raised');
  assert.match(out, '✔ the fleet page shows gw-01 online on policy v2');
}

it('the demo runs end to end against a given broker and leaves it clean', async () => {
  const broker = await startMosquitto();
  try {
    // A stale retained bundle from "a previous run" (garbage to this run's keys) is cleared first.
    const c = mqttConnect(broker.url, { protocolVersion: 5, reconnectPeriod: 0 });
    await new Promise<void>((res) => c.once('connect', () => res()));
    await c.publishAsync('zonegate/v1/substation-12/gw-01/policy', Buffer.from('stale'), { qos: 1, retain: true });
    await c.endAsync();
    const r = await runDemo(['--broker', broker.url]);
    const failed = r.out.split('\n').filter((l) => l.includes('✘'));
    assert.equal(failed, [], r.out.slice(-3000));
    assert.is(r.code, 0, r.out.slice(-3000));
    assert.match(r.out, `broker ${broker.url} (given; the gateway reaches it through a relay on 127.0.0.1:`);
    assert.match(r.out, 'cleared 1 retained message(s) a previous run left under zonegate/v1/substation-12/');
    assert.match(r.out, '✔ broker down, the HMI still reads');
    assert.match(r.out, '✔ gw-01 reconnected and activated v2');
    assert.match(r.out, /refused after \d+\.\d s: 1 gateway\(s\) refused it, 0\/1 report it\n.* gw-01: ERR_BUNDLE_SIGNATURE: /);
    assert.ok((r.out.match(/✔/g) ?? []).length >= 40, 'every chapter ran');
    await checkFleetSide(r.out);
    assert.equal(await retainedUnder(broker.url, 'zonegate/v1/substation-12/'), []);
  } finally {
    await broker.close();
  }
});

it('usage errors exit 2 and say what a broker URL looks like', async () => {
  const r = await runDemo(['--broker', 'mqtts://broker.example:8883']);
  assert.is(r.code, 2);
  assert.match(r.out, 'give a plain MQTT URL, mqtt://host:port');
  const h = await runDemo(['--help']);
  assert.is(h.code, 0);
  assert.match(h.out, 'usage: node dist/demo.js [--broker mqtt://host:port]');
});

test.run();
