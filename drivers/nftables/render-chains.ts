/**
 * The chains of the ruleset (render.ts): forward accepts, flat or dispatched by destination; DNAT
 * to the proxies and their listeners' accepts; the management plane; and the layout of the whole
 * table. Pure: data in, lines out.
 */
import { formatIp, parseIp } from '../../policy/net';
import type { Asset, PolicyDocument } from '../../policy/types';
import { compareBytes, FAMILIES, KW, mergeNets, valueSet } from './nets';
import type { Family, Net } from './nets';
import { allZoneNets, fromSources, listenerSources } from './input';
import { fitComment } from './names';
import type { ManagementOptions, SkippedConduit } from './options';
import { byString, portSet, sortedNums, sortedUnique, type Listener, type PlainRule } from './render-conduits';

/** The forward chain's accepts and the per-destination chains they may dispatch to. */
export function forwardChain(plainRules: PlainRule[], counter: string, dispatchThreshold: number, net: (text: string) => Net): { forwardRules: string[]; dispatchChains: string[] } {
  // Forward rules. Few: one flat list, readable. Many (over dispatchThreshold): a verdict map on
  // the destination address jumps to that address's own chain, so that a new connection meets
  // the rules of its destination only, not every conduit's (zone destinations stay in forward).
  const forwardRules: string[] = [];
  const dispatchChains: string[] = [];
  const accept = (r: PlainRule, dst: string) => `\t\t${r.src} ${dst}tcp dport ${r.dst.ports} ${counter}accept ${r.comment}`;
  if (plainRules.length <= dispatchThreshold) {
    for (const r of plainRules) {
      const kw = KW[r.family];
      forwardRules.push(accept(r, 'addrs' in r.dst ? `${kw} daddr ${valueSet(r.dst.addrs)} ` : `${kw} daddr @${r.dst.set} `));
    }
  } else {
    const byDst: Record<Family, Map<string, string[]>> = { 4: new Map(), 6: new Map() };
    const zoneRules: string[] = [];
    for (const r of plainRules) {
      if ('set' in r.dst) { zoneRules.push(accept(r, `${KW[r.family]} daddr @${r.dst.set} `)); continue; }
      for (const a of r.dst.addrs) {
        const list = byDst[r.family].get(a) ?? [];
        list.push(accept(r, ''));
        byDst[r.family].set(a, list);
      }
    }
    for (const f of FAMILIES) {
      const dsts = Array.from(byDst[f].keys()).sort((a, b) => compareBytes(net(a).bytes, net(b).bytes));
      if (!dsts.length) continue;
      const vmap: string[] = [];
      dsts.forEach((a, i) => {
        const chainName = `to_v${f}_${i + 1}`;
        vmap.push(`\t\t\t${a} : jump ${chainName}`);
        dispatchChains.push('', `\t# new connections to ${a}`, `\tchain ${chainName} {`, ...byDst[f].get(a)!, '\t}');
      });
      forwardRules.push(`\t\t${KW[f]} daddr vmap {`, vmap.join(',\n'), '\t\t}');
    }
    forwardRules.push(...zoneRules);
  }

  return { forwardRules, dispatchChains };
}

/** What proxyRules reads. */
export interface ProxyInput {
  listeners: ReadonlyMap<string, Listener[]>;
  assets: ReadonlyMap<string, Asset>;
  doc: PolicyDocument;
  counter: string;
  net(text: string): Net;
  /** Conduits whose asset address a proxy on the other family cannot take are added here. */
  skipped: SkippedConduit[];
}

