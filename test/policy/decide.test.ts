import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compile } from '../../policy/compile';
import { decide } from '../../policy/decide';
import type { Decision, DecisionRequest, PolicyDocument } from '../../policy/types';
import { referenceDecide } from './reference';
import { conduit, substation, doc, zone, asset, identity } from './engine-doc';

// Monday 2026-03-02 14:00 UTC.
const MON_14_UTC = Date.UTC(2026, 2, 2, 14, 0);

/** decide(compile(doc)) and the reference evaluator must both give `want` (fields not named: null/absent). */
function expectDecision(d: PolicyDocument, req: DecisionRequest, want: Partial<Decision>, now = MON_14_UTC): Decision {
  const full: Decision = { decision: 'deny', conduit: null, reason: null, identity: null, ...want };
  const got = decide(compile(d), req, now);
  const ref = referenceDecide(d, req, now);
  const norm = (x: Decision) => ({ decision: x.decision, conduit: x.conduit, reason: x.reason, identity: x.identity, monitor: x.monitor === true });
  assert.equal(norm(got), norm(full), `index: ${JSON.stringify(req)}`);
  assert.equal(norm(ref), norm(full), `reference: ${JSON.stringify(req)}`);
  assert.ok(Object.isFrozen(got), 'decisions are frozen');
  return got;
}

const readFeeder = conduit({
  id: 'hmi-reads', from: { identities: ['hmi-1'] }, to: { assets: ['plc-1'] },
  allow: { functions: [3, 4], units: [1], addresses: [{ start: 0, end: 99 }, { start: 200, end: 299 }] },
});
const rq = (fn: number, address: number, count: number, extra: Partial<DecisionRequest> = {}, unit = 1): DecisionRequest =>
  ({ from: 'hmi-1', to: 'plc-1', modbus: { function: fn, unit, address, count }, ...extra });

test('address ranges: exact boundaries, one past, spanning two separate ranges', () => {
  const d = substation([readFeeder]);
  const allow = { decision: 'allow' as const, conduit: 'hmi-reads', identity: 'hmi-1' };
  const oor = { reason: 'address-out-of-range' as const, identity: 'hmi-1' };
  expectDecision(d, rq(3, 0, 1), allow);
  expectDecision(d, rq(3, 99, 1), allow);
  expectDecision(d, rq(3, 0, 100), allow);
  expectDecision(d, rq(3, 0, 101), oor);
  expectDecision(d, rq(3, 100, 1), oor);
  expectDecision(d, rq(3, 199, 1), oor);
  expectDecision(d, rq(3, 200, 100), allow);
  expectDecision(d, rq(3, 299, 1), allow);
  expectDecision(d, rq(3, 300, 1), oor);
  expectDecision(d, rq(3, 90, 120), oor); // 90..209 spans both ranges and the gap
  // adjacent ranges are one interval once merged: 0-99 + 100-199 covers 90..109
  const adj = substation([conduit({ ...readFeeder, allow: { functions: [3], addresses: [{ start: 100, end: 199 }, { start: 0, end: 99 }] } })]);
  expectDecision(adj, rq(3, 90, 20), allow);
  // adjacent-but-separate (a gap of one register) is not
  const gap = substation([conduit({ ...readFeeder, allow: { functions: [3], addresses: [{ start: 0, end: 99 }, { start: 101, end: 199 }] } })]);
  expectDecision(gap, rq(3, 90, 20), oor);
  expectDecision(gap, rq(3, 100, 1), oor);
});

test('many ranges: the binary-search path agrees at every boundary', () => {
  const addresses = Array.from({ length: 40 }, (_, i) => ({ start: i * 100, end: i * 100 + 49 }));
  const d = substation([conduit({ ...readFeeder, allow: { functions: [3], addresses } })]);
  for (const a of [0, 49, 50, 99, 100, 149, 150, 3900, 3949, 3950, 65535]) {
    const inside = a < 4000 && a % 100 < 50;
    expectDecision(d, rq(3, a, 1), inside ? { decision: 'allow', conduit: 'hmi-reads', identity: 'hmi-1' } : { reason: 'address-out-of-range', identity: 'hmi-1' });
  }
  expectDecision(d, rq(3, 140, 10), { decision: 'allow', conduit: 'hmi-reads', identity: 'hmi-1' });
  expectDecision(d, rq(3, 140, 11), { reason: 'address-out-of-range', identity: 'hmi-1' });
});

