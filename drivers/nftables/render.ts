/**
 * Renders a validated policy and the gateway's deployment facts into one nftables script: a pure
 * function from data to text (no I/O), applied atomically by apply.ts with `nft -f`.
 *
 * The script declares `table inet <table>` whole. apply.ts puts it in place of the running table
 * in one transaction (nft(8) "RULESET", the kernel applies a batch all or nothing) that empties
 * the table instead of deleting it (swap.ts), so the hooks stay registered; connections in the
 * conntrack table survive the swap, so a path allowed before and after sees no gap. On a host
 * without the table, `nft -f` loads the text as it is.
 *
 * Evaluation order, per hook (first match decides):
 *   raw prerouting  quarantine (source or destination) dropped before conntrack or NAT sees it
 *   nat prerouting  asset service of a proxied conduit → DNAT/redirect to the proxy's listener
 *   input           quarantine; loopback; established/related; IPv6 neighbour discovery;
 *                   management chain; proxy listeners from their conduits' sources (input.ts);
 *                   policy drop: whatever the interfaces, nothing else reaches the gateway
 *   forward         quarantine; established/related; invalid dropped; one accept per plain
 *                   conduit (source set → destination → port); policy drop
 *   output          quarantine; loopback; management chain (MQTT to the broker)
 *
 * Fail closed: a conduit whose conditions the kernel cannot check (Modbus or DNP3 filters,
 * edge authentication, grants, schedules, rate limits) gets no forward rule unless its asset
 * service has a proxy; it is listed in `skipped` with the reason.
 *
 * Every word that comes from the policy or the config is checked first (names.ts), so nothing
 * in a policy can inject nft syntax. Output is deterministic: zones, conduits, assets, addresses
 * and ports are sorted.
 */
import { ZonegateError } from '../../policy/errors';
import type { Issue } from '../../policy/errors';
import { formatIp, parseIp } from '../../policy/net';
import { compareBytes, FAMILIES, KW, mergeNets, toNet, valueSet } from './nets';
import type { Family, Net } from './nets';
import { allZoneNets, fromSources, interfaceWarnings, listenerSources, zonesWithoutInterfaces } from './input';
import type { Asset, Conduit, Identity, PolicyDocument, Zone } from '../../policy/types';
import { fitComment, idProblem, ifnameProblem, isPort, setName, tableProblem } from './names';
import type { ProxyListener, RenderOptions, RenderResult, SkippedConduit } from './options';

const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const sortedUnique = (xs: Iterable<string>): string[] => Array.from(new Set(xs)).sort(byString);

function portSet(ports: Iterable<number>): string {
  return valueSet(Array.from(new Set(ports)).sort((a, b) => a - b).map(String));
}

function isLoopback(ip: { family: Family; bytes: Uint8Array }): boolean {
  if (ip.family === 4) return ip.bytes[0] === 127;
  return ip.bytes.every((b, i) => (i === 15 ? b === 1 : b === 0));
}

function isUnspecified(ip: { bytes: Uint8Array }): boolean {
  return ip.bytes.every((b) => b === 0);
}

/** A checked proxy listener: the asset service it stands for and where it listens. */
interface Listener {
  proxy: ProxyListener;
  /** undefined for the unspecified address: `redirect`. */
  host?: { family: Family; text: string };
  conduits: Set<string>;
}

/** One forward accept before it is written: family, source match, destination, ports. */
interface PlainRule {
  family: Family;
  src: string;
  dst: { addrs: string[]; ports: string } | { set: string; ports: string };
  comment: string;
}

interface Restriction { test(c: Conduit): boolean; reason: string }

/** What only a proxy can check (policy/types.ts Conduit): kept in one table. */
const NEEDS_PROXY: readonly Restriction[] = [
  { test: (c) => c.protocol === 'modbus' && c.allow !== undefined, reason: 'Modbus function/unit/address filter' },
  { test: (c) => c.protocol === 'dnp3' && c.dnp3 !== undefined, reason: 'DNP3 function/object/point filter' },
  { test: (c) => c.protocol === 'iec104' && c.iec104 !== undefined, reason: 'IEC 104 type/address/cause filter' },
  { test: (c) => c.requires.edgeAuth, reason: 'edge authentication' },
  { test: (c) => c.requires.grant, reason: 'a signed grant' },
  { test: (c) => c.schedule !== undefined, reason: 'a schedule' },
  { test: (c) => c.rateLimit !== undefined, reason: 'a rate limit' },
];

