// `make demo BROKER=mqtt://...`: the whole narrated story against a broker the demo did not
// start (a mosquitto this test runs on loopback, standing for a site's broker). Checks that
// every step passes, that the gateway's link was cut and restored through the demo's relay
// while the broker itself stayed up, and that the demo leaves no retained message behind on
// a broker it shares. The default path (the demo's own mosquitto) is what `make demo` runs.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { connect as mqttConnect } from 'mqtt';
import { skipReason, startMosquitto } from './helpers/mosquitto';

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
    assert.ok((r.out.match(/✔/g) ?? []).length >= 40, 'every chapter ran');
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