test('units and functions', () => {
  const d = substation([readFeeder]);
  expectDecision(d, rq(3, 0, 1, {}, 2), { reason: 'unit-not-allowed', identity: 'hmi-1' });
  expectDecision(d, rq(6, 0, 1), { reason: 'function-not-allowed', identity: 'hmi-1' });
  expectDecision(d, rq(1, 0, 1), { reason: 'function-not-allowed', identity: 'hmi-1' });
  // function names resolve through modbus.ts
  expectDecision(d, { from: 'hmi-1', to: 'plc-1', modbus: { function: 'read-input-registers', unit: 1, address: 5, count: 2 } }, { decision: 'allow', conduit: 'hmi-reads', identity: 'hmi-1' });
  // units absent: any unit
  const any = substation([conduit({ ...readFeeder, allow: { functions: [3] } })]);
  expectDecision(any, rq(3, 60000, 100, {}, 255), { decision: 'allow', conduit: 'hmi-reads', identity: 'hmi-1' });
  // allow absent: every well-formed operation
  const all = substation([conduit({ ...readFeeder, allow: undefined })]);
  expectDecision(all, rq(16, 65000, 123, {}, 0), { decision: 'allow', conduit: 'hmi-reads', identity: 'hmi-1' });
  // functions empty: none
  const none = substation([conduit({ ...readFeeder, allow: { functions: [] } })]);
  expectDecision(none, rq(3, 0, 1), { reason: 'function-not-allowed', identity: 'hmi-1' });
});

test('every function shape', () => {
  const d = substation([conduit({ ...readFeeder, allow: { functions: [1, 5, 6, 8, 15, 16, 20, 22, 23, 24, 43], units: [1], addresses: [{ start: 10, end: 19 }] } })]);
  const ok = { decision: 'allow' as const, conduit: 'hmi-reads', identity: 'hmi-1' };
  const oor = { reason: 'address-out-of-range' as const, identity: 'hmi-1' };
  const bad = { reason: 'malformed' as const, identity: 'hmi-1' };
  // range (FC 1): count limits 1..2000
  expectDecision(d, rq(1, 10, 10), ok);
  expectDecision(d, rq(1, 10, 11), oor);
  expectDecision(d, rq(1, 10, 0), bad);
  expectDecision(d, rq(1, 0, 2001), bad);
  // single (FC 5, 6) and mask (FC 22): one address, the count is not part of the PDU
  expectDecision(d, rq(5, 19, 0), ok);
  expectDecision(d, rq(6, 20, 1), oor);
  expectDecision(d, rq(22, 10, 7), ok);
  expectDecision(d, rq(22, 9, 1), oor);
  // multiple (FC 15, 16): count limits 1968 / 123
  expectDecision(d, rq(16, 10, 10), ok);
  expectDecision(d, rq(16, 10, 124), bad);
  expectDecision(d, rq(15, 12, 8), ok);
  // fifo (FC 24): the pointer address
  expectDecision(d, rq(24, 15, 0), ok);
  expectDecision(d, rq(24, 25, 0), oor);
  // none (FC 8, 20, 43): only the function (and unit) matter
  expectDecision(d, rq(8, 9999, 0), ok);
  expectDecision(d, rq(43, 0, 0), ok);
  expectDecision(d, rq(20, 0, 0), ok);
  expectDecision(d, rq(8, 0, 0, {}, 7), { reason: 'unit-not-allowed', identity: 'hmi-1' });
  expectDecision(d, rq(7, 0, 0), { reason: 'function-not-allowed', identity: 'hmi-1' });
  // unknown function, address past the end
  expectDecision(d, rq(99, 0, 1), bad);
  expectDecision(d, rq(3, 65535, 2), bad);
  expectDecision(d, rq(3, 65535, 1), { reason: 'function-not-allowed', identity: 'hmi-1' });
});

test('FC 23: the read range and the write range must both be allowed', () => {
  const d = substation([conduit({ ...readFeeder, allow: { functions: [23], addresses: [{ start: 0, end: 9 }, { start: 100, end: 109 }] } })]);
  const rw = (address: number, count: number, writeAddress?: number, writeCount?: number): DecisionRequest =>
    ({ from: 'hmi-1', to: 'plc-1', modbus: { function: 23, unit: 1, address, count, writeAddress, writeCount } });
  expectDecision(d, rw(0, 10, 100, 10), { decision: 'allow', conduit: 'hmi-reads', identity: 'hmi-1' });
  expectDecision(d, rw(0, 10, 105, 6), { reason: 'address-out-of-range', identity: 'hmi-1' });
  expectDecision(d, rw(0, 11, 100, 1), { reason: 'address-out-of-range', identity: 'hmi-1' });
  expectDecision(d, rw(0, 1), { reason: 'malformed', identity: 'hmi-1' });
  expectDecision(d, rw(0, 1, 100, 122), { reason: 'malformed', identity: 'hmi-1' });
  expectDecision(d, rw(0, 1, 100, 121), { reason: 'address-out-of-range', identity: 'hmi-1' });
  expectDecision(d, rw(0, 126, 100, 1), { reason: 'malformed', identity: 'hmi-1' });
});

