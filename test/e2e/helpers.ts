/**
 * Shared rig of the end-to-end tests: a lab folder with fleet keys, a trust root and signed
 * bundles made through the real CLI commands (in process), the gateway config pointing at them,
 * a real Modbus upstream, and the daemon bundled and run as a child process.
 */
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { build } from 'esbuild';
import { runCli } from '../../cli/framework';
import { commands } from '../../cli/commands';
import { modbusUpstream } from '../helpers/modbus';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto';
import { connectBroker, closeBroker } from '../../fleet/broker';
import type { MqttClient } from 'mqtt';

export { modbusUpstream };

export type Cleanup = () => Promise<unknown> | unknown;

/** Runs a zonegate command in this process; exit code and what it printed. */
export async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [], err: string[] = [];
  const code = await runCli(argv, commands, { out: (t) => out.push(t), err: (t) => err.push(t) }, new AbortController().signal);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** `site: lab` with plc-1 (modbus) and hmi-1 = 127.0.0.1; `writes` lets the HMI write single registers; `tag` makes versions differ. */
export function labPolicy(o: { writes: boolean; onExpiry?: 'keep-enforcing' | 'deny-all'; tag?: string }): string {
  return `site: lab
zones:
  - { id: station, networks: [127.0.0.0/8], securityLevel: 3 }
  - { id: control, networks: [10.10.1.0/24], securityLevel: 3 }
assets:
  - { id: plc-1, zone: control, address: 10.10.1.20, kind: plc, services: [{ protocol: modbus, port: 502 }] }
identities:
  - { id: hmi-1, kind: device, zone: station, addresses: [127.0.0.1] }
conduits:
  - id: hmi-reads-plc${o.tag ? `-${o.tag}` : ''}
    from: { identities: [hmi-1] }
    to: { assets: [plc-1] }
    protocol: modbus
    allow: { functions: [read-holding-registers${o.writes ? ', write-single-register' : ''}], units: [1], addresses: ["0-99"] }
settings: { onExpiry: ${o.onExpiry ?? 'keep-enforcing'} }
tests:
  - { request: { from: hmi-1, to: plc-1, modbus: { function: 3, unit: 1, address: 0 } }, expect: allow }
`;
}

export interface Lab {
  dir: string;
  config: string;
  stateDir: string;
  p(...x: string[]): string;
  write(name: string, text: string): string;
  /** Signs `policy` as bundle `version` for gw-e2e with the lab's policy key; returns the bundle file. */
  sign(name: string, policy: string, version: number, expires?: string): Promise<string>;
  remove(): void;
}

