/**
 * What renderRuleset checks before it writes a word: the gateway's deployment facts (proxies,
 * zone interfaces, management plane) and the policy values that go into the text (ids in
 * comments, interface names, addresses, ports). Every finding is collected. Pure.
 */
import type { Issue } from '../../policy/errors';
import { formatIp, parseIp } from '../../policy/net';
import type { Asset, PolicyDocument } from '../../policy/types';
import { toNet } from './nets';
import type { Family } from './nets';
import { idProblem, ifnameProblem, isPort, tableProblem } from './names';
import type { RenderOptions } from './options';

export function isLoopback(ip: { family: Family; bytes: Uint8Array }): boolean {
  if (ip.family === 4) return ip.bytes[0] === 127;
  return ip.bytes.every((b, i) => (i === 15 ? b === 1 : b === 0));
}

export function isUnspecified(ip: { bytes: Uint8Array }): boolean {
  return ip.bytes.every((b) => b === 0);
}

/** Checks the deployment facts; every finding is collected (ERR_CONFIG_INVALID). */
export function checkOptions(opts: RenderOptions, zoneIds: Set<string>, assets: Map<string, Asset>): Issue[] {
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
export function checkPolicy(doc: PolicyDocument, useDocInterfaces: boolean): Issue[] {
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

