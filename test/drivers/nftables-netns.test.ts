// The nftables driver for real: a site of three network namespaces (enterprise host, gateway,
// control host), the rendered ruleset applied in the gateway namespace, and real TCP packets.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyRuleset, listTable, readCounters, removeRuleset, renderRuleset } from '../../drivers/nftables';
import type { RenderOptions } from '../../drivers/nftables';
import { planSwap } from '../../drivers/nftables/swap';
import { ZonegateError } from '../../policy/errors';
import type { Conduit, PolicyDocument } from '../../policy/types';
import { buildSite, createLab, netnsUnavailable, programs, startClientAgent } from '../helpers/netns';
import type { ClientAgent, ClientResult, Lab, NsProcess, Site } from '../helpers/netns';

const reason = netnsUnavailable();
if (reason) console.log(`SKIPPED nftables netns tests: ${reason}`);
const it = reason ? test.skip : test;

const conduit = (c: Partial<Conduit> & Pick<Conduit, 'id' | 'from' | 'to' | 'protocol'>): Conduit =>
  ({ requires: { edgeAuth: false, grant: false }, mode: 'enforce', ...c });

/**
 * v1: Modbus (502) and DNP3 (20000) through their proxies for hmi-1, port 8080 for the enterprise
 * zone, rogue quarantined. v2 adds port 9999.
 */
function policy(version: 1 | 2, quarantine = ['rogue']): PolicyDocument {
  const conduits: Conduit[] = [
    conduit({ id: 'hmi-modbus', from: { identities: ['hmi-1'], roles: [], zones: [] }, to: { assets: ['plc-1'], zones: [] }, protocol: 'modbus', allow: { functions: [3] } }),
    conduit({ id: 'hmi-dnp3', from: { identities: ['hmi-1'], roles: [], zones: [] }, to: { assets: ['plc-1'], zones: [] }, protocol: 'dnp3', dnp3: { functions: [1] } }),
    conduit({ id: 'enterprise-web', from: { identities: [], roles: [], zones: ['enterprise'] }, to: { assets: ['plc-1'], zones: [] }, protocol: 'tcp', ports: [8080] }),
  ];
  if (version === 2) conduits.push(conduit({ id: 'hmi-extra', from: { identities: ['hmi-1'], roles: [], zones: [] }, to: { assets: ['plc-1'], zones: [] }, protocol: 'tcp', ports: [9999] }));
  return {
    site: 'netns-lab',
    zones: [
      { id: 'enterprise', networks: ['10.20.0.0/24', 'fd00:20::/64'], interfaces: ['ent0'], securityLevel: 1 },
      { id: 'control', networks: ['10.10.1.0/24', 'fd00:10::/64'], interfaces: ['ctl0'], securityLevel: 3 },
    ],
    assets: [{ id: 'plc-1', zone: 'control', addresses: ['10.10.1.20', 'fd00:10::20'], kind: 'plc', services: [{ protocol: 'modbus', port: 502 }, { protocol: 'dnp3', port: 20000 }, { protocol: 'tcp', port: 8080 }] }],
    identities: [
      { id: 'hmi-1', kind: 'device', zone: 'enterprise', addresses: ['10.20.0.10', 'fd00:20::10'], roles: [] },
      { id: 'rogue', kind: 'device', zone: 'enterprise', addresses: ['10.20.0.66'], roles: [] },
    ],
    conduits,
    quarantine,
    settings: { onExpiry: 'keep-enforcing' },
    tests: [],
  };
}

const options = (version: 1 | 2, quarantine?: string[]): RenderOptions => ({
  doc: policy(version, quarantine),
  proxies: [
    { asset: 'plc-1', port: 502, protocol: 'modbus', listen: { host: '10.20.0.1', port: 15020 } },
    { asset: 'plc-1', port: 20000, protocol: 'dnp3', listen: { host: '10.20.0.1', port: 15021 } },
  ],
  management: { tcpPorts: [8443] },
});

let lab: Lab | undefined;
let site: Site;
let plc: NsProcess;
let proxy: NsProcess;
let dnp3Proxy: NsProcess;
let work: string;

