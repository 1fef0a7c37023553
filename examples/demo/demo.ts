/**
 * `make demo`: the main job end to end on one machine, on loopback only.
 *
 * A fleet manager makes keys and a trust root and signs the example substation's policy; an MQTT
 * broker (a private mosquitto, or the one `make demo BROKER=mqtt://host:port` names) carries it to a gateway that starts with no policy at all (deny-all); two PLC
 * simulators sit behind the gateway; an HMI, an engineering workstation and an enterprise laptop
 * are played by clients bound to loopback addresses (127.10.0.5, 127.10.0.20, 127.20.3.4), since
 * the lab copy of the policy maps 10.x.y.z to 127.x.y.z. A vendor (127.77.0.9) gets a signed grant,
 * logs in at the gateway's login page and reads a PLC. The fleet's audit collector stores into a
 * PostgreSQL cluster of the demo's own when Debian's postgresql is installed (fleet-side.ts), and
 * the fleet console shows the site to an operator. The story is narrated as it happens, with the
 * gateway's decisions interleaved. Exits 0 when every step behaved as it should.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DemoModbusClient, type ModbusReply } from './modbus-client';
import { applyRuleset } from '../../drivers/nftables/apply';
import { readCounters } from '../../drivers/nftables/counters';
import { DemoWebClient } from './web-login';
import { connectMaster } from '../../runtime/lab/dnp3-master';
import { freePort } from '../../runtime/lab/free-port';
import { FC, Iin2 } from '../../drivers/dnp3';
import { canConnect, parseBrokerUrl, startMosquitto, useExternalBroker, type ChildControl, type DemoBroker } from './broker';
import { fleetConsoleChapter, startFleetDatabase, type DemoKit, type FleetDatabaseStart } from './fleet-side';

const root = resolve(__dirname, '..');
const cli = join(root, 'dist', 'zonegate.js');
const tty = process.stdout.isTTY;
const c = (code: number) => (s: string) => (tty ? `\x1b[${code}m${s}\x1b[0m` : s);
const bold = c(1), dim = c(2), green = c(32), red = c(31), yellow = c(33), cyan = c(36);

const work = mkdtempSync(join(tmpdir(), 'zonegate-demo-'));
const children: ChildProcess[] = [];
let failures = 0;
let chapter = 0;
let broker: DemoBroker | undefined;
let fleetDb: FleetDatabaseStart | undefined;
let dbClosed: Promise<string> | undefined;

function say(text: string): void { console.log(text); }
function title(text: string): void { chapter += 1; say(`\n${bold(`${chapter}. ${text}`)}`); }
function check(ok: boolean, text: string): void {
  if (!ok) failures += 1;
  say(`   ${ok ? green('✔') : red('✘')} ${text}`);
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type ZgOptions = { show?: boolean; quiet?: boolean; input?: string };
type ZgResult = { code: number; out: string; err: string };

function echoCommand(args: string[], opts: ZgOptions): void {
  if (!opts.quiet) say(dim(`   $ ${opts.input !== undefined ? 'echo ******** | ' : ''}zonegate ${args.map((a) => (/[\s{}"']/.test(a) ? `'${a}'` : a)).join(' ')}`));
}

function showOutput(r: ZgResult, opts: ZgOptions): ZgResult {
  if (opts.show) for (const line of (r.out + r.err).trimEnd().split('\n')) if (line) say(dim(`     ${line}`));
  return r;
}

/** Runs the zonegate CLI as a user would, echoing the command line; returns exit code and output. */
function zonegate(args: string[], opts: ZgOptions = {}): ZgResult {
  echoCommand(args, opts);
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', cwd: work, ...(opts.input !== undefined ? { input: opts.input } : {}) });
  return showOutput({ code: r.status ?? 1, out: r.stdout ?? '', err: r.stderr ?? '' }, opts);
}

/**
 * The same without blocking the event loop, for the chapters before anything else runs: the
 * fleet's PostgreSQL cluster starts meanwhile (with spawnSync it would wait for the next await).
 */
function zonegateAsync(args: string[], opts: ZgOptions = {}): Promise<ZgResult> {
  echoCommand(args, opts);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], { cwd: work, stdio: [opts.input !== undefined ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    child.stdout?.on('data', (d: Buffer) => { out += d.toString('utf8'); });
    child.stderr?.on('data', (d: Buffer) => { err += d.toString('utf8'); });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    child.once('error', (e) => resolve(showOutput({ code: 1, out, err: err + e.message }, opts)));
    child.once('close', (code) => resolve(showOutput({ code: code ?? 1, out, err }, opts)));
  });
}


