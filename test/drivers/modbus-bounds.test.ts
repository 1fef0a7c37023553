/**
 * Issue 14 through the Modbus/TCP proxy (a real Node Modbus server as the PLC, the real policy
 * engine): a write outside allow.values is refused with exception 03 and audited with its values,
 * the device never sees it; FC 08/0004 (force listen only) is refused where 08/0000 passes; writes
 * have their own rate limit, reads keep going.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createModbusProxy, type ModbusProxy } from '../../drivers/modbus-tcp';
import type { AuditEvent } from '../../drivers/types';
import { compile } from '../../policy/compile';
import { IndexDecider } from '../../policy/decider';
import { parsePolicy } from '../../policy/parse';
import { adu, pdus, RawClient, startNodeModbusServer, type NodeModbusServer } from '../helpers/modbus';

const POLICY = `site: t
zones: [{ id: control, networks: [127.0.0.0/8], securityLevel: 3 }]
assets: [{ id: plc-1, zone: control, address: 127.0.1.1, kind: plc, services: [{ protocol: modbus, port: 502 }] }]
identities: [{ id: eng-1, kind: device, zone: control, addresses: [127.0.0.1] }]
conduits:
  - id: eng-setpoints
    from: { identities: [eng-1] }
    to: { assets: [plc-1] }
    protocol: modbus
    allow:
      functions: [read-holding-registers, write-single-register, write-multiple-registers, diagnostics/return-query-data]
      addresses: ["1000-1019"]
      values: { "1000-1019": "0-500" }
    writeRateLimit: { perSecond: 1, burst: 3 }
`;

const decider = new IndexDecider(compile(parsePolicy(POLICY, { file: 'p.yaml' }), { version: '1' }));
const events: AuditEvent[] = [];
let plc: NodeModbusServer;
let proxy: ModbusProxy;
let client: RawClient;
const clock = { t: Date.parse('2026-11-25T12:00:00Z') };
const decisions = () => events.filter((e) => e.kind === 'decision');

test.before(async () => {
  plc = await startNodeModbusServer();
  proxy = createModbusProxy({
    listen: { host: '127.0.0.1', port: 0 }, upstream: { host: '127.0.0.1', port: plc.port },
    asset: 'plc-1', servicePort: 502, decider, audit: { record: (e) => { events.push(e); } },
    limits: (id) => decider.conduit(id)?.rateLimit, writeLimits: (id) => decider.conduit(id)?.writeRateLimit,
    now: () => clock.t, timers: { setInterval: () => 0, clearInterval: () => undefined },
  });
  await proxy.start(new AbortController().signal);
  client = await RawClient.open(proxy.address().port);
});

test.after(async () => {
  client.close();
  await proxy.stop();
  await plc.stop();
});

test('a write inside the bounds reaches the PLC; one value outside: exception 03, audited with its values, PLC unchanged', async () => {
  const ok = await client.request(adu(1, 1, pdus.writeRegisters(1000, [10, 500])));
  assert.is(ok?.fn, 16);
  assert.equal([plc.registers[1000], plc.registers[1001]], [10, 500]);
  const bad = await client.request(adu(2, 1, pdus.writeRegisters(1000, [20, 501])));
  assert.equal([bad?.fn, bad?.exception], [0x90, 0x03]);
  assert.equal([plc.registers[1000], plc.registers[1001]], [10, 500]);
  const ev = decisions().at(-1)!;
  assert.equal([ev.decision?.decision, ev.decision?.reason], ['deny', 'value-out-of-range']);
  assert.equal(ev.modbus, { function: 16, unit: 1, address: 1000, count: 2, values: [20, 501] });
  const single = await client.request(adu(3, 1, pdus.writeSingle(6, 1005, 900)));
  assert.equal([single?.fn, single?.exception], [0x86, 0x03]);
  assert.is(plc.registers[1005], 2005);
  assert.is(client.closed, false);
});

test('diagnostics: return-query-data is forwarded, force-listen-only-mode is refused with 01', async () => {
  const before = decisions().length;
  await client.request(adu(4, 1, [8, 0, 0, 0x12, 0x34]));
  const listen = await client.request(adu(5, 1, [8, 0, 4, 0, 0]));
  assert.equal([listen?.fn, listen?.exception], [0x88, 0x01]);
  const d = decisions().slice(before).map((e) => [e.decision?.decision, e.decision?.reason]);
  assert.equal(d, [['allow', null], ['deny', 'function-not-allowed']]);
  // The sub-function is in the audit record (replay re-decides from it); other functions carry none.
  const mei = await client.request(adu(6, 1, [43, 14, 1, 0]));
  assert.equal([mei?.fn, mei?.exception], [0xab, 0x01]);
  assert.equal(decisions().slice(before).map((e) => [e.modbus?.function, e.modbus?.sub]), [[8, 0], [8, 4], [43, 14]]);
  assert.ok(decisions().filter((e) => e.modbus?.function === 16).every((e) => e.modbus !== undefined && !('sub' in e.modbus)));
});

test('writes have their own rate limit (burst 3, one of them spent above was refused before the bucket); reads go on', async () => {
  // Writes so far that were allowed by the policy took a token: tid 1 (tids 2, 3 were denied by values).
  const w1 = await client.request(adu(10, 1, pdus.writeSingle(6, 1002, 1)));
  const w2 = await client.request(adu(11, 1, pdus.writeSingle(6, 1002, 2)));
  const w3 = await client.request(adu(12, 1, pdus.writeSingle(6, 1002, 3)));
  assert.equal([w1?.fn, w2?.fn, w3?.exception], [6, 6, 0x06]);
  assert.is(decisions().at(-1)?.decision?.reason, 'rate-limited');
  const r = await client.request(adu(13, 1, pdus.read(3, 1002, 1)));
  assert.equal(r?.registers, [2]);
  clock.t += 1_000; // one token back
  const w4 = await client.request(adu(14, 1, pdus.writeSingle(6, 1002, 4)));
  assert.is(w4?.fn, 6);
});

test.run();
