/** The broker options every fleet command shares, and duration parsing for --timeout. */
import type { CommandContext, OptionSpec } from '../framework';
import { usageError } from '../framework';
import type { BrokerOptions } from '../../fleet/broker';

export const brokerOptionSpecs: Record<string, OptionSpec> = {
  broker: { type: 'string', value: 'URL', description: 'broker URL, e.g. mqtts://broker:8883 (required)' },
  username: { type: 'string', value: 'USER', description: 'MQTT username (the fleet user)' },
  'password-file': { type: 'string', value: 'FILE', description: 'file whose first line is the MQTT password' },
  ca: { type: 'string', value: 'FILE', description: 'PEM CA bundle for TLS' },
  cert: { type: 'string', value: 'FILE', description: 'PEM client certificate' },
  key: { type: 'string', value: 'FILE', description: 'PEM client key' },
};

/** Reads the broker options; ERR_USAGE when --broker is missing. */
export function brokerFromOptions(ctx: CommandContext): BrokerOptions {
  const o = ctx.options;
  const s = (k: string) => (typeof o[k] === 'string' ? (o[k] as string) : undefined);
  const url = s('broker');
  if (!url) throw usageError('--broker URL is required');
  return { url, username: s('username'), passwordFile: s('password-file'), ca: s('ca'), cert: s('cert'), key: s('key') };
}