/** Connects to every target at once (each a separate client) and expects every one dropped (a timeout). */
async function allDropped(...targets: Array<[string, number, string?]>): Promise<void> {
  const got = await Promise.all(targets.map(([h, p, l]) => connect(h, p, l)));
  assert.equal(got.map((r, i) => ({ to: targets[i], ...r })), targets.map((t) => ({ to: t, ok: false, error: 'timeout' })));
}
let clients: ClientAgent;
const connect = (host: string, port: number, localAddress?: string, timeoutMs = 1200): Promise<ClientResult> =>
  clients.connect({ host, port, localAddress, timeoutMs, message: 'ping' });

test.before(async () => {
  if (reason) return;
  lab = createLab();
  work = mkdtempSync(join(tmpdir(), 'zgt-nft-'));
  site = buildSite(lab);
  plc = lab.node(site.ctl, programs.server, { ports: [502, 8080, 9999, 20000] });
  proxy = lab.node(site.gw, programs.proxy, { listen: { host: '10.20.0.1', port: 15020 }, upstream: { host: '10.10.1.20', port: 502 } });
  dnp3Proxy = lab.node(site.gw, programs.proxy, { listen: { host: '10.20.0.1', port: 15021 }, upstream: { host: '10.10.1.20', port: 20000 } });
  await plc.waitFor((l) => l === 'ready');
  await proxy.waitFor((l) => l === 'ready');
  await dnp3Proxy.waitFor((l) => l === 'ready');
  clients = await startClientAgent(lab, site.ent);
  await applyRuleset(renderRuleset(options(1)).text, { netns: site.gw, keepDir: join(work, 'kept') });
});

test.after(() => {
  lab?.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
});

it('the allowed path goes through the proxy: the PLC sees the gateway, not the client', async () => {
  const r = await connect('10.10.1.20', 502);
  assert.equal(r, { ok: true, greeting: 'hello 10.10.1.1', echo: 'ping' });
  await proxy.waitFor((l) => l === 'proxied 10.20.0.10', 2000);
});

it('DNP3 (20000) is redirected to its own proxy listener, never forwarded to the outstation directly', async () => {
  // The relay stands in for the DNP3 proxy (what it does with frames is tested elsewhere): the
  // point is the DNAT of 20000 to its listener, and no forward path around it.
  assert.equal(await connect('10.10.1.20', 20000), { ok: true, greeting: 'hello 10.10.1.1', echo: 'ping' });
  await dnp3Proxy.waitFor((l) => l === 'proxied 10.20.0.10', 2000);
  await allDropped(['10.10.1.21', 20000], ['fd00:10::20', 20000], ['10.10.1.20', 20000, '10.20.0.66']);
  assert.not.ok(plc.lines.some((l) => /^conn 20000 (10\.20\.|fd00:20:)/.test(l)), `the outstation saw a client directly: ${plc.lines.join(' / ')}`);
});

it('a direct connection that bypasses the proxy is dropped', async () => {
  // Another address of the PLC host (no asset, no conduit) and the asset's IPv6 address (the
  // proxy listens on IPv4 only, so there is no redirect and no forward rule for it).
  await allDropped(['10.10.1.21', 502], ['fd00:10::20', 502]);
  assert.not.ok(plc.lines.some((l) => /^conn 502 (10\.20\.|fd00:20:)/.test(l)), `PLC saw a client directly: ${plc.lines.join(' / ')}`);
});

it('a plain network conduit forwards IPv4 and IPv6 with the real client address', async () => {
  assert.equal(await connect('10.10.1.20', 8080), { ok: true, greeting: 'hello 10.20.0.10', echo: 'ping' });
  assert.equal(await connect('fd00:10::20', 8080), { ok: true, greeting: 'hello fd00:20::10', echo: 'ping' });
});

it('a port that no conduit names is dropped', async () => {
  assert.equal(await connect('10.10.1.20', 9999), { ok: false, error: 'timeout' });
  assert.not.ok(plc.lines.some((l) => l.startsWith('conn 9999')));
});

it('a quarantined host reaches nothing: not the proxy, not a zone conduit, not the gateway', async () => {
  await allDropped(['10.10.1.20', 502, '10.20.0.66'], ['10.10.1.20', 8080, '10.20.0.66'], ['10.20.0.1', 15020, '10.20.0.66']);
  // The same host's other address is in the enterprise zone and not quarantined.
  assert.ok((await connect('10.10.1.20', 8080, '10.20.0.10')).ok);
});