test('schedules: plain windows, across midnight, days name the start day', () => {
  const night = conduit({ ...readFeeder, schedule: { days: ['fri'], from: 22 * 60, to: 4 * 60, tz: 'UTC' } });
  const d = substation([night]);
  const at = (iso: string) => rq(3, 0, 1, { at: iso });
  const ok = { decision: 'allow' as const, conduit: 'hmi-reads', identity: 'hmi-1' };
  const out = { reason: 'outside-schedule' as const, identity: 'hmi-1' };
  expectDecision(d, at('2026-03-06T21:59:00Z'), out); // Fri 21:59
  expectDecision(d, at('2026-03-06T22:00:00Z'), ok); // Fri 22:00
  expectDecision(d, at('2026-03-07T03:59:00Z'), ok); // Sat 03:59 (window started Friday)
  expectDecision(d, at('2026-03-07T04:00:00Z'), out); // Sat 04:00: `to` is exclusive
  expectDecision(d, at('2026-03-06T02:00:00Z'), out); // Fri 02:00: that window started Thursday
  expectDecision(d, at('2026-03-07T22:30:00Z'), out); // Sat 22:30
  const day = substation([conduit({ ...readFeeder, schedule: { days: ['mon', 'tue'], from: 8 * 60, to: 17 * 60, tz: 'Europe/Berlin' } })]);
  expectDecision(day, rq(3, 0, 1, { at: '2026-03-02T07:00:00Z' }), ok); // Mon 08:00 CET
  expectDecision(day, rq(3, 0, 1, { at: '2026-03-02T06:59:00Z' }), out);
  expectDecision(day, rq(3, 0, 1, { at: '2026-03-02T15:59:00Z' }), ok); // 16:59 CET
  expectDecision(day, rq(3, 0, 1, { at: '2026-03-02T16:00:00Z' }), out);
  expectDecision(day, rq(3, 0, 1, { at: '2026-03-04T10:00:00Z' }), out); // Wednesday
  // Berlin summer time (CEST, UTC+2) after 2026-03-29
  expectDecision(day, rq(3, 0, 1, { at: '2026-03-30T06:00:00Z' }), ok); // Mon 08:00 CEST
  expectDecision(day, rq(3, 0, 1, { at: '2026-03-30T15:00:00Z' }), out); // Mon 17:00 CEST
  // no days: every day
  const every = substation([conduit({ ...readFeeder, schedule: { days: [], from: 0, to: 60, tz: 'UTC' } })]);
  expectDecision(every, rq(3, 0, 1, { at: '2026-03-08T00:30:00Z' }), ok);
  expectDecision(every, rq(3, 0, 1, { at: '2026-03-08T01:00:00Z' }), out);
});

test('schedules across DST changes in America/Chicago', () => {
  // Saturday 22:00 to 04:00. Spring forward: Sunday 2026-03-08 02:00 CST → 03:00 CDT.
  const d = substation([conduit({ ...readFeeder, schedule: { days: ['sat'], from: 22 * 60, to: 4 * 60, tz: 'America/Chicago' } })]);
  const ok = { decision: 'allow' as const, conduit: 'hmi-reads', identity: 'hmi-1' };
  const out = { reason: 'outside-schedule' as const, identity: 'hmi-1' };
  const at = (iso: string) => rq(3, 0, 1, { at: iso });
  expectDecision(d, at('2026-03-08T03:59:00Z'), out); // Sat 21:59 CST
  expectDecision(d, at('2026-03-08T04:00:00Z'), ok); // Sat 22:00 CST
  expectDecision(d, at('2026-03-08T07:59:00Z'), ok); // Sun 01:59 CST
  expectDecision(d, at('2026-03-08T08:00:00Z'), ok); // Sun 03:00 CDT (02:xx never happened)
  expectDecision(d, at('2026-03-08T08:59:00Z'), ok); // Sun 03:59 CDT
  expectDecision(d, at('2026-03-08T09:00:00Z'), out); // Sun 04:00 CDT: the window was 5 h long
  // Fall back: Sunday 2026-11-01 02:00 CDT → 01:00 CST; 01:xx happens twice, both inside.
  expectDecision(d, at('2026-11-01T03:00:00Z'), ok); // Sat 22:00 CDT
  expectDecision(d, at('2026-11-01T06:30:00Z'), ok); // Sun 01:30 CDT
  expectDecision(d, at('2026-11-01T07:30:00Z'), ok); // Sun 01:30 CST (again)
  expectDecision(d, at('2026-11-01T09:59:00Z'), ok); // Sun 03:59 CST: the window was 7 h long
  expectDecision(d, at('2026-11-01T10:00:00Z'), out); // Sun 04:00 CST
  // a window inside the skipped hour never opens that day
  const gap = substation([conduit({ ...readFeeder, schedule: { days: ['sun'], from: 2 * 60 + 15, to: 2 * 60 + 45, tz: 'America/Chicago' } })]);
  for (let m = 6 * 60; m < 10 * 60; m += 5) {
    expectDecision(gap, at(new Date(Date.UTC(2026, 2, 8, 0, m)).toISOString()), out);
  }
  expectDecision(gap, at('2026-03-15T07:30:00Z'), ok); // next Sunday 02:30 CDT
});