/** Keys (keygen), a trust root (trust init) in a temp folder. */
export async function makeLab(): Promise<Lab> {
  const dir = mkdtempSync(join(tmpdir(), 'zg-e2e-'));
  const p = (...x: string[]) => join(dir, ...x);
  for (const name of ['root-1', 'policy-1']) {
    const r = await cli('fleet', 'keygen', '--out', p('keys'), '--name', name);
    if (r.code !== 0) throw new Error(`keygen: ${r.err}`);
  }
  const t = await cli('fleet', 'trust', 'init', '--root-key', p('keys', 'root-1.key'), '--threshold', '1', '--policy-key', p('keys', 'policy-1.pub'), '--out', p('keys', 'root.json'));
  if (t.code !== 0) throw new Error(`trust init: ${t.err}`);
  const write = (name: string, text: string) => { writeFileSync(p(name), text); return p(name); };
  return {
    dir, config: p('gateway.yaml'), stateDir: p('state'), p, write,
    async sign(name, policy, version, expires = '30d') {
      const src = write(`${name}.yaml`, policy);
      const r = await cli('fleet', 'sign', src, '--key', p('keys', 'policy-1.key'), '--version', String(version), '--targets', 'gw-e2e', '--expires', expires, '--out', p(`${name}.bundle`));
      if (r.code !== 0) throw new Error(`fleet sign: ${r.err}`);
      return p(`${name}.bundle`);
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * The rig of a signed gateway beside a broker: a real mosquitto, a lab (makeLab), a Modbus
 * upstream, bundle v1 of labPolicy({ writes: false }) signed, and the fleet's client; all of it
 * cleaned up through `cleanups`. The caller writes gateway.yaml (signedConfig).
 */
export async function brokerLab(cleanups: Cleanup[]): Promise<{ broker: Mosquitto; lab: Lab; upstreamPort: number; v1: Buffer; fleet: MqttClient }> {
  const broker = await startMosquitto();
  cleanups.push(() => broker.close());
  const lab = await makeLab();
  cleanups.push(() => lab.remove());
  const upstreamPort = await modbusUpstream(cleanups);
  const v1 = readFileSync(await lab.sign('v1', labPolicy({ writes: false }), 1));
  const fleet = await connectBroker({ url: broker.url });
  cleanups.push(() => closeBroker(fleet));
  return { broker, lab, upstreamPort, v1, fleet };
}

/** The gateway config of the lab (trustRoot relative to the config file, as the demo writes it). */
export function signedConfig(o: { upstreamPort: number; mqttUrl?: string; listenPort?: number; policyFile?: string; extra?: string; audit?: string }): string {
  return `device: gw-e2e
site: lab
stateDir: ./state
trustRoot: { file: keys/root.json }
${o.policyFile ? `policyFile: ${o.policyFile}\n` : ''}${o.mqttUrl ? `mqtt: { url: "${o.mqttUrl}", keepalive: 5 }\n` : ''}audit: { flushDelayMs: 5${o.audit ? `, ${o.audit}` : ''} }
listeners:
  - { listen: 127.0.0.1:${o.listenPort ?? 0}, asset: plc-1, service: modbus, upstream: 127.0.0.1:${o.upstreamPort} }
log: { level: info, decisions: stdout }
timeouts: { drainMs: 200 }
${o.extra ?? ''}`;
}

/** Polls `cond` every 20 ms; throws naming `what` after `limitMs`. */
export async function waitFor(cond: () => boolean | Promise<boolean>, what: string, limitMs = 20_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Bundles cli/main.ts exactly as build/bundle.mjs builds dist/zonegate.js, into a file of
 * this run (dist/zonegate-e2e-PID.js, so parallel runs and other builds don't race on one file).
 */
export async function bundleCli(root = process.cwd()): Promise<{ file: string; remove(): void }> {
  const file = join(root, 'dist', `zonegate-e2e-${process.pid}.js`);
  await build({
    entryPoints: [join(root, 'cli/main.ts')], outfile: file, bundle: true, platform: 'node', format: 'cjs', target: 'node18',
    external: ['@node-rs/argon2', 'cbor-extract', 'playwright-core'],
    define: { ZONEGATE_VERSION: JSON.stringify(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version) },
    logLevel: 'warning',
  });
  return { file, remove: () => { if (existsSync(file)) rmSync(file, { force: true }); } };
}

export interface Daemon {
  child: ChildProcess;
  out(): string;
  err(): string;
  /** Waits for `re` in stderr (new text only when `after` is given: an offset from err().length). */
  waitErr(re: RegExp, o?: { ms?: number; after?: number }): Promise<RegExpExecArray>;
  exit: Promise<number | null>;
}

/** `node BUNDLE run --config FILE` as a child; killed by the cleanup if still running. */
export function daemon(bundle: string, config: string, cleanups: Cleanup[]): Daemon {
  const child = spawn(process.execPath, [bundle, 'run', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { err += d; });
  const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  cleanups.push(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); return exit; });
  return {
    child, out: () => out, err: () => err, exit,
    async waitErr(re, o = {}) {
      const deadline = Date.now() + (o.ms ?? 20_000);
      for (;;) {
        const m = re.exec(err.slice(o.after ?? 0));
        if (m) return m;
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no ${re} in the daemon's stderr:\n${err}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
}