/** Checks the deployment facts; every finding is collected (ERR_CONFIG_INVALID). */
function checkOptions(opts: RenderOptions, zoneIds: Set<string>, assets: Map<string, Asset>): Issue[] {
  const issues: Issue[] = [];
  const add = (path: string, message: string | undefined) => { if (message) issues.push({ path, message }); };
  add('table', tableProblem(opts.table ?? 'zonegate'));
  const seen = new Set<string>();
  (opts.proxies ?? []).forEach((p, i) => {
    const at = `proxies[${i}]`;
    if (!assets.has(p.asset)) add(`${at}.asset`, `unknown asset ${JSON.stringify(p.asset)}`);
    if (!isPort(p.port)) add(`${at}.port`, `port must be 1..65535, got ${JSON.stringify(p.port)}`);
    if (!isPort(p.listen?.port)) add(`${at}.listen.port`, `port must be 1..65535, got ${JSON.stringify(p.listen?.port)}`);
    const host = parseIp(p.listen?.host);
    if (!host) add(`${at}.listen.host`, `not an IP address: ${JSON.stringify(p.listen?.host)}`);
    else if (isLoopback(host)) add(`${at}.listen.host`, `a loopback listener (${p.listen.host}) cannot be a DNAT target: listen on 0.0.0.0, :: or an interface address`);
    if (p.address !== undefined) {
      const a = parseIp(p.address);
      const asset = assets.get(p.asset);
      if (!a) add(`${at}.address`, `not an IP address: ${JSON.stringify(p.address)}`);
      else if (asset && !asset.addresses.some((x) => parseIp(x) && formatIp(parseIp(x)!) === formatIp(a))) {
        add(`${at}.address`, `${p.address} is not an address of asset ${p.asset}`);
      }
    }
    const key = `${p.asset}\u0000${p.port}\u0000${p.address ?? '*'}`;
    if (seen.has(key)) add(at, `a second proxy for ${p.asset}:${p.port}`);
    seen.add(key);
  });
  for (const [zone, names] of Object.entries(opts.zoneInterfaces ?? {})) {
    if (!zoneIds.has(zone)) add(`zoneInterfaces.${zone}`, `unknown zone ${JSON.stringify(zone)}`);
    if (!Array.isArray(names)) { add(`zoneInterfaces.${zone}`, 'must be a list of interface names'); continue; }
    names.forEach((n, i) => add(`zoneInterfaces.${zone}[${i}]`, ifnameProblem(n)));
  }
  const m = opts.management ?? {};
  (m.interfaces ?? []).forEach((n, i) => add(`management.interfaces[${i}]`, ifnameProblem(n)));
  (m.tcpPorts ?? []).forEach((p, i) => add(`management.tcpPorts[${i}]`, isPort(p) ? undefined : `port must be 1..65535, got ${JSON.stringify(p)}`));
  if (m.mqtt) {
    if (!isPort(m.mqtt.port)) add('management.mqtt.port', `port must be 1..65535, got ${JSON.stringify(m.mqtt.port)}`);
    if (typeof m.mqtt.host !== 'string' || (!parseIp(m.mqtt.host) && !/^[A-Za-z0-9.-]{1,253}$/.test(m.mqtt.host))) {
      add('management.mqtt.host', `not an IP address or DNS name: ${JSON.stringify(m.mqtt.host)}`);
    }
  }
  return issues;
}

