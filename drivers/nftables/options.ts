/**
 * What the nftables renderer is given besides the policy (the gateway's deployment facts) and
 * what it gives back. Plain data: the gateway config supplies these; tests build them directly.
 */
import type { PolicyDocument, Protocol } from '../../policy/types';

/** One proxy listener on the gateway that stands for one asset service (the Modbus, DNP3 or TCP proxy). */
export interface ProxyListener {
  /** The policy asset id. */
  asset: string;
  /** The asset service's port as the policy names it (the DNAT matches this port). */
  port: number;
  /** Informational; shown in the rule comment. */
  protocol?: Protocol;
  /** Only this asset address is redirected; default every address of the asset. */
  address?: string;
  /**
   * Where the proxy listens on the gateway. A specific address becomes `dnat to HOST:PORT`;
   * the unspecified address (0.0.0.0, ::) becomes `redirect to :PORT` (the address of the
   * interface the client came in on). Loopback cannot be a DNAT target and is refused.
   */
  listen: { host: string; port: number };
}

export interface ManagementOptions {
  /** Interfaces the management plane is accepted on; absent = any interface. */
  interfaces?: string[];
  /** The gateway's own TCP services: console, login page (8443). */
  tcpPorts?: number[];
  /** The fleet's MQTT broker the gateway connects out to (host is an IP address or a DNS name). */
  mqtt?: { host: string; port: number };
}

export interface RenderOptions {
  doc: PolicyDocument;
  /** The inet table's name. Default `zonegate`. */
  table?: string;
  proxies?: readonly ProxyListener[];
  /** The gateway's interfaces per zone id; default each zone's `interfaces` in the policy. */
  zoneInterfaces?: Readonly<Record<string, readonly string[]>>;
  management?: ManagementOptions;
  /** Put counters on the rules that matter (conduits, proxies, quarantine, drops). Default true. */
  counters?: boolean;
  /**
   * Above this many forward accept rules, new connections are dispatched by destination address
   * (a verdict map jumping to one chain per address) instead of walking one flat list. Default 64.
   */
  dispatchThreshold?: number;
}

/** A conduit (or part of one) that the kernel cannot carry; its traffic stays denied. */
export interface SkippedConduit {
  conduit: string;
  reason: string;
}

export interface RenderResult {
  /** The complete `nft -f` script (replaces the table atomically). */
  text: string;
  table: string;
  /** Conduits or conduit parts left out (fail closed), with the reason. */
  skipped: SkippedConduit[];
  /** Findings that leave the ruleset closed but deserve a look (zones without interfaces). */
  warnings: string[];
  /** Every interface name the text matches on (zone and management interfaces), sorted. */
  interfaces: string[];
  /** Conduit ids that got a forward accept rule or a proxy redirect. */
  conduits: { forwarded: string[]; proxied: string[] };
}