/** DNAT rules to the proxies, and the input accepts of their listeners. */
export function proxyRules({ listeners, assets, doc, counter, net, skipped }: ProxyInput): { natRules: string[]; listenerRules: string[] } {
  // DNAT to the proxies: one rule per asset address and service that some conduit reaches.
  const natRules: string[] = [];
  const listenerRules: string[] = [];
  const listenerSeen = new Set<string>();
  const keys = Array.from(listeners.keys()).sort((a, b) => {
    const [aa, ap] = a.split('\u0000');
    const [ba, bp] = b.split('\u0000');
    return byString(aa, ba) || Number(ap) - Number(bp);
  });
  for (const key of keys) {
    for (const l of listeners.get(key)!) {
      if (!l.conduits.size) continue;
      const p = l.proxy;
      const asset = assets.get(p.asset)!;
      const conduitIds = sortedUnique(l.conduits);
      const comment = `comment "${fitComment(['proxy', `${p.asset}:${p.port}`, 'conduits', ...conduitIds])}"`;
      const addrs = mergeNets((p.address !== undefined ? [p.address] : asset.addresses).map((s) => net(s)));
      let any = false;
      for (const a of addrs) {
        const kw = KW[a.family];
        let target: string;
        if (!l.host) target = `redirect to :${p.listen.port}`;
        else if (l.host.family !== a.family) {
          for (const id of conduitIds) skipped.push({ conduit: id, reason: `proxy ${p.asset}:${p.port} listens on IPv${l.host.family}; asset address ${a.text} is not redirected` });
          continue;
        } else target = `dnat ${kw} to ${l.host.family === 6 ? `[${l.host.text}]` : l.host.text}:${p.listen.port}`;
        natRules.push(`\t\t${kw} daddr ${a.text} tcp dport ${p.port} ${counter}${target} ${comment}`);
        any = true;
      }
      if (!any) continue;
      // Accepted only from the sources its conduits name (input.ts); the rest meets the input drop.
      const host = l.host;
      const tail = `tcp dport ${p.listen.port} ${counter}accept comment "proxy listener ${p.asset}:${p.port}"`;
      const accepts = fromSources(listenerSources(conduitIds, doc), (f) => (!host ? tail : host.family === f ? `${KW[f]} daddr ${host.text} ${tail}` : undefined));
      for (const accept of accepts) if (!listenerSeen.has(accept)) { listenerSeen.add(accept); listenerRules.push(accept); }
    }
  }

  return { natRules, listenerRules };
}

/** The management chains: console ports in, MQTT to the broker out. */
export function managementRules(mgmt: ManagementOptions, mgmtIfaces: string[], doc: PolicyDocument, counter: string): { mgmtIn: string[]; mgmtOut: string[] } {
  // Management plane: its own chains, jumped to from input and output.
  const mgmtIn: string[] = [];
  const mgmtPorts = sortedNums(mgmt.tcpPorts ?? []);
  if (mgmtPorts.length) {
    if (mgmtIfaces.length) {
      mgmtIn.push(`\t\tiifname @mgmt_ifaces tcp dport ${portSet(mgmtPorts)} ${counter}accept comment "management console"`);
      mgmtIn.push(`\t\ttcp dport ${portSet(mgmtPorts)} ${counter}drop comment "management off management interfaces"`);
    } else {
      // No management interface: from the zones' networks (anything else meets the input drop).
      mgmtIn.push(...fromSources(allZoneNets(doc.zones), () => `tcp dport ${portSet(mgmtPorts)} ${counter}accept comment "management console"`));
    }
  }
  const mgmtOut: string[] = [];
  if (mgmt.mqtt) {
    const ip = parseIp(mgmt.mqtt.host);
    const match = ip ? `${KW[ip.family]} daddr ${formatIp(ip)} tcp dport ${mgmt.mqtt.port}` : `tcp dport ${mgmt.mqtt.port}`;
    if (mgmtIfaces.length) {
      mgmtOut.push(`\t\toifname @mgmt_ifaces ${match} ${counter}accept comment "management mqtt"`);
      mgmtOut.push(`\t\t${match} ${counter}drop comment "management mqtt off management interfaces"`);
    } else {
      mgmtOut.push(`\t\t${match} ${counter}accept comment "management mqtt"`);
    }
  }

  return { mgmtIn, mgmtOut };
}

/** The parts layout() puts together. */
export interface Layout {
  site: string;
  table: string;
  counter: string;
  zoneIfaces: string[];
  mgmtIfaces: string[];
  setDecls: string[];
  natRules: string[];
  listenerRules: string[];
  forwardRules: string[];
  dispatchChains: string[];
  mgmtIn: string[];
  mgmtOut: string[];
}

