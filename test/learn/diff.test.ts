/** `zonegate policy diff`: the semantic diff of two policies (policy/diff.ts) and its CLI. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { parsePolicy } from '../../policy/parse';
import { diffPolicies } from '../../policy/diff';
import { subtractRanges, mergeWithin } from '../../policy/ranges';
import { cli, FIX } from './helpers';

const v1 = parsePolicy(readFileSync(`${FIX}/plant-v1.yaml`, 'utf8'));
const v2 = parsePolicy(readFileSync(`${FIX}/plant-v2.yaml`, 'utf8'));

test('range helpers: difference and merging within a slack', () => {
  assert.equal(subtractRanges([{ start: 0, end: 99 }], [{ start: 0, end: 49 }, { start: 200, end: 209 }]), [{ start: 50, end: 99 }]);
  assert.equal(subtractRanges([{ start: 0, end: 49 }, { start: 200, end: 209 }], [{ start: 0, end: 99 }]), [{ start: 200, end: 209 }]);
  assert.equal(subtractRanges([{ start: 0, end: 10 }], [{ start: 3, end: 4 }, { start: 6, end: 6 }]), [{ start: 0, end: 2 }, { start: 5, end: 5 }, { start: 7, end: 10 }]);
  assert.equal(mergeWithin([{ start: 10, end: 11 }, { start: 0, end: 1 }, { start: 15, end: 15 }], 3), [{ start: 0, end: 1 }, { start: 10, end: 15 }]);
  assert.equal(mergeWithin([{ start: 0, end: 1 }, { start: 3, end: 3 }], 0), [{ start: 0, end: 1 }, { start: 3, end: 3 }]);
});

test('DNP3 conduits: functions, link addresses, objects, points, values, controls and unsolicited widened or narrowed', () => {
  const text = readFileSync('test/fixtures/policy/dnp3-substation.yaml', 'utf8');
  const a = parsePolicy(text);
  const b = parsePolicy(text
    .replace('functions: [read, select, operate, direct-operate, enable-unsolicited, disable-unsolicited, delay-measure, write]', 'functions: [read, select, operate, direct-operate, enable-unsolicited, disable-unsolicited, delay-measure, write, cold-restart]')
    .replace('masters: [1]', 'masters: [1, 2]')
    .replace('points: { g12: ["0-7"] }', 'points: { g12: ["0-3", "8-9"] }')
    .replace('controls: [pulse-on, latch-on, latch-off, trip, close]', 'controls: [pulse-on, latch-on, latch-off, close]')
    .replace('      unsolicited: true\n', '')
    .replace('values: { min: 0, max: 100 }', 'values: { min: 0, max: 200 }')
    .replace('allow: { functions: [read], objects: [g1, g30, g60] }', 'allow: { functions: [read], objects: [g1, g30, g60, g40] }'));
  const key = diffPolicies(a, b).changes.map((c) => `${c.effect} ${c.id} ${c.what} ${c.detail}`).sort();
  assert.equal(key, [
    'narrows scada-polls-and-operates controls - trip',
    'narrows scada-polls-and-operates points g12 - 4-7',
    'narrows scada-polls-and-operates unsolicited true → false',
    'widens eng-sets-outputs values 0..100 → 0..200',
    'widens hmi-reads objects + read g40',
    'widens scada-polls-and-operates functions + cold-restart',
    'widens scada-polls-and-operates masters + 2',
    'widens scada-polls-and-operates points g12 + 8-9',
  ]);
  assert.equal(diffPolicies(a, a).changes, []);
});

test('IEC 104 conduits: types, common addresses, IOAs, causes, values and select before execute widened or narrowed', () => {
  const text = readFileSync('test/fixtures/policy/iec104-substation.yaml', 'utf8');
  const a = parsePolicy(text);
  const b = parsePolicy(text
    .replace('types: [interrogation, counter-interrogation, clock-sync, test, C_SC_NA_1, C_DC_NA_1, C_DC_TA_1]', 'types: [interrogation, counter-interrogation, clock-sync, test, C_SC_NA_1, C_DC_NA_1, reset-process]')
    .replace('      ioas: ["100-107", "200-203", "1000-1007"]   # the states and measured values it reads, the breakers it switches\n      selectBeforeExecute: true\n', '      ioas: ["100-107", "200-203", "1000-1003", "1010"]\n')
    .replace('commonAddresses: [1]\n      ioas: ["2000-2003"]', 'commonAddresses: [1, 2]\n      ioas: ["2000-2003"]')
    .replace('causes: [activation, request]', 'causes: [activation, request, deactivation]')
    .replace('values: { min: 0, max: 100 }', 'values: { min: 10, max: 100 }'));
  const key = diffPolicies(a, b).changes.map((c) => `${c.effect} ${c.id} ${c.what} ${c.detail}`).sort();
  assert.equal(key, [
    'narrows eng-sets-points values 0..100 → 10..100',
    'narrows scada-switches ioas - 1004-1007',
    'narrows scada-switches types - C_DC_TA_1',
    'widens eng-sets-points causes + deactivation',
    'widens eng-sets-points commonAddresses + 2',
    'widens scada-switches ioas + 1010',
    'widens scada-switches selectBeforeExecute true → false',
    'widens scada-switches types + C_RP_NA_1',
  ]);
  assert.equal(diffPolicies(a, a).changes, []);
});

test('Modbus write bounds, coil states, sub-functions and writeRateLimit: a removed bound widens, a tighter one narrows', () => {
  const text = readFileSync(`${FIX}/plant-bounds.yaml`, 'utf8');
  const a = parsePolicy(text);
  const b = parsePolicy(text
    .replace('"1000-1019": "0-500"', '"1000-1019": "0-200"')
    .replace('        "1020-1021": "-100..100"\n', '')
    .replace('"11-12": on', '"11-12": [on, off]')
    .replace(', read-device-identification]', ']')
    .replace('writeRateLimit: { perSecond: 5, burst: 2 }', 'writeRateLimit: { perSecond: 10, burst: 2 }'));
  const key = diffPolicies(a, b).changes.map((c) => `${c.effect} ${c.id} ${c.what} ${c.detail}`).sort();
  assert.equal(key, [
    'changes eng-setpoints writeRateLimit 5/s burst 2 → 10/s burst 2',
    'narrows eng-setpoints values 1000-1019: uint16 0..500 → uint16 0..200',
    'narrows hmi-diag functions - encapsulated-interface-transport/read-device-identification',
    'widens eng-setpoints coils 11-12: on → on, off',
    'widens eng-setpoints values - 1020-1021: int16 -100..100',
  ]);
});

test('the same policy has no change', () => {
  const d = diffPolicies(v1, v1);
  assert.equal(d.changes, []);
});

test('widened and narrowed functions, addresses, sources, schedule; added identity; removed conduit', () => {
  const d = diffPolicies(v1, v2);
  const key = d.changes.map((c) => `${c.effect} ${c.area} ${c.id} ${c.what} ${c.detail}`);
  assert.equal(key.sort(), [
    'narrows conduit eng-historian removed tcp on the assets\' service ports',
    'narrows conduit eng-writes-plc schedule always → mon,tue,wed,thu,fri 07:00-17:00 UTC',
    'narrows conduit hmi-reads-plc addresses - 50-99',
    'narrows conduit hmi-reads-plc functions - read-coils',
    'widens conduit hmi-reads-plc addresses + 200-209',
    'widens conduit hmi-reads-plc from + scada-1',
    'widens identity scada-1 added device at 127.70.0.6',
  ]);
  assert.equal(d.counts, { widens: 3, narrows: 4, changes: 0 });
  const addr = d.changes.find((c) => c.what === 'addresses' && c.effect === 'narrows')!;
  assert.is(addr.affects, 'modbus requests from hmi-1, scada-1 to plc-1 at addresses 50-99 no longer allowed');
  // The reverse diff swaps widen and narrow.
  const back = diffPolicies(v2, v1);
  assert.equal(back.counts, { widens: 4, narrows: 3, changes: 0 });
});

test('units, requires, mode, quarantine, zone networks and asset addresses', () => {
  const base = JSON.parse(JSON.stringify(v1));
  const changed = JSON.parse(JSON.stringify(v1));
  changed.conduits[0].allow.units = [1, 2];
  changed.conduits[0].mode = 'monitor';
  changed.quarantine = ['eng-ws'];
  changed.zones[0].networks = ['127.70.0.0/24', '127.71.0.0/24'];
  changed.assets[0].addresses = ['127.70.1.10', '127.70.1.11'];
  changed.settings = { onExpiry: 'deny-all' };
  const d = diffPolicies(base, changed);
  const key = d.changes.map((c) => `${c.effect} ${c.area} ${c.what} ${c.detail}`);
  assert.equal(key.sort(), [
    'changes zone networks + 127.71.0.0/24'.replace('changes', 'widens'),
    'narrows quarantine quarantine + eng-ws',
    'narrows settings onExpiry keep-enforcing → deny-all',
    'widens asset addresses + 127.70.1.11',
    'widens conduit mode enforce → monitor',
    'widens conduit units + unit 2',
  ].sort());
  assert.match(d.changes.find((c) => c.area === 'quarantine')!.affects, /every request from or to eng-ws now denied/);
});

test('CLI: Markdown and --json; a broken file is exit 1 with its position', async () => {
  const r = await cli('policy', 'diff', `${FIX}/plant-v1.yaml`, `${FIX}/plant-v2.yaml`);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /^# Policy diff: .*plant-v1\.yaml → .*plant-v2\.yaml/);
  assert.match(r.out, /Site plant-7: 7 changes \(3 widen, 4 narrow, 0 other\)\./);
  assert.match(r.out, /- \*\*narrows\*\* `hmi-reads-plc` functions: - read-coils\. Affects: modbus requests from hmi-1, scada-1 to plc-1: read-coils no longer allowed\./);
  const j = await cli('policy', 'diff', `${FIX}/plant-v1.yaml`, `${FIX}/plant-v2.yaml`, '--json');
  assert.is(j.code, 0);
  const doc = JSON.parse(j.out);
  assert.is(doc.changes.length, 7);
  assert.equal(doc.counts, { widens: 3, narrows: 4, changes: 0 });
  const bad = await cli('policy', 'diff', `${FIX}/plant-v1.yaml`, 'test/fixtures/policy/broken.yaml');
  assert.is(bad.code, 1);
  assert.match(bad.err, /broken\.yaml:12:26: conduits\[0\]\.from\.identities\[0\]: unknown identity/);
  const usage = await cli('policy', 'diff', `${FIX}/plant-v1.yaml`);
  assert.is(usage.code, 2);
});

test('diff names the conduits of an asset, zone or identity only for a change that needs them (no scan of every conduit per unchanged asset)', () => {
  // Diffing a learnt 10,000-conduit policy scanned all 26,000 conduits for each of its 1,000
  // unchanged assets (7 s of a 10 s diff): count the scans through a conduit list that reports them.
  let scans = 0;
  const counted = <T extends object>(list: T[]): T[] => new Proxy(list, { get(t, k, r) { if (k === 'filter') scans++; return Reflect.get(t, k, r); } });
  const a = { ...v1, conduits: counted([...v1.conduits]) };
  const b = { ...v1, conduits: counted([...v1.conduits]) };
  assert.equal(diffPolicies(a, b).changes, []);
  assert.equal(scans, 0);
  const moved = { ...v1, assets: v1.assets.map((x, i) => (i === 0 ? { ...x, addresses: [...x.addresses, '10.99.0.1'] } : x)), conduits: counted([...v1.conduits]) };
  const d = diffPolicies(a, moved);
  assert.equal(d.changes.map((c) => `${c.area} ${c.id} ${c.what}`), [`asset ${v1.assets[0].id} addresses`]);
  assert.match(d.changes[0].affects, /requests to 10\.99\.0\.1 now go to/);
  assert.equal(scans, 1);
});

test.run();