test('IPv6 and IPv4 sources: bound identities and zones', () => {
  const d = substation([
    readFeeder,
    conduit({ id: 'enterprise-reads', from: { zones: ['enterprise'] }, to: { assets: ['plc-1'] }, allow: { functions: [4] } }),
  ]);
  // hmi-1 bound to an IPv6 address
  expectDecision(d, { from: { ip: 'fd00:10:1::5' }, to: 'plc-1', modbus: { function: 3, unit: 1, address: 0, count: 1 } }, { decision: 'allow', conduit: 'hmi-reads', identity: 'hmi-1' });
  expectDecision(d, { from: { ip: '10.10.1.5' }, to: { ip: 'fd00:10:1::20' }, modbus: { function: 3, unit: 1, address: 0, count: 1 } }, { decision: 'allow', conduit: 'hmi-reads', identity: 'hmi-1' });
  // an unbound IPv6 address in the enterprise zone: zone conduit only, no identity
  expectDecision(d, { from: { ip: 'fd00:20::99' }, to: 'plc-1', modbus: { function: 4, unit: 9, address: 7, count: 3 } }, { decision: 'allow', conduit: 'enterprise-reads' });
  expectDecision(d, { from: { ip: 'fd00:20::99' }, to: 'plc-1', modbus: { function: 3, unit: 9, address: 7, count: 3 } }, { reason: 'function-not-allowed' });
  // an unbound IPv4 address in the enterprise zone
  expectDecision(d, { from: { ip: '10.20.200.1' }, to: 'plc-1', modbus: { function: 4, unit: 1, address: 0, count: 1 } }, { decision: 'allow', conduit: 'enterprise-reads' });
  // outside every zone: no identity, no zone
  expectDecision(d, { from: { ip: '192.0.2.1' }, to: 'plc-1', modbus: { function: 4, unit: 1, address: 0, count: 1 } }, { reason: 'no-conduit' });
  expectDecision(d, { from: { ip: '2001:db8::1' }, to: 'plc-1', modbus: { function: 4, unit: 1, address: 0, count: 1 } }, { reason: 'no-conduit' });
});

test('nested zone networks: the longest prefix wins', () => {
  const d = doc({
    zones: [zone('site', ['10.0.0.0/8', 'fd00::/16']), zone('cell', ['10.1.2.0/24', 'fd00:1::/32'])],
    assets: [asset('plc', 'cell', ['10.1.2.10'])],
    conduits: [conduit({ id: 'cell-local', from: { zones: ['cell'] }, to: { assets: ['plc'] } }), conduit({ id: 'site-wide', from: { zones: ['site'] }, to: { assets: ['plc'] }, allow: { functions: [4] } })],
  });
  const req = (ip: string): DecisionRequest => ({ from: { ip }, to: 'plc', modbus: { function: 3, unit: 1, address: 0, count: 1 } });
  expectDecision(d, req('10.1.2.99'), { decision: 'allow', conduit: 'cell-local' });
  expectDecision(d, req('10.1.3.99'), { reason: 'function-not-allowed' });
  expectDecision(d, req('10.1.1.255'), { reason: 'function-not-allowed' });
  expectDecision(d, req('fd00:1::1'), { decision: 'allow', conduit: 'cell-local' });
  expectDecision(d, req('fd00:2::1'), { reason: 'function-not-allowed' });
  expectDecision(d, req('11.0.0.1'), { reason: 'no-conduit' });
});

test('quarantine overrides allow and monitor mode', () => {
  const mon = conduit({ id: 'mon', from: { zones: ['enterprise'] }, to: { assets: ['plc-1'] }, mode: 'monitor', allow: { functions: [] } });
  for (const q of [['hmi-1'], ['plc-1']]) {
    const d = substation([readFeeder, mon], { quarantine: q });
    expectDecision(d, rq(3, 0, 1), { reason: 'quarantined', identity: 'hmi-1' });
    expectDecision(d, { from: { ip: '10.10.1.5' }, to: 'plc-1', modbus: { function: 3, unit: 1, address: 0, count: 1 } }, { reason: 'quarantined', identity: 'hmi-1' });
  }
  const d = substation([readFeeder, mon], { quarantine: ['plc-1'] });
  expectDecision(d, { from: 'eng-ws', to: 'plc-1', modbus: { function: 3, unit: 1, address: 0, count: 1 } }, { reason: 'quarantined', identity: 'eng-ws' });
  // a quarantined device stays cut off even when a person logs in from it
  const q2 = substation([readFeeder, conduit({ id: 'ops', from: { roles: ['operator'] }, to: { assets: ['plc-1'] } })], { quarantine: ['hmi-1'] });
  expectDecision(q2, { from: { ip: '10.10.1.5' }, to: 'plc-1', session: { identity: 'alice', edgeAuth: true }, modbus: { function: 3, unit: 1, address: 0, count: 1 } }, { reason: 'quarantined', identity: 'alice' });
  // an asset's own address as a source is cut off too
  const q3 = substation([conduit({ id: 'ctl', from: { zones: ['control'] }, to: { assets: ['plc-2'] } })], { quarantine: ['plc-1'] });
  expectDecision(q3, { from: { ip: '10.10.1.20' }, to: 'plc-2', modbus: { function: 3, unit: 1, address: 0, count: 1 } }, { reason: 'quarantined' });
  expectDecision(q3, { from: { ip: '10.10.1.30' }, to: 'plc-2', port: 502, modbus: { function: 3, unit: 1, address: 0, count: 1 } }, { decision: 'allow', conduit: 'ctl' });
});

