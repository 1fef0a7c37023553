/**
 * `policy learn --pcap` with IEC 104 (cli/pcap-iec104.ts): the lab masters talk to the lab
 * RTU through the real IEC 104 proxy, which records into a real audit log; a tap in front of the
 * proxy keeps every byte each way, and the test writes them as a capture (test/helpers/pcap.ts,
 * the RTU's address and port 2404, each chunk one TCP segment as it was read). Learning from the
 * capture (tshark follows TCP, the driver's splitter and parser read the ASDUs) and from the audit
 * log of the same traffic must give the same iec104 conduits. tshark's own IEC 104 dissector
 * reads the capture too: the type of every ASDU the masters sent equals the learnt observations.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { parsePolicy } from '../../policy/parse';
import { compile } from '../../policy/compile';
import { IndexDecider } from '../../policy/decider';
import { createIec104Proxy, TypeId } from '../../drivers/iec104';
import { startIec104Rtu } from '../../runtime/lab/iec104-rtu';
import { connectIec104Master } from '../../runtime/lab/iec104-master';
import { AuditLog } from '../../runtime/audit/log';
import { rawFromPublicKey } from '../../protocol/audit/checkpoint';
import { readPcapIec104 } from '../../cli/pcap-iec104';
import { PcapWriter } from '../helpers/pcap';
import { cli } from './helpers';

const HAVE_TSHARK = spawnSync('tshark', ['-v'], { encoding: 'utf8' }).status === 0;
const POLICY = 'test/fixtures/policy/iec104-substation.yaml';
const RTU_IP = '127.10.1.40'; // rtu-104's address in the policy
const root = mkdtempSync(join(tmpdir(), 'zg-learn-iec104-pcap-'));
const p = (...x: string[]) => join(root, ...x);
test.after(() => rmSync(root, { recursive: true, force: true }));

/** A tap for one master: accepts on loopback, connects to `port` from `ip`, keeps every chunk each way in order. */
async function tap(ip: string, port: number): Promise<{ port: number; chunks: { from: 'c' | 's'; bytes: Buffer }[]; server: Server }> {
  const chunks: { from: 'c' | 's'; bytes: Buffer }[] = [];
  const server = createServer((c: Socket) => {
    const s = connect({ host: '127.0.0.1', port, localAddress: ip });
    c.on('data', (b: Buffer) => { chunks.push({ from: 'c', bytes: b }); s.write(b); });
    s.on('data', (b: Buffer) => { chunks.push({ from: 's', bytes: b }); c.write(b); });
    c.on('close', () => s.destroy());
    s.on('close', () => c.destroy());
    c.on('error', () => undefined);
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, ip, () => r()));
  return { port: (server.address() as AddressInfo).port, chunks, server };
}

