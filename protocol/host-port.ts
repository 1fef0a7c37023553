/**
 * `HOST:PORT` as a gateway config writes a listen or upstream address: an IPv4 literal, a
 * bracketed IPv6 literal (RFC 3986 section 3.2.2: `[::1]:502`) or, for upstreams only, a host
 * name. Returns a message instead of throwing so the caller can place it in the file.
 *
 * The one reader of HOST:PORT: the gateway config (runtime/config), the fleet console's config
 * (fleet/console/config.ts) and the command-line options (cli/host-port-option.ts) all use it. It
 * lives in protocol/, not cli/, because runtime/ and fleet/ may not import cli/ (design.md
 * layout; test/architecture.test.ts), and neither may import the other.
 */
import { normalizeIp } from '../policy/net';

export interface HostPort { host: string; port: number }

const HOSTNAME_RE = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** Parses `HOST:PORT`; `allowName` accepts DNS names, `allowZero` port 0 (a free port, for labs). */
export function parseHostPort(text: string, opts: { allowName: boolean; allowZero: boolean }): HostPort | { error: string } {
  const m = /^\[([^\]]+)\]:([0-9]+)$/.exec(text) ?? /^([^:\[\]]+):([0-9]+)$/.exec(text);
  const bare = /^([^\[\]]+):([0-9]+)$/.exec(text);
  if (!m && bare && normalizeIp(bare[1])?.includes(':')) return { error: `an IPv6 address must be written in brackets: [${bare[1]}]:${bare[2]}` };
  if (!m) return { error: `must be HOST:PORT (e.g. 127.0.0.1:15020 or [::1]:15020), got ${JSON.stringify(text)}` };
  const bracketed = text.startsWith('[');
  const port = Number(m[2]);
  if (!Number.isInteger(port) || port < (opts.allowZero ? 0 : 1) || port > 65535 || m[2].length > 5) {
    return { error: `port must be ${opts.allowZero ? 0 : 1}..65535, got ${m[2]}` };
  }
  const ip = normalizeIp(m[1]);
  if (ip !== undefined) {
    const v6 = m[1].includes(':');
    if (v6 && !bracketed) return { error: `an IPv6 address must be written in brackets: [${m[1]}]:${m[2]}` };
    if (!v6 && bracketed) return { error: `only IPv6 addresses go in brackets, got [${m[1]}]` };
    return { host: ip, port };
  }
  if (bracketed) return { error: `${JSON.stringify(m[1])} is not an IPv6 address` };
  if (!opts.allowName) return { error: `the host must be an IP address (a listener binds to a local address), got ${JSON.stringify(m[1])}` };
  if (!HOSTNAME_RE.test(m[1])) return { error: `${JSON.stringify(m[1])} is neither an IP address nor a host name` };
  return { host: m[1], port };
}

/** `host:port`, with brackets around IPv6. */
export function formatHostPort(hp: HostPort): string {
  return hp.host.includes(':') ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}