it('the gateway itself: management ports only where allowed, nothing else from a zone interface', async () => {
  const svc = lab!.node(site.gw, programs.server, { ports: [8443, 2222] });
  try {
    await svc.waitFor((l) => l === 'ready');
    // No management interfaces given: the login page is reachable from the zone; 2222 is not.
    assert.equal(await connect('10.20.0.1', 8443), { ok: true, greeting: 'hello 10.20.0.10', echo: 'ping' });
    assert.equal(await connect('10.20.0.1', 2222), { ok: false, error: 'timeout' });
    // Management bound to an interface the zone host is not on: 8443 is dropped there too.
    await applyRuleset(renderRuleset({ ...options(1), management: { tcpPorts: [8443], interfaces: ['mgmt0'] } }).text, { netns: site.gw });
    assert.equal(await connect('10.20.0.1', 8443), { ok: false, error: 'timeout' });
    const c = await readCounters({ netns: site.gw });
    assert.ok(c.byComment['management off management interfaces'].packets >= 1, JSON.stringify(c.byComment));
    assert.ok(c.byComment['zone input drop'] !== undefined);
  } finally {
    await svc.stop();
    await applyRuleset(renderRuleset(options(1)).text, { netns: site.gw });
  }
});

it('zones without interfaces: the gateway itself stays closed, listeners only from their conduits\' sources', async () => {
  const svc = lab!.node(site.gw, programs.server, { ports: [8443, 2222] });
  const o = options(1, []);
  const doc = { ...o.doc, zones: o.doc.zones.map((z) => ({ ...z, interfaces: [] })) };
  try {
    await svc.waitFor((l) => l === 'ready');
    const r = renderRuleset({ ...o, doc });
    assert.equal(r.warnings.map((w) => w.split(':')[0]), ['zone control names no interfaces', 'zone enterprise names no interfaces']);
    await applyRuleset(r.text, { netns: site.gw });
    // A service on the gateway that nothing names: closed over IPv4 and IPv6 (it answered before).
    await allDropped(['10.20.0.1', 2222], ['fd00:20::1', 2222], ['10.20.0.1', 15020, '10.20.0.66']);
    // The proxy listener: another host of the zone is dropped (above), hmi-1 (its conduit's source) gets through.
    assert.equal(await connect('10.20.0.1', 15020), { ok: true, greeting: 'hello 10.10.1.1', echo: 'ping' });
    // The allowed paths and the management port from the zone still work; loopback too.
    assert.equal(await connect('10.10.1.20', 502), { ok: true, greeting: 'hello 10.10.1.1', echo: 'ping' });
    assert.ok((await connect('10.10.1.20', 8080)).ok);
    assert.equal(await connect('10.20.0.1', 8443), { ok: true, greeting: 'hello 10.20.0.10', echo: 'ping' });
    const local = await startClientAgent(lab!, site.gw);
    try {
      assert.equal(await local.connect({ host: '127.0.0.1', port: 2222, timeoutMs: 1200, message: 'ping' }), { ok: true, greeting: 'hello 127.0.0.1', echo: 'ping' });
    } finally { await local.stop(); }
    const c = await readCounters({ netns: site.gw });
    assert.ok(c.byComment['input drop'].packets >= 3, JSON.stringify(c.byComment));
  } finally {
    await svc.stop();
    await applyRuleset(renderRuleset(options(1)).text, { netns: site.gw });
  }
});

it('counters map back to conduits (they restart with each applied ruleset)', async () => {
  await applyRuleset(renderRuleset(options(1)).text, { netns: site.gw });
  assert.ok((await connect('10.10.1.20', 8080)).ok);
  assert.ok((await connect('fd00:10::20', 8080)).ok);
  assert.ok((await connect('10.10.1.20', 502)).ok);
  assert.is((await connect('10.10.1.20', 9999)).ok, false);
  assert.is((await connect('10.10.1.20', 8080, '10.20.0.66')).ok, false);
  const c = await readCounters({ netns: site.gw });
  // One packet per new connection: the SYN meets the conduit rule, the rest is established.
  assert.is(c.byConduit['enterprise-web'].packets, 2, JSON.stringify(c.byConduit));
  assert.is(c.byConduit['hmi-modbus'].packets, 1, JSON.stringify(c.byConduit));
  assert.ok(c.rules.some((r) => r.chain === 'nat_prerouting' && r.comment === 'proxy plc-1:502 conduits hmi-modbus' && r.packets === 1));
  assert.ok(c.byComment.quarantine.packets >= 1, JSON.stringify(c.byComment));
  assert.ok(c.byComment['default drop'].packets >= 1, JSON.stringify(c.byComment));
});

