/**
 * `zonegate policy replay`: recorded decisions (written through the real audit log) re-decided
 * under a new policy; flips grouped with counts and examples; exit 1 when something would break.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEvent } from '../../drivers/types';
import { cli, FIX, writeAudit, monday, modbusEvent, tcpEvent, D } from './helpers';

const root = mkdtempSync(join(tmpdir(), 'zg-replay-'));
test.after(() => rmSync(root, { recursive: true, force: true }));

const HMI = '127.70.0.5', ENG = '127.70.0.20', SCADA = '127.70.0.6';

/** A week of plant-v1 traffic: what plant-v2 keeps, breaks and opens. */
function traffic(): AuditEvent[] {
  const ev: AuditEvent[] = [];
  for (let i = 0; i < 5; i++) ev.push(modbusEvent(monday('09:00') + i, HMI, 'plc-1', D.allow('hmi-reads-plc', 'hmi-1'), 3, 10, 2));
  ev.push(modbusEvent(monday('09:01'), HMI, 'plc-1', D.allow('hmi-reads-plc', 'hmi-1'), 3, 60, 5));       // v2: address-out-of-range
  ev.push(modbusEvent(monday('09:02'), HMI, 'plc-1', D.allow('hmi-reads-plc', 'hmi-1'), 3, 70, 1));       // same group, 2nd example
  ev.push(modbusEvent(monday('09:03'), HMI, 'plc-1', D.allow('hmi-reads-plc', 'hmi-1'), 1, 0, 8));        // v2: function-not-allowed
  ev.push(modbusEvent(monday('20:00'), ENG, 'plc-1', D.allow('eng-writes-plc', 'eng-ws'), 6, 1005, 1));   // v2: outside-schedule
  ev.push(modbusEvent(monday('10:00'), ENG, 'plc-1', D.allow('eng-writes-plc', 'eng-ws'), 6, 1005, 1));   // v2: same
  ev.push(tcpEvent(monday('10:05'), ENG, 'historian', 443, D.allow('eng-historian', 'eng-ws')));         // v2: no-conduit
  ev.push(modbusEvent(monday('11:00'), SCADA, 'plc-1', D.deny('no-conduit', null), 3, 5, 1));            // v2: opens
  ev.push(modbusEvent(monday('11:01'), HMI, 'plc-1', D.deny('rate-limited', 'hmi-1'), 3, 10, 2));        // not replayed
  ev.push({ kind: 'connection', at: monday('11:02'), source: 'modbus-tcp', src: HMI, asset: 'plc-1', port: 502, protocol: 'modbus', message: 'open' });
  ev.push({ ...modbusEvent(monday('11:03'), HMI, 'plc-1', D.allow('x', 'hmi-1'), 3, 1, 1), protocol: 'iec61850', modbus: undefined });
  ev.push({ kind: 'decision', at: monday('11:04'), source: 'modbus-tcp', decision: D.allow('hmi-reads-plc', 'hmi-1'), src: HMI, asset: 'plc-1', port: 502, protocol: 'modbus', message: 'connect' });
  return ev;
}

