/**
 * The deployment facts a gateway config adds to its `nftables:` block before rendering: the login
 * page's port joins the management ports, so that the fail-closed input chain (drivers/nftables/
 * input.ts) lets it in. One home for the daemon and `zonegate nft render --config`.
 */
import type { RenderOptions } from '../drivers/nftables/options';
import type { GatewayConfig } from './config';

/** `render` with the console's login page port in management.tcpPorts (unchanged when there is none). */
export function withLoginPage(render: Omit<RenderOptions, 'doc'>, cfg: Pick<GatewayConfig, 'parts'>): Omit<RenderOptions, 'doc'> {
  const port = cfg.parts.console.web?.listen.port;
  if (port === undefined || port === 0) return render;
  const m = render.management ?? {};
  const ports = m.tcpPorts ?? [];
  return ports.includes(port) ? render : { ...render, management: { ...m, tcpPorts: [...ports, port] } };
}
