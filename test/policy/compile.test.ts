import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compile, conduitOf, PROTO_MODBUS, PROTO_TCP, N_PROTO } from '../../policy/compile';
import { zoneOfIp } from '../../policy/decide';
import { parseIp } from '../../policy/net';
import { conduit, doc, zone, asset, substation } from './engine-doc';

test('counts, version, conduits by id', () => {
  const c1 = conduit({ id: 'c1', from: { identities: ['hmi-1'] }, to: { assets: ['plc-1'] }, mode: 'monitor', rateLimit: { perSecond: 5, burst: 10 } });
  const idx = compile(substation([c1]), { version: '42' });
  assert.is(idx.version, '42');
  assert.is(idx.site, 'test-site');
  assert.equal({ ...idx.counts, candidateLists: undefined }, { zones: 3, assets: 3, identities: 4, conduits: 1, candidateLists: undefined });
  assert.is(conduitOf(idx, 'c1')?.mode, 'monitor');
  assert.equal(conduitOf(idx, 'c1')?.rateLimit, { perSecond: 5, burst: 10 });
  assert.is(conduitOf(idx, 'nope'), undefined);
  assert.is(compile(substation([])).version, 'unversioned');
});

test('candidates: destination asset → protocol → port, in document order, zones expanded', () => {
  const d = substation([
    conduit({ id: 'z', from: { zones: ['enterprise'] }, to: { zones: ['control'] } }),
    conduit({ id: 'a', from: { identities: ['hmi-1'] }, to: { assets: ['plc-2'], zones: ['control'] } }),
    conduit({ id: 'p', from: { identities: ['hmi-1'] }, to: { assets: ['plc-2'] }, ports: [1502] }),
    conduit({ id: 't', protocol: 'tcp', from: { identities: ['hmi-1'] }, to: { zones: ['control'] }, ports: [22] }),
  ]);
  const idx = compile(d);
  const t = idx.t;
  const plc2 = t.assetIndex.get('plc-2')!;
  const plc1 = t.assetIndex.get('plc-1')!;
  const ids = (xs: Int32Array | undefined) => Array.from(xs ?? [], (c) => idx.conduits[c].id);
  assert.equal(ids(t.byAsset[plc2 * N_PROTO + PROTO_MODBUS]!.get(502)), ['z', 'a']);
  assert.equal(ids(t.byAsset[plc2 * N_PROTO + PROTO_MODBUS]!.get(1502)), ['z', 'a', 'p']);
  assert.equal(ids(t.byAsset[plc1 * N_PROTO + PROTO_MODBUS]!.get(502)), ['z', 'a']);
  assert.equal(ids(t.byAsset[plc1 * N_PROTO + PROTO_MODBUS]!.get(1502)), []);
  assert.equal(ids(t.byAsset[plc2 * N_PROTO + PROTO_TCP]!.get(22)), ['t']);
  const control = t.zoneIndex.get('control')!;
  assert.equal(ids(t.byZone[control * N_PROTO + PROTO_TCP]!.get(22)), ['t']);
  assert.is(t.byZone[control * N_PROTO + PROTO_MODBUS], undefined, 'no ports, no zone-only entry');
  assert.equal(ids(t.byZoneAny[control * N_PROTO + PROTO_MODBUS]), ['z', 'a']);
});

test('function bitsets, unit sets and merged ranges', () => {
  const idx = compile(substation([conduit({
    id: 'c', from: { identities: ['hmi-1'] }, to: { assets: ['plc-1'] },
    allow: { functions: [1, 3, 31, 32, 43, 255], units: [0, 1, 255], addresses: [{ start: 50, end: 60 }, { start: 0, end: 9 }, { start: 10, end: 20 }, { start: 55, end: 70 }] },
  }), conduit({ id: 'open', from: { identities: ['hmi-1'] }, to: { assets: ['plc-1'] } })]));
  const t = idx.t;
  const fnOn = (c: number, f: number) => (t.cFunctions[c * 8 + (f >>> 5)] & (1 << (f & 31))) !== 0;
  for (let f = 0; f < 256; f++) assert.is(fnOn(0, f), [1, 3, 31, 32, 43, 255].includes(f), `function ${f}`);
  assert.equal(Array.from(t.cUnits[0]!).flatMap((v, i) => (v ? [i] : [])), [0, 1, 255]);
  assert.is(t.cUnits[1], null);
  assert.is(t.cAllowAll[1], 1);
  const ranges = [];
  for (let i = t.cRangeOff[0]; i < t.cRangeOff[1]; i++) ranges.push([t.rangeStart[i], t.rangeEnd[i]]);
  assert.equal(ranges, [[0, 20], [50, 70]]);
  assert.is(t.cRangeOff[2] - t.cRangeOff[1], 0);
  // Room was made for the 4 ranges listed; the tables hold the 2 merged ones, no more.
  assert.equal([t.rangeStart.length, t.rangeEnd.length], [2, 2]);
});

