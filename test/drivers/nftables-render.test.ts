// renderRuleset: the text (sets, DNAT, quarantine first, counters named by conduit), IPv6,
// fail-closed skips, injection attempts refused, determinism, and `nft -c` accepting the output
// inside a throwaway network namespace (the host's ruleset is never touched).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCounters, renderRuleset } from '../../drivers/nftables';
import type { RenderOptions } from '../../drivers/nftables';
import { fitComment } from '../../drivers/nftables/names';
import { ZonegateError } from '../../policy/errors';
import type { Conduit, PolicyDocument } from '../../policy/types';
import { createLab, netnsUnavailable } from '../helpers/netns';
import { runCli } from '../../cli/framework';
import { nftRenderCommand } from '../../cli/nft-render';

const conduit = (c: Partial<Conduit> & Pick<Conduit, 'id' | 'to' | 'protocol'>): Conduit =>
  ({ from: { identities: [], roles: [], zones: [] }, requires: { edgeAuth: false, grant: false }, mode: 'enforce', ...c });

function substation(): PolicyDocument {
  return {
    site: 'substation-12',
    zones: [
      { id: 'enterprise', networks: ['10.20.0.0/16', '10.20.5.0/24', 'fd00:20::/48'], interfaces: ['eth0'], securityLevel: 1 },
      { id: 'control', networks: ['10.10.1.0/24', 'fd00:10::/64'], interfaces: ['eth1'], securityLevel: 3 },
      { id: 'dmz', networks: ['10.30.0.0/24'], interfaces: ['eth2'], securityLevel: 2 },
    ],
    assets: [
      { id: 'plc-feeder-1', zone: 'control', addresses: ['10.10.1.20', 'fd00:10::20'], kind: 'plc', services: [{ protocol: 'modbus', port: 502 }] },
      { id: 'historian', zone: 'dmz', addresses: ['10.30.0.5'], kind: 'server', services: [{ protocol: 'tcp', port: 5432 }] },
      { id: 'rtu-7', zone: 'control', addresses: ['10.10.1.77'], kind: 'rtu', services: [{ protocol: 'modbus', port: 502 }] },
    ],
    identities: [
      { id: 'hmi-1', kind: 'device', zone: 'control', addresses: ['10.10.1.5'], roles: ['hmi'] },
      { id: 'eng-ws', kind: 'device', zone: 'enterprise', addresses: ['10.20.3.4', 'fd00:20::4'], roles: ['engineer'] },
      { id: 'alice', kind: 'user', addresses: [], roles: ['operator'] },
      { id: 'compromised-laptop', kind: 'device', zone: 'enterprise', addresses: ['10.20.9.9', 'fd00:20::99'], roles: [] },
    ],
    conduits: [
      conduit({ id: 'hmi-reads-feeder', from: { identities: ['hmi-1'], roles: [], zones: [] }, to: { assets: ['plc-feeder-1'], zones: [] }, protocol: 'modbus', allow: { functions: [3, 1], units: [1] } }),
      conduit({ id: 'vendor-maintenance', from: { identities: [], roles: ['vendor'], zones: [] }, to: { assets: ['plc-feeder-1'], zones: [] }, protocol: 'modbus', requires: { edgeAuth: true, grant: true } }),
      conduit({ id: 'historian-sql', from: { identities: [], roles: ['engineer'], zones: ['control'] }, to: { assets: ['historian'], zones: [] }, protocol: 'tcp' }),
      conduit({ id: 'eng-ssh-control', from: { identities: ['eng-ws'], roles: [], zones: [] }, to: { assets: [], zones: ['control'] }, protocol: 'tcp', ports: [22] }),
      conduit({ id: 'rtu-reads', from: { identities: ['eng-ws'], roles: [], zones: [] }, to: { assets: ['rtu-7'], zones: [] }, protocol: 'modbus', allow: { functions: [3] } }),
      conduit({ id: 'operator-console', from: { identities: [], roles: ['operator'], zones: [] }, to: { assets: ['historian'], zones: [] }, protocol: 'tcp' }),
    ],
    quarantine: ['compromised-laptop'],
    settings: { onExpiry: 'keep-enforcing' },
    tests: [],
  };
}

