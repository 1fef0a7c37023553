// swapScript: the batch that replaces the running table keeps base chains whose hook did not
// change (so no packet meets an empty chain mid-swap), empties every rule, and deletes the old
// table's named objects and regular chains before the new declaration. Pure text; the netns test
// applies it to a real kernel and watches the TCP loss counters across swaps.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { deleteScript, elementChanges, planSwap, swapScript, tableObjects } from '../../drivers/nftables/swap';

const running = [
  'table inet zonegate {',
  '\tset zone_ent_v4 {',
  '\t\ttype ipv4_addr',
  '\t\tflags interval',
  '\t\telements = { 10.20.0.0/16, 10.24.0.0/16,',
  '\t\t\t     10.28.0.0/16 }',
  '\t}',
  '',
  '\tset ifaces {',
  '\t\ttype ifname',
  '\t\telements = { "eth0", "eth1" }',
  '\t}',
  '',
  '\tset gone {',
  '\t\ttype ipv4_addr',
  '\t}',
  '',
  '\tmap ports {',
  '\t\ttype inet_service : verdict',
  '\t}',
  '',
  '\tchain forward {',
  '\t\ttype filter hook forward priority filter; policy drop;',
  '\t\tip saddr @zone_ent_v4 jump to_v4_1',
  '\t}',
  '',
  '\tchain nat_prerouting {',
  '\t\ttype nat hook prerouting priority dstnat; policy accept;',
  '\t}',
  '',
  '\tchain output {',
  '\t\ttype filter hook output priority filter; policy accept;',
  '\t}',
  '',
  '\tchain to_v4_1 {',
  '\t\ttcp dport 8080 accept',
  '\t}',
  '',
  '\tchain to_v4_2 {',
  '\t\ttcp dport 9999 accept',
  '\t}',
  '}',
  '',
].join('\n');

const next = [
  '# generated',
  'table inet zonegate {',
  '\tset zone_ent_v4 {',
  '\t\ttype ipv4_addr',
  '\t\tflags interval',
  '\t\telements = { 10.20.0.0/16, 10.28.0.0/16, 10.30.0.0/16 }',
  '\t}',
  '\t# interfaces',
  '\tset ifaces {',
  '\t\ttype ifname',
  '\t\tflags interval',
  '\t\telements = { "eth0", "eth1" }',
  '\t}',
  '\tchain forward {',
  '\t\ttype filter hook forward priority filter; policy drop;',
  '\t}',
  '\tchain nat_prerouting {',
  '\t\ttype nat hook prerouting priority 50; policy accept;',
  '\t}',
  '\tchain to_v4_1 {',
  '\t}',
  '}',
  '',
].join('\n');

test('reads sets (wrapped element lists too), named objects and chains with their hooks', () => {
  const t = tableObjects(running);
  assert.equal(t.objects, [{ kind: 'map', name: 'ports' }]);
  assert.equal(t.sets.get('zone_ent_v4')?.elements, ['10.20.0.0/16', '10.24.0.0/16', '10.28.0.0/16']);
  assert.is(t.sets.get('zone_ent_v4')?.header, 'type ipv4_addr\nflags interval');
  assert.equal(t.sets.get('ifaces')?.elements, ['"eth0"', '"eth1"']);
  assert.equal(t.sets.get('gone')?.elements, []);
  assert.equal([...t.chains], [
    ['forward', 'filter hook forward priority filter'],
    ['nat_prerouting', 'nat hook prerouting priority dstnat'],
    ['output', 'filter hook output priority filter'],
    ['to_v4_1', ''],
    ['to_v4_2', ''],
  ]);
});

test('keeps sets and chains that stay, changes only the elements that differ', () => {
  const plan = planSwap('zonegate', running, next);
  const lines = plan.script.trim().split('\n');
  const at = lines.indexOf('table inet zonegate {');
  assert.equal(lines.slice(0, at - 1), [
    'flush table inet zonegate',
    'delete element inet zonegate zone_ent_v4 { 10.24.0.0/16 }',
    // flags changed: deleted and declared again
    'delete set inet zonegate ifaces',
    // not in the new table at all
    'delete set inet zonegate gone',
    'delete map inet zonegate ports',
    // to_v4_1 is declared again as a regular chain: kept, emptied by the flush; to_v4_2 is not
    'delete chain inet zonegate to_v4_2',
    // priority changed: this hook alone is re-registered
    'delete chain inet zonegate nat_prerouting',
    'delete chain inet zonegate output',
  ]);
  assert.is(lines[at - 1], '# generated');
  assert.is(lines[lines.length - 1], 'add element inet zonegate zone_ent_v4 { 10.30.0.0/16 }');
  assert.ok(!lines.includes('delete chain inet zonegate forward'), 'the forward hook stays registered');
  assert.ok(!lines.includes('\tset zone_ent_v4 {'), 'the kept set is not declared again');
  assert.ok(lines.includes('\tset ifaces {'));
  assert.equal(plan.kept, [{ set: 'zone_ent_v4', added: 1, removed: 1 }]);
  assert.equal(plan.recreated, ['ifaces', 'chain nat_prerouting']);
});

test('the same table again changes no set', () => {
  const plan = planSwap('zonegate', running, running);
  assert.equal(plan.kept.map((k) => [k.added, k.removed]), [[0, 0], [0, 0], [0, 0]]);
  assert.not.match(plan.script, /element|delete set|\tset /);
});

test('address sets compare as intervals: the kernel merges neighbours that render lists apart', () => {
  // What the kernel lists after loading the rendered elements on the right (auto-merge).
  assert.equal(elementChanges(
    ['10.0.0.0/24', '10.1.0.5-10.1.0.6', '10.2.0.0/24'],
    ['10.0.0.0/25', '10.0.0.128/25', '10.1.0.5', '10.1.0.6', '10.2.0.0/24'],
  ), { removed: [], added: [] });
  assert.equal(elementChanges(['fd00::1-fd00::2', 'fd00:12:0:99::/64'], ['fd00:12:0:99::/64', 'fd00::2', 'fd00::1']), { removed: [], added: [] });
  // A change touches only the intervals that changed, spelled as nft spells them.
  assert.equal(elementChanges(['10.0.0.0/24', '10.9.0.9'], ['10.0.0.0/24', '10.3.0.0/16', '10.3.1.0/24', '10.7.0.1', '10.7.0.2', '10.7.0.3']),
    { removed: ['10.9.0.9'], added: ['10.3.0.0/16', '10.7.0.1-10.7.0.3'] });
  // Spelled apart or merged, the same addresses are the same set (a set without auto-merge).
  assert.equal(elementChanges(['10.20.0.0/16', '10.21.0.0/16'], ['10.20.0.0/15']), { removed: [], added: [] });
  // Growing an interval replaces it.
  assert.equal(elementChanges(['10.0.0.0/24'], ['10.0.0.0/24', '10.0.1.0/24']), { removed: ['10.0.0.0/24'], added: ['10.0.0.0/23'] });
  // Other element types compare as text.
  assert.equal(elementChanges(['"eth0"', '"eth1"'], ['"eth1"', '"eth2"']), { removed: ['"eth0"'], added: ['"eth2"'] });
});

test('without a running table the declaration is loaded as it is; removal never fails on absence', () => {
  assert.is(swapScript('zonegate', undefined, next), next);
  assert.is(deleteScript('zg'), 'table inet zg\ndelete table inet zg\n');
});

test.run();
