/**
 * The demo's MQTT broker: a private mosquitto on loopback (the default), or a broker the user
 * names with `make demo BROKER=mqtt://host:port`.
 *
 * The story needs the broker to go away and come back. With the private mosquitto that is
 * stopping and starting it. With someone else's broker it is a relay on loopback between the
 * gateway and that broker, which the demo closes and opens again: the fleet tools talk to the
 * broker itself, the gateway only through the relay, so the gateway alone loses its link.
 * On a shared broker the demo clears the retained messages it leaves under its site's topics,
 * before it starts (a previous run's bundles, signed by other keys) and when it ends.
 */
import type { ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as mqttConnect } from 'mqtt';

export interface DemoBroker {
  /** What the fleet tools connect to. */
  url: string;
  /** What the gateway's config names (the relay for an external broker). */
  gatewayUrl: string;
  /** One line for the narration. */
  description: string;
  /** The gateway's link goes down (the broker stops, or the relay closes). */
  goAway(): Promise<void>;
  /** The link is back. */
  comeBack(): Promise<void>;
  /** At the end: stop what the demo started, clear what it left retained. */
  close(): Promise<void>;
}

export interface ChildControl {
  start(name: string, cmd: string, args: string[]): ChildProcess;
  stop(child: ChildProcess): Promise<void>;
  waitFor(what: string, pred: () => Promise<boolean>): Promise<boolean>;
  freePort(): Promise<number>;
}

/** Reads `mqtt://host:port` (plain MQTT: the relay passes bytes and cannot carry TLS's server name). */
export function parseBrokerUrl(text: string): { host: string; port: number } {
  const m = /^mqtt:\/\/(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?\/?$/.exec(text);
  const port = m ? Number(m[2] ?? 1883) : NaN;
  if (!m || !(port >= 1 && port <= 65535)) throw new Error(`--broker ${text}: give a plain MQTT URL, mqtt://host:port (the demo relays the gateway's link through loopback)`);
  return { host: m[1].replace(/^\[|\]$/g, ''), port };
}

/** Whether a TCP connection to host:port succeeds now. */
export function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = connect({ host, port });
    s.once('connect', () => { s.destroy(); res(true); });
    s.once('error', () => res(false));
  });
}

/** A private mosquitto on 127.0.0.1 (persistence off: it starts empty each time). */
export async function startMosquitto(o: { bin: string; work: string; children: ChildControl }): Promise<DemoBroker> {
  const port = await o.children.freePort();
  const conf = join(o.work, 'mosquitto.conf');
  writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
  const up = async () => {
    const child = o.children.start('mosquitto', o.bin, ['-c', conf]);
    await o.children.waitFor('the broker', () => canConnect('127.0.0.1', port));
    return child;
  };
  let child: ChildProcess | null = await up();
  const url = `mqtt://127.0.0.1:${port}`;
  return {
    url, gatewayUrl: url, description: `mosquitto on ${url} (started for the demo)`,
    goAway: async () => { if (child) await o.children.stop(child); child = null; },
    comeBack: async () => { child ??= await up(); },
    close: async () => { if (child) await o.children.stop(child); child = null; },
  };
}

/** A broker the user gave: the gateway reaches it through a loopback relay the demo controls. */
export async function useExternalBroker(o: { url: string; site: string; children: ChildControl; log: (line: string) => void }): Promise<DemoBroker> {
  const target = parseBrokerUrl(o.url);
  if (!(await canConnect(target.host, target.port))) throw new Error(`cannot reach the broker at ${o.url}`);
  const cleared = await clearRetained(o.url, o.site);
  if (cleared) o.log(`cleared ${cleared} retained message(s) a previous run left under zonegate/v1/${o.site}/`);
  const relayPort = await o.children.freePort();
  // A child process, not this one: the demo runs the CLI with spawnSync, which would stall a
  // relay living in its own event loop for as long as each command runs.
  const start = async () => {
    const child = o.children.start('relay', process.execPath, ['-e', RELAY, String(relayPort), target.host, String(target.port)]);
    await o.children.waitFor('the relay', () => canConnect('127.0.0.1', relayPort));
    return child;
  };
  let relay: ChildProcess | null = await start();
  const shut = async () => { if (relay) await o.children.stop(relay); relay = null; };
  return {
    url: o.url, gatewayUrl: `mqtt://127.0.0.1:${relayPort}`,
    description: `${o.url} (given; the gateway reaches it through a relay on 127.0.0.1:${relayPort})`,
    goAway: shut,
    comeBack: async () => { relay ??= await start(); },
    close: async () => {
      await shut();
      const n = await clearRetained(o.url, o.site).catch(() => 0);
      if (n) o.log(`cleared the ${n} retained message(s) the demo left under zonegate/v1/${o.site}/`);
    },
  };
}

/** argv: listen port, broker host, broker port. Pipes each connection to the broker; exits on SIGTERM. */
const RELAY = `
const net = require('net');
const [port, host, bport] = process.argv.slice(1);
net.createServer((c) => {
  const u = net.connect({ host, port: Number(bport) });
  const drop = () => { c.destroy(); u.destroy(); };
  c.on('error', drop); u.on('error', drop); c.on('close', drop); u.on('close', drop);
  c.pipe(u); u.pipe(c);
}).listen(Number(port), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
`;

/** Publishes an empty retained message (MQTT 3.1.1 section 3.3.1.3: deletes it) on every retained topic under the site. */
async function clearRetained(url: string, site: string): Promise<number> {
  const client = mqttConnect(url, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5000, clean: true });
  try {
    await new Promise<void>((res, rej) => { client.once('connect', () => res()); client.once('error', rej); });
    const topics = new Set<string>();
    client.on('message', (topic, payload, packet) => { if (packet.retain && payload.length > 0) topics.add(topic); });
    await client.subscribeAsync(`zonegate/v1/${site}/#`, { qos: 1 });
    await new Promise((r) => setTimeout(r, 700)); // retained messages arrive right after the subscription
    for (const t of topics) await client.publishAsync(t, Buffer.alloc(0), { qos: 1, retain: true });
    return topics.size;
  } finally {
    await client.endAsync().catch(() => undefined);
  }
}