test('zone networks: nested prefixes give disjoint intervals with the most specific zone', () => {
  const idx = compile(doc({ zones: [zone('big', ['10.0.0.0/8', 'fd00::/8']), zone('small', ['10.1.0.0/16', '10.1.2.0/24']), zone('other', ['10.1.2.128/25', '192.168.0.0/16', 'fd00:1::/32'])] }));
  const z = (s: string) => { const n = zoneOfIp(idx.t, parseIp(s)!); return n < 0 ? null : idx.doc.zones[n].id; };
  assert.is(z('10.0.0.0'), 'big');
  assert.is(z('10.0.255.255'), 'big');
  assert.is(z('10.1.0.0'), 'small');
  assert.is(z('10.1.2.127'), 'small');
  assert.is(z('10.1.2.128'), 'other');
  assert.is(z('10.1.2.255'), 'other');
  assert.is(z('10.1.3.0'), 'small');
  assert.is(z('10.2.0.0'), 'big');
  assert.is(z('10.255.255.255'), 'big');
  assert.is(z('11.0.0.0'), null);
  assert.is(z('9.255.255.255'), null);
  assert.is(z('192.168.7.7'), 'other');
  assert.is(z('fd00:1::9'), 'other');
  assert.is(z('fd00:2::9'), 'big');
  assert.is(z('fe80::1'), null);
  // 10.0.0.0/8 is cut into pieces around 10.1.0.0/16; neighbours of the same zone are merged
  const t = idx.t;
  const spans = Array.from(t.zoneV4Start, (s, i) => [s, t.zoneV4End[i], idx.doc.zones[t.zoneV4Zone[i]].id]);
  for (let i = 1; i < spans.length; i++) assert.ok((spans[i][0] as number) > (spans[i - 1][1] as number), 'sorted, disjoint');
  assert.is(spans.length, 6);
});

test('addresses: exact IPv4/IPv6 maps, first binding wins, host prefixes accepted', () => {
  const idx = compile(doc({
    zones: [zone('z', ['10.0.0.0/24'])],
    assets: [asset('a1', 'z', ['10.0.0.1', 'FD00::0001']), asset('a2', 'z', ['10.0.0.1/32', '10.0.0.2'])],
  }));
  assert.is(idx.t.v4Asset.get(0x0a000001), 0);
  assert.is(idx.t.v4Asset.get(0x0a000002), 1);
  assert.is(idx.t.v6Asset.get('fd00::1'), 0);
});

test('the document is not changed; an unknown time zone fails at compile time', () => {
  const d = substation([conduit({ id: 'c', from: { identities: ['hmi-1'] }, to: { assets: ['plc-1'] }, allow: { functions: [3], addresses: [{ start: 10, end: 20 }, { start: 0, end: 9 }] } })]);
  const before = JSON.stringify(d);
  compile(d);
  assert.is(JSON.stringify(d), before);
  const bad = substation([conduit({ id: 'c', from: { identities: ['hmi-1'] }, to: { assets: ['plc-1'] }, schedule: { days: [], from: 0, to: 60, tz: 'Mars/Olympus' } })]);
  assert.throws(() => compile(bad), RangeError);
});

test('a __proto__ id is data', () => {
  const d = doc({
    zones: [zone('__proto__', ['10.0.0.0/24'])],
    assets: [asset('constructor', '__proto__', ['10.0.0.1'])],
    conduits: [conduit({ id: 'toString', from: { zones: ['__proto__'] }, to: { assets: ['constructor'] } })],
  });
  const idx = compile(d);
  assert.is(idx.t.zoneIndex.get('__proto__'), 0);
  assert.is(conduitOf(idx, 'toString')?.id, 'toString');
  assert.is(conduitOf(idx, 'hasOwnProperty'), undefined);
});

test('compiles 10,000 conduits', () => {
  const n = 10_000;
  const assets = Array.from({ length: 500 }, (_, i) => asset(`a${i}`, 'z', [`10.0.${i >> 8}.${i & 255}`]));
  const conduits = Array.from({ length: n }, (_, i) => conduit({ id: `c${i}`, from: { zones: ['z'] }, to: { assets: [`a${i % 500}`] }, allow: { functions: [3], addresses: [{ start: i % 1000, end: (i % 1000) + 10 }] } }));
  const idx = compile(doc({ zones: [zone('z', ['10.0.0.0/16'])], assets, conduits }));
  assert.is(idx.counts.conduits, n);
  assert.is(idx.t.byAsset[0]!.get(502)!.length, 20);
});

test.run();