test('zone-level conduits decide a source with no identity; zone destinations need ports', () => {
  const d = substation([
    conduit({ id: 'ent-to-ctl', from: { zones: ['enterprise'] }, to: { zones: ['control'] }, allow: { functions: [3] } }),
    conduit({ id: 'ent-ssh', protocol: 'tcp', from: { zones: ['enterprise'] }, to: { zones: ['control'] }, ports: [22] }),
  ]);
  const op = { function: 3, unit: 1, address: 0, count: 1 };
  expectDecision(d, { from: { ip: '10.20.9.9' }, to: 'plc-1', modbus: op }, { decision: 'allow', conduit: 'ent-to-ctl' });
  // an address only in the zone (no asset): the modbus conduit has no ports → port-not-allowed
  expectDecision(d, { from: { ip: '10.20.9.9' }, to: { ip: '10.10.1.99', port: 502 }, modbus: op }, { reason: 'port-not-allowed' });
  expectDecision(d, { from: { ip: '10.20.9.9' }, to: { ip: '10.10.1.99', port: 22 }, protocol: 'tcp' }, { decision: 'allow', conduit: 'ent-ssh' });
  expectDecision(d, { from: { ip: '10.20.9.9' }, to: { ip: '10.10.1.99', port: 23 }, protocol: 'tcp' }, { reason: 'port-not-allowed' });
  expectDecision(d, { from: { ip: '10.30.0.1' }, to: { ip: '10.10.1.99', port: 22 }, protocol: 'tcp' }, { reason: 'no-conduit' });
  // identity zone beats the address's zone: eng-ws is in enterprise wherever it connects from
  expectDecision(d, { from: 'eng-ws', to: 'plc-1', modbus: op }, { decision: 'allow', conduit: 'ent-to-ctl', identity: 'eng-ws' });
});

test('ports: asset services, conduit ports, port-not-allowed, several services', () => {
  const d = substation([
    conduit({ id: 'plc2-any', from: { identities: ['hmi-1'] }, to: { assets: ['plc-2'] } }),
    conduit({ id: 'plc2-ssh', protocol: 'tcp', from: { roles: ['engineer'] }, to: { assets: ['plc-2'] } }),
    conduit({ id: 'hist', protocol: 'tcp', from: { identities: ['hmi-1'] }, to: { assets: ['historian'] }, ports: [5433] }),
  ]);
  const op = { function: 3, unit: 1, address: 0, count: 1 };
  expectDecision(d, { from: 'hmi-1', to: { ip: '10.10.1.21', port: 1502 }, modbus: op }, { decision: 'allow', conduit: 'plc2-any', identity: 'hmi-1' });
  expectDecision(d, { from: 'hmi-1', to: 'plc-2', port: 502, modbus: op }, { decision: 'allow', conduit: 'plc2-any', identity: 'hmi-1' });
  // two modbus services and no port given: the port is unknown
  expectDecision(d, { from: 'hmi-1', to: 'plc-2', modbus: op }, { reason: 'port-not-allowed', identity: 'hmi-1' });
  expectDecision(d, { from: 'hmi-1', to: 'plc-2', port: 503, modbus: op }, { reason: 'port-not-allowed', identity: 'hmi-1' });
  // the single tcp service (22)
  expectDecision(d, { from: 'eng-ws', to: 'plc-2', protocol: 'tcp' }, { decision: 'allow', conduit: 'plc2-ssh', identity: 'eng-ws' });
  // conduit ports replace the asset's service ports
  expectDecision(d, { from: 'hmi-1', to: 'historian' }, { reason: 'port-not-allowed', identity: 'hmi-1' });
  expectDecision(d, { from: 'hmi-1', to: 'historian', port: 5433 }, { decision: 'allow', conduit: 'hist', identity: 'hmi-1' });
});