/** Checks what the policy contributes to the text (ids in comments, interfaces, addresses). */
function checkPolicy(doc: PolicyDocument, useDocInterfaces: boolean): Issue[] {
  const issues: Issue[] = [];
  const add = (path: string, message: string | undefined) => { if (message) issues.push({ path, message }); };
  doc.zones.forEach((z, i) => {
    add(`zones[${i}].id`, idProblem(z.id));
    z.networks.forEach((n, j) => add(`zones[${i}].networks[${j}]`, toNet(n) ? undefined : `not a CIDR: ${JSON.stringify(n)}`));
    if (useDocInterfaces) z.interfaces.forEach((n, j) => add(`zones[${i}].interfaces[${j}]`, ifnameProblem(n)));
  });
  doc.assets.forEach((a, i) => {
    add(`assets[${i}].id`, idProblem(a.id));
    a.addresses.forEach((s, j) => add(`assets[${i}].addresses[${j}]`, parseIp(s) ? undefined : `not an IP address: ${JSON.stringify(s)}`));
    a.services.forEach((s, j) => add(`assets[${i}].services[${j}].port`, isPort(s.port) ? undefined : `port must be 1..65535, got ${JSON.stringify(s.port)}`));
  });
  doc.identities.forEach((d, i) => {
    d.addresses.forEach((s, j) => add(`identities[${i}].addresses[${j}]`, toNet(s) ? undefined : `not an IP address: ${JSON.stringify(s)}`));
  });
  doc.conduits.forEach((c, i) => {
    add(`conduits[${i}].id`, idProblem(c.id));
    (c.ports ?? []).forEach((p, j) => add(`conduits[${i}].ports[${j}]`, isPort(p) ? undefined : `port must be 1..65535, got ${JSON.stringify(p)}`));
  });
  return issues;
}

/**
 * Renders the ruleset. Throws ZonegateError ERR_CONFIG_INVALID (options) or ERR_POLICY_INVALID
 * (a policy word that cannot be written safely), each with every finding in `issues`.
 * Same input, same text.
 */
