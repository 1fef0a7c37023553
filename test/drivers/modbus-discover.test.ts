// nmap's modbus-discover script (Debian's nmap) through the proxy, against pymodbus standing in
// for a serial gateway with units 1 and 18 (absent units stay silent), with the real policy
// engine. What the scanner may learn: nothing behind a default-deny conduit, only "illegal
// function" through a read-only one, and through a conduit that allows some units, nothing that
// tells a denied unit from an absent one (issue 14 defect 3).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createModbusProxy, type ModbusProxy } from '../../drivers/modbus-tcp';
import { compile } from '../../policy/compile';
import { IndexDecider } from '../../policy/decider';
import type { PolicyDocument } from '../../policy/types';
import { pymodbusMissing, startPymodbusGateway, type PymodbusGateway } from '../helpers/modbus';

const SCRIPT = '/usr/share/nmap/scripts/modbus-discover.nse';

function missing(): string | null {
  if (spawnSync('nmap', ['--version']).status !== 0) return 'nmap not installed';
  if (!existsSync(SCRIPT)) return `${SCRIPT} missing (nmap-common)`;
  return pymodbusMissing();
}

function policy(allow: { functions: number[]; units?: number[] } | null): PolicyDocument {
  return {
    site: 'scan',
    zones: [{ id: 'lab', networks: ['127.0.0.0/8'], interfaces: [], securityLevel: 1 }],
    assets: [{ id: 'gw', zone: 'lab', addresses: ['127.0.0.1'], kind: 'plc', services: [{ protocol: 'modbus', port: 502 }] }],
    identities: [{ id: 'scanner', kind: 'device', zone: 'lab', addresses: ['127.0.0.1'], roles: [] }],
    conduits: allow === null ? [] : [{
      id: 'c1', from: { identities: ['scanner'], roles: [], zones: [] }, to: { assets: ['gw'], zones: [] },
      protocol: 'modbus', requires: { edgeAuth: false, grant: false }, mode: 'enforce',
      allow: { ...allow, addresses: [{ start: 0, end: 65535 }] },
    }],
    quarantine: [], settings: { onExpiry: 'keep-enforcing' }, tests: [],
  } as unknown as PolicyDocument;
}

/** One nmap run; returns the script's findings per sid ("sid 0x1" -> its lines), or null when it printed nothing. */
async function discover(port: number, aggressive: boolean): Promise<Map<string, string[]> | null> {
  const args = ['-n', '-Pn', '-sT', '-p', String(port), '--script', '+modbus-discover', '127.0.0.1'];
  if (aggressive) args.splice(args.length - 1, 0, '--script-args', 'modbus-discover.aggressive=true');
  const out = await new Promise<string>((resolve) => {
    const c = spawn('nmap', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let s = '';
    const t = setTimeout(() => c.kill('SIGKILL'), 240_000);
    c.stdout!.on('data', (d) => { s += d; });
    c.stderr!.on('data', (d) => { s += d; });
    c.on('close', () => { clearTimeout(t); resolve(s); });
  });
  if (!/modbus-discover:/.test(out)) return null;
  const sids = new Map<string, string[]>();
  let current: string[] | null = null;
  for (const line of out.split('\n')) {
    const sid = /^\|[ _]+(sid 0x[0-9a-f]+):\s*$/.exec(line);
    if (sid) { current = []; sids.set(sid[1], current); continue; }
    const item = /^\|[ _]{5,}(.*)$/.exec(line);
    if (item && current) current.push(item[1].trim());
  }
  return sids;
}

async function withProxy<T>(doc: PolicyDocument, plc: PymodbusGateway, upstreamMs: number, fn: (proxy: ModbusProxy) => Promise<T>): Promise<T> {
  const proxy = createModbusProxy({
    listen: { host: '127.0.0.1', port: 0 }, upstream: { host: '127.0.0.1', port: plc.port },
    asset: 'gw', servicePort: 502, decider: new IndexDecider(compile(doc, { version: '1' })),
    audit: { record: () => undefined }, now: Date.now,
    timeouts: { upstreamMs }, sweepMs: 5,
  });
  await proxy.start(new AbortController().signal);
  try { return await fn(proxy); } finally { await proxy.stop(); }
}

let plc: PymodbusGateway | null = null;
const why = missing();
test.before(async () => { if (!why) plc = await startPymodbusGateway({ units: [1, 18] }); });
test.after(async () => { await plc?.stop(); });

test('default-deny conduit: modbus-discover learns nothing', async () => {
  if (why) { console.log(`SKIP: ${why}`); return; }
  const found = await withProxy(policy(null), plc!, 3_000, (p) => discover(p.address().port, false));
  assert.is(found, null, 'no script output: every connection is refused at accept');
});

test('read-only conduit: only "illegal function", no server id, no device identification', async () => {
  if (why) { console.log(`SKIP: ${why}`); return; }
  const found = await withProxy(policy({ functions: [1, 2, 3, 4], units: [1] }), plc!, 3_000, (p) => discover(p.address().port, false));
  assert.equal(found && [...found], [['sid 0x1', ['error: ILLEGAL FUNCTION']]]);
});

test('conduit allowing units 1 and 5: the allowed unit that exists is found, with its identification', async () => {
  if (why) { console.log(`SKIP: ${why}`); return; }
  const found = await withProxy(policy({ functions: [3, 17, 43], units: [1, 5] }), plc!, 3_000, (p) => discover(p.address().port, false));
  const one = found?.get('sid 0x1') ?? [];
  assert.ok(one.some((l) => /^Slave ID data:/.test(l)), one.join('\n'));
  assert.ok(one.some((l) => /^Device identification: zonegate-test/.test(l)), one.join('\n'));
});

test('conduit allowing units 1 and 5: every denied unit (18 exists upstream) looks exactly like the absent allowed one (5)', async () => {
  if (why) { console.log(`SKIP: ${why}`); return; }
  // A short response timeout keeps 246 probes quick: denied and absent units both wait for it.
  // (sid 1 is not compared: under load pymodbus may miss 20 ms; the test above checks it.)
  const found = await withProxy(policy({ functions: [3, 17, 43], units: [1, 5] }), plc!, 20, (p) => discover(p.address().port, true));
  assert.ok(found, 'modbus-discover printed findings');
  const absent = JSON.stringify(found!.get('sid 0x5'));
  assert.is(absent, JSON.stringify(['error: GATEWAY TARGET DEVICE FAILED TO RESPOND']));
  assert.is(JSON.stringify(found!.get('sid 0x12')), absent, 'unit 18 exists upstream but is not allowed: it looks absent');
  const differing = [...found!].filter(([sid, lines]) => sid !== 'sid 0x1' && JSON.stringify(lines) !== absent).map(([sid]) => sid);
  assert.equal(differing, [], 'every other unit, denied or absent, answers as the absent allowed unit does');
  assert.is(found!.size - (found!.has('sid 0x1') ? 1 : 0), 245, 'sids 2..246 all answered alike');
});

test.run();
