import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parsePolicy } from '../../policy/parse';
import { checkPolicy, validatePolicy, validatePolicySteps, VALIDATE_SLICE, mergeRanges, parseClock } from '../../policy/validate';
import { ZonegateError } from '../../policy/errors';
import type { Issue } from '../../policy/errors';

const BASE = `site: t
zones:
  - { id: control, networks: [10.10.1.0/24], securityLevel: 3 }
  - { id: station, networks: [10.10.0.0/24], securityLevel: 2 }
assets:
  - { id: plc-1, zone: control, address: 10.10.1.20, kind: plc, services: [{ protocol: modbus, port: 502 }] }
  - { id: hist, zone: station, address: 10.10.0.50, kind: historian, services: [{ protocol: tcp, port: 443 }] }
identities:
  - { id: hmi-1, kind: device, zone: station, addresses: [10.10.0.5] }
  - { id: alice, kind: user, roles: [operator] }
  - { id: acme, kind: vendor, roles: [vendor] }
conduits:
  - id: c1
    from: { identities: [hmi-1] }
    to: { assets: [plc-1] }
    protocol: modbus
    allow: { functions: [read-coils], units: [1], addresses: ["0-99"] }
`;

/** Line and column (1-based) of the first occurrence of `needle`. */
function posOf(text: string, needle: string, nth = 0): { line: number; col: number } {
  let at = -1;
  for (let i = 0; i <= nth; i++) { at = text.indexOf(needle, at + 1); if (at < 0) throw new Error(`'${needle}' not in text`); }
  const before = text.slice(0, at);
  const line = before.split('\n').length;
  return { line, col: at - before.lastIndexOf('\n') };
}

function issuesOf(text: string): Issue[] {
  try {
    parsePolicy(text, { file: 'p.yaml' });
  } catch (e) {
    assert.instance(e, ZonegateError);
    assert.is((e as ZonegateError).code, 'ERR_POLICY_INVALID');
    return [...(e as ZonegateError).issues];
  }
  throw new Error('expected the policy to be invalid');
}

/** Exactly one issue, with this path, message and position (of `at` in the text, if given). */
function expectOne(text: string, want: { path: string; message: RegExp; at?: string; nth?: number }): void {
  const issues = issuesOf(text);
  assert.is(issues.length, 1, JSON.stringify(issues, null, 1));
  const [iss] = issues;
  assert.is(iss.path, want.path);
  assert.match(iss.message, want.message);
  assert.is(iss.file, 'p.yaml');
  if (want.at) {
    const p = posOf(text, want.at, want.nth);
    assert.equal({ line: iss.line, col: iss.col }, p, `position of ${want.at}`);
  } else {
    assert.type(iss.line, 'number');
  }
}

test('the base policy is valid and normalised', () => {
  const doc = parsePolicy(BASE, { file: 'p.yaml' });
  assert.is(doc.site, 't');
  assert.equal(doc.conduits[0], {
    id: 'c1', from: { identities: ['hmi-1'], roles: [], zones: [] }, to: { assets: ['plc-1'], zones: [] }, protocol: 'modbus',
    requires: { edgeAuth: false, grant: false }, mode: 'enforce', allow: { functions: [1], units: [1], addresses: [{ start: 0, end: 99 }] },
  });
  assert.equal(doc.settings, { onExpiry: 'keep-enforcing' });
  assert.equal(doc.quarantine, []);
  assert.equal(doc.tests, []);
  assert.equal(doc.identities[1], { id: 'alice', kind: 'user', addresses: [], roles: ['operator'] });
  assert.equal(doc.assets[0], { id: 'plc-1', zone: 'control', addresses: ['10.10.1.20'], kind: 'plc', services: [{ protocol: 'modbus', port: 502 }] });
  assert.equal(doc.zones[0], { id: 'control', networks: ['10.10.1.0/24'], interfaces: [], securityLevel: 3 });
});

