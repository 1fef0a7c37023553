/**
 * Fixtures of the runtime update tests: a trust root with a `runtime` role, packages built from
 * the real bundle (dist/zonegate.js) with a patched version string, a device laid out by the real
 * build/install.sh (DESTDIR), and a supervisor standing in for systemd: it runs boot-check.sh
 * (ExecStartPre), starts `<root>/current/bin/zonegate run` (ExecStart), waits for READY=1 on a
 * real AF_UNIX datagram socket through the real `systemd-notify`, runs `zonegate update commit`
 * (ExecStartPost), kills a start that is not READY by its deadline (TimeoutStartSec), records
 * how each process ended (ExecStopPost boot-check.sh --stopped) and restarts on every exit
 * (Restart=always).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { publicKeyOfSeed } from '../../policy/bundle/ed25519';
import { signBundle } from '../../policy/bundle/sign';
import type { SigningKey, TrustRoot } from '../../policy/bundle/types';
import { createTrustRoot } from '../../fleet/trust';
import { freePort } from '../helpers/ports';
export { freePort };

export const REPO = process.cwd();
/** The version string the test bundle is built with; packages patch it. */
const BASE_VERSION = '0.0.0-update-test';
let bundleFile: string | undefined;

/**
 * The real CLI and daemon, built from the current sources exactly as build/bundle.mjs does
 * (build/cli-build.mjs: zonegate.js and chunks/, so the test never runs a stale dist/), once per
 * test process, into a temp folder. Returns the path of zonegate.js.
 */
