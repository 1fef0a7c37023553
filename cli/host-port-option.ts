/**
 * A `HOST:PORT` command-line option (`--listen`, `--to`, `--syslog`): the config's grammar
 * (protocol/host-port.ts: IPv4, bracketed IPv6, host names), a usage error naming the
 * option otherwise. Port 0 (a free port) only where the option says so.
 */
import { parseHostPort, type HostPort } from '../protocol/host-port';
import { usageError } from './framework';

export function hostPortOption(text: string, what: string, opts: { allowZero?: boolean } = {}): HostPort {
  const r = parseHostPort(text.trim(), { allowName: true, allowZero: opts.allowZero === true });
  if ('error' in r) throw usageError(`${what}: ${r.error}`);
  return r;
}