const baseOptions = (doc = substation()): RenderOptions => ({
  doc,
  proxies: [{ asset: 'plc-feeder-1', port: 502, protocol: 'modbus', listen: { host: '10.20.0.1', port: 15020 } }],
  management: { interfaces: ['mgmt0'], tcpPorts: [8443], mqtt: { host: '192.0.2.10', port: 8883 } },
});

const chain = (text: string, name: string): string[] => {
  const start = text.indexOf(`\tchain ${name} {`);
  assert.ok(start >= 0, `chain ${name} present`);
  const body = text.slice(start, text.indexOf('\n\t}', start));
  return body.split('\n').slice(1).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
};

test('declares its one table whole (apply.ts swaps it in for the running one)', () => {
  const { text } = renderRuleset(baseOptions());
  const lines = text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
  assert.is(lines[0], 'table inet zonegate {');
  assert.is(lines[lines.length - 1], '}');
  assert.is(lines.filter((l) => l.startsWith('table ')).length, 1);
});

test('zone networks become interval sets, overlaps merged, one per family', () => {
  const { text } = renderRuleset(baseOptions());
  assert.match(text, /set zone_enterprise_v4 \{\n\t\ttype ipv4_addr\n\t\tflags interval\n\t\tauto-merge\n\t\telements = \{ 10\.20\.0\.0\/16 \}\n\t\}/);
  assert.match(text, /set zone_enterprise_v6 \{\n\t\ttype ipv6_addr\n[^}]*elements = \{ fd00:20::\/48 \}/);
  assert.not.match(text, /zone_dmz_v6/);
  assert.match(text, /set zone_ifaces \{\n\t\ttype ifname\n\t\telements = \{ "eth0", "eth1", "eth2" \}/);
});

test('a proxied conduit becomes a DNAT of the asset service to the listener, and the listener is accepted', () => {
  const r = renderRuleset(baseOptions());
  assert.equal(chain(r.text, 'nat_prerouting').slice(1), [
    'ip daddr 10.10.1.20 tcp dport 502 counter dnat ip to 10.20.0.1:15020 comment "proxy plc-feeder-1:502 conduits hmi-reads-feeder vendor-maintenance"',
  ]);
  // From the sources its conduits name: vendor-maintenance's role has no holder in the policy
  // (people authenticate at the edge), so every zone's networks; nothing outside the zones.
  assert.ok(chain(r.text, 'input').includes('ip saddr { 10.10.1.0/24, 10.20.0.0/16, 10.30.0.0/24 } ip daddr 10.20.0.1 tcp dport 15020 counter accept comment "proxy listener plc-feeder-1:502"'), chain(r.text, 'input').join('\n'));
  assert.equal(r.conduits.proxied, ['hmi-reads-feeder', 'vendor-maintenance']);
  // The asset's IPv6 address cannot be redirected to an IPv4 listener: said, not silently dropped.
  assert.ok(r.skipped.some((s) => s.conduit === 'hmi-reads-feeder' && /listens on IPv4; asset address fd00:10::20 is not redirected/.test(s.reason)));
});

test('DNP3: the outstation\'s port 20000 is DNATed to the dnp3 listener; a DNP3 filter without a listener fails closed', () => {
  const doc = substation();
  doc.assets.push({ id: 'rtu-dnp3', zone: 'control', addresses: ['10.10.1.30'], kind: 'rtu', services: [{ protocol: 'dnp3', port: 20000 }] });
  doc.conduits.push(
    conduit({ id: 'scada-operates', from: { identities: ['hmi-1'], roles: [], zones: [] }, to: { assets: ['rtu-dnp3'], zones: [] }, protocol: 'dnp3', dnp3: { functions: [1, 3, 4], points: { g12: [{ start: 0, end: 7 }] } } }),
    conduit({ id: 'eng-any-dnp3', from: { identities: ['eng-ws'], roles: [], zones: [] }, to: { assets: ['rtu-dnp3'], zones: [] }, protocol: 'dnp3' }),
  );
  const proxied = renderRuleset({ ...baseOptions(doc), proxies: [...baseOptions().proxies!, { asset: 'rtu-dnp3', port: 20000, protocol: 'dnp3', listen: { host: '10.20.0.1', port: 20001 } }] });
  assert.ok(chain(proxied.text, 'nat_prerouting').includes('ip daddr 10.10.1.30 tcp dport 20000 counter dnat ip to 10.20.0.1:20001 comment "proxy rtu-dnp3:20000 conduits eng-any-dnp3 scada-operates"'), chain(proxied.text, 'nat_prerouting').join('\n'));
  assert.ok(chain(proxied.text, 'input').includes('ip saddr { 10.10.1.5, 10.20.3.4 } ip daddr 10.20.0.1 tcp dport 20001 counter accept comment "proxy listener rtu-dnp3:20000"'), chain(proxied.text, 'input').join('\n'));
  assert.not.match(proxied.text, /conduit scada-operates|conduit eng-any-dnp3/);
  assert.ok(['eng-any-dnp3', 'scada-operates'].every((c) => proxied.conduits.proxied.includes(c)));
  // No listener: a conduit with DNP3 rules gets no forward rule (only the proxy can check them).
  const plain = renderRuleset(baseOptions(doc));
  assert.ok(plain.skipped.some((s) => s.conduit === 'scada-operates' && s.reason === 'needs a proxy for DNP3 function/object/point filter; no proxy listener for its destination'), JSON.stringify(plain.skipped));
  assert.not.match(plain.text, /conduit scada-operates/);
  assert.not.match(chain(plain.text, 'nat_prerouting').join('\n'), /20000/);
});

test('IEC 104: the RTU\'s port 2404 is DNATed to the iec104 listener; an IEC 104 filter without a listener fails closed', () => {
  const doc = substation();
  doc.assets.push({ id: 'rtu-104', zone: 'control', addresses: ['10.10.1.40'], kind: 'rtu', services: [{ protocol: 'iec104', port: 2404 }] });
  doc.conduits.push(
    conduit({ id: 'scada-switches', from: { identities: ['hmi-1'], roles: [], zones: [] }, to: { assets: ['rtu-104'], zones: [] }, protocol: 'iec104', iec104: { types: [45, 100], commonAddresses: [1], ioas: [{ start: 1000, end: 1007 }] } }),
    conduit({ id: 'eng-any-104', from: { identities: ['eng-ws'], roles: [], zones: [] }, to: { assets: ['rtu-104'], zones: [] }, protocol: 'iec104' }),
  );
  const proxied = renderRuleset({ ...baseOptions(doc), proxies: [...baseOptions().proxies!, { asset: 'rtu-104', port: 2404, protocol: 'iec104', listen: { host: '10.20.0.1', port: 2405 } }] });
  assert.ok(chain(proxied.text, 'nat_prerouting').includes('ip daddr 10.10.1.40 tcp dport 2404 counter dnat ip to 10.20.0.1:2405 comment "proxy rtu-104:2404 conduits eng-any-104 scada-switches"'), chain(proxied.text, 'nat_prerouting').join('\n'));
  assert.ok(chain(proxied.text, 'input').includes('ip saddr { 10.10.1.5, 10.20.3.4 } ip daddr 10.20.0.1 tcp dport 2405 counter accept comment "proxy listener rtu-104:2404"'), chain(proxied.text, 'input').join('\n'));
  assert.not.match(proxied.text, /conduit scada-switches|conduit eng-any-104/);
  assert.ok(['eng-any-104', 'scada-switches'].every((c) => proxied.conduits.proxied.includes(c)));
  // No listener: a conduit with IEC 104 rules gets no forward rule (only the proxy can check them).
  const plain = renderRuleset(baseOptions(doc));
  assert.ok(plain.skipped.some((s) => s.conduit === 'scada-switches' && s.reason === 'needs a proxy for IEC 104 type/address/cause filter; no proxy listener for its destination'), JSON.stringify(plain.skipped));
  assert.not.match(plain.text, /conduit scada-switches/);
  assert.not.match(chain(plain.text, 'nat_prerouting').join('\n'), /2404/);
});

test('plain conduits: forward accepts by source set, destination and port, named by conduit id', () => {
  const r = renderRuleset(baseOptions());
  const fwd = chain(r.text, 'forward');
  assert.ok(fwd.includes('ip saddr 10.20.3.4 ip daddr 10.30.0.5 tcp dport 5432 counter accept comment "conduit historian-sql"'));
  assert.ok(fwd.includes('ip saddr @zone_control_v4 ip daddr 10.30.0.5 tcp dport 5432 counter accept comment "conduit historian-sql"'));
  assert.ok(fwd.includes('ip saddr 10.20.3.4 ip daddr @zone_control_v4 tcp dport 22 counter accept comment "conduit eng-ssh-control"'));
  assert.ok(fwd.includes('ip6 saddr fd00:20::4 ip6 daddr @zone_control_v6 tcp dport 22 counter accept comment "conduit eng-ssh-control"'));
  assert.equal(fwd[0], 'type filter hook forward priority filter; policy drop;');
  assert.equal(fwd[fwd.length - 1], 'counter comment "default drop"');
  assert.equal(r.conduits.forwarded, ['eng-ssh-control', 'historian-sql']);
});

test('what the kernel cannot check fails closed and is listed in skipped', () => {
  const r = renderRuleset(baseOptions());
  const reasons = Object.fromEntries(r.skipped.filter((s) => !/not redirected/.test(s.reason)).map((s) => [s.conduit, s.reason]));
  assert.equal(reasons, {
    'rtu-reads': 'needs a proxy for Modbus function/unit/address filter; no proxy listener for its destination',
    'operator-console': 'no source address (people authenticate at the edge: only a proxy can carry this)',
  });
  assert.not.match(r.text, /conduit rtu-reads|conduit operator-console|10\.10\.1\.77/);
  // Schedules, grants, rate limits, edge auth without a proxy: no forward rule either.
  const doc = substation();
  doc.conduits = [conduit({ id: 'night', from: { identities: ['eng-ws'], roles: [], zones: [] }, to: { assets: ['historian'], zones: [] }, protocol: 'tcp', schedule: { days: ['mon'], from: 1320, to: 240, tz: 'UTC' }, rateLimit: { perSecond: 5, burst: 10 } })];
  const s = renderRuleset(baseOptions(doc));
  assert.equal(s.skipped, [{ conduit: 'night', reason: 'needs a proxy for a schedule, a rate limit; no proxy listener for its destination' }]);
  assert.equal(s.conduits.forwarded, []);
});

test('quarantine is a set that drops first in every chain, source and destination', () => {
  const { text } = renderRuleset(baseOptions());
  assert.match(text, /set quarantine_v4 \{[^}]*elements = \{ 10\.20\.9\.9 \}/);
  assert.match(text, /set quarantine_v6 \{[^}]*elements = \{ fd00:20::99 \}/);
  const q = [
    'ip saddr @quarantine_v4 counter drop comment "quarantine"', 'ip daddr @quarantine_v4 counter drop comment "quarantine"',
    'ip6 saddr @quarantine_v6 counter drop comment "quarantine"', 'ip6 daddr @quarantine_v6 counter drop comment "quarantine"',
  ];
  for (const name of ['raw_prerouting', 'input', 'forward', 'output']) assert.equal(chain(text, name).slice(1, 5), q, name);
  assert.equal(chain(text, 'raw_prerouting')[0], 'type filter hook prerouting priority raw; policy accept;');
  // An asset can be quarantined too; the set is declared even when empty (the runtime adds live).
  const doc = substation();
  doc.quarantine = ['rtu-7'];
  assert.match(renderRuleset(baseOptions(doc)).text, /set quarantine_v4 \{[^}]*elements = \{ 10\.10\.1\.77 \}/);
  doc.quarantine = [];
  assert.match(renderRuleset(baseOptions(doc)).text, /set quarantine_v6 \{\n\t\ttype ipv6_addr\n\t\tflags interval\n\t\tauto-merge\n\t\}/);
});

test('the management plane has its own chains, bound to management interfaces when given', () => {
  const { text } = renderRuleset(baseOptions());
  assert.equal(chain(text, 'mgmt_in'), [
    'iifname @mgmt_ifaces tcp dport 8443 counter accept comment "management console"',
    'tcp dport 8443 counter drop comment "management off management interfaces"',
  ]);
  assert.equal(chain(text, 'mgmt_out'), [
    'oifname @mgmt_ifaces ip daddr 192.0.2.10 tcp dport 8883 counter accept comment "management mqtt"',
    'ip daddr 192.0.2.10 tcp dport 8883 counter drop comment "management mqtt off management interfaces"',
  ]);
  const open = renderRuleset({ ...baseOptions(), management: { tcpPorts: [8443, 8080], mqtt: { host: 'broker.example', port: 1883 } } }).text;
  // No management interface: from the zones' networks only.
  assert.equal(chain(open, 'mgmt_in'), [
    'ip saddr { 10.10.1.0/24, 10.20.0.0/16, 10.30.0.0/24 } tcp dport { 8080, 8443 } counter accept comment "management console"',
    'ip6 saddr { fd00:10::/64, fd00:20::/48 } tcp dport { 8080, 8443 } counter accept comment "management console"',
  ]);
  assert.equal(chain(open, 'mgmt_out'), ['tcp dport 1883 counter accept comment "management mqtt"']);
  const input = chain(text, 'input');
  assert.ok(input.indexOf('jump mgmt_in') < input.indexOf('iifname @zone_ifaces counter drop comment "zone input drop"'));
});

test('the gateway itself is closed whatever the interfaces: policy drop, listeners only from their conduits\' sources', () => {
  const doc = substation();
  doc.zones = doc.zones.map((z) => ({ ...z, interfaces: [] }));
  doc.conduits = doc.conduits.filter((c) => c.id !== 'vendor-maintenance');
  const r = renderRuleset({ ...baseOptions(doc), management: { tcpPorts: [8443] } });
  assert.equal(chain(r.text, 'input'), [
    'type filter hook input priority filter; policy drop;',
    'ip saddr @quarantine_v4 counter drop comment "quarantine"', 'ip daddr @quarantine_v4 counter drop comment "quarantine"',
    'ip6 saddr @quarantine_v6 counter drop comment "quarantine"', 'ip6 daddr @quarantine_v6 counter drop comment "quarantine"',
    'iifname "lo" accept',
    'ct state established,related accept',
    'ct state invalid drop',
    'icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, nd-router-advert } accept',
    'jump mgmt_in',
    // Only hmi-1 (10.10.1.5) uses the proxy now: nobody else reaches its listener.
    'ip saddr 10.10.1.5 ip daddr 10.20.0.1 tcp dport 15020 counter accept comment "proxy listener plc-feeder-1:502"',
    'iifname @zone_ifaces counter drop comment "zone input drop"',
    'counter comment "input drop"',
  ]);
  assert.match(r.text, /set zone_ifaces \{\n\t\ttype ifname\n\t\}/, 'no zone interface at all');
  assert.equal(r.warnings, ['control', 'dmz', 'enterprise'].map((z) => `zone ${z} names no interfaces: the gateway tells its traffic apart by address only; its input from the zone stays closed except the proxy listeners and management ports`).sort());
  // Interfaces given by the deployment facts count; a zone left out of them is still named.
  assert.equal(renderRuleset({ ...baseOptions(doc), zoneInterfaces: { control: ['eth1'], dmz: ['eth2'] } }).warnings.map((w) => w.split(' ')[1]), ['enterprise']);
  assert.equal(renderRuleset(baseOptions()).warnings, []);
});

test('IPv6 listeners DNAT with brackets; the unspecified address redirects; counters can be left out', () => {
  const doc = substation();
  const r = renderRuleset({ doc, proxies: [{ asset: 'plc-feeder-1', port: 502, listen: { host: 'fd00:20::1', port: 15020 } }] });
  assert.equal(chain(r.text, 'nat_prerouting').slice(1), [
    'ip6 daddr fd00:10::20 tcp dport 502 counter dnat ip6 to [fd00:20::1]:15020 comment "proxy plc-feeder-1:502 conduits hmi-reads-feeder vendor-maintenance"',
  ]);
  const any = renderRuleset({ doc, counters: false, proxies: [{ asset: 'plc-feeder-1', port: 502, listen: { host: '0.0.0.0', port: 15020 } }] });
  assert.equal(chain(any.text, 'nat_prerouting').slice(1), [
    'ip daddr 10.10.1.20 tcp dport 502 redirect to :15020 comment "proxy plc-feeder-1:502 conduits hmi-reads-feeder vendor-maintenance"',
    'ip6 daddr fd00:10::20 tcp dport 502 redirect to :15020 comment "proxy plc-feeder-1:502 conduits hmi-reads-feeder vendor-maintenance"',
  ]);
  assert.not.match(any.text, /counter/);
  assert.ok(chain(any.text, 'input').includes('ip saddr { 10.10.1.0/24, 10.20.0.0/16, 10.30.0.0/24 } tcp dport 15020 accept comment "proxy listener plc-feeder-1:502"'));
  assert.ok(chain(any.text, 'input').includes('ip6 saddr { fd00:10::/64, fd00:20::/48 } tcp dport 15020 accept comment "proxy listener plc-feeder-1:502"'));
});

test('many forward rules: new connections are dispatched by destination address to one chain each', () => {
  const flat = renderRuleset(baseOptions());
  const r = renderRuleset({ ...baseOptions(), dispatchThreshold: 0 });
  assert.equal(r.conduits, flat.conduits);
  const fwd = chain(r.text, 'forward');
  const at = fwd.indexOf('ip daddr vmap {');
  assert.ok(at > fwd.indexOf('ct state invalid drop'), 'after quarantine and conntrack');
  assert.equal(fwd.slice(at, at + 3), ['ip daddr vmap {', '10.30.0.5 : jump to_v4_1', '}']);
  assert.ok(fwd.includes('ip saddr 10.20.3.4 ip daddr @zone_control_v4 tcp dport 22 counter accept comment "conduit eng-ssh-control"'), 'zone destinations stay in forward');
  assert.equal(chain(r.text, 'to_v4_1'), [
    'ip saddr 10.20.3.4 tcp dport 5432 counter accept comment "conduit historian-sql"',
    'ip saddr @zone_control_v4 tcp dport 5432 counter accept comment "conduit historian-sql"',
  ]);
  // Below the default threshold the list stays flat.
  assert.not.match(flat.text, /vmap/);
});

test('deterministic: the same policy in another order renders the same text', () => {
  const a = renderRuleset(baseOptions()).text;
  const doc = substation();
  doc.zones.reverse(); doc.assets.reverse(); doc.identities.reverse(); doc.conduits.reverse();
  doc.zones[0].networks.reverse();
  assert.is(renderRuleset(baseOptions(doc)).text, a);
  assert.is(renderRuleset(baseOptions()).text, a);
});

test('injection attempts are refused with every finding named', () => {
  const doc = substation();
  doc.zones[0].interfaces = ['eth0" accept; #'];
  doc.zones[1].id = 'control }\n\tchain evil {';
  doc.conduits[0].id = 'x" accept comment "y';
  doc.assets[1].addresses = ['10.30.0.5; flush ruleset'];
  const err = (() => { try { renderRuleset({ doc }); } catch (e) { return e; } })() as ZonegateError;
  assert.instance(err, ZonegateError);
  assert.is(err.code, 'ERR_POLICY_INVALID');
  assert.equal(err.issues.map((i) => i.path), ['zones[0].interfaces[0]', 'zones[1].id', 'assets[1].addresses[0]', 'conduits[0].id']);
  assert.match(err.issues[0].message, /is not a Linux interface name/);

  const bad = (opts: Partial<RenderOptions>): ZonegateError => {
    try { renderRuleset({ doc: substation(), ...opts }); } catch (e) { return e as ZonegateError; }
    throw new Error('expected a refusal');
  };
  const cfg = bad({
    table: 'zonegate; flush ruleset',
    zoneInterfaces: { control: ['eth*'], nowhere: ['eth9'] },
    management: { interfaces: ['a'.repeat(16)], tcpPorts: [0], mqtt: { host: 'x" ; drop', port: 1883 } },
    proxies: [{ asset: 'plc-feeder-1', port: 502, listen: { host: '127.0.0.1', port: 15020 } }, { asset: 'ghost', port: 70000, listen: { host: 'nope', port: 1 } }],
  });
  assert.is(cfg.code, 'ERR_CONFIG_INVALID');
  assert.equal(cfg.issues.map((i) => i.path), [
    'table', 'proxies[0].listen.host', 'proxies[1].asset', 'proxies[1].port', 'proxies[1].listen.host',
    'zoneInterfaces.control[0]', 'zoneInterfaces.nowhere', 'management.interfaces[0]', 'management.tcpPorts[0]', 'management.mqtt.host',
  ]);
  assert.match(cfg.issues[1].message, /a loopback listener \(127\.0\.0\.1\) cannot be a DNAT target/);
  // Interfaces given in the options replace the policy's: a bad policy interface is then not used.
  const d2 = substation();
  d2.zones[0].interfaces = ['bad"name'];
  assert.match(renderRuleset({ doc: d2, zoneInterfaces: { enterprise: ['wan0'] } }).text, /elements = \{ "wan0" \}/);
});

test('comments stay under 128 bytes and say how many conduits were left out', () => {
  assert.is(fitComment(['conduit', 'a']), 'conduit a');
  const ids = Array.from({ length: 40 }, (_, i) => `conduit-number-${i}`);
  const c = fitComment(['proxy', 'plc:502', 'conduits', ...ids]);
  assert.ok(c.length <= 128, String(c.length));
  assert.match(c, / \+\d+$/);
  const shown = c.split(' ').filter((w) => w.startsWith('conduit-number-')).length;
  assert.is(Number(/\+(\d+)$/.exec(c)![1]), 40 - shown);
});

test('parseCounters sums by comment and by conduit; a shared DNAT is counted once as shared; drops apart', () => {
  const rule = (chain: string, handle: number, comment: string, packets: number, bytes: number) =>
    ({ rule: { family: 'inet', table: 'zonegate', chain, handle, comment, expr: [{ match: {} }, { counter: { packets, bytes } }, { accept: null }] } });
  const json = JSON.stringify({ nftables: [
    { metainfo: { version: '1.0.6' } },
    rule('forward', 10, 'conduit a', 3, 180), rule('forward', 11, 'conduit a', 2, 160),
    rule('nat_prerouting', 12, 'proxy plc:502 conduits a b +2', 5, 300),
    rule('nat_prerouting', 15, 'proxy rtu:502 conduits c', 4, 240),
    { rule: { family: 'inet', table: 'zonegate', chain: 'forward', handle: 13, comment: 'quarantine', expr: [{ match: {} }, { counter: { packets: 7, bytes: 420 } }, { drop: null }] } },
    { rule: { family: 'inet', table: 'zonegate', chain: 'input', handle: 16, comment: 'input drop', expr: [{ counter: { packets: 2, bytes: 120 } }] } },
    { rule: { family: 'inet', table: 'other', chain: 'x', handle: 1, comment: 'conduit a', expr: [{ counter: { packets: 99, bytes: 99 } }] } },
    { rule: { family: 'inet', table: 'zonegate', chain: 'input', handle: 14, expr: [{ counter: { packets: 1, bytes: 1 } }] } },
  ] });
  const c = parseCounters(json);
  // The DNAT serving a, b and two more is not credited to a or b (it was, to each, in full).
  assert.equal({ ...c.byConduit }, { a: { packets: 5, bytes: 340 }, c: { packets: 4, bytes: 240 } });
  assert.equal({ ...c.shared }, { 'proxy plc:502 conduits a b +2': { packets: 5, bytes: 300, conduits: ['a', 'b'], more: 2 } });
  assert.equal({ ...c.drops }, { quarantine: { packets: 7, bytes: 420 }, 'input drop': { packets: 2, bytes: 120 } });
  assert.equal(c.byComment.quarantine, { packets: 7, bytes: 420 });
  assert.is(c.rules.length, 6);
  const err = (() => { try { parseCounters('{"x":1}'); } catch (e) { return e as ZonegateError; } })()!;
  assert.is(err.code, 'ERR_NFT');
  assert.is(err.message, 'nft -j output has no "nftables" array');
});

test('zonegate nft render prints the script for the example policy; skipped conduits go to stderr', async () => {
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (t: string) => out.push(t), err: (t: string) => err.push(t) };
  const signal = new AbortController().signal;
  const code = await runCli(['nft', 'render', '--policy', 'examples/substation.yaml', '--proxy', 'plc-feeder-1:502=10.10.0.1:15020'], [nftRenderCommand], io, signal);
  assert.is(code, 0, err.join('\n'));
  assert.match(out.join('\n'), /^# zonegate nftables ruleset for site substation-12/);
  assert.match(out.join('\n'), /ip daddr 10\.10\.1\.20 tcp dport 502 counter dnat ip to 10\.10\.0\.1:15020 comment "proxy plc-feeder-1:502 conduits /);
  assert.ok(err.some((l) => /^# not in the ruleset: conduit hmi-reads-feeders: to plc-feeder-2:502, plc-feeder-3:502, plc-feeder-4:502: needs a proxy/.test(l)), err.join('\n'));
  out.length = 0;
  assert.is(await runCli(['nft', 'render', '--policy', 'examples/substation.yaml', '--json'], [nftRenderCommand], io, signal), 0);
  const j = JSON.parse(out.join('')) as { ok: boolean; sha256: string; conduits: { forwarded: string[] } };
  assert.is(j.ok, true);
  assert.match(j.sha256, /^[0-9a-f]{64}$/);
  assert.ok(j.conduits.forwarded.includes('enterprise-to-historian'));
  err.length = 0;
  assert.is(await runCli(['nft', 'render', '--policy', 'examples/substation.yaml', '--proxy', 'plc-feeder-1:502=127.0.0.1:15020'], [nftRenderCommand], io, signal), 1);
  assert.match(err.join('\n'), /proxies\[0\]\.listen\.host: a loopback listener \(127\.0\.0\.1\) cannot be a DNAT target/);
  assert.is(await runCli(['nft', 'render'], [nftRenderCommand], io, signal), 2);
});

test('zonegate nft render --config takes the README\'s `nftables: { enabled: true }`, the listeners and the login page', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'zg-nft-render-'));
  try {
    // The example policy with the enterprise zone's interface left out.
    const example = readFileSync('examples/substation.yaml', 'utf8');
    assert.ok(example.includes('    interfaces: [eth0]\n'));
    writeFileSync(join(dir, 'policy.yaml'), example.replace('    interfaces: [eth0]\n', ''));
    writeFileSync(join(dir, 'gw.yaml'), `device: gw-01
site: substation-12
stateDir: ${join(dir, 'state')}
policyFile: policy.yaml
listeners:
  - { listen: 10.20.0.1:15020, asset: plc-feeder-1, service: modbus }
console: { web: { listen: 10.10.99.1:8443 } }
nftables: { enabled: true }
`);
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (t: string) => out.push(t), err: (t: string) => err.push(t) };
    const code = await runCli(['nft', 'render', '--config', join(dir, 'gw.yaml')], [nftRenderCommand], io, new AbortController().signal);
    assert.is(code, 0, err.join('\n'));
    const text = `${out.join('\n')}\n`;
    assert.match(text, /ip daddr 10\.10\.1\.20 tcp dport 502 counter dnat ip to 10\.20\.0\.1:15020 comment "proxy plc-feeder-1:502 conduits /);
    // The login page's port is a management port: accepted from the zones, not closed by the input drop.
    assert.match(chain(text, 'mgmt_in')[0], /^ip saddr \{ [0-9./, ]+ \} tcp dport 8443 counter accept comment "management console"$/);
    assert.ok(err.includes('# warning: zone enterprise names no interfaces: the gateway tells its traffic apart by address only; its input from the zone stays closed except the proxy listeners and management ports'), err.join('\n'));
    out.length = 0;
    assert.is(await runCli(['nft', 'render', '--config', join(dir, 'gw.yaml'), '--json'], [nftRenderCommand], io, new AbortController().signal), 0);
    assert.equal(JSON.parse(out.join('')).warnings.length, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const reason = netnsUnavailable();
if (reason) console.log(`SKIPPED nft -c check of the rendered text: ${reason}`);
(reason ? test.skip : test)('nft -c -f accepts every rendered variant (inside a throwaway netns)', () => {
  const lab = createLab();
  try {
    const ns = lab.ns('chk');
    const doc = substation();
    const variants: RenderOptions[] = [
      baseOptions(),
      { doc, counters: false, proxies: [{ asset: 'plc-feeder-1', port: 502, listen: { host: '::', port: 15020 } }] },
      { doc, proxies: [{ asset: 'plc-feeder-1', port: 502, listen: { host: 'fd00:20::1', port: 15020 } }], management: { tcpPorts: [8443, 8444], mqtt: { host: 'fd00::5', port: 1883 } } },
      { doc: { ...doc, zones: [], assets: [], identities: [], conduits: [], quarantine: [] } },
      { ...baseOptions(), dispatchThreshold: 0 },
    ];
    for (const v of variants) {
      const { text } = renderRuleset(v);
      const r = spawnSync('ip', ['netns', 'exec', ns, 'nft', '-c', '-f', '-'], { input: text, encoding: 'utf8' });
      assert.is(r.status, 0, `nft -c refused:\n${r.stderr}\n${text}`);
    }
    // The check really checks: a broken script is refused.
    const bad = spawnSync('ip', ['netns', 'exec', ns, 'nft', '-c', '-f', '-'], { input: 'table inet zonegate { chain c { tcp dport 99999 accept } }\n', encoding: 'utf8' });
    assert.is.not(bad.status, 0);
    const listed = spawnSync('ip', ['netns', 'exec', ns, 'nft', 'list', 'ruleset'], { encoding: 'utf8' });
    assert.is(listed.stdout.trim(), '', 'check mode committed nothing');
  } finally {
    lab.cleanup();
  }
});

test.run();