test('normalisation: function names and codes, merged ranges, units, days, times, tz, defaults', () => {
  const text = BASE.replace('allow: { functions: [read-coils], units: [1], addresses: ["0-99"] }',
    `allow: { functions: [16, read-coils, "0x03", read-coils], units: [3, 1, 3], addresses: ["50-60", 10, "0-9", "55-70", "100"] }
    schedule: { days: [weekend, mon, Friday], from: "22:00", to: "04:00", tz: america/chicago }
    mode: monitor
    rateLimit: { perSecond: 2.5 }
    ports: [502]`);
  const c = parsePolicy(text, { file: 'p.yaml' }).conduits[0];
  assert.equal(c.allow, { functions: [1, 3, 16], units: [1, 3], addresses: [{ start: 0, end: 10 }, { start: 50, end: 70 }, { start: 100, end: 100 }] });
  assert.equal(c.schedule, { days: ['mon', 'fri', 'sat', 'sun'], from: 1320, to: 240, tz: 'America/Chicago' });
  assert.is(c.mode, 'monitor');
  assert.equal(c.rateLimit, { perSecond: 2.5, burst: 3 });
  assert.equal(c.ports, [502]);
  const d = parsePolicy(BASE.replace('allow: {', 'schedule: { from: "00:00", to: "24:00" }\n    allow: {'), { file: 'p.yaml' }).conduits[0];
  assert.equal(d.schedule, { days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], from: 0, to: 1440, tz: 'UTC' });
});

test('helpers: mergeRanges and parseClock', () => {
  assert.equal(mergeRanges([{ start: 5, end: 9 }, { start: 0, end: 4 }, { start: 20, end: 30 }, { start: 25, end: 26 }]), [{ start: 0, end: 9 }, { start: 20, end: 30 }]);
  assert.is(parseClock('07:30'), 450);
  assert.is(parseClock('24:00'), 1440);
  assert.is(parseClock('24:01'), undefined);
  assert.is(parseClock('12:60'), undefined);
  assert.is(parseClock('7.30'), undefined);
  assert.is(parseClock('7:05'), 425);
  assert.is(parseClock(' 00:00 '), 0);
  for (const bad of ['', ':', '1:2', '123:00', '12:000', 'ab:cd', '1a:00', '-1:00', '12:-1', '12:5x']) assert.is(parseClock(bad), undefined, bad);
});

test('required field missing (located at the entry)', () => {
  const text = BASE.replace('{ id: station, networks: [10.10.0.0/24], securityLevel: 2 }', '{ id: station, networks: [10.10.0.0/24] }');
  expectOne(text, { path: 'zones[1].securityLevel', message: /^required field 'securityLevel' is missing/, at: '{ id: station' });
  expectOne(BASE.replace('site: t\n', ''), { path: 'site', message: /required field 'site' is missing/, at: 'zones' });
});

test('wrong type', () => {
  expectOne(BASE.replace('securityLevel: 3', 'securityLevel: "3"'), { path: 'zones[0].securityLevel', message: /must be a security level \(an integer 0\.\.4\), got the string "3"/, at: 'securityLevel' });
  expectOne(BASE.replace('securityLevel: 3', 'securityLevel: 5'), { path: 'zones[0].securityLevel', message: /security level must be 0\.\.4, got 5/, at: 'securityLevel' });
  expectOne(BASE.replace('site: t', 'site: 42'), { path: 'site', message: /^must be a string, got number 42$/, at: 'site' });
});

test('unknown field, with did-you-mean', () => {
  expectOne(BASE.replace('allow:', 'alow:'), { path: 'conduits[0].alow', message: /^unknown field 'alow' \(did you mean 'allow'\?\)$/, at: 'alow' });
  expectOne(BASE.replace('site: t', 'site: t\nzoness: []'), { path: 'zoness', message: /did you mean 'zones'/, at: 'zoness' });
  expectOne(BASE.replace('site: t', 'site: t\nfrobnicate: 1'), { path: 'frobnicate', message: /^unknown field 'frobnicate'$/, at: 'frobnicate' });
});

