/**
 * policy/address-set.ts against a plain reference on random CIDRs, IPv4 and IPv6: membership is
 * checked with net.ts's cidrContains (byte by byte, no intervals), at random addresses and at the
 * edges of every prefix (first, last, one before, one after).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  addressOf, addressValue, cidrInterval, formatInterval, intervalsHold, mergeIntervals, mostSpecific, parseInterval,
  sameIntervals, withoutNested, type AddressInterval,
} from '../../policy/address-set';
import { cidrContains, formatCidr, parseCidr, type Cidr, type IpAddr } from '../../policy/net';

let seed = 0x5eed15c;
const rnd = (): number => { seed = (seed * 1103515245 + 12345) >>> 0; return seed / 2 ** 32; };
const int = (n: number): number => Math.floor(rnd() * n);

// Random prefixes from a few bases, so that they nest, touch and overlap often.
const V4_BASES = [[10, 0, 0, 0], [10, 0, 1, 0], [10, 1, 0, 0], [192, 168, 0, 0], [0, 0, 0, 0], [255, 255, 255, 0]];
const V6_BASES = [[0xfd, 0, 0, 0, 0, 0, 0, 1], [0xfd, 0, 0, 0, 0, 0, 0, 2], [0x20, 0x01, 0x0d, 0xb8], [0xff, 0xff], []];
function randomCidr(): Cidr {
  const family = rnd() < 0.6 ? 4 : 6;
  const bytes = new Uint8Array(family === 4 ? 4 : 16);
  const bases = family === 4 ? V4_BASES : V6_BASES;
  bytes.set(bases[int(bases.length)]);
  for (let i = 0; i < bytes.length; i++) if (rnd() < 0.15) bytes[i] = int(256);
  const max = family === 4 ? 32 : 128;
  const prefix = rnd() < 0.3 ? max - int(4) : int(max + 1);
  return { family, bytes, prefix };
}

const valueOf = (ip: IpAddr): bigint => addressValue(ip.bytes);
const max = (f: 4 | 6): bigint => (f === 4 ? 2n ** 32n : 2n ** 128n) - 1n;

/** Addresses worth asking about: the edges of each prefix and some random ones. */
function probes(cidrs: Cidr[]): IpAddr[] {
  const out: IpAddr[] = [];
  for (const c of cidrs) {
    const i = cidrInterval(c);
    for (const v of [i.lo - 1n, i.lo, i.hi, i.hi + 1n]) if (v >= 0n && v <= max(c.family)) out.push(addressOf(v, c.family));
  }
  for (let k = 0; k < 20; k++) out.push(addressOf(valueOf({ family: 4, bytes: randomCidr().bytes.slice(0, 4) }), 4));
  return out;
}

const inAny = (cidrs: Cidr[], ip: IpAddr): boolean => cidrs.some((c) => cidrContains(c, ip));

function checkSortedDisjoint(list: readonly AddressInterval[], gap: bigint, what: string): void {
  for (let n = 1; n < list.length; n++) {
    const a = list[n - 1], b = list[n];
    assert.ok(a.family < b.family || (a.family === b.family && a.hi + gap < b.lo), `${what}: ${formatInterval(a)} then ${formatInterval(b)}`);
  }
}

