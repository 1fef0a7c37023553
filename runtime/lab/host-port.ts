import { usageError } from '../cli/framework';

/** Parses `host:port` or `[v6]:port`; throws a usage error naming the option otherwise. */
export function parseHostPort(s: string, what: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:[\]]+):(\d+)$/.exec(s);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535) throw usageError(`${what} ${s}: expected HOST:PORT or [IPv6]:PORT`);
  return { host: m[1], port };
}