function startChild(name: string, cmd: string, args: string[], onLine?: (line: string) => void): ChildProcess {
  const child = spawn(cmd, args, { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let buf = '';
  const feed = (d: Buffer) => {
    buf += d.toString('utf8');
    let i;
    while ((i = buf.indexOf('\n')) >= 0) { const line = buf.slice(0, i); buf = buf.slice(i + 1); onLine?.(line); }
  };
  child.stdout?.on('data', feed);
  child.stderr?.on('data', (d: Buffer) => { writeFileSync(join(work, `${name}.err.log`), d, { flag: 'a' }); });
  return child;
}

async function waitFor(what: string, pred: () => boolean | Promise<boolean>, ms = 15_000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) { if (await pred()) return true; await sleep(100); }
  say(red(`   timed out waiting for ${what}`));
  return false;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 5000);
  await done;
  clearTimeout(t);
}

/** Pretty-prints one decision line of the gateway's stdout. */
function showDecision(line: string): void {
  let ev: any;
  try { ev = JSON.parse(line); } catch { return; }
  if (ev.kind === 'decision' && ev.decision) {
    const d = ev.decision;
    const op = ev.modbus ? `fc${ev.modbus.function} unit ${ev.modbus.unit} ${ev.modbus.address}+${ev.modbus.count}${ev.modbus.values ? ` = ${JSON.stringify(ev.modbus.values)}` : ''}`
      : ev.dnp3 ? `dnp3 ${ev.dnp3.name} ${ev.dnp3.source}→${ev.dnp3.destination} ${ev.dnp3.objects.join(' ')}${ev.dnp3.values ? ` = ${JSON.stringify(ev.dnp3.values)}` : ''}` : (ev.message ?? 'connect');
    const who = d.identity ?? ev.src;
    const verdict = d.decision === 'allow' ? (d.monitor ? yellow('ALLOW (monitor)') : green('ALLOW')) : red('DENY ');
    say(dim('   gateway ▸ ') + `${verdict} ${who} → ${ev.asset} ${op} ${dim(`${d.conduit ?? d.reason}${d.reason && d.conduit ? ` (${d.reason})` : ''} · ${ev.policyVersion ?? ''}`)}`);
  } else if (ev.kind === 'malformed') {
    say(dim('   gateway ▸ ') + `${red('MALFORMED')} from ${ev.src}: ${ev.message} ${dim('(connection closed)')}`);
  }
}

function describe(r: ModbusReply): string {
  if (r.ok) return r.values ? `values ${JSON.stringify(r.values)}` : 'written';
  if (r.exception !== undefined) return `Modbus exception 0x${r.exception.toString(16).padStart(2, '0')}`;
  return 'no answer';
}

const USAGE = `usage: node dist/demo.js [--broker mqtt://host:port]   (make demo [BROKER=mqtt://host:port])

Runs a whole small site on loopback and narrates it: a fleet manager signs and publishes the
example substation's policy, a gateway enforces it between an HMI, two PLC simulators, an
enterprise laptop and a vendor, through a broker outage, a policy update, a tampered bundle and
a vendor grant; the fleet console shows the site to an operator; then the audit log is verified
and a compliance report written. When Debian's postgresql is installed, the fleet's audit
collector stores into a PostgreSQL cluster the demo makes (initdb in a temp folder, a loopback
port, fsync off) and removes at the end; otherwise into per-device files. Without
--broker it starts its own mosquitto on 127.0.0.1; with one, the gateway reaches that broker
through a relay on loopback (so that the demo can cut the link), and the retained messages the
demo leaves under zonegate/v1/substation-12/ are cleared at the end. Exit 0 when every step
behaved as it should, 1 when one did not, 2 for a usage error.`;

/** --broker URL (or ZG_DEMO_BROKER), --help. Exits 2 on anything else. */
function readArgs(argv: string[]): { broker?: string } {
  const out: { broker?: string } = {};
  const env = process.env.ZG_DEMO_BROKER;
  if (env) out.broker = env;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') { console.log(USAGE); process.exit(0); }
    const v = a === '--broker' ? argv[++i] : a.startsWith('--broker=') ? a.slice(9) : undefined;
    if (v === undefined || v === '') { console.error(`demo: unknown argument ${JSON.stringify(a)}\n\n${USAGE}`); process.exit(2); }
    out.broker = v;
  }
  if (out.broker !== undefined) {
    try { parseBrokerUrl(out.broker); } catch (e) { console.error(`demo: ${(e as Error).message}`); process.exit(2); }
  }
  return out;
}

const childControl: ChildControl = {
  start: (name, cmd, args) => startChild(name, cmd, args),
  stop: (child) => stopChild(child),
  waitFor: (what, pred) => waitFor(what, pred),
  freePort: () => freePort(),
};

const errText = (name: string) => { const f = join(work, `${name}.err.log`); return existsSync(f) ? readFileSync(f, 'utf8') : ''; };
const kit: DemoKit = {
  work, say, dim, check, zonegate, errText, cli,
  start: (name, cmd, args) => startChild(name, cmd, args),
  stop: (child) => stopChild(child),
  waitFor: (what, pred, ms) => waitFor(what, pred, ms),
};