test('duplicate ids in each list', () => {
  expectOne(BASE.replace('  - { id: station', '  - { id: control, networks: [10.10.2.0/24], securityLevel: 3 }\n  - { id: station'), { path: 'zones[1].id', message: /^duplicate zone id 'control' \(first defined at zones\[0\]\)$/, at: 'id: control', nth: 1 });
  expectOne(BASE.replace('id: hist,', 'id: plc-1,'), { path: 'assets[1].id', message: /duplicate asset id 'plc-1'/, at: 'id: plc-1', nth: 1 });
  expectOne(BASE.replace('id: acme,', 'id: alice,'), { path: 'identities[2].id', message: /duplicate identity id 'alice'/, at: 'id: alice', nth: 1 });
  const two = `${BASE}  - id: c1\n    from: { zones: [station] }\n    to: { zones: [control] }\n    protocol: tcp\n    ports: [22]\n`;
  expectOne(two, { path: 'conduits[1].id', message: /duplicate conduit id 'c1' \(first defined at conduits\[0\]\)/, at: 'id: c1', nth: 1 });
});

test('an identity id may not also be an asset id', () => {
  expectOne(BASE.replace('id: acme,', 'id: hist,'), { path: 'identities[2].id', message: /identity id 'hist' is also an asset id \(assets\[1\]\)/, at: 'id: hist', nth: 1 });
});

test('unknown references', () => {
  expectOne(BASE.replace('zone: control,', 'zone: contrl,'), { path: 'assets[0].zone', message: /^unknown zone 'contrl' \(did you mean 'control'\?\)$/, at: 'zone: contrl' });
  expectOne(BASE.replace('zone: station, addresses', 'zone: statoin, addresses'), { path: 'identities[0].zone', message: /unknown zone 'statoin'/, at: 'zone: statoin' });
  expectOne(BASE.replace('identities: [hmi-1]', 'identities: [hmi-2]'), { path: 'conduits[0].from.identities[0]', message: /^unknown identity 'hmi-2' \(did you mean 'hmi-1'\?\)$/, at: 'hmi-2' });
  expectOne(BASE.replace('identities: [hmi-1]', 'identities: [plc-1]'), { path: 'conduits[0].from.identities[0]', message: /'plc-1' is an asset; a source must be an identity/, at: 'plc-1 ]'.slice(0, 5), nth: 1 });
  expectOne(BASE.replace('{ identities: [hmi-1] }', '{ roles: [operater] }'), { path: 'conduits[0].from.roles[0]', message: /^no identity has role 'operater' \(did you mean 'operator'\?\)$/, at: 'operater' });
  expectOne(BASE.replace('{ identities: [hmi-1] }', '{ zones: [stations] }'), { path: 'conduits[0].from.zones[0]', message: /unknown zone 'stations' \(did you mean 'station'\?\)/, at: 'stations' });
  expectOne(BASE.replace('assets: [plc-1]', 'assets: [plc-9]'), { path: 'conduits[0].to.assets[0]', message: /unknown asset 'plc-9' \(did you mean 'plc-1'\?\)/, at: 'plc-9' });
  expectOne(BASE.replace('{ assets: [plc-1] }', '{ zones: [ctrl] }'), { path: 'conduits[0].to.zones[0]', message: /unknown zone 'ctrl'/, at: 'ctrl' });
  expectOne(`${BASE}quarantine: [hmi-1, hmi-7]\n`, { path: 'quarantine[1]', message: /^unknown identity or asset 'hmi-7' \(did you mean 'hmi-1'\?\)$/, at: 'hmi-7' });
  expectOne(`${BASE}tests:\n  - { request: { from: hmi-9, to: plc-1 }, expect: deny }\n`, { path: 'tests[0].request.from', message: /^unknown identity 'hmi-9' \(did you mean 'hmi-1'\?\)$/, at: 'from: hmi-9' });
  expectOne(`${BASE}tests:\n  - { request: { from: plc-1, to: plc-1 }, expect: deny }\n`, { path: 'tests[0].request.from', message: /'plc-1' is an asset: write from: \{ ip: \.\.\. \}/, at: 'from: plc-1' });
  expectOne(`${BASE}tests:\n  - { request: { from: hmi-1, to: alice }, expect: deny }\n`, { path: 'tests[0].request.to', message: /'alice' is an identity; a destination must be an asset/, at: 'to: alice' });
  expectOne(`${BASE}tests:\n  - { request: { from: hmi-1, to: plc-1 }, expect: allow, conduit: c2 }\n`, { path: 'tests[0].conduit', message: /^unknown conduit 'c2' \(did you mean 'c1'\?\)$/, at: 'conduit: c2' });
});

