import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  parseIp, parseCidr, cidrHostBitsSet, cidrContains, cidrsOverlap, formatIp, formatCidr, ipv4ToUint32, cidrNetwork, normalizeIp,
} from '../../policy/net';

const ip = (s: string) => {
  const r = parseIp(s);
  if (!r) throw new Error(`expected ${s} to parse`);
  return r;
};
const cidr = (s: string) => {
  const r = parseCidr(s);
  if (!r) throw new Error(`expected ${s} to parse`);
  return r;
};

test('IPv4 dotted quads parse to four bytes', () => {
  assert.equal(Array.from(ip('10.20.3.4').bytes), [10, 20, 3, 4]);
  assert.is(ip('0.0.0.0').family, 4);
  assert.equal(Array.from(ip('255.255.255.255').bytes), [255, 255, 255, 255]);
});

test('malformed IPv4 is rejected', () => {
  for (const s of ['256.0.0.1', '1.2.3', '1.2.3.4.5', '01.2.3.4', '1.2.3.04', '1.2.3.', '.1.2.3', '1..2.3', ' 1.2.3.4', '1.2.3.4 ',
    '1.2.3.-4', '1.2.3.4/8', '0x1.2.3.4', '1e2.0.0.1', '', 'a.b.c.d', '1.2.3.1000']) {
    assert.is(parseIp(s), undefined, s);
  }
});

