/**
 * `zonegate nft render --policy FILE [--config GATEWAY.yaml] [--proxy ASSET:PORT=HOST:PORT]...`:
 * prints the nftables script the gateway would apply for a policy (stdout stays a clean script
 * for `nft -c -f -`); conduits the kernel cannot carry are listed on stderr.
 */
import { createHash } from 'node:crypto';
import type { Command } from './framework';
import { usageError } from './framework';
import { parseIp } from '../policy/net';
import type { PolicyDocument } from '../policy/types';
import { renderRuleset } from '../drivers/nftables/render';
import { parseListen } from '../drivers/nftables/config';
import type { ProxyListener, RenderOptions } from '../drivers/nftables/options';
import { loadPolicyFile } from '../runtime/policy-file';
import { loadConfig, policyProtocol } from '../runtime/config';
import type { GatewayConfig } from '../runtime/config';
import { withLoginPage } from '../runtime/nft-facts';

/**
 * The render options a gateway config implies: its `listeners` become proxies (the listener's
 * service port, or the asset's first service of that protocol), its `nftables:` block (already
 * validated by loadConfig, `enabled` included) adds the rest, and the login page's port joins the
 * management ports. Loopback listeners cannot be DNAT targets: they are left out with a note.
 */
function optionsFromConfig(config: GatewayConfig, doc: PolicyDocument, notes: string[]): Omit<RenderOptions, 'doc'> {
  const block = withLoginPage(config.parts.nftables?.render ?? {}, config);
  if (config.parts.nftables && !config.parts.nftables.enabled) notes.push(`nftables.enabled is false in ${config.file}: the gateway applies nothing; this is what it would apply`);
  const proxies: ProxyListener[] = [];
  for (const l of config.listeners) {
    if (l.service === 'modbus-rtu') continue; // on a serial line: nothing to redirect
    const protocol = policyProtocol(l.service);
    const asset = doc.assets.find((a) => a.id === l.asset);
    const port = l.port ?? asset?.services.find((s) => s.protocol === protocol)?.port;
    if (port === undefined) { notes.push(`listeners[${l.index}]: asset ${l.asset} has no ${protocol} service in the policy; left out`); continue; }
    const ip = parseIp(l.listen.host);
    if (ip && (ip.family === 4 ? ip.bytes[0] === 127 : l.listen.host === '::1')) {
      notes.push(`listeners[${l.index}]: ${l.asset}:${port} listens on loopback (${l.listen.host}), which cannot be a DNAT target; left out`);
      continue;
    }
    proxies.push({ asset: l.asset, port, protocol, listen: { host: l.listen.host, port: l.listen.port } });
  }
  return { ...block, proxies: [...proxies, ...(block.proxies ?? [])] };
}

/** `ASSET:PORT=HOST:PORT` (the listen side may be `[V6]:PORT`). */
function parseProxyFlag(s: string): ProxyListener {
  const eq = s.indexOf('=');
  const left = eq > 0 ? /^(.+):(\d{1,5})$/.exec(s.slice(0, eq)) : null;
  const listen = eq > 0 ? parseListen(s.slice(eq + 1)) : undefined;
  if (!left || !listen) throw usageError(`--proxy ${s}: expected ASSET:PORT=HOST:PORT, e.g. plc-feeder-1:502=10.10.0.1:15020`);
  return { asset: left[1], port: Number(left[2]), listen };
}

export const nftRenderCommand: Command = {
  path: ['nft', 'render'],
  summary: 'print the nftables ruleset the gateway would apply for a policy',
  usage: 'nft render [--policy FILE] [--config GATEWAY.yaml] [--proxy ASSET:PORT=HOST:PORT]... [--table NAME] [--json]',
  description: `
Renders the zone segmentation ruleset (one inet table, replaced atomically) for a policy and the
gateway's deployment facts: the gateway config's \`listeners\` (each one a proxy: the asset
service is redirected to it) and its \`nftables:\` block (table, counters, zoneInterfaces,
management: { interfaces, tcpPorts, mqtt: { host, port } }, extra proxies)
(\`enabled\` is the gateway's switch; the ruleset is rendered either way) and the login page's
port (console.web.listen), and/or --proxy flags. The gateway's own input is closed except
loopback, replies, the management ports and the proxy listeners from the sources that may use
them; zones that name no interfaces are warned about on stderr.
--policy defaults to the config's policyFile. Stdout is the nft script
(check it with \`zonegate nft render ... | nft -c -f -\`); conduits that only a proxy can enforce
(Modbus filters, edge authentication, grants, schedules, rate limits) and that have no proxy are
left out, fail closed, and listed on stderr.`,
  options: {
    policy: { type: 'string', value: 'FILE', description: 'the policy (YAML, or JSON when it ends in .json)' },
    config: { type: 'string', value: 'GATEWAY.yaml', description: 'gateway config; its nftables: block is used' },
    proxy: { type: 'string', multiple: true, value: 'ASSET:PORT=HOST:PORT', description: 'a proxy listener standing for an asset service' },
    table: { type: 'string', value: 'NAME', description: 'the inet table name (default zonegate)' },
  },
  json: true,
  async run(ctx) {
    const config = typeof ctx.options.config === 'string' ? await loadConfig(ctx.options.config) : undefined;
    const policyFile = typeof ctx.options.policy === 'string' ? ctx.options.policy : config?.policyFile;
    if (policyFile === undefined) throw usageError('--policy FILE is required (or a --config whose policyFile names one)');
    const { doc } = await loadPolicyFile(policyFile);
    const notes: string[] = [];
    const fromConfig = config ? optionsFromConfig(config, doc, notes) : {};
    const flags = ((ctx.options.proxy as string[] | undefined) ?? []).map(parseProxyFlag);
    const opts: RenderOptions = {
      ...fromConfig,
      doc,
      proxies: [...(fromConfig.proxies ?? []), ...flags],
      ...(typeof ctx.options.table === 'string' ? { table: ctx.options.table } : {}),
    };
    const r = renderRuleset(opts);
    const sha256 = createHash('sha256').update(r.text).digest('hex');
    if (ctx.json) {
      ctx.printJson({ ok: true, table: r.table, sha256, conduits: r.conduits, skipped: r.skipped, warnings: r.warnings, notes, text: r.text });
      return 0;
    }
    ctx.out(r.text.replace(/\n$/, ''));
    for (const n of notes) ctx.err(`# ${n}`);
    for (const w of r.warnings) ctx.err(`# warning: ${w}`);
    for (const s of r.skipped) ctx.err(`# not in the ruleset: conduit ${s.conduit}: ${s.reason}`);
    ctx.err(`# ${r.conduits.forwarded.length} conduit(s) forwarded, ${r.conduits.proxied.length} through a proxy, ${new Set(r.skipped.map((s) => s.conduit)).size} with a part left out; sha256 ${sha256}`);
    return 0;
  },
};