export function bundle(): string {
  if (bundleFile) return bundleFile;
  const dir = mkdtempSync(join(tmpdir(), 'zg-update-bundle-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const script = `import { buildCli } from ${JSON.stringify(pathToFileURL(join(REPO, 'build/cli-build.mjs')).href)};
await buildCli({ outdir: ${JSON.stringify(dir)}, version: ${JSON.stringify(BASE_VERSION)}, sourcemap: false });`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: REPO, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`building the CLI failed: ${r.stderr}`);
  bundleFile = join(dir, 'zonegate.js');
  return bundleFile;
}

/** Copies the built CLI (zonegate.js as `name`, and chunks/) into `stage` with `version` patched in. */
function copyCli(stage: string, version: string, name: string): void {
  const from = dirname(bundle());
  const marker = JSON.stringify(BASE_VERSION);
  mkdirSync(join(stage, 'chunks'));
  let patched = 0;
  for (const f of readdirSync(join(from, 'chunks'))) {
    const text = readFileSync(join(from, 'chunks', f), 'utf8');
    if (text.includes(marker)) patched += 1;
    writeFileSync(join(stage, 'chunks', f), text.replace(marker, JSON.stringify(version)));
  }
  if (patched !== 1) throw new Error(`${patched} chunks hold ${marker} (want 1) to patch`);
  copyFileSync(bundle(), join(stage, name));
}
const DAY = 86_400_000;

export function key(label: string): SigningKey {
  const seed = new Uint8Array(createHash('sha256').update(`zonegate-update-test:${label}`).digest());
  return { seed, publicKey: publicKeyOfSeed(seed) };
}

/** Root 1-of-1, policy 1-of-1, runtime 1-of-1; valid from yesterday for a year. */
export function trustWorld(): { root: TrustRoot; runtimeKey: SigningKey; policyKey: SigningKey } {
  const rootKey = key('root'), policyKey = key('policy'), runtimeKey = key('runtime');
  const now = Date.now();
  const root = createTrustRoot({
    spec: {
      version: 1, issuedAt: now - DAY, expiresAt: now + 365 * DAY,
      roles: {
        root: { publicKeys: [rootKey.publicKey], threshold: 1 },
        policy: { publicKeys: [policyKey.publicKey], threshold: 1 },
        runtime: { publicKeys: [runtimeKey.publicKey], threshold: 1 },
      },
    },
    signers: [rootKey],
  });
  return { root, runtimeKey, policyKey };
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** A signed runtime bundle for a package's bytes. */
export function runtimeBundle(o: { key: SigningKey; version: number; pkg: Uint8Array; packageVersion: string; arch?: string; site?: string; targets?: string[]; sha256?: string; downgrade?: boolean }): Uint8Array {
  const now = Date.now();
  return signBundle({
    type: 'runtime',
    body: {
      site: o.site ?? 'lab', targets: o.targets ?? ['gw-test'], version: o.version, issuedAt: now, expiresAt: now + 30 * DAY,
      runtime: { sha256: o.sha256 ?? sha256(o.pkg), size: o.pkg.length, arch: o.arch ?? 'x64', version: o.packageVersion, ...(o.downgrade !== undefined ? { downgrade: o.downgrade } : {}) },
    },
    keys: [o.key],
  });
}

export type Flavour = 'good' | 'crash' | 'hang';

/**
 * A package of the real bundle with `version` patched in. `crash`: zonegate.js is a wrapper that
 * exits 1 on `run`; `hang`: the wrapper never gets to READY on `run` (it hangs before it). Other
 * commands (update commit, version) go to the real bundle.
 */
export function makePackage(o: { dir: string; version: string; flavour?: Flavour }): { file: string; bytes: Uint8Array } {
  const stage = mkdtempSync(join(o.dir, 'pkg-'));
  const flavour = o.flavour ?? 'good';
  copyCli(stage, o.version, flavour === 'good' ? 'zonegate.js' : 'real.js');
  if (flavour !== 'good') {
    writeFileSync(join(stage, 'zonegate.js'), flavour === 'crash'
      ? "if (process.argv[2] === 'run') { process.stderr.write('zonegate: simulated crash at start\\n'); process.exit(1); }\nrequire('./real.js');\n"
      : "if (process.argv[2] === 'run') { process.stderr.write('zonegate: simulated hang before READY\\n'); setInterval(() => {}, 1 << 30); } else require('./real.js');\n");
  }
  // The native module the bundle leaves outside, as the real package ships it (build/package.mjs).
  for (const m of ['@node-rs/argon2', '@node-rs/argon2-linux-x64-gnu']) cpSync(join(REPO, 'node_modules', m), join(stage, 'node_modules', m), { recursive: true });
  mkdirSync(join(stage, 'bin'));
  writeFileSync(join(stage, 'bin/zonegate'), '#!/bin/sh\nhere=$(dirname "$(readlink -f "$0")")\nexec "${ZONEGATE_NODE:-node}" "$here/../zonegate.js" "$@"\n');
  chmodSync(join(stage, 'bin/zonegate'), 0o755);
  mkdirSync(join(stage, 'share'));
  copyFileSync(join(REPO, 'build/zonegate.service'), join(stage, 'share/zonegate.service'));
  writeFileSync(join(stage, 'share/gateway.example.yaml'), 'device: gw-01\n');
  writeFileSync(join(stage, 'share/policy.example.yaml'), 'site: lab\n');
  copyFileSync(join(REPO, 'build/install.sh'), join(stage, 'install.sh'));
  copyFileSync(join(REPO, 'build/boot-check.sh'), join(stage, 'boot-check.sh'));
  writeFileSync(join(stage, 'VERSION'), `${o.version}\n`);
  const file = join(o.dir, `zonegate-${o.version}-${flavour}-linux-x64.tar.gz`);
  const r = spawnSync('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '-czf', file, '-C', stage, '.']);
  if (r.status !== 0) throw new Error(`tar: ${r.stderr}`);
  rmSync(stage, { recursive: true, force: true });
  return { file, bytes: new Uint8Array(readFileSync(file)) };
}

export interface Device {
  dir: string;
  root: string;
  state: string;
  etc: string;
  config: string;
  listenPort: number;
}

/** Lays out a device with build/install.sh (DESTDIR) from a package, then writes a lab config, policy and trust root. */
export function installDevice(o: { dir: string; pkg: string; root: TrustRoot; listenPort: number; upstreamPort: number; policy: string }): Device {
  const dest = join(o.dir, 'device');
  const r = spawnSync('sh', [join(REPO, 'build/install.sh'), o.pkg], { env: { ...process.env, DESTDIR: dest }, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`install.sh failed: ${r.stdout}${r.stderr}`);
  const etc = join(dest, 'etc/zonegate');
  const state = join(dest, 'var/lib/zonegate');
  writeFileSync(join(etc, 'policy.yaml'), o.policy);
  writeFileSync(join(etc, 'root.cbor'), o.root.bytes);
  writeFileSync(join(etc, 'gateway.yaml'), `device: gw-test
site: lab
stateDir: ${state}
policyFile: policy.yaml
trustRoot: { file: root.cbor }
listeners:
  - { listen: 127.0.0.1:${o.listenPort}, asset: plc-1, service: modbus, upstream: 127.0.0.1:${o.upstreamPort} }
timeouts: { drainMs: 200 }
log: { level: info, decisions: none }
`);
  return { dir: o.dir, root: join(dest, 'opt/zonegate'), state, etc, config: join(etc, 'gateway.yaml'), listenPort: o.listenPort };
}

/** A datagram socket (Debian's python: Node has none) that collects sd_notify messages. */
export async function notifySocket(dir: string): Promise<{ path: string; messages: string[]; close(): void }> {
  const path = join(dir, 'notify.sock');
  const py = spawn('/usr/bin/python3', ['-u', '-c', `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("LISTENING", flush=True)
while True:
    print(s.recv(4096).decode().replace("\\n", "|"), flush=True)
`, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  const messages: string[] = [];
  let buf = '';
  await new Promise<void>((resolve, reject) => {
    py.once('exit', (c) => reject(new Error(`notify socket helper exited ${c}`)));
    py.stdout!.on('data', (d) => {
      buf += d;
      const lines = buf.split('\n'); buf = lines.pop()!;
      for (const l of lines) { if (l === 'LISTENING') resolve(); else messages.push(l); }
    });
  });
  return { path, messages, close: () => { py.kill('SIGKILL'); } };
}

export interface StartRecord {
  slot: string;
  version: string;
  /** ready = READY=1 and committed; exit = the process ended by itself; timeout = killed at the start deadline. */
  end: 'ready' | 'exit' | 'timeout' | 'stopped' | 'running';
  exitCode?: number | null;
  stderr: string;
}

export interface Supervisor {
  starts: StartRecord[];
  /** Resolves when pred holds (polled), or rejects after limitMs naming what happened. */
  waitFor(pred: (s: StartRecord[]) => boolean, what: string, limitMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Starts the systemd stand-in; see the file comment. */
/** startTimeoutMs may depend on the version started (a version known never to become ready needs no generous deadline). */
export function supervise(o: { dev: Device; notify: { path: string; messages: string[] }; startTimeoutMs: number | ((version: string) => number) }): Supervisor {
  const { dev } = o;
  const starts: StartRecord[] = [];
  let child: ChildProcess | undefined;
  let stopping = false;
  const env = { ...process.env, NOTIFY_SOCKET: o.notify.path, ZONEGATE_NODE: process.execPath, ZONEGATE_ROOT: dev.root };
  const bootCheck = (...extra: string[]) => spawnSync('sh', [join(dev.root, 'boot-check.sh'), '--root', dev.root, '--state', dev.state, ...extra], { encoding: 'utf8' });
  const zonegate = (args: string[]) => spawnSync(join(dev.root, 'current/bin/zonegate'), args, { env, encoding: 'utf8' });

  const cycle = () => {
    if (stopping) return;
    const pre = bootCheck();
    if (pre.status !== 0) throw new Error(`boot-check failed: ${pre.stderr}`);
    const slot = readLink(join(dev.root, 'current'));
    const version = readFileSync(join(dev.root, 'current/VERSION'), 'utf8').trim();
    const rec: StartRecord = { slot, version, end: 'running', stderr: pre.stderr };
    starts.push(rec);
    const seen = o.notify.messages.length;
    const c = spawn(join(dev.root, 'current/bin/zonegate'), ['run', '--config', dev.config], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    writeFileSync(join(dev.state, 'zonegate.pid'), `${c.pid}\n`);
    c.stderr!.on('data', (d) => { rec.stderr += d; });
    let ready = false;
    const deadline = setTimeout(() => { if (!ready) { rec.end = 'timeout'; c.kill('SIGKILL'); } }, typeof o.startTimeoutMs === 'function' ? o.startTimeoutMs(version) : o.startTimeoutMs);
    const poll = setInterval(() => {
      if (ready || !o.notify.messages.slice(seen).some((m) => m.split('|').includes('READY=1'))) return;
      ready = true;
      clearTimeout(deadline);
      const post = zonegate(['update', 'commit', '--config', dev.config, '--root', dev.root]);
      rec.stderr += post.stdout + post.stderr;
      if (post.status !== 0) { c.kill('SIGTERM'); return; }
      rec.end = 'ready';
    }, 20);
    c.on('exit', (code, signal) => {
      clearTimeout(deadline);
      clearInterval(poll);
      if (rec.end === 'running' || rec.end === 'ready') rec.end = stopping ? 'stopped' : 'exit';
      rec.exitCode = code;
      const result = rec.end === 'timeout' ? 'timeout' : code === 0 ? 'success' : 'exit-code';
      bootCheck('--stopped', result, signal ? 'killed' : 'exited', signal ?? String(code));
      if (child === c) child = undefined;
      if (!stopping) setTimeout(cycle, 50);
    });
  };
  cycle();

  return {
    starts,
    async waitFor(pred, what, limitMs = 60_000) {
      const until = Date.now() + limitMs;
      while (!pred(starts)) {
        if (Date.now() > until) throw new Error(`supervisor: gave up waiting for ${what}; starts: ${JSON.stringify(starts.map((s) => ({ ...s, stderr: s.stderr.slice(-400) })), null, 1)}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async stop() {
      stopping = true;
      const c = child;
      if (!c || c.exitCode !== null) return;
      await new Promise<void>((resolve) => { c.once('exit', () => resolve()); c.kill('SIGTERM'); setTimeout(() => c.kill('SIGKILL'), 3000).unref(); });
    },
  };
}

function readLink(p: string): string {
  const r = spawnSync('readlink', [p], { encoding: 'utf8' });
  return r.stdout.trim().replace(/^slots\//, '');
}

/** One Modbus/TCP request through the gateway; the response's function code and exception (if any), or 'closed'. */
export function modbusRequest(port: number, pdu: number[]): Promise<{ fn: number; exception?: number; data: Buffer } | 'closed'> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port });
    const p = Buffer.from(pdu);
    const req = Buffer.alloc(7 + p.length);
    req.writeUInt16BE(0x1234, 0); req.writeUInt16BE(0, 2); req.writeUInt16BE(p.length + 1, 4); req[6] = 1; p.copy(req, 7);
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => { s.destroy(); reject(new Error('modbus request timed out')); }, 10_000);
    s.on('connect', () => s.write(req));
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 6 && buf.length >= 6 + buf.readUInt16BE(4)) {
        clearTimeout(timer); s.destroy();
        const fn = buf[7];
        resolve({ fn, ...(fn & 0x80 ? { exception: buf[8] } : {}), data: buf.subarray(8) });
      }
    });
    s.on('close', () => { clearTimeout(timer); resolve('closed'); });
    s.on('error', (e) => { clearTimeout(timer); reject(e); });
  });
}