test('edge auth and grants, people authenticated at the edge', () => {
  const vendor = conduit({
    id: 'vendor', from: { roles: ['vendor'] }, to: { assets: ['plc-1'] }, requires: { edgeAuth: true, grant: true },
    allow: { functions: [3, 6], units: [1], addresses: [{ start: 0, end: 99 }] },
  });
  const d = substation([vendor]);
  const op = { function: 6, unit: 1, address: 5, count: 1 };
  const from = { ip: '10.20.0.77' };
  expectDecision(d, { from, to: 'plc-1', modbus: op, session: { identity: 'acme' } }, { reason: 'edge-auth-required', identity: 'acme' });
  expectDecision(d, { from, to: 'plc-1', modbus: op, session: { identity: 'acme', edgeAuth: true } }, { reason: 'grant-required', identity: 'acme' });
  expectDecision(d, { from, to: 'plc-1', modbus: op, session: { identity: 'acme', edgeAuth: true, grant: ['other'] } }, { reason: 'grant-required', identity: 'acme' });
  expectDecision(d, { from, to: 'plc-1', modbus: op, session: { identity: 'acme', edgeAuth: true, grant: ['vendor'] } }, { decision: 'allow', conduit: 'vendor', identity: 'acme' });
  expectDecision(d, { from, to: 'plc-1', modbus: op, session: { identity: 'acme', edgeAuth: true, grant: true } }, { decision: 'allow', conduit: 'vendor', identity: 'acme' });
  expectDecision(d, { from, to: 'plc-1', modbus: op, session: { identity: 'acme', edgeAuth: true, grant: false } }, { reason: 'grant-required', identity: 'acme' });
  // without the session there is no identity and no conduit from that zone
  expectDecision(d, { from, to: 'plc-1', modbus: op }, { reason: 'no-conduit' });
  // an unknown session identity is no identity
  expectDecision(d, { from, to: 'plc-1', modbus: op, session: { identity: 'mallory', edgeAuth: true, grant: true } }, { reason: 'no-conduit' });
});

test('furthest candidate gives the reason; ties go to document order', () => {
  const d = substation([
    conduit({ id: 'a-fn', from: { identities: ['hmi-1'] }, to: { assets: ['plc-1'] }, allow: { functions: [4] } }),
    conduit({ id: 'b-unit', from: { identities: ['hmi-1'] }, to: { assets: ['plc-1'] }, allow: { functions: [3], units: [2] } }),
    conduit({ id: 'c-edge', from: { identities: ['hmi-1'] }, to: { assets: ['plc-1'] }, requires: { edgeAuth: true } }),
    conduit({ id: 'd-unit', from: { identities: ['hmi-1'] }, to: { assets: ['plc-1'] }, allow: { functions: [3], units: [3] } }),
  ]);
  expectDecision(d, rq(3, 0, 1), { reason: 'unit-not-allowed', identity: 'hmi-1' });
  expectDecision(d, rq(6, 0, 1), { reason: 'function-not-allowed', identity: 'hmi-1' });
  // connection-level question: c-edge fails edge auth, the others pass
  expectDecision(d, { from: 'hmi-1', to: 'plc-1' }, { decision: 'allow', conduit: 'a-fn', identity: 'hmi-1' });
});

test('monitor mode allows what it would deny, naming the reason; enforce allow wins', () => {
  const mon = conduit({ id: 'commissioning', mode: 'monitor', from: { identities: ['hmi-1'] }, to: { assets: ['plc-1'] }, allow: { functions: [3], addresses: [{ start: 0, end: 9 }] } });
  const d = substation([readFeeder, mon]);
  // readFeeder allows 0-99: enforce allow wins
  expectDecision(d, rq(3, 50, 1), { decision: 'allow', conduit: 'hmi-reads', identity: 'hmi-1' });
  // both deny: the monitor one says why it would have
  expectDecision(d, rq(3, 150, 1), { decision: 'allow', conduit: 'commissioning', reason: 'address-out-of-range', identity: 'hmi-1', monitor: true });
  expectDecision(d, rq(6, 0, 1), { decision: 'allow', conduit: 'commissioning', reason: 'function-not-allowed', identity: 'hmi-1', monitor: true });
  // a monitor conduit that passes is a plain allow
  const only = substation([mon]);
  expectDecision(only, rq(3, 5, 1), { decision: 'allow', conduit: 'commissioning', identity: 'hmi-1' });
  // malformed is not softened
  expectDecision(only, rq(3, 5, 0), { reason: 'malformed', identity: 'hmi-1' });
});