test('a prefix is the interval of its addresses; text round-trips in nft spelling', () => {
  assert.equal(cidrInterval(parseCidr('10.0.0.1/8')!), { family: 4, lo: 0x0a000000n, hi: 0x0affffffn });
  assert.is(formatInterval(parseInterval('10.0.0.0/25')!), '10.0.0.0/25');
  assert.is(formatInterval(parseInterval('10.0.0.5')!), '10.0.0.5');
  assert.is(formatInterval(parseInterval('10.0.0.1-10.0.0.6')!), '10.0.0.1-10.0.0.6');
  assert.is(formatInterval(parseInterval('fd00::/64')!), 'fd00::/64');
  for (const bad of ['10.0.0.6-10.0.0.1', '10.0.0.0/8-10.1.0.0', '10.0.0.1-fd00::1', 'eth0', '"name"']) assert.is(parseInterval(bad), undefined, bad);
  for (let k = 0; k < 500; k++) {
    const c = randomCidr();
    const i = cidrInterval(c);
    assert.equal(parseInterval(formatInterval(i)), i, formatCidr(c));
    const a = addressOf(i.lo + BigInt(int(1000)) % (i.hi - i.lo + 1n), c.family);
    assert.ok(cidrContains(c, a) && valueOf(a) >= i.lo && valueOf(a) <= i.hi, formatCidr(c));
  }
});

test('mergeIntervals holds exactly the addresses of the prefixes, sorted, disjoint and not adjacent', () => {
  for (let round = 0; round < 300; round++) {
    const cidrs = Array.from({ length: 1 + int(12) }, randomCidr);
    const merged = mergeIntervals(cidrs.map(cidrInterval));
    checkSortedDisjoint(merged, 1n, `round ${round}`);
    for (const ip of probes(cidrs)) assert.is(intervalsHold(merged, ip.family, valueOf(ip)), inAny(cidrs, ip), `round ${round}`);
    const shuffled = cidrs.slice().reverse().map(cidrInterval);
    assert.ok(sameIntervals(mergeIntervals(shuffled), merged), `round ${round}: order does not matter`);
  }
  assert.not.ok(sameIntervals(mergeIntervals([parseInterval('10.0.0.0/25')!]), mergeIntervals([parseInterval('10.0.0.0/24')!])));
  assert.equal(mergeIntervals(['10.0.0.0/25', '10.0.0.128/25'].map((s) => parseInterval(s)!)).map(formatInterval), ['10.0.0.0/24']);
});

test('withoutNested keeps the same addresses and no prefix inside another', () => {
  for (let round = 0; round < 300; round++) {
    const cidrs = Array.from({ length: 1 + int(12) }, randomCidr);
    const kept = withoutNested(cidrs, cidrInterval);
    checkSortedDisjoint(kept.map(cidrInterval), 0n, `round ${round}`);
    for (const ip of probes(cidrs)) assert.is(inAny(kept, ip), inAny(cidrs, ip), `round ${round}`);
    for (const k of kept) assert.ok(cidrs.includes(k), 'items are kept as given');
  }
});

test('mostSpecific labels each address with its longest prefix (ties: first in the list)', () => {
  for (let round = 0; round < 300; round++) {
    const cidrs = Array.from({ length: 1 + int(10) }, randomCidr);
    // The same network twice (host bits differ, as a policy may write them): the first one wins.
    if (rnd() < 0.5) { const c = cidrs[int(cidrs.length)]; const b = c.bytes.slice(); b[b.length - 1] ^= 1; cidrs.push({ ...c, bytes: b }); }
    const pieces = mostSpecific(cidrs.map((c, label) => ({ interval: cidrInterval(c), label })));
    checkSortedDisjoint(pieces.map((p) => p.interval), 0n, `round ${round}`);
    for (let n = 1; n < pieces.length; n++) {
      const a = pieces[n - 1], b = pieces[n];
      assert.ok(!(a.label === b.label && a.interval.family === b.interval.family && a.interval.hi + 1n === b.interval.lo), 'neighbours of one label are merged');
    }
    for (const ip of probes(cidrs)) {
      let want = -1;
      cidrs.forEach((c, label) => { if (cidrContains(c, ip) && (want < 0 || c.prefix > cidrs[want].prefix)) want = label; });
      const v = valueOf(ip);
      const got = pieces.find((p) => p.interval.family === ip.family && p.interval.lo <= v && v <= p.interval.hi);
      assert.is(got?.label ?? -1, want, `round ${round}`);
    }
  }
});

test.run();