test('bad CIDRs and host bits', () => {
  expectOne(BASE.replace('[10.10.1.0/24]', '[10.10.1.0/33]'), { path: 'zones[0].networks[0]', message: /'10\.10\.1\.0\/33' is not a CIDR/, at: '10.10.1.0/33' });
  expectOne(BASE.replace('[10.10.1.0/24]', '[10.10.1.7/24]'), { path: 'zones[0].networks[0]', message: /^'10\.10\.1\.7\/24' has host bits set; did you mean 10\.10\.1\.0\/24\?$/, at: '10.10.1.7/24' });
  expectOne(BASE.replace('[10.10.1.0/24]', '[10.10.1.0/24, "fd00::1/64"]'), { path: 'zones[0].networks[1]', message: /did you mean fd00::\/64\?/, at: '"fd00::1/64"' });
});

test('overlapping networks of different zones', () => {
  expectOne(BASE.replace('[10.10.0.0/24]', '[10.10.0.0/16]'), { path: 'zones[1].networks[0]', message: /^10\.10\.0\.0\/16 overlaps 10\.10\.1\.0\/24 of zone 'control'/, at: '10.10.0.0/16' });
});

test('an interface belongs to one zone', () => {
  const text = BASE.replace('[10.10.1.0/24], securityLevel: 3', '[10.10.1.0/24], interfaces: [eth1], securityLevel: 3')
    .replace('[10.10.0.0/24], securityLevel: 2', '[10.10.0.0/24], interfaces: [eth2, eth1], securityLevel: 2');
  expectOne(text, { path: 'zones[1].interfaces[1]', message: /^interface eth1 is already in zone 'control'$/, at: 'eth1', nth: 1 });
});

test('addresses that are not IPs, or outside their zone', () => {
  expectOne(BASE.replace('address: 10.10.1.20', 'address: 10.10.1.300'), { path: 'assets[0].address', message: /must be an IPv4 or IPv6 address, got the string "10\.10\.1\.300"/, at: 'address: 10.10.1.300' });
  expectOne(BASE.replace('address: 10.10.1.20', 'address: 10.10.1.0/24'), { path: 'assets[0].address', message: /one address, not a prefix/, at: 'address: 10.10.1.0/24' });
  expectOne(BASE.replace('address: 10.10.1.20', 'address: 10.10.2.20'), { path: 'assets[0].address', message: /^10\.10\.2\.20 is not inside zone 'control' \(10\.10\.1\.0\/24\)$/, at: 'address: 10.10.2.20' });
  expectOne(BASE.replace('addresses: [10.10.0.5]', 'addresses: [10.10.0.5, 10.10.1.5]'), { path: 'identities[0].addresses[1]', message: /10\.10\.1\.5 is not inside zone 'station'/, at: '10.10.1.5' });
  expectOne(BASE.replace('address: 10.10.0.50', 'address: 10.10.1.20').replace('zone: station, address', 'zone: control, address'), { path: 'assets[1].address', message: /10\.10\.1\.20 is already the address of asset 'plc-1'/, at: 'address: 10.10.1.20', nth: 1 });
  expectOne(BASE.replace('  - { id: alice', '  - { id: hmi-2, kind: device, zone: station, addresses: ["10.10.0.5"] }\n  - { id: alice'), { path: 'identities[1].addresses[0]', message: /already the address of identity 'hmi-1'/, at: '"10.10.0.5"' });
});

test('impossible address ranges', () => {
  const at = (r: string) => BASE.replace('addresses: ["0-99"]', `addresses: [${r}]`);
  expectOne(at('"100-10"'), { path: 'conduits[0].allow.addresses[0]', message: /^address range "100-10" is empty: 100 is after 10 \(did you mean "10-100"\?\)$/, at: '"100-10"' });
  expectOne(at('"0-70000"'), { path: 'conduits[0].allow.addresses[0]', message: /goes past 65535/, at: '"0-70000"' });
  expectOne(at('"-5"'), { path: 'conduits[0].allow.addresses[0]', message: /must be an address 0\.\.65535 or a range like "0-99"/, at: '"-5"' });
  expectOne(at('-5'), { path: 'conduits[0].allow.addresses[0]', message: /an address must be 0\.\.65535, got -5/, at: '-5' });
  expectOne(at('65536'), { path: 'conduits[0].allow.addresses[0]', message: /got 65536/, at: '65536' });
  expectOne(at(''), { path: 'conduits[0].allow.addresses', message: /is empty/, at: 'addresses: []' });
});