test('IPv6 forms parse: full, compressed, embedded IPv4', () => {
  assert.equal(Array.from(ip('::1').bytes), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
  assert.equal(Array.from(ip('1::').bytes), [0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(Array.from(ip('::').bytes), new Array(16).fill(0));
  assert.is(formatIp(ip('2001:0DB8:0000:0000:0000:0000:0000:0001')), '2001:db8::1');
  assert.is(formatIp(ip('fd00:1:2:3:4:5:6:7')), 'fd00:1:2:3:4:5:6:7');
  assert.is(formatIp(ip('64:ff9b::192.0.2.33')), '64:ff9b::c000:221');
  assert.is(formatIp(ip('::1.2.3.4')), '::102:304');
  assert.is(formatIp(ip('1:2:3:4:5:6:1.2.3.4')), '1:2:3:4:5:6:102:304');
  assert.is(ip('fe80::1').family, 6);
});

test('IPv4-mapped IPv6 becomes IPv4', () => {
  const a = ip('::ffff:10.0.0.1');
  assert.is(a.family, 4);
  assert.equal(Array.from(a.bytes), [10, 0, 0, 1]);
  assert.is(formatIp(ip('::FFFF:a00:1')), '10.0.0.1');
  const c = cidr('::ffff:10.0.0.0/104');
  assert.is(c.family, 4);
  assert.is(c.prefix, 8);
});

test('malformed IPv6 is rejected', () => {
  for (const s of ['fe80::1%eth0', ':::', '1:::2', '1::2::3', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7:8::', '12345::',
    ':1:2:3:4:5:6:7', '1:2:3:4:5:6:7:', 'g::1', '::1.2.3', '::256.1.1.1', '1:2:3:4:5:6:7:1.2.3.4', ':1.2.3.4', '[::1]', '::01.2.3.4',
    '1::2:3:4:5:6:7:8']) {
    assert.is(parseIp(s), undefined, s);
  }
  // "::" may stand for a single zero group (RFC 4291 section 2.2), RFC 5952 just never prints it so.
  assert.is(formatIp(ip('1::3:4:5:6:7:8')), '1:0:3:4:5:6:7:8');
});

test('RFC 5952 formatting: longest run, first of equals, no single-group compression', () => {
  assert.is(formatIp(ip('2001:db8:0:0:1:0:0:1')), '2001:db8::1:0:0:1');
  assert.is(formatIp(ip('2001:0:0:1:0:0:0:1')), '2001:0:0:1::1');
  assert.is(formatIp(ip('2001:db8:0:1:1:1:1:1')), '2001:db8:0:1:1:1:1:1');
  assert.is(formatIp(ip('0:0:0:0:0:0:0:0')), '::');
  assert.is(formatIp(ip('1:0:0:0:0:0:0:0')), '1::');
  assert.is(normalizeIp('FD00::0001'), 'fd00::1');
  assert.is(normalizeIp('nope'), undefined);
});

test('CIDRs parse with prefixes, bare addresses are host routes', () => {
  assert.equal(cidr('10.0.0.0/8').prefix, 8);
  assert.equal(cidr('10.0.0.7').prefix, 32);
  assert.equal(cidr('fd00::1').prefix, 128);
  assert.equal(cidr('fd00::/64').prefix, 64);
  assert.is(formatCidr(cidr('FD00:0::/64')), 'fd00::/64');
  assert.is(formatCidr(cidr('0.0.0.0/0')), '0.0.0.0/0');
  for (const s of ['10.0.0.0/33', 'fd00::/129', '10.0.0.0/', '10.0.0.0/08', '10.0.0.0/-1', '10.0.0.0/8/8', '/8', '10.0.0/8', 'fe80::/10%eth0', '10.0.0.0/ 8']) {
    assert.is(parseCidr(s), undefined, s);
  }
});

test('host bits are detected and the network computed', () => {
  assert.ok(cidrHostBitsSet(cidr('10.0.0.1/8')));
  assert.not.ok(cidrHostBitsSet(cidr('10.0.0.0/8')));
  assert.ok(cidrHostBitsSet(cidr('10.10.1.128/25')) === false);
  assert.ok(cidrHostBitsSet(cidr('10.10.1.129/25')));
  assert.is(formatCidr(cidrNetwork(cidr('10.20.30.40/12'))), '10.16.0.0/12');
  assert.ok(cidrHostBitsSet(cidr('fd00::1/64')));
  assert.is(formatCidr(cidrNetwork(cidr('fd00:1:2:3:4::1/48'))), 'fd00:1:2::/48');
  assert.not.ok(cidrHostBitsSet(cidr('1.2.3.4')));
  assert.not.ok(cidrHostBitsSet(cidr('1.2.3.4/0')) === false);
});

test('containment and overlap', () => {
  const net = cidr('10.10.1.0/24');
  assert.ok(cidrContains(net, ip('10.10.1.0')));
  assert.ok(cidrContains(net, ip('10.10.1.255')));
  assert.not.ok(cidrContains(net, ip('10.10.2.0')));
  assert.not.ok(cidrContains(net, ip('fd00::1')));
  assert.ok(cidrContains(cidr('0.0.0.0/0'), ip('203.0.113.9')));
  assert.ok(cidrContains(cidr('10.10.1.0/25'), ip('10.10.1.127')));
  assert.not.ok(cidrContains(cidr('10.10.1.0/25'), ip('10.10.1.128')));
  assert.ok(cidrContains(cidr('fd00:0:0:1::/64'), ip('fd00:0:0:1:ffff::1')));
  assert.not.ok(cidrContains(cidr('fd00:0:0:1::/64'), ip('fd00:0:0:2::1')));
  assert.ok(cidrContains(cidr('10.0.0.0/8'), ip('::ffff:10.1.2.3')));
  assert.ok(cidrsOverlap(cidr('10.0.0.0/8'), cidr('10.20.0.0/16')));
  assert.ok(cidrsOverlap(cidr('10.20.0.0/16'), cidr('10.0.0.0/8')));
  assert.not.ok(cidrsOverlap(cidr('10.20.0.0/16'), cidr('10.21.0.0/16')));
  assert.not.ok(cidrsOverlap(cidr('10.0.0.0/8'), cidr('fd00::/8')));
  assert.ok(cidrsOverlap(cidr('fd00::/16'), cidr('fd00:1::/32')));
});

test('ipv4ToUint32 is unsigned and refuses IPv6', () => {
  assert.is(ipv4ToUint32(ip('255.255.255.255')), 4294967295);
  assert.is(ipv4ToUint32(ip('10.0.0.1')), 0x0a000001);
  assert.is(ipv4ToUint32(ip('128.0.0.0')), 2147483648);
  assert.throws(() => ipv4ToUint32(ip('::1')), (e: unknown) => e instanceof TypeError);
});

test('round trip: every formatted address parses back to the same bytes', () => {
  let seed = 12345;
  const rnd = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed; };
  for (let i = 0; i < 2000; i++) {
    const b = new Uint8Array(16);
    for (let j = 0; j < 16; j++) b[j] = rnd() % 4 === 0 ? rnd() & 0xff : 0;
    if (b[10] === 0xff && b[11] === 0xff) continue;
    const text = formatIp({ family: 6, bytes: b });
    const back = parseIp(text);
    assert.ok(back && back.family === 6, text);
    assert.equal(Array.from(back!.bytes), Array.from(b), text);
  }
});

test.run();
