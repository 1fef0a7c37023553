// nftables driver bench: render time and apply time for 1,000 and 10,000 conduits, and bulk TCP
// forwarding throughput between network namespaces with the ruleset loaded beside without it.
// Everything runs in namespaces this bench creates (and deletes, also on failure).
import { performance } from 'node:perf_hooks';
import { spawnSync } from 'node:child_process';
import { applyRuleset, removeRuleset, renderRuleset } from '../../drivers/nftables';
import type { ProxyListener, RenderOptions } from '../../drivers/nftables';
import type { Conduit, PolicyDocument } from '../../policy/types';
import { buildSite, createLab, netnsUnavailable } from '../helpers/netns';
import type { Lab } from '../helpers/netns';
import { percentiles, printTable } from './report';
import type { BenchRow } from './report';

const BULK_BYTES = 256 * 1024 * 1024;

/**
 * A site with `n` conduits: n/5 devices in the enterprise zone, n/5 assets in the control zone
 * (10.10.0.0/16), 90% plain TCP conduits (one port each), 10% Modbus conduits through proxies;
 * plus `bulk`, the conduit the throughput test uses (10.20.0.10 → 10.10.1.20:8080).
 */
function bigPolicy(n: number): { doc: PolicyDocument; proxies: ProxyListener[] } {
  const m = Math.max(1, Math.floor(n / 5));
  const ip = (base: number, i: number) => `10.${base}.${(i >> 8) & 255}.${i & 255}`;
  const assets = Array.from({ length: m }, (_, i) => ({
    id: `asset-${i}`, zone: 'control', addresses: [ip(11, i + 1)], kind: 'plc',
    services: [{ protocol: 'modbus' as const, port: 502 }, { protocol: 'tcp' as const, port: 8000 + (i % 100) }],
  }));
  assets.push({ id: 'bulk-sink', zone: 'control', addresses: ['10.10.1.20'], kind: 'server', services: [{ protocol: 'tcp', port: 8080 }, { protocol: 'tcp', port: 8081 }] });
  const identities = Array.from({ length: m }, (_, i) => ({ id: `dev-${i}`, kind: 'device' as const, zone: 'enterprise', addresses: [ip(21, i + 1)], roles: [`r${i % 50}`] }));
  identities.push({ id: 'bulk-source', kind: 'device', zone: 'enterprise', addresses: ['10.20.0.10'], roles: [] });
  const conduits: Conduit[] = [];
  for (let k = 0; k < n; k++) {
    const modbus = k % 10 === 0;
    conduits.push({
      id: `c-${String(k).padStart(5, '0')}`,
      from: k % 7 === 0 ? { identities: [], roles: [`r${k % 50}`], zones: [] } : { identities: [`dev-${k % m}`], roles: [], zones: [] },
      to: { assets: [`asset-${(k * 7) % m}`], zones: [] },
      protocol: modbus ? 'modbus' : 'tcp',
      ...(modbus ? { allow: { functions: [3] } } : { ports: [9000 + (k % 1000)] }),
      requires: { edgeAuth: false, grant: false },
      mode: 'enforce',
    });
  }
  conduits.push({ id: 'zz-bulk', from: { identities: ['bulk-source'], roles: [], zones: [] }, to: { assets: ['bulk-sink'], zones: [] }, protocol: 'tcp', requires: { edgeAuth: false, grant: false }, mode: 'enforce' });
  const proxies = Array.from({ length: Math.min(m, 200) }, (_, i) => ({ asset: `asset-${i}`, port: 502, listen: { host: '10.20.0.1', port: 20000 + i } }));
  return {
    doc: {
      site: 'bench',
      zones: [
        { id: 'enterprise', networks: ['10.20.0.0/24', '10.21.0.0/16'], interfaces: ['ent0'], securityLevel: 1 },
        { id: 'control', networks: ['10.10.1.0/24', '10.11.0.0/16'], interfaces: ['ctl0'], securityLevel: 3 },
      ],
      assets, identities, conduits, quarantine: ['dev-3'], settings: { onExpiry: 'keep-enforcing' }, tests: [],
    },
    proxies,
  };
}

function timeMs(fn: () => unknown, reps: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < reps; i++) { const t = performance.now(); fn(); out.push(performance.now() - t); }
  return out;
}

async function timeMsAsync(fn: () => Promise<unknown>, reps: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < reps; i++) { const t = performance.now(); await fn(); out.push(performance.now() - t); }
  return out;
}