test('unknown destination, no conduit, unknown identity', () => {
  const d = substation([readFeeder]);
  expectDecision(d, { from: 'hmi-1', to: 'nope', modbus: { function: 3, unit: 1, address: 0, count: 1 } }, { reason: 'unknown-destination', identity: 'hmi-1' });
  expectDecision(d, { from: 'hmi-1', to: { ip: '192.0.2.1', port: 502 }, modbus: { function: 3, unit: 1, address: 0, count: 1 } }, { reason: 'unknown-destination', identity: 'hmi-1' });
  expectDecision(d, { from: 'eng-ws', to: 'plc-1', modbus: { function: 3, unit: 1, address: 0, count: 1 } }, { reason: 'no-conduit', identity: 'eng-ws' });
  expectDecision(d, { from: 'ghost', to: 'plc-1', modbus: { function: 3, unit: 1, address: 0, count: 1 } }, { reason: 'no-conduit' });
  // malformed comes before no-conduit, after quarantine and unknown destination
  expectDecision(d, { from: 'eng-ws', to: 'plc-1', modbus: { function: 3, unit: 1, address: 0, count: 0 } }, { reason: 'malformed', identity: 'eng-ws' });
  expectDecision(d, { from: 'eng-ws', to: 'nope', modbus: { function: 3, unit: 1, address: 0, count: 0 } }, { reason: 'unknown-destination', identity: 'eng-ws' });
});

test('roles match; a person logged in at a device\'s address adds to the device', () => {
  const d = substation([
    conduit({ id: 'operators', from: { roles: ['operator'] }, to: { assets: ['plc-1'] }, allow: { functions: [3, 6] } }),
    readFeeder,
  ]);
  expectDecision(d, { from: { ip: '10.10.1.5' }, to: 'plc-1', session: { identity: 'alice' }, modbus: { function: 6, unit: 1, address: 1, count: 1 } }, { decision: 'allow', conduit: 'operators', identity: 'alice' });
  expectDecision(d, { from: { ip: '10.10.1.5' }, to: 'plc-1', modbus: { function: 6, unit: 1, address: 1, count: 1 } }, { reason: 'function-not-allowed', identity: 'hmi-1' });
  expectDecision(d, { from: 'alice', to: 'plc-1', modbus: { function: 6, unit: 1, address: 1, count: 1 } }, { decision: 'allow', conduit: 'operators', identity: 'alice' });
});