export function tempDir(tag: string): string {
  return mkdtempSync(join(tmpdir(), `zg-update-${tag}-`));
}

export const LAB_POLICY = `site: lab
zones:
  - { id: station, networks: [127.0.0.0/8], securityLevel: 3 }
  - { id: control, networks: [10.10.1.0/24], securityLevel: 3 }
assets:
  - { id: plc-1, zone: control, address: 10.10.1.20, kind: plc, services: [{ protocol: modbus, port: 502 }] }
identities:
  - { id: hmi-1, kind: device, zone: station, addresses: [127.0.0.1] }
conduits:
  - id: hmi-reads-plc
    from: { identities: [hmi-1] }
    to: { assets: [plc-1] }
    protocol: modbus
    allow: { functions: [read-holding-registers], units: [1], addresses: ["0-99"] }
tests:
  - { request: { from: hmi-1, to: plc-1, modbus: { function: 3, unit: 1, address: 0 } }, expect: allow }
  - { request: { from: hmi-1, to: plc-1, modbus: { function: 6, unit: 1, address: 0 } }, expect: deny }
`;

export const hasPrereqs = (): string | null =>
  spawnSync('systemd-notify', ['--help']).error ? 'systemd-notify not installed'
      : spawnSync('/usr/bin/python3', ['-c', 'import socket']).status !== 0 ? '/usr/bin/python3 missing' : null;