const sink = `
  const net = require('net');
  const s = net.createServer((c) => {
    let bytes = 0, t0 = 0n;
    c.on('data', (d) => { if (!t0) t0 = process.hrtime.bigint(); bytes += d.length; });
    c.on('end', () => { console.log(JSON.stringify({ bytes, ms: Number(process.hrtime.bigint() - t0) / 1e6 })); c.end(); });
  });
  s.listen({ port: 8080, host: '0.0.0.0' }, () => {
    // 8081: accept and close at once (the connection-rate test).
    net.createServer((c) => { c.on('error', () => {}); c.end(); }).listen({ port: 8081, host: '0.0.0.0' }, () => console.log('ready'));
  });
  process.stdin.on('end', () => process.exit(0)); process.stdin.resume();
`;
const source = `
  const net = require('net');
  const { host, port, bytes } = JSON.parse(process.argv[1]);
  const chunk = Buffer.alloc(1 << 20, 7);
  const c = net.connect({ host, port });
  let sent = 0;
  const t = setTimeout(() => { console.log(JSON.stringify({ ok: false, error: 'timeout' })); process.exit(0); }, 60000);
  c.on('error', (e) => { console.log(JSON.stringify({ ok: false, error: e.code })); process.exit(0); });
  c.on('connect', function pump() {
    while (sent < bytes) { sent += chunk.length; if (!c.write(chunk)) { c.once('drain', pump); return; } }
    c.end();
  });
  c.on('close', () => { clearTimeout(t); console.log(JSON.stringify({ ok: true, sent })); process.exit(0); });
  c.resume();
`;

const connector = `
  const net = require('net');
  const { host, port, count } = JSON.parse(process.argv[1]);
  let done = 0, failed = 0;
  const t0 = process.hrtime.bigint();
  (function next() {
    if (done === count) { console.log(JSON.stringify({ failed, ms: Number(process.hrtime.bigint() - t0) / 1e6 })); process.exit(0); }
    const c = net.connect({ host, port });
    const t = setTimeout(() => { failed++; c.destroy(); done++; next(); }, 2000);
    c.on('error', () => { clearTimeout(t); failed++; done++; next(); });
    c.on('close', (hadError) => { if (!hadError) { clearTimeout(t); done++; next(); } });
    c.resume();
  })();
`;

/** `count` sequential fresh connections ent → ctl:8081: connections per second. */
async function connectRate(lab: Lab, ent: string, count: number): Promise<number> {
  const r = await lab.nodeJson<{ failed: number; ms: number }>(ent, connector, { host: '10.10.1.20', port: 8081, count }, 120_000);
  if (r.failed) throw new Error(`${r.failed} of ${count} connections failed`);
  return count / (r.ms / 1000);
}

/** One bulk transfer ent → ctl through the gateway namespace: MiB/s at the receiver. */
async function bulk(lab: Lab, ent: string, receiver: ReturnType<Lab['node']>): Promise<number> {
  const before = receiver.lines.length;
  const r = await lab.nodeJson<{ ok: boolean; error?: string }>(ent, source, { host: '10.10.1.20', port: 8080, bytes: BULK_BYTES }, 90_000);
  if (!r.ok) throw new Error(`bulk transfer failed: ${r.error}`);
  const line = await receiver.waitFor((l) => l.startsWith('{') && receiver.lines.indexOf(l) >= before, 30_000);
  const { bytes, ms } = JSON.parse(line) as { bytes: number; ms: number };
  if (bytes !== BULK_BYTES) throw new Error(`received ${bytes} of ${BULK_BYTES} bytes`);
  return bytes / (1024 * 1024) / (ms / 1000);
}