test('unit ids and ports out of range', () => {
  expectOne(BASE.replace('units: [1]', 'units: [1, 256]'), { path: 'conduits[0].allow.units[1]', message: /^a unit id must be 0\.\.255, got 256$/, at: '256' });
  expectOne(BASE.replace('port: 502', 'port: 0'), { path: 'assets[0].services[0].port', message: /^a port must be 1\.\.65535, got 0$/, at: 'port: 0' });
  expectOne(BASE.replace('protocol: modbus\n    allow', 'protocol: modbus\n    ports: [65536]\n    allow'), { path: 'conduits[0].ports[0]', message: /a port must be 1\.\.65535, got 65536/, at: '65536' });
});

test('unknown Modbus function names and codes', () => {
  expectOne(BASE.replace('[read-coils]', '[read-colis]'), { path: 'conduits[0].allow.functions[0]', message: /^unknown Modbus function 'read-colis' \(did you mean 'read-coils'\?\)$/, at: 'read-colis' });
  expectOne(BASE.replace('[read-coils]', '[read-coils, 99]'), { path: 'conduits[0].allow.functions[1]', message: /^unknown Modbus function number 99$/, at: '99' });
  expectOne(BASE.replace('functions: [read-coils], ', ''), { path: 'conduits[0].allow.functions', message: /required field 'functions' is missing/, at: 'allow' });
});