const ifaceSet = (name: string, names: string[], comment: string): string[] => [
  `\t# ${comment}`,
  `\tset ${name} {`,
  '\t\ttype ifname',
  ...(names.length ? [`\t\telements = { ${names.map((n) => `"${n}"`).join(', ')} }`] : []),
  '\t}',
];

/** The table's text, line by line, in the order of the evaluation order comment of render.ts. */
export function layout(p: Layout): string[] {
  const { table, counter, zoneIfaces, mgmtIfaces, setDecls, natRules, listenerRules, forwardRules, dispatchChains, mgmtIn, mgmtOut } = p;
  const quarantineRules = (both: boolean) => FAMILIES.flatMap((f) => [
    ...(both ? [`\t\t${KW[f]} saddr @quarantine_v${f} ${counter}drop comment "quarantine"`] : []),
    `\t\t${KW[f]} daddr @quarantine_v${f} ${counter}drop comment "quarantine"`,
  ]);
  const orNone = (rules: string[], what: string) => (rules.length ? rules : [`\t\t# (${what})`]);

  return [
    `# zonegate nftables ruleset for site ${p.site}: generated, do not edit.`,
    `# zonegate swaps it in for a running table inet ${table} in one transaction without taking the`,
    '# hooks down; connections in conntrack survive the swap. On a host without the table: nft -f.',
    `table inet ${table} {`,
    ...ifaceSet('zone_ifaces', zoneIfaces, 'the gateway\'s zone interfaces (data plane)'),
    ...ifaceSet('mgmt_ifaces', mgmtIfaces, `management interfaces${mgmtIfaces.length ? '' : ' (none given: management is accepted on any interface)'}`),
    ...setDecls,
    '',
    '\t# Quarantine first, before conntrack and NAT: established connections are cut too.',
    '\tchain raw_prerouting {',
    '\t\ttype filter hook prerouting priority raw; policy accept;',
    ...quarantineRules(true),
    '\t}',
    '',
    '\t# Conduits through a proxy: the asset service is redirected to the proxy listener on the gateway.',
    '\tchain nat_prerouting {',
    '\t\ttype nat hook prerouting priority dstnat; policy accept;',
    ...orNone(natRules, 'no proxied conduit'),
    '\t}',
    '',
    '\t# Traffic to the gateway itself, fail closed: loopback, replies, IPv6 neighbour discovery, the',
    '\t# management ports and the proxy listeners from the sources that may use them; nothing else.',
    '\tchain input {',
    '\t\ttype filter hook input priority filter; policy drop;',
    ...quarantineRules(true),
    '\t\tiifname "lo" accept',
    '\t\tct state established,related accept',
    '\t\tct state invalid drop',
    '\t\ticmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, nd-router-advert } accept',
    '\t\tjump mgmt_in',
    ...listenerRules,
    `\t\tiifname @zone_ifaces ${counter}drop comment "zone input drop"`,
    ...(counter ? [`\t\t${counter}comment "input drop"`] : []),
    '\t}',
    '',
    '\t# Between zones: default drop; plain network conduits only.',
    '\tchain forward {',
    '\t\ttype filter hook forward priority filter; policy drop;',
    ...quarantineRules(true),
    '\t\tct state established,related accept',
    '\t\tct state invalid drop',
    ...orNone(forwardRules, 'no plain network conduit'),
    ...(counter ? [`\t\t${counter}comment "default drop"`] : []),
    '\t}',
    '',
    ...dispatchChains.slice(1),
    ...(dispatchChains.length ? [''] : []),
    '\t# From the gateway itself: proxies reach their assets; management goes to the broker.',
    '\tchain output {',
    '\t\ttype filter hook output priority filter; policy accept;',
    ...quarantineRules(true),
    '\t\toifname "lo" accept',
    '\t\tjump mgmt_out',
    '\t}',
    '',
    '\t# Management plane (console, login page), kept apart from the data plane.',
    '\tchain mgmt_in {',
    ...orNone(mgmtIn, 'no management port configured'),
    '\t}',
    '',
    '\tchain mgmt_out {',
    ...orNone(mgmtOut, 'no broker configured'),
    '\t}',
    '}',
    '',
  ];
}