test('learn from a capture of IEC 104 equals learning from the audit log of the same traffic', async () => {
  if (!HAVE_TSHARK) { console.log('  SKIP: tshark is not installed (build/setup-deps.sh installs it)'); return; }
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const audit = p('audit');
  const log = await AuditLog.open({ dir: audit, device: 'gw-test', key: { privateKey, publicRaw: rawFromPublicKey(publicKey) }, flood: false });
  const rtu = await startIec104Rtu({ host: '127.0.0.1', port: 0, tickMs: 0 });
  const proxy = createIec104Proxy({
    listen: { host: '127.0.0.1', port: 0 }, upstream: { host: '127.0.0.1', port: rtu.address().port }, asset: 'rtu-104', servicePort: 2404,
    decider: new IndexDecider(compile(parsePolicy(readFileSync(POLICY, 'utf8'), { file: POLICY }), { version: '1' })),
    audit: { record: (e) => log.record(e) }, now: Date.now,
  });
  await proxy.start(new AbortController().signal);
  const taps = { scada: await tap('127.10.0.2', proxy.address().port), eng: await tap('127.10.0.7', proxy.address().port) };
  const scada = await connectIec104Master({ host: '127.10.0.2', port: taps.scada.port, localAddress: '127.10.0.2' });
  await scada.interrogate();
  await scada.selectExecute({ ioa: 1003, value: 1 });
  await scada.selectExecute({ ioa: 1005, value: 2, type: TypeId.C_DC_NA_1 });
  const eng = await connectIec104Master({ host: '127.10.0.7', port: taps.eng.port, localAddress: '127.10.0.7' });
  await eng.command({ type: TypeId.C_SE_NC_1, ioa: 2001, value: 42.5 });
  await eng.command({ type: TypeId.C_SE_NC_1, ioa: 2002, value: 7 });
  scada.close(); eng.close();
  await proxy.stop();
  await rtu.close();
  await log.close();
  for (const t of Object.values(taps)) t.server.close();

  const pcap = p('substation.pcap');
  const w = new PcapWriter({ client: { ip: '127.10.0.2', port: 40001 }, server: { ip: RTU_IP, port: 2404 } });
  for (const c of taps.scada.chunks) w.add(c.from, c.bytes);
  w.write(pcap);
  const pcap2 = p('eng.pcap');
  const w2 = new PcapWriter({ client: { ip: '127.10.0.7', port: 40002 }, server: { ip: RTU_IP, port: 2404 } });
  for (const c of taps.eng.chunks) w2.add(c.from, c.bytes);
  w2.write(pcap2);

  // The reader sees each ASDU a master sent, as the proxy audited it.
  const seen: string[] = [];
  const r = await readPcapIec104(pcap, [], (o) => seen.push(`${(o.iec104 as { name?: string }).name} ${o.iec104!.cause} ${o.iec104!.ioa.join(',')}`));
  assert.equal([r.requests, r.skipped, r.brokenStreams], [5, 0, 0]);
  assert.equal(seen, ['C_IC_NA_1 6 0', 'C_SC_NA_1 6 1003', 'C_SC_NA_1 6 1003', 'C_DC_NA_1 6 1005', 'C_DC_NA_1 6 1005']);
  // tshark's own dissector agrees on the types the master sent (the second oracle).
  const ts = spawnSync('tshark', ['-r', pcap, '-n', '-Y', 'tcp.dstport == 2404 && iec60870_asdu', '-T', 'fields', '-e', 'iec60870_asdu.typeid'], { encoding: 'utf8' });
  assert.is(ts.status, 0, ts.stderr);
  assert.equal(ts.stdout.trim().split('\n').flatMap((l) => l.split(',')).map(Number), [100, 45, 45, 46, 46]);

  const fromAudit = p('from-audit.yaml'), fromPcap = p('from-pcap.yaml');
  const a = await cli('policy', 'learn', '--audit', audit, '--from', POLICY, '--out', fromAudit, '--json');
  assert.is(a.code, 0, a.out + a.err);
  const c = await cli('policy', 'learn', '--pcap', pcap, '--pcap', pcap2, '--from', POLICY, '--out', fromPcap, '--json');
  assert.is(c.code, 0, c.out + c.err);
  // The audit log holds the two connections' decisions besides the seven ASDUs; a capture holds the ASDUs.
  assert.equal([JSON.parse(c.out).learnt, JSON.parse(a.out).learnt], [7, 9]);
  const conduits = (file: string) => parsePolicy(readFileSync(file, 'utf8'), { file }).conduits.map((x) => [x.id, x.protocol, x.iec104]);
  assert.equal(conduits(fromPcap), conduits(fromAudit));
  const scadaConduit = parsePolicy(readFileSync(fromPcap, 'utf8'), { file: fromPcap }).conduits.find((x) => x.id === 'scada-switches')!;
  assert.equal(scadaConduit.iec104, { types: [45, 46, 100], commonAddresses: [1], ioas: [{ start: 1003, end: 1003 }, { start: 1005, end: 1005 }], selectBeforeExecute: true });
  assert.is((await cli('policy', 'test', fromPcap)).code, 0);
});

test.run();