async function main(): Promise<void> {
  const rows: BenchRow[] = [];
  const notes: string[] = [];
  const sizes = [1000, 10000];
  const rendered = new Map<number, { opts: RenderOptions; text: string; rules: number }>();

  for (const n of sizes) {
    const { doc, proxies } = bigPolicy(n);
    const opts: RenderOptions = { doc, proxies, management: { tcpPorts: [8443] } };
    const reps = n >= 10000 ? 7 : 21;
    const r = renderRuleset(opts);
    const render = percentiles(timeMs(() => renderRuleset(opts), reps));
    const peer = percentiles(timeMs(() => JSON.stringify(doc), reps));
    const rules = r.text.split('\n').filter((l) => /^\t\t.*(accept|drop|dnat|redirect)/.test(l)).length;
    rendered.set(n, { opts, text: r.text, rules });
    rows.push({ what: `render, ${n.toLocaleString('en-US')} conduits (${rules.toLocaleString('en-US')} rules, median)`, value: render.p50, unit: 'ms', peer: 'JSON.stringify of the same policy', peerValue: peer.p50, better: 'lower' });
  }

  const reason = netnsUnavailable();
  if (reason) {
    notes.push(`apply and throughput SKIPPED: ${reason}`);
    printTable('nftables driver', rows, notes);
    return;
  }
  const lab = createLab();
  try {
    const site = buildSite(lab);
    for (const n of sizes) {
      const { text } = rendered.get(n)!;
      const reps = n >= 10000 ? 3 : 5;
      await applyRuleset(text, { netns: site.gw }); // warm: the table exists for every measured run
      const adaptor = percentiles(await timeMsAsync(() => applyRuleset(text, { netns: site.gw }), reps));
      const bare = percentiles(await timeMsAsync(async () => {
        // The plain idiom a hand-written loader uses: drop the table and declare it again.
        const r = spawnSync('ip', ['netns', 'exec', site.gw, 'nft', '-f', '-'], { input: `table inet zonegate\ndelete table inet zonegate\n${text}` });
        if (r.status !== 0) throw new Error(String(r.stderr));
      }, reps));
      rows.push({ what: `apply (check, save, commit), ${n.toLocaleString('en-US')} conduits (median)`, value: adaptor.p50, unit: 'ms', peer: 'bare nft -f, delete + redeclare', peerValue: bare.p50, better: 'lower' });
    }

    // Throughput: the 10,000-conduit ruleset loaded (the bulk conduit sorts last) vs no table.
    const receiver = lab.node(site.ctl, sink, {});
    await receiver.waitFor((l) => l === 'ready');
    // Peers: no table at all (no conntrack in the namespace), and a one-rule stateful table
    // (conntrack on, nothing else), so the cost of our rules is told apart from conntrack's.
    const conntrackOnly = 'table inet zonegate {\n\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n\t\tct state established,related accept\n\t}\n}\n';
    const runs = 3;
    const samples = { rules: [] as number[], none: [] as number[], ct: [] as number[] };
    for (let i = 0; i < runs; i++) {
      await removeRuleset({ netns: site.gw });
      samples.none.push(await bulk(lab, site.ent, receiver));
      await applyRuleset(conntrackOnly, { netns: site.gw });
      samples.ct.push(await bulk(lab, site.ent, receiver));
      await applyRuleset(rendered.get(10000)!.text, { netns: site.gw });
      samples.rules.push(await bulk(lab, site.ent, receiver));
    }
    const med = (xs: number[]) => percentiles(xs).p50;
    // New connections: dispatched by destination (the default above 64 rules) vs one flat list
    // of ~9,000 rules in which the bulk conduit's rule sorts last.
    const flat = renderRuleset({ ...rendered.get(10000)!.opts, dispatchThreshold: Infinity }).text;
    const rate = { rules: [] as number[], flat: [] as number[], ct: [] as number[] };
    for (let i = 0; i < runs; i++) {
      await applyRuleset(conntrackOnly, { netns: site.gw });
      rate.ct.push(await connectRate(lab, site.ent, 1000));
      await applyRuleset(rendered.get(10000)!.text, { netns: site.gw });
      rate.rules.push(await connectRate(lab, site.ent, 1000));
      await applyRuleset(flat, { netns: site.gw });
      rate.flat.push(await connectRate(lab, site.ent, 1000));
    }
    rows.push({ what: 'new TCP connections ent → ctl, 10,000 conduits, dispatched by destination (median of 3 × 1,000)', value: med(rate.rules), unit: 'conn/s', peer: 'conntrack-only table', peerValue: med(rate.ct), better: 'higher' });
    rows.push({ what: 'new TCP connections ent → ctl, 10,000 conduits, one flat list, its rule last', value: med(rate.flat), unit: 'conn/s', peer: 'conntrack-only table', peerValue: med(rate.ct), better: 'higher' });
    const what = 'forwarding 256 MiB TCP ent → ctl through the gateway ns, 10,000-conduit ruleset (median of 3)';
    rows.push({ what, value: med(samples.rules), unit: 'MiB/s', peer: 'no ruleset (no conntrack)', peerValue: med(samples.none), better: 'higher' });
    rows.push({ what, value: med(samples.rules), unit: 'MiB/s', peer: 'conntrack-only table', peerValue: med(samples.ct), better: 'higher' });
    const fmt = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(', ');
    notes.push(`throughput runs, MiB/s: zonegate ${fmt(samples.rules)}; no ruleset ${fmt(samples.none)}; conntrack only ${fmt(samples.ct)} (veth, 2 shared cores, noisy)`);
    notes.push('render peer: JSON.stringify of the same PolicyDocument (touching every conduit once); apply peer: one bare `nft -f` (the adaptor adds `nft -c` and `nft list table`)');
    await receiver.stop();
  } finally {
    lab.cleanup();
  }
  printTable('nftables driver', rows, notes);
}

main().catch((e) => { console.error(e); process.exit(1); });