test('protocol must be modbus or tcp', () => {
  expectOne(BASE.replace('protocol: tcp, port: 443', 'protocol: https, port: 443'), { path: 'assets[1].services[0].protocol', message: /protocol must be 'modbus', 'dnp3', 'iec104' or 'tcp', got 'https' \(other TCP protocols/, at: 'protocol: https' });
  expectOne(BASE.replace('protocol: modbus\n', 'protocol: modbsu\n'), { path: 'conduits[0].protocol', message: /got 'modbsu' \(did you mean 'modbus'\?\)/, at: 'protocol: modbsu' });
});

test('allow on a tcp conduit', () => {
  const text = BASE.replace('assets: [plc-1] }\n    protocol: modbus', 'assets: [hist] }\n    protocol: tcp');
  expectOne(text, { path: 'conduits[0].allow', message: /^'allow' lists Modbus operations; a tcp conduit allows whole connections/, at: 'allow:' });
});

test('a conduit to an asset without a matching service', () => {
  expectOne(BASE.replace('assets: [plc-1]', 'assets: [hist]'), { path: 'conduits[0].to.assets[0]', message: /^asset 'hist' offers no modbus service/, at: 'hist]' });
  expectOne(BASE.replace('protocol: modbus\n    allow', 'protocol: modbus\n    ports: [503]\n    allow'), { path: 'conduits[0].to.assets[0]', message: /offers modbus only on port 502, not on 503/, at: 'plc-1]' });
});

test('grant needs edgeAuth; edgeAuth needs a person', () => {
  const withRole = BASE.replace('{ identities: [hmi-1] }', '{ roles: [vendor] }');
  expectOne(withRole.replace('allow:', 'requires: { grant: true }\n    allow:'), { path: 'conduits[0].requires.grant', message: /^grant: true needs edgeAuth: true as well \(a grant opens only after edge authentication\); add edgeAuth: true$/, at: 'grant: true' });
  assert.ok(parsePolicy(withRole.replace('allow:', 'requires: { edgeAuth: true, grant: true }\n    allow:'), {}).conduits[0].requires.grant);
  expectOne(BASE.replace('allow:', 'requires: { edgeAuth: true }\n    allow:'), { path: 'conduits[0].requires.edgeAuth', message: /requires edgeAuth but from names no person/, at: 'edgeAuth' });
  assert.ok(parsePolicy(BASE.replace('[hmi-1] }', '[hmi-1, alice] }').replace('allow:', 'requires: { edgeAuth: true }\n    allow:'), {}).conduits[0].requires.edgeAuth);
  expectOne(BASE.replace('allow:', 'requires: { edgeAuth: yes }\n    allow:'), { path: 'conduits[0].requires.edgeAuth', message: /must be true or false, got the string "yes"/, at: 'edgeAuth' });
});

test('schedules: days, times, empty windows, time zones', () => {
  const s = (x: string) => BASE.replace('allow:', `schedule: ${x}\n    allow:`);
  expectOne(s('{ days: [mon, tues], from: "08:00", to: "17:00" }'), { path: 'conduits[0].schedule.days[1]', message: /^unknown day 'tues': use mon\.\.sun, weekdays, weekend or all \(did you mean 'tue'\?\)$/, at: 'tues' });
  expectOne(s('{ from: "25:00", to: "17:00" }'), { path: 'conduits[0].schedule.from', message: /^must be a time "HH:MM" from 00:00 to 24:00, got the string "25:00"$/, at: 'from: "25' });
  expectOne(s('{ from: "08:00", to: "08:00" }'), { path: 'conduits[0].schedule.to', message: /from and to are both 08:00: the window is empty/, at: 'to: "08' });
  expectOne(s('{ from: "08:00", to: "17:00", tz: America/Chicgo }'), { path: 'conduits[0].schedule.tz', message: /^unknown time zone 'America\/Chicgo' \(did you mean 'America\/Chicago'\?\)$/, at: 'tz:' });
  expectOne(s('{ from: "08:00" }'), { path: 'conduits[0].schedule.to', message: /required field 'to' is missing/, at: 'schedule:' });
});

test('mode, rateLimit and settings', () => {
  expectOne(BASE.replace('allow:', 'mode: monitoring\n    allow:'), { path: 'conduits[0].mode', message: /^mode must be 'enforce' or 'monitor', got 'monitoring' \(did you mean 'monitor'\?\)$/, at: 'mode' });
  expectOne(BASE.replace('allow:', 'rateLimit: { perSecond: -1, burst: 5 }\n    allow:'), { path: 'conduits[0].rateLimit.perSecond', message: /must be a positive number/, at: 'perSecond' });
  expectOne(BASE.replace('allow:', 'rateLimit: { perSecond: 10, burst: 0 }\n    allow:'), { path: 'conduits[0].rateLimit.burst', message: /a burst size must be 1\.\.1000000, got 0/, at: 'burst' });
  expectOne(`${BASE}settings: { onExpiry: deny }\n`, { path: 'settings.onExpiry', message: /^must be 'keep-enforcing' or 'deny-all', got 'deny' \(did you mean 'deny-all'\?\)$/, at: 'onExpiry' });
  assert.is(parsePolicy(`${BASE}settings: { onExpiry: deny-all }\n`, {}).settings.onExpiry, 'deny-all');
});

test('identities: kinds, people without addresses, machines with addresses', () => {
  expectOne(BASE.replace('kind: vendor', 'kind: contractor'), { path: 'identities[2].kind', message: /^kind must be one of device, user, service, vendor, got 'contractor'$/, at: 'kind: contractor' });
  expectOne(BASE.replace('{ id: alice, kind: user,', '{ id: alice, kind: user, addresses: [10.10.0.7],'), { path: 'identities[1].addresses', message: /^a user authenticates at the edge and is not bound to addresses/, at: 'addresses: [10.10.0.7]' });
  expectOne(BASE.replace('{ id: acme, kind: vendor,', '{ id: acme, kind: vendor, address: 10.10.0.7,'), { path: 'identities[2].address', message: /a vendor authenticates at the edge/, at: 'address: 10.10.0.7' });
  expectOne(BASE.replace('{ id: hmi-1, kind: device, zone: station, addresses: [10.10.0.5] }', '{ id: hmi-1, kind: device }'), { path: 'identities[0].addresses', message: /a device identity needs addresses \(or a zone\)/, at: '{ id: hmi-1' });
  assert.ok(parsePolicy(BASE.replace('{ id: hmi-1, kind: device, zone: station, addresses: [10.10.0.5] }', '{ id: hmi-1, kind: service, zone: station }'), {}));
});

test('ids must use a safe alphabet', () => {
  expectOne(BASE.replace('id: plc-1,', 'id: "plc 1",').replace('[plc-1]', '["plc 1"]'), { path: 'assets[0].id', message: /'plc 1' is not a valid id/, at: 'id: "plc 1"' });
});

test('tests: shape, expect, reason, request fields', () => {
  const t = (x: string) => `${BASE}tests:\n  - ${x}\n`;
  expectOne(t('{ request: { from: hmi-1, to: plc-1 }, expect: maybe }'), { path: 'tests[0].expect', message: /^must be 'allow' or 'deny', got 'maybe'$/, at: 'expect' });
  expectOne(t('{ request: { from: hmi-1, to: plc-1 }, expect: deny, reason: no-condiut }'), { path: 'tests[0].reason', message: /^unknown deny reason 'no-condiut' \(did you mean 'no-conduit'\?\)$/, at: 'reason' });
  expectOne(t('{ request: { from: hmi-1, to: plc-1, modbus: { function: 3, unit: 300 } }, expect: deny }'), { path: 'tests[0].request.modbus.unit', message: /a unit id must be 0\.\.255, got 300/, at: 'unit: 300' });
  expectOne(t('{ request: { from: hmi-1, to: plc-1, modbus: { function: read-colis } }, expect: deny }'), { path: 'tests[0].request.modbus.function', message: /did you mean 'read-coils'/, at: 'function: read-colis' });
  expectOne(t('{ request: { from: hmi-1 }, expect: deny }'), { path: 'tests[0].request.to', message: /required field 'to' is missing/, at: 'request: { from: hmi-1 }' });
  expectOne(t('{ request: { from: alice, to: plc-1, session: { identity: bobb } }, expect: deny }'), { path: 'tests[0].request.session.identity', message: /unknown identity 'bobb'/, at: 'identity: bobb' });
  const ok = parsePolicy(t('{ name: n, request: { from: hmi-1, to: plc-1, modbus: { function: read-coils, unit: 1, address: 0, count: 0 }, at: "2026-01-13T16:00:00Z" }, expect: deny, reason: malformed }'), {});
  assert.equal(ok.tests[0], {
    name: 'n', expect: 'deny', reason: 'malformed',
    request: { from: 'hmi-1', to: 'plc-1', protocol: 'modbus', modbus: { function: 1, unit: 1, address: 0, count: 0 }, at: Date.parse('2026-01-13T16:00:00Z') },
  });
});

test('every problem is listed, in reading order, with the count in the message', () => {
  const text = BASE.replace('zone: control,', 'zone: contrl,').replace('[read-coils]', '[read-colis]').replace('site: t', 'site: t\nextra: 1');
  try {
    parsePolicy(text, { file: 'p.yaml' });
    assert.unreachable();
  } catch (e) {
    const err = e as ZonegateError;
    assert.is(err.code, 'ERR_POLICY_INVALID');
    assert.is(err.message, '3 problems in p.yaml');
    assert.equal(err.issues.map((i) => i.path), ['extra', 'assets[0].zone', 'conduits[0].allow.functions[0]']);
  }
});

test('a plain object (a bundle) validates without positions', () => {
  const raw = {
    site: 's', zones: [{ id: 'z', networks: ['10.0.0.0/8'], securityLevel: 2 }],
    assets: [{ id: 'a', zone: 'z', address: '10.0.0.1', services: [{ protocol: 'modbus', port: 502 }] }],
    identities: [], conduits: [{ id: 'c', from: { zones: ['z'] }, to: { assets: ['a'] }, protocol: 'modbus', allow: 'all' }],
  };
  const doc = validatePolicy(raw);
  assert.is(doc.assets[0].kind, 'other');
  assert.is(doc.conduits[0].allow, undefined);
  const bad = checkPolicy({ ...raw, conduits: [{ id: 'c', from: {}, to: { assets: ['a'] }, protocol: 'modbus', allow: 'all' }] });
  assert.equal(bad.issues, [{ path: 'conduits[0].from', message: 'names nobody: give at least one of identities, roles or zones' }]);
  assert.is(bad.doc, undefined);
  try { validatePolicy(42); assert.unreachable(); } catch (e) {
    assert.is((e as ZonegateError).message, '1 problem in policy');
    assert.match((e as ZonegateError).issues[0].message, /must be a mapping with site/);
  }
});

test('a flood of problems is capped at 1000 listed, the rest counted', () => {
  const zones = Array.from({ length: 3000 }, (_, i) => ({ id: `z${i}`, networks: ['nope'], securityLevel: 1 }));
  try { validatePolicy({ site: 's', zones }, { file: 'big.json' }); assert.unreachable(); } catch (e) {
    const err = e as ZonegateError;
    assert.is(err.message, '3000 problems in big.json');
    assert.is(err.issues.length, 1001);
    assert.equal(err.issues[1000], { path: '', message: '2000 more problems not listed', file: 'big.json' });
  }
  const long = 'x'.repeat(10000);
  const r = checkPolicy({ site: 's', [long]: 1 });
  assert.ok(r.issues[0].path.length < 80);
  assert.ok(r.issues[0].message.length < 100);
});

test('a __proto__ key is data: reported as unknown, nothing polluted', () => {
  const issues = issuesOf(BASE.replace('site: t', 'site: t\n__proto__: { polluted: true }'));
  assert.equal(issues.map((i) => i.path), ['__proto__']);
  assert.is(({} as Record<string, unknown>).polluted, undefined);
  const raw = JSON.parse('{"site":"s","__proto__":{"zones":[]}}');
  assert.equal(checkPolicy(raw).issues.map((i) => i.message), ["unknown field '__proto__'"]);
});

test('validation of 10,000 conduits stays linear enough to run', () => {
  const zones = [{ id: 'z', networks: ['10.0.0.0/8'], securityLevel: 2 }];
  const assets = Array.from({ length: 1000 }, (_, i) => ({ id: `a${i}`, zone: 'z', address: `10.1.${i >> 8}.${i & 255}`, services: [{ protocol: 'modbus', port: 502 }] }));
  const identities = Array.from({ length: 1000 }, (_, i) => ({ id: `i${i}`, kind: 'device', zone: 'z', addresses: [`10.2.${i >> 8}.${i & 255}`] }));
  const conduits = Array.from({ length: 10000 }, (_, i) => ({
    id: `c${i}`, from: { identities: [`i${i % 1000}`] }, to: { assets: [`a${(i * 7) % 1000}`] }, protocol: 'modbus',
    allow: { functions: ['read-holding-registers', 6], units: [1], addresses: [`${i % 100}-${(i % 100) + 50}`] },
    schedule: { days: ['weekdays'], from: '07:00', to: '17:00', tz: 'America/Chicago' },
  }));
  const doc = validatePolicy({ site: 's', zones, assets, identities, conduits });
  assert.is(doc.conduits.length, 10000);
  assert.equal(doc.conduits[9999].allow?.functions, [3, 6]);

  // The sliced form (the store yields to the event loop between slices) gives the same document,
  // pausing about once per VALIDATE_SLICE entries, and the same error for a broken policy.
  const steps = validatePolicySteps({ site: 's', zones, assets, identities, conduits });
  let pauses = 0;
  let r = steps.next();
  while (!r.done) { pauses += 1; r = steps.next(); }
  assert.equal(r.value, doc);
  assert.ok(pauses >= Math.floor(12_000 / VALIDATE_SLICE), `paused ${pauses} times`);
  const broken = { site: 's', zones, assets, identities, conduits: [...conduits.slice(0, 2000), { ...conduits[0], id: 'c1', to: { assets: ['nope'] } }] };
  const whole = (() => { try { validatePolicy(broken); } catch (e) { return e as ZonegateError; } })();
  const sliced = (() => { try { const g = validatePolicySteps(broken); while (!g.next().done); } catch (e) { return e as ZonegateError; } })();
  assert.ok(whole && sliced);
  assert.is(sliced!.message, whole!.message);
  assert.equal(sliced!.issues, whole!.issues);
});

test.run();