test('a person logged in at a device\'s address: the source is both, each conduit names whom it matched', () => {
  const ops = conduit({ id: 'ops', from: { roles: ['operator'] }, to: { assets: ['plc-1'] }, requires: { edgeAuth: true }, allow: { functions: [5, 6], units: [1], addresses: [{ start: 0, end: 15 }] } });
  const d = substation([readFeeder, ops]);
  const hmi = { ip: '10.10.1.5' };
  const read = { function: 3, unit: 1, address: 0, count: 8 };
  const write = { function: 6, unit: 1, address: 3, count: 1 };
  const alice = { identity: 'alice', edgeAuth: true };
  // the HMI's own polling keeps working while alice is logged in at its address, naming the HMI
  expectDecision(d, { from: hmi, to: 'plc-1', modbus: read, session: alice }, { decision: 'allow', conduit: 'hmi-reads', identity: 'hmi-1' });
  expectDecision(d, { from: 'hmi-1', to: 'plc-1', modbus: read, session: alice }, { decision: 'allow', conduit: 'hmi-reads', identity: 'hmi-1' });
  // alice's operator conduit (edge auth) allows, naming alice
  expectDecision(d, { from: hmi, to: 'plc-1', modbus: write, session: alice }, { decision: 'allow', conduit: 'ops', identity: 'alice' });
  // nothing beyond the two: a write outside both conduits is refused, naming the person
  expectDecision(d, { from: hmi, to: 'plc-1', modbus: { ...write, address: 50 }, session: alice }, { reason: 'address-out-of-range', identity: 'alice' });
  expectDecision(d, { from: hmi, to: 'plc-1', modbus: { function: 16, unit: 1, address: 0, count: 2 }, session: alice }, { reason: 'function-not-allowed', identity: 'alice' });
  // without edge auth the operators' conduit fails early; the HMI's conduit got further (furthest-reason rule)
  expectDecision(d, { from: hmi, to: 'plc-1', modbus: write, session: { identity: 'alice' } }, { reason: 'function-not-allowed', identity: 'alice' });
  expectDecision(d, { from: hmi, to: 'plc-1', modbus: read, session: { identity: 'alice' } }, { decision: 'allow', conduit: 'hmi-reads', identity: 'hmi-1' });
  // a device-only address without a session is unchanged
  expectDecision(d, { from: hmi, to: 'plc-1', modbus: read }, { decision: 'allow', conduit: 'hmi-reads', identity: 'hmi-1' });
  expectDecision(d, { from: hmi, to: 'plc-1', modbus: write }, { reason: 'function-not-allowed', identity: 'hmi-1' });
  // edge auth alone (no person) adds no identity: the operators' conduit does not match the HMI
  expectDecision(d, { from: hmi, to: 'plc-1', modbus: write, session: { edgeAuth: true } }, { reason: 'function-not-allowed', identity: 'hmi-1' });
  // an unknown session identity is no person; the address keeps its device
  expectDecision(d, { from: hmi, to: 'plc-1', modbus: read, session: { identity: 'mallory', edgeAuth: true } }, { decision: 'allow', conduit: 'hmi-reads', identity: 'hmi-1' });
  expectDecision(d, { from: hmi, to: 'plc-1', modbus: write, session: { identity: 'mallory', edgeAuth: true } }, { reason: 'function-not-allowed', identity: 'hmi-1' });
  // a quarantined person at a device's address is refused, the device alone is not
  const qa = substation([readFeeder, ops], { quarantine: ['alice'] });
  expectDecision(qa, { from: hmi, to: 'plc-1', modbus: read, session: alice }, { reason: 'quarantined', identity: 'alice' });
  expectDecision(qa, { from: hmi, to: 'plc-1', modbus: read }, { decision: 'allow', conduit: 'hmi-reads', identity: 'hmi-1' });
  // a quarantined device is refused with or without the person
  const qh = substation([readFeeder, ops], { quarantine: ['hmi-1'] });
  expectDecision(qh, { from: hmi, to: 'plc-1', modbus: write, session: alice }, { reason: 'quarantined', identity: 'alice' });
  // a conduit matching both names the person
  const both = substation([conduit({ id: 'both', from: { identities: ['hmi-1'], roles: ['operator'] }, to: { assets: ['plc-1'] } })]);
  expectDecision(both, { from: hmi, to: 'plc-1', modbus: read, session: alice }, { decision: 'allow', conduit: 'both', identity: 'alice' });
  expectDecision(both, { from: hmi, to: 'plc-1', modbus: read }, { decision: 'allow', conduit: 'both', identity: 'hmi-1' });
  // zones: the device's own zone still matches; a person without a zone takes the address's zone
  const zoned = substation([
    conduit({ id: 'from-control', from: { zones: ['control'] }, to: { assets: ['plc-2'] }, ports: [502] }),
    conduit({ id: 'from-enterprise', from: { zones: ['enterprise'] }, to: { assets: ['plc-1'] } }),
  ], { identities: [
    identity('hmi-1', { zone: 'control', addresses: ['10.10.1.5'] }),
    identity('eng-ws', { zone: 'enterprise', addresses: ['10.20.0.9'] }),
    identity('alice', { kind: 'user', roles: ['operator'] }),
    identity('bob', { kind: 'user', zone: 'enterprise' }),
  ] });
  expectDecision(zoned, { from: hmi, to: 'plc-2', port: 502, modbus: read, session: { identity: 'bob' } }, { decision: 'allow', conduit: 'from-control', identity: 'hmi-1' });
  expectDecision(zoned, { from: hmi, to: 'plc-1', modbus: read, session: { identity: 'bob' } }, { decision: 'allow', conduit: 'from-enterprise', identity: 'bob' });
  expectDecision(zoned, { from: hmi, to: 'plc-2', port: 502, modbus: read, session: { identity: 'alice' } }, { decision: 'allow', conduit: 'from-control', identity: 'alice' });
  expectDecision(zoned, { from: hmi, to: 'plc-1', modbus: read, session: { identity: 'alice' } }, { reason: 'no-conduit', identity: 'alice' });
  // monitor mode names whom the monitored conduit matched
  const mon = substation([conduit({ id: 'watch', from: { identities: ['hmi-1'] }, to: { assets: ['plc-1'] }, mode: 'monitor', allow: { functions: [3] } })]);
  expectDecision(mon, { from: hmi, to: 'plc-1', modbus: write, session: alice }, { decision: 'allow', conduit: 'watch', reason: 'function-not-allowed', identity: 'hmi-1', monitor: true });
});

test('decisions are shared frozen objects; at or nowMs required', () => {
  const idx = compile(substation([readFeeder]));
  const a = decide(idx, rq(3, 0, 1), MON_14_UTC);
  const b = decide(idx, rq(3, 5, 1), MON_14_UTC);
  assert.is(a, b);
  assert.throws(() => decide(idx, rq(3, 0, 1)), (e: Error) => e instanceof TypeError && /request\.at or nowMs/.test(e.message));
  assert.is(decide(idx, rq(3, 0, 1, { at: MON_14_UTC })).decision, 'allow');
});

test('identities bound to a shared address: the first in document order', () => {
  const d = doc({
    zones: [zone('z', ['10.0.0.0/24'])],
    assets: [asset('p', 'z', ['10.0.0.2'])],
    identities: [identity('first', { addresses: ['10.0.0.1'] }), identity('second', { addresses: ['10.0.0.1'] })],
    conduits: [conduit({ id: 'c', from: { identities: ['second'] }, to: { assets: ['p'] } })],
  });
  expectDecision(d, { from: { ip: '10.0.0.1' }, to: 'p', modbus: { function: 3, unit: 1, address: 0, count: 1 } }, { reason: 'no-conduit', identity: 'first' });
});

test.run();