/**
 * Evidence of a dropped packet in a namespace's TCP counters (/proc/net/netstat is per netns):
 * SYN or SYN-ACK retransmissions (a dropped SYN), retransmission timeouts, and tail loss probes
 * that repaired a real loss. Plain tail loss probes are left out: under CPU load they fire
 * without any loss (a late ACK).
 */
const LOSS_COUNTERS = ['TCPSynRetrans', 'TCPTimeouts', 'TCPLossProbeRecovery'];
function lossEvidence(ns: string): Record<string, number> {
  const rows = lab!.sh(ns, ['cat', '/proc/net/netstat']).split('\n').filter((l) => l.startsWith('TcpExt:'));
  const names = rows[0].split(/\s+/);
  const values = rows[1].split(/\s+/);
  return Object.fromEntries(LOSS_COUNTERS.map((n) => [`${ns.split('-')[1]}.${n}`, Number(values[names.indexOf(n)])]));
}
const lossEvents = () => ({ ...lossEvidence(site.ent), ...lossEvidence(site.ctl) });
const lossDelta = (a: Record<string, number>, b: Record<string, number>) =>
  Object.fromEntries(Object.keys(a).map((k) => [k, b[k] - a[k]]).filter(([, v]) => v !== 0));

/** Handles of the table's base chains and named sets (`nft -a list`): a handle that stays is an object that stayed. */
function handles(): Record<string, string> {
  const out: Record<string, string> = {};
  const text = lab!.sh(site.gw, ['nft', '-a', 'list', 'table', 'inet', 'zonegate']);
  const lines = text.split('\n');
  lines.forEach((l, i) => {
    const table = /^table inet zonegate \{ # handle (\d+)$/.exec(l);
    if (table) out.table = table[1];
    const set = /^\tset (\S+) \{ # handle (\d+)$/.exec(l);
    if (set) out[`set ${set[1]}`] = set[2];
    const chain = /^\tchain (\S+) \{ # handle (\d+)$/.exec(l);
    if (chain && /^\t\ttype .* hook /.test(lines[i + 1] ?? '')) out[`chain ${chain[1]}`] = chain[2];
  });
  return out;
}

it('a policy update swaps atomically: no failure on a path allowed before and after', async () => {
  const loop = lab!.node(site.ent, programs.loop, { host: '10.10.1.20', port: 8080, timeoutMs: 3000 });
  await loop.waitFor((l) => l === 'ready');
  // A packet dropped during a swap would show in the kernel's TCP loss counters (a SYN is
  // retransmitted after 1 s, data after a probe or a timeout) before it shows as a failure.
  const before = lossEvents();
  const kept = handles();
  assert.ok(kept.table && Object.keys(kept).filter((k) => k.startsWith('chain ')).length >= 5 && Object.keys(kept).some((k) => k.startsWith('set zone_')), JSON.stringify(kept));
  const v1 = renderRuleset(options(1)).text;
  const v2 = renderRuleset(options(2)).text;
  // The same policies with new connections dispatched by destination (verdict map + chains).
  const v1d = renderRuleset({ ...options(1), dispatchThreshold: 0 }).text;
  const v2d = renderRuleset({ ...options(2), dispatchThreshold: 0 }).text;
  assert.match(v2d, /ip daddr vmap \{\n\t\t\t10\.10\.1\.20 : jump to_v4_1\n\t\t\}/);
  // Twenty swaps here (the old delete-and-declare idiom lost a SYN in about one swap in thirty).
  const swaps = [v2, v1d, v2d, v1, v2d];
  // Four rounds in the suite; make soak runs more (ZG_SWAP_ROUNDS).
  const rounds = Number(process.env.ZG_SWAP_ROUNDS ?? 4);
  for (let round = 0; round < rounds; round++) for (const text of swaps) await applyRuleset(text, { netns: site.gw });
  await loop.stop(10_000);
  const losses = lossDelta(before, lossEvents());
  // The mechanism, checked directly: every base chain (its hook) and every named set is the same
  // kernel object after the swaps as before them (deleting and declaring the table again,
  // the idiom this replaced, gives the table a new handle: checked by hand when this was written).
  assert.equal(handles(), kept, 'base chains and sets were kept, not recreated');
  const summary = JSON.parse(loop.lines[loop.lines.length - 1]) as { attempts: number; ok: number; failures: string[]; pings: number; pingFailures: string[] };
  console.log(`  swap: ${summary.attempts} connects (${summary.ok} ok), ${summary.pings} pings on one connection, ${rounds * swaps.length} swaps, TCP loss events: ${JSON.stringify(losses)}`);
  // Measured over thousands of swaps: the old idiom lost a SYN in about one swap in thirty; this
  // one lost one SYN in several hundred swaps under load (retransmitted after 1 s: the connection
  // still succeeds, as the failure checks below require). One such event is tolerated, not two.
  const counts = Object.values(losses) as number[];
  const lost = counts.length ? Math.max(...counts) : 0;
  assert.ok(lost <= 1, `packets of an allowed path were dropped during the swaps: ${JSON.stringify(losses)}`);
  assert.equal(summary.failures, [], JSON.stringify(summary));
  assert.equal(summary.pingFailures, [], JSON.stringify(summary));
  assert.ok(summary.ok > 0 && summary.pings > 0, JSON.stringify(summary));
  // The kernel lists the sets exactly as render.ts writes them, so a swap to the same policy
  // touches no set: each one is kept with no element added or removed.
  const plan = planSwap('zonegate', await listTable({ netns: site.gw }), v2d);
  assert.ok(plan.kept.length >= 4, JSON.stringify(plan.kept));
  assert.equal(plan.kept.filter((k) => k.added || k.removed), [], JSON.stringify(plan.kept));
  assert.equal(plan.recreated, []);
  // v2 (dispatched) is running: the new conduit passes, others still do, the quarantine holds.
  assert.ok((await connect('fd00:10::20', 8080)).ok);
  assert.is((await connect('10.10.1.20', 7777)).ok, false);
  assert.equal(await connect('10.10.1.20', 9999), { ok: true, greeting: 'hello 10.20.0.10', echo: 'ping' });
  assert.equal(await connect('10.10.1.20', 9999, '10.20.0.66'), { ok: false, error: 'timeout' });
});

it('a set the kernel stores merged (adjacent networks, neighbouring hosts) is kept as it is by the next swap', async () => {
  const o = options(1);
  const doc = { ...o.doc, zones: o.doc.zones.map((z) => (z.id === 'enterprise' ? { ...z, networks: ['10.20.0.0/25', '10.20.0.128/25', 'fd00:20::/65', 'fd00:20:0:0:8000::/65'] } : z)) };
  doc.identities = [...doc.identities, { id: 'rogue-2', kind: 'device', zone: 'enterprise', addresses: ['10.20.0.65'], roles: [] }];
  doc.quarantine = ['rogue', 'rogue-2'];
  const text = renderRuleset({ ...o, doc }).text;
  try {
    await applyRuleset(text, { netns: site.gw });
    const listing = (await listTable({ netns: site.gw }))!;
    assert.match(listing, /10\.20\.0\.0\/24/, 'the kernel merged the two halves');
    assert.match(listing, /10\.20\.0\.65-10\.20\.0\.66/, 'and the two neighbours');
    const plan = planSwap('zonegate', listing, text);
    assert.equal(plan.kept.filter((k) => k.added || k.removed), [], JSON.stringify(plan.kept));
    await applyRuleset(text, { netns: site.gw });
    assert.ok((await connect('10.10.1.20', 8080)).ok);
    assert.is((await connect('10.10.1.20', 8080, '10.20.0.66')).ok, false);
  } finally {
    await applyRuleset(renderRuleset(options(1)).text, { netns: site.gw });
  }
});

// After the swap test: the connection this test cuts keeps retransmitting into the quarantine,
// which would show in the kernel's loss counters that the swap test reads.
it('quarantine cuts a connection that is already established', async () => {
  await applyRuleset(renderRuleset(options(1, [])).text, { netns: site.gw });
  const held = lab!.node(site.ent, programs.pinger, { host: '10.10.1.20', port: 8080, localAddress: '10.20.0.66' });
  try {
    await held.waitFor((l) => l === 'echo 3', 5000);
    await applyRuleset(renderRuleset(options(1)).text, { netns: site.gw });
    const at = held.lines.length;
    await new Promise((r) => setTimeout(r, 600));
    const after = held.lines.slice(at).filter((l) => l.startsWith('echo'));
    assert.ok(after.length <= 1, `echoes after quarantine: ${after.join(', ')}`);
  } finally {
    await held.stop();
  }
});

it('the applied text is kept and hashed; a refused script changes nothing', async () => {
  const v2 = renderRuleset(options(2)).text;
  const res = await applyRuleset(v2, { netns: site.gw, keepDir: join(work, 'kept') });
  assert.is(res.replaced, true);
  assert.match(res.sha256, /^[0-9a-f]{64}$/);
  assert.is(readFileSync(res.keptAt!, 'utf8'), v2);
  const before = await listTable({ netns: site.gw });
  const err = await applyRuleset('table inet zonegate { chain c { bogus } }\n', { netns: site.gw }).catch((e) => e);
  assert.instance(err, ZonegateError);
  assert.is(err.code, 'ERR_NFT');
  assert.match(err.message, /^nft refused the ruleset \(nothing changed\): .*syntax error/);
  assert.is((await listTable({ netns: site.gw }))?.includes('conduit hmi-extra'), true);
  assert.is((await listTable({ netns: site.gw }))?.split('\n').length, before?.split('\n').length);
});

it('a commit that fails after changing the table is rolled back to the saved ruleset', async () => {
  // An nft that commits and then reports failure, once: the adaptor must restore what ran before.
  const flag = join(work, 'failed-once');
  const wrapper = join(work, 'nft-fail-once');
  writeFileSync(wrapper, `#!/bin/sh\nif [ "$1" = "-f" ] && [ ! -e ${flag} ]; then touch ${flag}; nft "$@"; echo "Error: injected failure" >&2; exit 1; fi\nexec nft "$@"\n`);
  chmodSync(wrapper, 0o755);
  const err = await applyRuleset(renderRuleset(options(1)).text, { netns: site.gw, nft: wrapper }).catch((e) => e);
  assert.is(err.code, 'ERR_NFT');
  assert.match(err.message, /^nft could not apply the ruleset: Error: injected failure; the previous ruleset was restored$/);
  const now = await listTable({ netns: site.gw });
  assert.ok(now?.includes('conduit hmi-extra'), 'v2 is back');
  assert.equal(await connect('10.10.1.20', 9999), { ok: true, greeting: 'hello 10.20.0.10', echo: 'ping' });
});

it('without nft or without privilege: ERR_NFT "nftables unavailable", the proxies still enforce', async () => {
  const missing = await applyRuleset('table inet zonegate\n', { nft: '/nonexistent/nft' }).catch((e) => e);
  assert.is(missing.code, 'ERR_NFT');
  assert.match(missing.message, /^nftables unavailable: \/nonexistent\/nft not found or not executable \(ENOENT\); the proxies still enforce$/);
  const inNs = await readCounters({ netns: site.gw, nft: '/nonexistent/nft' }).catch((e) => e);
  assert.match(inNs.message, /^nftables unavailable: .*the proxies still enforce$/);
  const unprivileged = join(work, 'nft-nobody');
  writeFileSync(unprivileged, '#!/bin/sh\nexec setpriv --reuid=65534 --regid=65534 --clear-groups nft "$@"\n');
  chmodSync(unprivileged, 0o755);
  const denied = await applyRuleset(renderRuleset(options(1)).text, { netns: site.gw, nft: unprivileged }).catch((e) => e);
  assert.is(denied.code, 'ERR_NFT');
  assert.match(denied.message, /^nftables unavailable: .*(Operation not permitted|Permission denied).*; the proxies still enforce$/);
});

it('removeRuleset deletes the table once', async () => {
  assert.is(await removeRuleset({ netns: site.gw }), true);
  assert.is(await listTable({ netns: site.gw }), undefined);
  assert.is(await removeRuleset({ netns: site.gw }), false);
});

test.run();