export function renderRuleset(opts: RenderOptions): RenderResult {
  if (!opts || typeof opts !== 'object' || !opts.doc) throw new TypeError('renderRuleset needs { doc }');
  const doc = opts.doc;
  const table = opts.table ?? 'zonegate';
  const counter = opts.counters === false ? '' : 'counter ';
  const zones = new Map<string, Zone>(doc.zones.map((z) => [z.id, z]));
  const assets = new Map<string, Asset>(doc.assets.map((a) => [a.id, a]));
  const identities = new Map<string, Identity>(doc.identities.map((d) => [d.id, d]));

  const configIssues = checkOptions(opts, new Set(zones.keys()), assets);
  if (configIssues.length) throw new ZonegateError('ERR_CONFIG_INVALID', `nftables: ${configIssues.length} problem(s) in the gateway's deployment facts`, { issues: configIssues });
  const policyIssues = checkPolicy(doc, opts.zoneInterfaces === undefined);
  if (policyIssues.length) throw new ZonegateError('ERR_POLICY_INVALID', `nftables: ${policyIssues.length} policy value(s) cannot be written into a ruleset`, { issues: policyIssues });

  // Addresses repeat across conduits: parse each text once per render.
  const netCache = new Map<string, Net>();
  const net = (text: string): Net => {
    let n = netCache.get(text);
    if (!n) { n = toNet(text)!; netCache.set(text, n); }
    return n;
  };
  const skipped: SkippedConduit[] = [];
  const forwarded = new Set<string>();
  const proxied = new Set<string>();

  // Interfaces: zone interfaces (the data plane) and management interfaces.
  const zoneIfaces = sortedUnique(
    opts.zoneInterfaces ? Object.values(opts.zoneInterfaces).flat() : doc.zones.flatMap((z) => z.interfaces),
  );
  const mgmt = opts.management ?? {};
  const mgmtIfaces = sortedUnique(mgmt.interfaces ?? []);

  // Zone network sets, one per zone and family that has networks.
  const taken = new Set<string>(['zone_ifaces', 'mgmt_ifaces', 'quarantine_v4', 'quarantine_v6']);
  const zoneSet = new Map<string, Record<Family, string | undefined>>();
  const setDecls: string[] = [];
  const declareSet = (name: string, family: Family, nets: Net[], comment: string) => {
    setDecls.push(
      `\t# ${comment}`,
      `\tset ${name} {`,
      `\t\ttype ${family === 4 ? 'ipv4_addr' : 'ipv6_addr'}`,
      '\t\tflags interval',
      '\t\tauto-merge',
      ...(nets.length ? [`\t\telements = { ${nets.map((n) => n.text).join(', ')} }`] : []),
      '\t}',
    );
  };
  for (const z of doc.zones.slice().sort((a, b) => byString(a.id, b.id))) {
    const nets = mergeNets(z.networks.map((n) => net(n)));
    const base = setName('zone', z.id, taken);
    const names: Record<Family, string | undefined> = { 4: undefined, 6: undefined };
    for (const f of FAMILIES) {
      const of = nets.filter((n) => n.family === f);
      if (!of.length) continue;
      names[f] = `${base}_v${f}`;
      declareSet(names[f]!, f, of, `zone ${z.id} (security level ${z.securityLevel}), IPv${f} networks`);
    }
    zoneSet.set(z.id, names);
  }

  // Quarantine: the addresses of quarantined identities and assets. Always declared (maybe empty)
  // so that the runtime can add an element live: `nft add element inet T quarantine_v4 { a }`.
  const qNets: Net[] = [];
  for (const id of sortedUnique(doc.quarantine)) {
    const addrs = identities.get(id)?.addresses ?? [];
    const assetAddrs = assets.get(id)?.addresses ?? [];
    for (const s of [...addrs, ...assetAddrs]) qNets.push(net(s));
  }
  const quarantine = mergeNets(qNets);
  for (const f of FAMILIES) {
    declareSet(`quarantine_v${f}`, f, quarantine.filter((n) => n.family === f), `quarantine, IPv${f}: cut off from everything, whatever the conduits say`);
  }

  // Proxy listeners, by asset service.
  const listeners = new Map<string, Listener[]>();
  (opts.proxies ?? []).forEach((p) => {
    const ip = parseIp(p.listen.host)!;
    const host = isUnspecified(ip) ? undefined : { family: ip.family, text: formatIp(ip) };
    const key = `${p.asset}\u0000${p.port}`;
    const list = listeners.get(key) ?? [];
    list.push({ proxy: p, host, conduits: new Set() });
    listeners.set(key, list);
  });

  // Conduits, by id.
  const byRole = new Map<string, Identity[]>();
  for (const d of doc.identities) for (const r of d.roles) { const l = byRole.get(r) ?? []; l.push(d); byRole.set(r, l); }
  const assetsByZone = new Map<string, Asset[]>();
  for (const a of doc.assets) { const l = assetsByZone.get(a.zone) ?? []; l.push(a); assetsByZone.set(a.zone, l); }
  const skippedIds = new Set<string>();
  const skip = (s: SkippedConduit) => { skipped.push(s); skippedIds.add(s.conduit); };
  const plainRules: PlainRule[] = [];
  const servicePorts = (list: readonly Asset[], c: Conduit): number[] =>
    sortedNums(list.flatMap((a) => a.services.filter((s) => s.protocol === c.protocol).map((s) => s.port)));
  for (const c of doc.conduits.slice().sort((a, b) => byString(a.id, b.id))) {
    // Sources: addresses of the named identities and of the identities holding a named role; zone sets.
    const srcIdentities = new Set<Identity>();
    for (const id of c.from.identities) { const d = identities.get(id); if (d) srcIdentities.add(d); }
    for (const role of c.from.roles) for (const d of byRole.get(role) ?? []) srcIdentities.add(d);
    const srcAddrs: Net[] = [];
    for (const d of srcIdentities) for (const s of d.addresses) srcAddrs.push(net(s));
    const srcZones = sortedUnique(c.from.zones).filter((z) => zones.has(z));
    const sources = mergeNets(srcAddrs);

    // Destinations: asset services (proxied or plain) and zones.
    const plainByPorts = new Map<string, { ports: number[]; addrs: Net[] }>();
    const plainTargets: string[] = [];
    for (const assetId of sortedUnique(c.to.assets)) {
      const asset = assets.get(assetId);
      if (!asset) continue;
      const ports = c.ports ? sortedNums(c.ports) : servicePorts([asset], c);
      const plainPorts: number[] = [];
      for (const port of ports) {
        const ls = listeners.get(`${asset.id}\u0000${port}`);
        if (ls) { for (const l of ls) l.conduits.add(c.id); proxied.add(c.id); } else plainPorts.push(port);
      }
      if (!plainPorts.length) continue;
      plainTargets.push(`${asset.id}:${plainPorts.join(',')}`);
      const key = plainPorts.join(',');
      const group = plainByPorts.get(key) ?? { ports: plainPorts, addrs: [] };
      for (const s of asset.addresses) group.addrs.push(net(s));
      plainByPorts.set(key, group);
    }
    const dstZones: { zone: string; ports: number[] }[] = [];
    for (const z of sortedUnique(c.to.zones)) {
      if (!zones.has(z)) continue;
      const ports = c.ports ? sortedNums(c.ports) : servicePorts(assetsByZone.get(z) ?? [], c);
      if (!ports.length) skip({ conduit: c.id, reason: `zone ${z}: no port (the conduit names none and no asset there offers ${c.protocol})` });
      else { dstZones.push({ zone: z, ports }); plainTargets.push(`zone ${z}`); }
    }
    if (!plainByPorts.size && !dstZones.length) {
      if (!proxied.has(c.id) && !skippedIds.has(c.id)) skip({ conduit: c.id, reason: 'no destination address or port' });
      continue;
    }
    const needs = NEEDS_PROXY.filter((r) => r.test(c)).map((r) => r.reason);
    if (needs.length) {
      // A conduit partly proxied names the part left out (its other destinations).
      const part = proxied.has(c.id) ? `to ${plainTargets.join(', ')}: ` : '';
      skip({ conduit: c.id, reason: `${part}needs a proxy for ${needs.join(', ')}; no proxy listener for ${part ? 'these' : 'its destination'}` });
      continue;
    }
    if (!sources.length && !srcZones.some((z) => zoneSet.get(z)![4] || zoneSet.get(z)![6])) {
      skip({ conduit: c.id, reason: 'no source address (people authenticate at the edge: only a proxy can carry this)' });
      continue;
    }
    const comment = `comment "${fitComment(['conduit', c.id])}"`;
    const before = plainRules.length;
    for (const f of FAMILIES) {
      const kw = KW[f];
      const srcMatches = [
        ...(sources.some((n) => n.family === f) ? [`${kw} saddr ${valueSet(sources.filter((n) => n.family === f).map((n) => n.text))}`] : []),
        ...srcZones.filter((z) => zoneSet.get(z)![f]).map((z) => `${kw} saddr @${zoneSet.get(z)![f]}`),
      ];
      const dsts: PlainRule['dst'][] = [];
      for (const g of plainByPorts.values()) {
        const addrs = mergeNets(g.addrs).filter((n) => n.family === f);
        if (addrs.length) dsts.push({ addrs: addrs.map((n) => n.text), ports: portSet(g.ports) });
      }
      for (const d of dstZones) {
        const name = zoneSet.get(d.zone)![f];
        if (name) dsts.push({ set: name, ports: portSet(d.ports) });
      }
      for (const src of srcMatches) for (const dst of dsts) plainRules.push({ family: f, src, dst, comment });
    }
    if (plainRules.length > before) forwarded.add(c.id);
    else skip({ conduit: c.id, reason: 'source and destination share no address family' });
  }

  // Forward rules. Few: one flat list, readable. Many (over dispatchThreshold): a verdict map on
  // the destination address jumps to that address's own chain, so that a new connection meets
  // the rules of its destination only, not every conduit's (zone destinations stay in forward).
  const forwardRules: string[] = [];
  const dispatchChains: string[] = [];
  const accept = (r: PlainRule, dst: string) => `\t\t${r.src} ${dst}tcp dport ${r.dst.ports} ${counter}accept ${r.comment}`;
  if (plainRules.length <= (opts.dispatchThreshold ?? 64)) {
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

  const quarantineRules = (both: boolean) => FAMILIES.flatMap((f) => [
    ...(both ? [`\t\t${KW[f]} saddr @quarantine_v${f} ${counter}drop comment "quarantine"`] : []),
    `\t\t${KW[f]} daddr @quarantine_v${f} ${counter}drop comment "quarantine"`,
  ]);
  const ifaceSet = (name: string, names: string[], comment: string) => [
    `\t# ${comment}`,
    `\tset ${name} {`,
    '\t\ttype ifname',
    ...(names.length ? [`\t\telements = { ${names.map((n) => `"${n}"`).join(', ')} }`] : []),
    '\t}',
  ];
  const orNone = (rules: string[], what: string) => (rules.length ? rules : [`\t\t# (${what})`]);

  const lines = [
    `# zonegate nftables ruleset for site ${idProblem(doc.site) ? '(unnamed)' : doc.site}: generated, do not edit.`,
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
  return {
    text: lines.join('\n'),
    table,
    skipped,
    warnings: interfaceWarnings(zonesWithoutInterfaces(doc, opts.zoneInterfaces)),
    interfaces: sortedUnique([...zoneIfaces, ...mgmtIfaces]),
    conduits: { forwarded: sortedUnique(forwarded), proxied: sortedUnique(proxied) },
  };
}

function sortedNums(xs: readonly number[]): number[] {
  return Array.from(new Set(xs)).sort((a, b) => a - b);
}
