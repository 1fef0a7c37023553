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
import { formatIp, parseIp } from '../../policy/net';
import { FAMILIES, mergeNets, toNet } from './nets';
import type { Family, Net } from './nets';
import { interfaceWarnings, zonesWithoutInterfaces } from './input';
import type { Asset, Identity, PolicyDocument, Zone } from '../../policy/types';
import { idProblem, setName } from './names';
import type { RenderOptions, RenderResult } from './options';
import { checkOptions, checkPolicy, isUnspecified } from './render-checks';
import { forwardChain, layout, managementRules, proxyRules } from './render-chains';
import { byString, conduitRules, sortedUnique, type Listener } from './render-conduits';

/** The zone network sets (one per zone and family with networks) and the quarantine sets. */
function addressSets(doc: PolicyDocument, net: (text: string) => Net, assets: Map<string, Asset>, identities: Map<string, Identity>): { setDecls: string[]; zoneSet: Map<string, Record<Family, string | undefined>> } {
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
  return { setDecls, zoneSet };
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

  // Interfaces: zone interfaces (the data plane) and management interfaces.
  const zoneIfaces = sortedUnique(
    opts.zoneInterfaces ? Object.values(opts.zoneInterfaces).flat() : doc.zones.flatMap((z) => z.interfaces),
  );
  const mgmt = opts.management ?? {};
  const mgmtIfaces = sortedUnique(mgmt.interfaces ?? []);

  const { setDecls, zoneSet } = addressSets(doc, net, assets, identities);

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
  const { plainRules, skipped, forwarded, proxied } = conduitRules({ doc, zones, assets, identities, net, zoneSet, listeners });

  const { forwardRules, dispatchChains } = forwardChain(plainRules, counter, opts.dispatchThreshold ?? 64, net);
  const { natRules, listenerRules } = proxyRules({ listeners, assets, doc, counter, net, skipped });
  const { mgmtIn, mgmtOut } = managementRules(mgmt, mgmtIfaces, doc, counter);
  const lines = layout({
    site: idProblem(doc.site) ? '(unnamed)' : doc.site, table, counter, zoneIfaces, mgmtIfaces, setDecls,
    natRules, listenerRules, forwardRules, dispatchChains, mgmtIn, mgmtOut });
  return {
    text: lines.join('\n'),
    table,
    skipped,
    warnings: interfaceWarnings(zonesWithoutInterfaces(doc, opts.zoneInterfaces)),
    interfaces: sortedUnique([...zoneIfaces, ...mgmtIfaces]),
    conduits: { forwarded: sortedUnique(forwarded), proxied: sortedUnique(proxied) } };
}