async function main(): Promise<void> {
  const args = readArgs(process.argv.slice(2));
  if (!existsSync(cli)) throw new Error('dist/zonegate.js is missing: run `make build` first');
  const mosquittoBin = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'].find((p) => existsSync(p));
  say(bold('zonegate demo: one substation gateway, its PLCs and its fleet manager, on loopback'));
  say(dim(`   working folder: ${work}`));
  // The fleet's database starts now (initdb takes a second or two) and is needed from chapter 3.
  fleetDb = startFleetDatabase(freePort);

  // ── 1. The policy language ────────────────────────────────────────────────────────────────
  title('The site policy: check it, run its tests, explain a decision');
  const example = join(root, 'examples', 'substation.yaml');
  let r = await zonegateAsync(['policy', 'check', example], { show: true });
  check(r.code === 0, 'the example substation policy is valid');
  r = await zonegateAsync(['policy', 'test', example], { show: false });
  check(r.code === 0, `its embedded tests pass (${(/(\d+) passed/.exec(r.out + r.err) ?? ['', '?'])[1]} tests)`);
  r = await zonegateAsync(['policy', 'explain', example, '--request', JSON.stringify({ from: 'hmi-1', to: 'plc-feeder-1', modbus: { function: 'write-single-register', unit: 1, address: 10 } })], { show: true });
  check(r.code === 0 && /deny/i.test(r.out), 'the HMI may read the feeder PLCs but not write them');

  // The lab copy: 10.x.y.z → 127.x.y.z so that loopback source addresses carry the identities,
  // and the vendor conduit's night window (22:00–04:00 Chicago) dropped so that the vendor
  // chapter runs at any hour; the embedded test that checked the window is updated with it.
  const labPolicy = (v: number, extra = '') => {
    let text = readFileSync(example, 'utf8').replace(/\b10\.(\d+)\.(\d+)\.(\d+)/g, '127.$1.$2.$3').replace(/\b10\.(\d+)\.0\.0\/16/g, '127.$1.0.0/16');
    text = text.replace(/(- id: vendor-maintenance[\s\S]*?)\n    schedule: [^\n]*/, '$1');
    text = text.replace(/(name: ACME with a grant in the afternoon)(\n[^\n]*\n)    expect: deny\n    reason: outside-schedule/, '$1 (lab copy, no night window)$2    expect: allow\n    conduit: vendor-maintenance');
    if (extra) text = text.replace(/\nquarantine:/, `\n${extra}\nquarantine:`);
    const file = join(work, `substation-v${v}.yaml`);
    writeFileSync(file, text);
    return file;
  };

  // ── 2. The fleet manager's keys and signed bundle ─────────────────────────────────────────
  title('The fleet manager makes keys and a trust root, and signs the policy');
  const fleet = join(work, 'fleet');
  mkdirSync(fleet);
  await zonegateAsync(['fleet', 'keygen', '--out', fleet, '--name', 'root'], { show: true });
  await zonegateAsync(['fleet', 'keygen', '--out', fleet, '--name', 'policy-signer'], { show: true });
  await zonegateAsync(['fleet', 'keygen', '--out', fleet, '--name', 'grant-signer'], { show: true });
  r = await zonegateAsync(['fleet', 'trust', 'init', '--root-key', join(fleet, 'root.key'), '--threshold', '1', '--policy-key', join(fleet, 'policy-signer.pub'), '--grant-key', join(fleet, 'grant-signer.pub'), '--out', join(fleet, 'root.json')], { show: true });
  check(r.code === 0, 'trust root created: the gateway will believe only policies the policy signer signed and vendor grants the grant signer signed');
  const v1 = labPolicy(1);
  say(dim('   (the lab copy drops the vendor conduit\'s 22:00–04:00 Chicago window so the demo runs at any hour;'));
  say(dim('    its embedded test "ACME with a grant in the afternoon" now expects allow instead of outside-schedule)'));
  r = await zonegateAsync(['policy', 'test', v1], { show: false });
  check(r.code === 0 && !/schedule: \{ days: \[mon/.test(readFileSync(v1, 'utf8')), 'the lab copy has no vendor night window and its embedded tests pass');
  r = await zonegateAsync(['fleet', 'sign', v1, '--key', join(fleet, 'policy-signer.key'), '--version', '1', '--targets', 'gw-01', '--expires', '30d', '--out', join(fleet, 'policy-v1.zgb')], { show: true });
  check(r.code === 0, 'policy v1 signed (the signer refuses a policy that fails its own tests)');

  // ── 3. Broker, PLCs and a gateway that starts with nothing ────────────────────────────────
  title('A broker, two PLC simulators, a DNP3 RTU and a gateway that starts with no policy at all');
  if (args.broker === undefined && !mosquittoBin) throw new Error('mosquitto is not installed: run `make demo` as root once (it installs Debian packages), apt-get install mosquitto, or give a broker: make demo BROKER=mqtt://host:port');
  broker = args.broker !== undefined
    ? await useExternalBroker({ url: args.broker, site: 'substation-12', children: childControl, log: (l) => say(dim(`   ${l}`)) })
    : await startMosquitto({ bin: mosquittoBin!, work, children: childControl });
  const brokerUrl = broker.url;
  // The fleet's audit collector runs from the start, as it would at the control centre: into
  // PostgreSQL when the demo could start its own cluster, else into per-device files.
  const database = await fleetDb;
  const collected = join(work, 'fleet-audit');
  const dbUrl = 'db' in database ? database.db.url : undefined;
  if ('db' in database) {
    const c = database.db.cluster;
    say(dim(`   the fleet's database: PostgreSQL ${c.version} on 127.0.0.1:${c.port}, a cluster of the demo's own (initdb --no-sync in ${c.dir}, fsync off; removed at the end)`));
  } else say(yellow(`   no PostgreSQL for the fleet (${database.why}): the collector keeps per-device files`));
  const collector = startChild('collector', process.execPath, [cli, 'fleet', 'audit', 'collect', '--broker', brokerUrl, '--site', 'substation-12',
    ...(dbUrl ? ['--db', dbUrl] : ['--out', join(collected, 'substation-12')])]);
  const plcPorts = [await freePort(), await freePort()];
  for (const p of plcPorts) startChild(`plc-${p}`, process.execPath, [cli, 'lab', 'plc', '--listen', `127.0.0.1:${p}`]);
  const rtuPort = await freePort();
  startChild('rtu', process.execPath, [cli, 'lab', 'rtu', '--dnp3', '--listen', `127.0.0.1:${rtuPort}`]);
  const gwPorts = [await freePort(), await freePort()];
  const gwDnp3 = await freePort();
  const webPort = await freePort();
  const state = join(work, 'state');
  const gatewayYaml = join(work, 'gateway.yaml');
  writeFileSync(gatewayYaml, [
    'device: gw-01', 'site: substation-12', `stateDir: ${state}`,
    `trustRoot: { file: ${join(fleet, 'root.json')} }`,
    `mqtt: { url: "${broker.gatewayUrl}" }`,
    'listeners:',
    `  - { listen: 127.0.0.1:${gwPorts[0]}, asset: plc-feeder-1, service: modbus, upstream: 127.0.0.1:${plcPorts[0]} }`,
    `  - { listen: 127.0.0.1:${gwPorts[1]}, asset: plc-feeder-2, service: modbus, upstream: 127.0.0.1:${plcPorts[1]} }`,
    `  - { listen: 127.0.0.1:${gwDnp3}, asset: rtu-1, service: dnp3, upstream: 127.0.0.1:${rtuPort} }`,
    `console: { web: { listen: "127.0.0.1:${webPort}" } }`,
    '',
  ].join('\n'));
  say(dim(`   broker ${broker.description}; PLCs on 127.0.0.1:${plcPorts.join(', ')}, the RTU (DNP3 outstation) on 127.0.0.1:${rtuPort}; gateway listeners 127.0.0.1:${[...gwPorts, gwDnp3].join(', ')}; login page https://127.0.0.1:${webPort}/`));
  const startGateway = () => startChild('gateway', process.execPath, [cli, 'run', '--config', gatewayYaml], showDecision);
  // The gateway uploads its first records at once: the collector's subscription must be in place.
  await waitFor('the audit collector to subscribe', () => /collecting audit logs of site/.test(errText('collector')) || collector.exitCode !== null);
  let gateway = startGateway();
  await waitFor('the gateway to listen', async () => existsSync(join(state, 'status.json')) || (await canConnect('127.0.0.1', gwPorts[0])));
  const hmi = await DemoModbusClient.open({ host: '127.0.0.1', port: gwPorts[0], localAddress: '127.10.0.5' }).catch(() => null);
  const first = hmi ? await hmi.readHolding(1, 0, 4) : { ok: false };
  await sleep(200);
  check(!first.ok, `with no signed policy everything is denied: the HMI's connection is ${hmi?.isClosed ? 'closed by the gateway' : describe(first)}`);
  hmi?.close();

  // ── 4. Publish v1 over MQTT ───────────────────────────────────────────────────────────────
  title('The fleet manager publishes v1; the gateway verifies and activates it');
  r = zonegate(['fleet', 'publish', join(fleet, 'policy-v1.zgb'), '--broker', brokerUrl, '--site', 'substation-12', '--device', 'gw-01', '--wait', '1', '--timeout', '20s'], { show: true });
  check(r.code === 0, 'gw-01 reports policy v1 in its retained status');
  zonegate(['fleet', 'status', '--broker', brokerUrl, '--site', 'substation-12'], { show: true });

  // ── 5. Traffic ────────────────────────────────────────────────────────────────────────────
  title('The HMI reads feeder values and polls the RTU over DNP3; other requests are refused');
  const hmi2 = await DemoModbusClient.open({ host: '127.0.0.1', port: gwPorts[0], localAddress: '127.10.0.5' });
  let rep = await hmi2.readInput(1, 0, 3);
  check(rep.ok, `HMI reads feeder-1 current, voltage, oil temperature: ${describe(rep)}`);
  rep = await hmi2.readHolding(1, 10, 4);
  check(rep.ok, `HMI reads holding registers 10..13: ${describe(rep)}`);
  rep = await hmi2.writeRegister(1, 10, 9999);
  check(!rep.ok && rep.exception === 1, `HMI tries to write register 10: ${describe(rep)} (illegal function), never forwarded`);
  rep = await hmi2.readHolding(1, 95, 10);
  check(!rep.ok && rep.exception === 2, `HMI reads 95..104, past its window 0-99: ${describe(rep)} (illegal data address)`);
  const laptop = await DemoModbusClient.open({ host: '127.0.0.1', port: gwPorts[1], localAddress: '127.20.3.4' });
  rep = await laptop.writeRegister(1, 5, 1);
  check(!rep.ok, `an enterprise laptop (127.20.3.4) writes to feeder-2: ${rep.ok ? 'written!' : 'refused, no conduit from the enterprise zone'}`);
  laptop.close();
  const rogue = await DemoModbusClient.open({ host: '127.0.0.1', port: gwPorts[0], localAddress: '127.10.0.5' });
  const state1 = await rogue.sendRaw(Buffer.from([0x00, 0x01, 0x00, 0x07, 0x00, 0x06, 0x01, 0x03, 0x00, 0x00, 0x00, 0x01]));
  check(state1 === 'closed', 'a malformed frame (protocol id 7) closes only that connection');
  rep = await hmi2.readHolding(1, 0, 2);
  check(rep.ok, `the HMI's own connection is untouched: ${describe(rep)}`);
  const master = await connectMaster({ host: '127.0.0.1', port: gwDnp3, localAddress: '127.10.0.5', timeoutMs: 5000 });
  const poll = await master.integrityPoll().catch((e: Error) => e);
  check(!(poll instanceof Error) && poll.fn === FC.RESPONSE && (poll.iin & 0xff) === 0, `the HMI's DNP3 integrity poll of the RTU: ${poll instanceof Error ? poll.message : poll.objects.join(', ')}`);
  const trip = await master.operate({ index: 3, code: 0x81, sbo: false }).catch((e: Error) => e);
  check(!(trip instanceof Error) && (trip.iin & Iin2.NO_FUNC_CODE_SUPPORT) !== 0, `the HMI's DIRECT_OPERATE (trip breaker 3) is refused by the gateway, IIN2 "function code not supported"; the RTU never sees it`);
  master.close();

  // ── 6. Offline ────────────────────────────────────────────────────────────────────────────
  title('The broker goes away; enforcement goes on, even across a gateway restart');
  await broker.goAway();
  rep = await hmi2.readHolding(1, 0, 2);
  check(rep.ok, `broker down, the HMI still reads: ${describe(rep)}`);
  hmi2.close();
  await stopChild(gateway);
  gateway = startGateway();
  // Back means this process wrote a status saying it runs and enforces the cached policy (a
  // listening port alone comes before the store is read, and a busy machine can stretch that).
  const statusDoc = () => { try { return JSON.parse(readFileSync(join(state, 'status.json'), 'utf8')); } catch { return null; } };
  await waitFor('the gateway to come back with its cached policy', async () => {
    const d = statusDoc();
    return d?.pid === gateway.pid && d.status?.state === 'running' && d.status?.policy?.version != null && (await canConnect('127.0.0.1', gwPorts[0]));
  }, 30_000);
  const hmi3 = await DemoModbusClient.open({ host: '127.0.0.1', port: gwPorts[0], localAddress: '127.10.0.5' });
  rep = await hmi3.readHolding(1, 0, 2);
  check(rep.ok, `restarted offline, the gateway enforces its cached signed v1: ${describe(rep)}`);
  rep = await hmi3.writeRegister(1, 50, 1234);
  check(!rep.ok, `and still refuses the HMI's write to register 50: ${describe(rep)}`);

  // ── 7. A new version arrives when the link comes back ─────────────────────────────────────
  title('The link comes back with v2, which lets the HMI write one setpoint');
  await broker.comeBack();
  const v2 = labPolicy(2, [
    '  - id: hmi-writes-setpoint-50',
    '    from: { identities: [hmi-1] }',
    '    to: { assets: [plc-feeder-1] }',
    '    protocol: modbus',
    '    allow: { functions: [write-single-register], units: [1], addresses: ["50"] }',
  ].join('\n'));
  r = zonegate(['fleet', 'sign', v2, '--key', join(fleet, 'policy-signer.key'), '--version', '2', '--targets', 'gw-01', '--out', join(fleet, 'policy-v2.zgb')], { show: true });
  check(r.code === 1, 'the signer refuses v2: the new conduit changes why one embedded test is denied');
  // The fleet manager reads the failure and updates that test's expected reason.
  writeFileSync(v2, readFileSync(v2, 'utf8').replace(/(name: HMI may not write a register[\s\S]*?reason: )function-not-allowed/, '$1address-out-of-range'));
  r = zonegate(['fleet', 'sign', v2, '--key', join(fleet, 'policy-signer.key'), '--version', '2', '--targets', 'gw-01', '--out', join(fleet, 'policy-v2.zgb')], { show: true });
  check(r.code === 0, 'with the test updated, policy v2 is signed');
  r = zonegate(['fleet', 'publish', join(fleet, 'policy-v2.zgb'), '--broker', brokerUrl, '--site', 'substation-12', '--device', 'gw-01', '--wait', '1', '--timeout', '30s'], { show: true });
  check(r.code === 0, 'gw-01 reconnected and activated v2');
  rep = await hmi3.writeRegister(1, 50, 1234);
  check(rep.ok, `on the same open connection, the HMI now writes register 50: ${describe(rep)}`);
  rep = await hmi3.readHolding(1, 50, 1);
  check(rep.ok && rep.values?.[0] === 1234, `and reads it back: ${describe(rep)}`);
  hmi3.close();

  // ── 8. Vendor access ──────────────────────────────────────────────────────────────────────
  title('A vendor gets a grant, authenticates at the gateway and reads');
  say(dim('   ACME support (policy identity acme-support, role vendor) may use vendor-maintenance only when logged in'));
  say(dim('   at the gateway AND holding a signed, time-boxed grant. Their laptop is 127.77.0.9, an address no identity owns.'));
  const password = 'acme-demo-password-1';
  const usersBefore = (errText('gateway').match(/reload done/g) ?? []).length;
  r = zonegate(['user', 'add', 'acme-support', '--role', 'viewer', '--config', gatewayYaml], { show: true, input: `${password}\n` });
  check(r.code === 0, 'the site admin adds a local login for the vendor (the running gateway is told to re-read its users)');
  await waitFor('the gateway to re-read its users', () => (errText('gateway').match(/reload done/g) ?? []).length > usersBefore, 10_000);
  r = zonegate(['fleet', 'grant', '--key', join(fleet, 'grant-signer.key'), '--site', 'substation-12', '--targets', 'gw-01', '--identity', 'acme-support',
    '--conduits', 'vendor-maintenance', '--from', 'now', '--until', '2h', '--reason', 'relay firmware check', '--version', '1', '--out', join(fleet, 'grant.zgb')], { show: true });
  check(r.code === 0, 'the fleet manager signs a 2-hour grant for acme-support on vendor-maintenance');
  r = zonegate(['fleet', 'publish', join(fleet, 'grant.zgb'), '--broker', brokerUrl, '--site', 'substation-12', '--device', 'gw-01'], { show: true });
  const granted = r.code === 0 && await waitFor('the gateway to accept the grant', () => /grant bundle accepted/.test(errText('gateway')), 15_000);
  check(granted, `gw-01 verified the grant under its trust root: ${(/grant bundle accepted[^\n]*/.exec(errText('gateway')) ?? ['not accepted'])[0]}`);
  const vendor = await DemoModbusClient.open({ host: '127.0.0.1', port: gwPorts[0], localAddress: '127.77.0.9' });
  rep = await vendor.readHolding(1, 0, 4);
  await sleep(100);
  check(!rep.ok, `before logging in, the vendor's read of feeder-1 is refused: ${vendor.isClosed ? 'connection closed by the gateway' : describe(rep)} (no-conduit: 127.77.0.9 is nobody until a login binds it)`);
  vendor.close();
  const browser = new DemoWebClient({ url: `https://127.0.0.1:${webPort}/`, ca: readFileSync(join(state, 'web-cert.pem'), 'utf8'), localAddress: '127.77.0.9' });
  say(dim(`   vendor's browser ▸ https://127.0.0.1:${webPort}/ (the device's self-signed certificate, trusted from ${join('state', 'web-cert.pem')})`));
  const loggedIn = await browser.login('acme-support', password);
  const pg = loggedIn ? await browser.page() : { who: '', source: '', grants: '' };
  check(loggedIn && pg.source === '127.77.0.9' && /vendor-maintenance/.test(pg.grants), `the vendor logs in over HTTPS: "${pg.who}", from ${pg.source || '?'}, grants: ${pg.grants || 'none'}`);
  const vendor2 = await DemoModbusClient.open({ host: '127.0.0.1', port: gwPorts[0], localAddress: '127.77.0.9' });
  rep = await vendor2.readHolding(1, 0, 4);
  check(rep.ok, `logged in with a grant, the vendor reads feeder-1 holding registers 0..3: ${describe(rep)}`);
  const loggedOut = await browser.logout();
  check(loggedOut, 'the vendor logs out');
  rep = await vendor2.readHolding(1, 0, 4);
  await sleep(100);
  check(!rep.ok, `the next read on the same open connection is refused: ${vendor2.isClosed ? 'connection closed by the gateway' : describe(rep)}`);
  vendor2.close();

  // ── 9. Tampering ──────────────────────────────────────────────────────────────────────────
  title('Someone tampers with a bundle on its way');
  const bytes = readFileSync(join(fleet, 'policy-v2.zgb'));
  const tampered = Buffer.from(bytes);
  const at = tampered.indexOf(Buffer.from('hmi-writes-setpoint-50'));
  tampered[at >= 0 ? at + 4 : tampered.length - 80] ^= 0x01;
  const tamperedFile = join(fleet, 'policy-v2-tampered.zgb');
  writeFileSync(tamperedFile, tampered);
  r = zonegate(['bundle', 'verify', tamperedFile, '--trust', join(fleet, 'root.json'), '--device', 'gw-01'], { show: true });
  check(r.code === 1, 'bundle verify refuses it (exit 1, the reason named)');
  // No --timeout: gw-01's status names the bytes it refused, which ends the wait at once.
  r = zonegate(['fleet', 'publish', tamperedFile, '--broker', brokerUrl, '--site', 'substation-12', '--device', 'gw-01', '--wait', '1'], { show: true });
  check(r.code === 1 && /gw-01: ERR_BUNDLE_SIGNATURE/.test(r.err), 'published anyway: gw-01 refuses it and its status says so, which ends the wait (exit 1)');
  zonegate(['fleet', 'status', '--broker', brokerUrl, '--site', 'substation-12'], { show: true });

  // The gateway has uploaded its hash-chained audit log over MQTT all along; the fleet has
  // caught up when it has acknowledged what the gateway holds now. The private broker restarted
  // in chapters 6-7 without persistence: batches the gateway sent before the collector subscribed
  // again reached nobody. The collector announced itself on `audit-resync` after resubscribing,
  // so the gateway sent them again at once rather than after its 30 s ack timeout.
  const statusFile = join(state, 'status.json');
  const readStatus = () => { try { return JSON.parse(readFileSync(statusFile, 'utf8')).status; } catch { return null; } };
  const fleetCaughtUp = async () => {
    const target = (readStatus()?.auditLog?.nextSeq ?? 1) - 1;
    const ok = await waitFor(`the fleet to acknowledge the audit log through seq ${target}`, () => (readStatus()?.upload?.ackedThrough ?? -1) >= target, 30_000);
    return { ok, target };
  };

  // ── 10. The fleet console ─────────────────────────────────────────────────────────────────
  title(`The fleet console: an operator logs in over HTTPS and sees the site${dbUrl ? ' (audit from PostgreSQL)' : ''}`);
  // What the console shows of the audit log is what the fleet holds: let the upload catch up first
  // (after the broker outage it can lag behind; chapter 11 checks that it did).
  await fleetCaughtUp();
  await fleetConsoleChapter(kit, { brokerUrl, site: 'substation-12', device: 'gw-01', policyVersion: 2, store: dbUrl ? { kind: 'postgres', url: dbUrl } : { kind: 'files', dir: collected } });

  // ── 11. Evidence ───────────────────────────────────────────────────────────────────────────
  title('The evidence: the audit log travels to the fleet, verifies, and becomes a compliance report');
  const { ok: caughtUp, target } = await fleetCaughtUp();
  check(caughtUp, `the fleet collected and acknowledged the gateway's records 0..${target} (store-and-forward over MQTT, QoS 1)`);
  await stopChild(collector);
  await stopChild(gateway);
  // The fleet's copy: the database, or the collector's per-device folder. The denials and the
  // report read a folder: the fleet's copy, or with the database the gateway's own log (which
  // verifies too, just below).
  const fleetCopy = join(collected, 'substation-12', 'gw-01');
  if (dbUrl) {
    r = zonegate(['fleet', 'audit', 'verify', '--db', dbUrl], { show: true });
    check(r.code === 0 && /^gw-01: OK/m.test(r.out), "the fleet's copy in PostgreSQL verifies record by record under the gateway's pinned key: chain, sequence, signed checkpoints");
    dbClosed = closeFleetDatabase(); // not needed any more: it stops while the rest runs
  } else {
    r = zonegate(['audit', 'verify', fleetCopy, '--key', join(state, 'device-key.pub')], { show: true });
    check(r.code === 0, "the fleet's copy verifies under the gateway's key: chain, sequence, signed checkpoints");
  }
  r = zonegate(['audit', 'verify', state], { show: false });
  check(r.code === 0, "and so does the gateway's own log, through its final checkpoint at shutdown");
  const evidence = dbUrl ? state : fleetCopy;
  if (dbUrl) say(dim("   (the denials and the report below read the gateway's own log; the database's copy feeds the console and `fleet audit export`)"));
  r = zonegate(['audit', 'show', evidence, '--decision', 'deny', '--limit', '8'], { show: true });
  check(r.code === 0, 'denials, with who, what and why, ready for an auditor');
  const reportFile = join(work, 'compliance-report.html');
  r = zonegate(['report', '--policy', v2, '--audit', evidence, '--key', join(state, 'device-key.pub'), '--format', 'html', '--out', reportFile], { show: true });
  check(r.code === 0 && existsSync(reportFile), `compliance report written: ${reportFile}`);
  r = zonegate(['report', '--policy', v2, '--audit', evidence, '--key', join(state, 'device-key.pub'), '--format', 'md', '--out', join(work, 'compliance-report.md')], { quiet: true });
  check(r.code === 0, 'and as Markdown beside it');

  // ── 12. The kernel ────────────────────────────────────────────────────────────────────────
  title('The kernel: the nftables ruleset that keeps anything from bypassing the proxies');
  r = zonegate(['nft', 'render', '--policy', example, '--proxy', 'plc-feeder-1:502=10.10.0.1:15020'], { quiet: false });
  const lines = r.out.split('\n');
  const pick = (re: RegExp, n: number) => lines.filter((l) => re.test(l)).slice(0, n);
  const shown = [...pick(/type filter hook forward/, 1), ...pick(/saddr @quarantine_v4 counter drop/, 1), ...pick(/dnat ip to/, 1), ...pick(/comment "conduit /, 2), ...pick(/default drop/, 1)];
  for (const l of shown) say(dim(`     ${l.trim()}`));
  check(r.code === 0 && /table inet zonegate/.test(r.out), `rendered ${lines.length} lines`);
  await kernelCounters(r.out);

  say(`\n${failures === 0 ? green(bold('The demo ran end to end.')) : red(bold(`${failures} step(s) did not behave as they should.`))}`);
  say(`Look next: ${cyan('README.md')} (policy language, CLI, MQTT topics, deploying on a Pi), ${cyan(example)},`);
  say(`the compliance report ${cyan(join(work, 'compliance-report.html'))} (open it in a browser),`);
  say(`the demo's files in ${cyan(work)} (keys, bundles, gateway.yaml, state/audit, ${dbUrl ? '' : 'fleet-audit, '}fleet-console), and ${cyan('make test')}.`);
}

/**
 * As root with nftables: apply the ruleset atomically in a throwaway network namespace (never the
 * host's own tables) with the gateway's adaptor, read its counters back, remove the namespace.
 */
async function kernelCounters(text: string): Promise<void> {
  const why = process.getuid?.() !== 0 ? 'not root' : spawnSync('nft', ['--version']).error ? 'nftables (nft) is not installed' : null;
  if (why) { say(yellow(`   skipped applying it: ${why} (make test applies it for real in network namespaces, as root)`)); return; }
  const ns = `zg-demo-${process.pid}`;
  if (spawnSync('ip', ['netns', 'add', ns]).status !== 0) { say(yellow('   skipped applying it: cannot create a network namespace here')); return; }
  try {
    const applied = await applyRuleset(text, { netns: ns });
    check(true, `applied atomically (nft -c, then nft -f) in namespace ${ns}: sha256 ${applied.sha256.slice(0, 16)}…`);
    const counters = await readCounters({ netns: ns });
    const rows = Object.entries(counters.byComment).slice(0, 5);
    for (const [comment, c] of rows) say(dim(`     ${String(c.packets).padStart(6)} packets ${String(c.bytes).padStart(8)} bytes  ${comment}`));
    check(counters.rules.length > 0, `${counters.rules.length} rules carry counters, each named by its conduit so hits map back to the policy`);
  } catch (e) {
    check(false, `applying in ${ns}: ${(e as Error).message}`);
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
  }
}


/** Stops the fleet's database and removes its folder; resolves what to say about it. */
async function closeFleetDatabase(): Promise<string> {
  const db = await fleetDb;
  if (!db || !('db' in db)) return '';
  return db.db.cluster.close().then(() => dim(`PostgreSQL stopped; ${db.db.cluster.dir} removed.`), (e: Error) => yellow(`   could not stop the fleet's PostgreSQL: ${e.message}`));
}

/**
 * Stops every child, then the broker (an external one gets its retained messages cleared); the
 * fleet's database meanwhile, unless it is stopping already (its folder removed).
 */
async function shutdown(): Promise<void> {
  const closeDb = dbClosed ?? closeFleetDatabase();
  for (const ch of children) await stopChild(ch);
  await broker?.close().catch((e: Error) => say(yellow(`   could not clean up the broker: ${e.message}`)));
  const said = await closeDb;
  if (said) say(said);
}

main().then(
  async () => { await shutdown(); process.exit(failures ? 1 : 0); },
  async (e) => { console.error(red(`demo: ${(e as Error).message}`)); await shutdown(); process.exit(1); },
);
