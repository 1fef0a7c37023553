/**
 * The RTU gateway (service modbus-rtu-gateway) at 115200 baud, beside the line's theoretical
 * limit: one Modbus/TCP client polling one holding register through zonegate onto a socat pty
 * pair, a Node RTU device answering at once on the far end. A pty does not pace bytes at the baud
 * rate, so the measured rate shows what zonegate's side costs per transaction (framing, policy,
 * audit, the 3.5-character silence it keeps between transactions), not the wire.
 * Theoretical: (8 request + 7 response bytes) × 11 bits / 115200 + two 1.75 ms silences (t3.5
 * above 19200 baud, Modbus over Serial Line 2.5.1.1). Run: node build/run-bench.mjs modbus-rtu
 */
import { loadavg } from 'node:os';
import { createRtuGateway } from '../../drivers/modbus-rtu';
import { openSerial } from '../../drivers/modbus-rtu/serial';
import { rtuFrame } from '../../drivers/modbus-rtu/crc';
import { RtuReceiver } from '../../drivers/modbus-rtu/receiver';
import { rtuRequestLength } from '../../drivers/modbus-rtu/rtu-frame';
import { compile } from '../../policy/compile';
import { IndexDecider } from '../../policy/decider';
import { parsePolicy } from '../../policy/parse';
import { adu, pdus, RawClient } from '../helpers/modbus';
import { ptyPair, socatMissing } from '../helpers/serial';
import { printTable } from './report';

const BAUD = 115200;
const POLICY = `site: t
zones: [{ id: control, networks: [127.0.0.0/8], securityLevel: 3 }]
assets: [{ id: meters, zone: control, address: 127.0.1.1, kind: serial-gateway, services: [{ protocol: modbus, port: 502 }] }]
identities: [{ id: hmi-1, kind: device, zone: control, addresses: [127.0.0.1] }]
conduits:
  - { id: hmi-meters, from: { identities: [hmi-1] }, to: { assets: [meters] }, protocol: modbus,
      allow: { functions: [read-holding-registers], units: [1], addresses: ["0-99"] } }
`;

async function main(): Promise<void> {
  const why = socatMissing();
  if (why) { console.log(`skip: ${why}`); return; }
  const pty = await ptyPair();
  const device = await openSerial({ device: pty.b, baud: BAUD, parity: 'none', stopBits: 1 });
  const answer = rtuFrame(1, Buffer.from([3, 2, 0x12, 0x34]));
  const rx = new RtuReceiver({ lengthOf: rtuRequestLength, gapMs: 2, onFrame: () => device.write(answer), onDiscard: () => undefined });
  device.on('data', (b) => rx.push(b));
  let audited = 0;
  const gw = createRtuGateway({
    listen: { host: '127.0.0.1', port: 0 }, line: { device: pty.a, baud: BAUD, parity: 'none', stopBits: 1 },
    asset: 'meters', servicePort: 502, decider: new IndexDecider(compile(parsePolicy(POLICY, { file: 'p.yaml' }))),
    audit: { record: () => { audited++; } }, now: () => Date.now(),
  });
  await gw.start(new AbortController().signal);
  const c = await RawClient.open(gw.address().port);
  const poll = async (ms: number): Promise<number> => {
    let n = 0;
    const end = Date.now() + ms;
    while (Date.now() < end) {
      const r = await c.request(adu(n & 0xffff, 1, pdus.read(3, 5, 1)));
      if (r?.registers?.[0] !== 0x1234) throw new Error(`bad answer ${JSON.stringify(r)}`);
      n++;
      if (c.responses.length > 1000) c.responses.length = 0;
    }
    return n;
  };
  await poll(500); // warm up
  const t0 = Date.now();
  const n = await poll(3_000);
  const rate = n / ((Date.now() - t0) / 1000);
  const wireMs = ((8 + 7) * 11 * 1000) / BAUD + 2 * 1.75;
  const { transactions, timeouts } = gw.stats;
  c.close();
  await gw.stop();
  rx.close();
  device.close();
  await pty.stop();
  printTable('Modbus RTU gateway (one client polling one register)', [
    { what: 'RTU gateway over a pty, 115200 8N1, FC 3 × 1 register', value: rate, unit: 'req/s', peer: 'theoretical limit of the line', peerValue: 1000 / wireMs, better: 'higher', goal: '≈ 1.0× (the wire is the bottleneck)' },
  ], [
    `${n} polls in 3 s (${transactions} line transactions in all, ${timeouts} timeouts), ${audited} audit events; the gateway keeps a 2 ms silence after each answer (t3.5 rounded up to Node's 1 ms timers)`,
    `theoretical: ${wireMs.toFixed(2)} ms per transaction (15 bytes × 11 bits at ${BAUD} baud + 2 × 1.75 ms)`,
    `load average at the end: ${loadavg().map((x) => x.toFixed(1)).join(' ')}`,
  ]);
}

main().catch((e) => { console.error(e); process.exit(1); });
