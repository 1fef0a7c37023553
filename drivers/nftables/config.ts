/**
 * The gateway config's `nftables:` block, validated into render options (without the policy).
 * Pure: the runtime's config loader (or `zonegate nft render --config`) hands the parsed block in.
 *
 *   nftables:
 *     table: zonegate                      # default
 *     counters: true                       # default
 *     keepDir: /var/lib/zonegate/nftables  # where applied rulesets are kept for audit
 *     zoneInterfaces: { control: [eth3] }  # default: each zone's `interfaces` in the policy
 *     management: { interfaces: [eth4], tcpPorts: [8443], mqtt: { host: 192.0.2.10, port: 8883 } }
 *     proxies:                             # the proxy listeners that stand for asset services
 *       - { asset: plc-feeder-1, port: 502, listen: "10.10.0.1:15020" }   # or { host, port }
 *
 * Values are checked for shape here; renderRuleset checks them against the policy and for safety.
 */
import type { Issue } from '../../policy/errors';
import { parseIp } from '../../policy/net';
import type { ManagementOptions, ProxyListener, RenderOptions } from './options';

export interface NftablesConfig {
  render: Omit<RenderOptions, 'doc'>;
  keepDir?: string;
}

const KEYS = ['table', 'counters', 'keepDir', 'zoneInterfaces', 'management', 'proxies'];

/** `HOST:PORT` or `[V6]:PORT` → { host, port }, or undefined. */
export function parseListen(s: string): { host: string; port: number } | undefined {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(s) ?? /^([^:[\]]+):(\d{1,5})$/.exec(s);
  if (!m || !parseIp(m[1])) return undefined;
  const port = Number(m[2]);
  return port >= 1 && port <= 65535 ? { host: m[1], port } : undefined;
}

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

/** Validates the block at document path `path`; `config` is undefined when there is any issue. */
export function parseNftablesConfig(raw: unknown, path = 'nftables'): { config?: NftablesConfig; issues: Issue[] } {
  const issues: Issue[] = [];
  const at = (k: string | number) => (typeof k === 'number' ? `${path}[${k}]` : path ? `${path}.${k}` : k);
  if (raw === undefined || raw === null) return { config: { render: {} }, issues };
  if (!isObject(raw)) return { issues: [{ path, message: 'must be a mapping' }] };
  for (const k of Object.keys(raw)) if (!KEYS.includes(k)) issues.push({ path: at(k), message: `unknown key (expected one of ${KEYS.join(', ')})` });
  const render: Omit<RenderOptions, 'doc'> = {};
  const strings = (v: unknown, p: string): string[] | undefined => {
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) { issues.push({ path: p, message: 'must be a list of strings' }); return undefined; }
    return v as string[];
  };
  const ints = (v: unknown, p: string): number[] | undefined => {
    if (!Array.isArray(v) || !v.every((x) => Number.isInteger(x))) { issues.push({ path: p, message: 'must be a list of integers' }); return undefined; }
    return v as number[];
  };
  if (raw.table !== undefined) {
    if (typeof raw.table !== 'string') issues.push({ path: at('table'), message: 'must be a string' });
    else render.table = raw.table;
  }
  if (raw.counters !== undefined) {
    if (typeof raw.counters !== 'boolean') issues.push({ path: at('counters'), message: 'must be true or false' });
    else render.counters = raw.counters;
  }
  let keepDir: string | undefined;
  if (raw.keepDir !== undefined) {
    if (typeof raw.keepDir !== 'string' || raw.keepDir === '') issues.push({ path: at('keepDir'), message: 'must be a folder path' });
    else keepDir = raw.keepDir;
  }
  if (raw.zoneInterfaces !== undefined) {
    if (!isObject(raw.zoneInterfaces)) issues.push({ path: at('zoneInterfaces'), message: 'must map zone ids to lists of interface names' });
    else {
      const out: Record<string, string[]> = Object.create(null);
      for (const [zone, v] of Object.entries(raw.zoneInterfaces)) {
        const names = strings(v, `${at('zoneInterfaces')}.${zone}`);
        if (names) out[zone] = names;
      }
      render.zoneInterfaces = out;
    }
  }
  if (raw.management !== undefined) {
    const m = raw.management;
    if (!isObject(m)) issues.push({ path: at('management'), message: 'must be a mapping' });
    else {
      const out: ManagementOptions = {};
      for (const k of Object.keys(m)) if (!['interfaces', 'tcpPorts', 'mqtt'].includes(k)) issues.push({ path: `${at('management')}.${k}`, message: 'unknown key (expected interfaces, tcpPorts, mqtt)' });
      if (m.interfaces !== undefined) out.interfaces = strings(m.interfaces, `${at('management')}.interfaces`);
      if (m.tcpPorts !== undefined) out.tcpPorts = ints(m.tcpPorts, `${at('management')}.tcpPorts`);
      if (m.mqtt !== undefined) {
        if (!isObject(m.mqtt) || typeof m.mqtt.host !== 'string' || !Number.isInteger(m.mqtt.port)) {
          issues.push({ path: `${at('management')}.mqtt`, message: 'must be { host, port }' });
        } else out.mqtt = { host: m.mqtt.host, port: m.mqtt.port as number };
      }
      render.management = out;
    }
  }
  if (raw.proxies !== undefined) {
    if (!Array.isArray(raw.proxies)) issues.push({ path: at('proxies'), message: 'must be a list of { asset, port, listen }' });
    else {
      const out: ProxyListener[] = [];
      raw.proxies.forEach((p: unknown, i: number) => {
        const pp = `${at('proxies')}[${i}]`;
        if (!isObject(p) || typeof p.asset !== 'string' || !Number.isInteger(p.port)) {
          issues.push({ path: pp, message: 'must be { asset, port, listen }' });
          return;
        }
        let listen: { host: string; port: number } | undefined;
        if (typeof p.listen === 'string') listen = parseListen(p.listen);
        else if (isObject(p.listen) && typeof p.listen.host === 'string' && Number.isInteger(p.listen.port)) listen = { host: p.listen.host, port: p.listen.port as number };
        if (!listen) { issues.push({ path: `${pp}.listen`, message: 'must be "HOST:PORT", "[V6]:PORT" or { host, port }' }); return; }
        const entry: ProxyListener = { asset: p.asset, port: p.port as number, listen };
        if (p.protocol === 'modbus' || p.protocol === 'tcp' || p.protocol === 'dnp3' || p.protocol === 'iec104') entry.protocol = p.protocol;
        if (typeof p.address === 'string') entry.address = p.address;
        out.push(entry);
      });
      render.proxies = out;
    }
  }
  return issues.length ? { issues } : { config: { render, keepDir }, issues };
}