test('replay under v2: breaks and opens grouped, exit 1', async () => {
  const dir = join(root, 'a');
  await writeAudit(dir, traffic());
  const r = await cli('policy', 'replay', `${FIX}/plant-v2.yaml`, '--audit', dir, '--json');
  assert.is(r.code, 1, r.out + r.err);
  const j = JSON.parse(r.out);
  assert.is(j.ok, false);
  assert.is(j.replayed, 13);
  assert.is(j.unchanged, 7);
  assert.is(j.breaks, 5);
  assert.is(j.opens, 1);
  assert.equal(j.skipped, { 'not a decision': 3, 'rate-limited then': 1, 'no replayer for protocol iec61850': 1 });
  const g = (c: string, s: string, a: string) => j.flips.find((f: { conduit: string; source: string; asset: string }) => f.conduit === c && f.source === s && f.asset === a);
  const hmi = g('hmi-reads-plc', 'hmi-1', 'plc-1');
  assert.is(hmi.direction, 'allow→deny');
  assert.is(hmi.count, 3);
  assert.equal(hmi.reasons, { 'address-out-of-range': 2, 'function-not-allowed': 1 });
  assert.equal(hmi.examples.map((e: { operation: string }) => e.operation), ['read-holding-registers unit 1 @60+5', 'read-holding-registers unit 1 @70', 'read-coils unit 1 @0+8']);
  assert.is(hmi.examples[0].was, 'allow by hmi-reads-plc');
  assert.is(hmi.examples[0].now, 'deny (address-out-of-range)');
  const eng = g('eng-writes-plc', 'eng-ws', 'plc-1');
  assert.is(eng.count, 1, 'only the write at 20:00 falls outside the weekday window');
  assert.equal(eng.reasons, { 'outside-schedule': 1 });
  assert.is(g('eng-historian', 'eng-ws', 'historian').examples[0].operation, 'connect port 443');
  const open = g('hmi-reads-plc', 'scada-1', 'plc-1');
  assert.is(open.direction, 'deny→allow');
  assert.equal(open.reasons, { 'no-conduit': 1 });
  assert.is(j.flips[0].direction, 'allow→deny');

  const md = await cli('policy', 'replay', `${FIX}/plant-v2.yaml`, '--audit', dir);
  assert.is(md.code, 1);
  assert.match(md.out, /13 recorded decisions from 2026-11-23T09:00:00Z to 2026-11-23T20:00:00Z re-decided: 7 unchanged, 5 allow→deny \(would break\), 1 deny→allow \(would open\)\./);
  assert.match(md.out, /## allow→deny: what the new policy would break\n\n- 3 × hmi-1 → plc-1 \(conduit hmi-reads-plc; address-out-of-range 2, function-not-allowed 1\)/);
  assert.match(md.out, /  - 2026-11-23T09:01:00Z 127\.70\.0\.5 read-holding-registers unit 1 @60\+5: was allow by hmi-reads-plc, now deny \(address-out-of-range\)/);
  assert.match(md.out, /## deny→allow: what the new policy would open\n\n- 1 × scada-1 → plc-1 \(conduit hmi-reads-plc; no-conduit 1\)/);
});

test('replay under the policy that made the decisions: nothing flips, exit 0; --since; monitor counts as allowed', async () => {
  const dir = join(root, 'b');
  const ev = traffic().filter((e) => e.decision?.reason !== 'no-conduit');
  await writeAudit(dir, ev);
  const same = await cli('policy', 'replay', `${FIX}/plant-v1.yaml`, '--audit', dir, '--json');
  assert.is(same.code, 0, same.out);
  assert.is(JSON.parse(same.out).breaks, 0);
  const later = await cli('policy', 'replay', `${FIX}/plant-v2.yaml`, '--audit', dir, '--since', '2026-11-23T19:00:00Z', '--json');
  assert.is(JSON.parse(later.out).replayed, 1);
  assert.is(later.code, 1);
  // A monitor conduit let a write through that it would deny: enforcing (v1) would break it.
  const mon = join(root, 'c');
  await writeAudit(mon, [modbusEvent(monday('09:00'), HMI, 'plc-1', D.allow('hmi-reads-plc', 'hmi-1', 'function-not-allowed'), 6, 1, 1)]);
  const m = await cli('policy', 'replay', `${FIX}/plant-v1.yaml`, '--audit', mon, '--json');
  assert.is(m.code, 1);
  assert.is(JSON.parse(m.out).flips[0].examples[0].was, 'allow by hmi-reads-plc (monitor: would deny function-not-allowed)');
});

test('a fleet folder of device logs, several segments; bad input and usage', async () => {
  const fleet = join(root, 'fleet');
  await writeAudit(join(fleet, 'gw-01'), traffic(), 1024);
  await writeAudit(join(fleet, 'gw-02'), traffic());
  const r = await cli('policy', 'replay', `${FIX}/plant-v2.yaml`, '--audit', fleet, '--json');
  const j = JSON.parse(r.out);
  assert.is(j.folders.length, 2);
  assert.is(j.breaks, 10);
  const empty = join(root, 'empty');
  mkdirSync(empty);
  const e = await cli('policy', 'replay', `${FIX}/plant-v2.yaml`, '--audit', empty);
  assert.is(e.code, 1);
  assert.match(e.err, /holds no audit segments/);
  assert.is((await cli('policy', 'replay', `${FIX}/plant-v2.yaml`)).code, 2);
  assert.is((await cli('policy', 'replay', `${FIX}/plant-v2.yaml`, '--audit', fleet, '--since', 'yesterday')).code, 2);
});

test.run();
