/** `zonegate fleet publish`: publishes a signed bundle and optionally waits for the rollout. */
import { readFileSync } from 'node:fs';
import type { Command } from '../framework';
import { usageError } from '../framework';
import { ZonegateError } from '../../policy/errors';
import { INBOUND_KINDS, idProblem, type InboundKind } from '../../protocol/mqtt/topics';
import { closeBroker, connectBroker } from '../../fleet/broker';
import { formatProgress, publishBundle } from '../../fleet/publish';
import { brokerFromOptions, brokerOptionSpecs } from './broker-options';
import { parseDurationOption } from '../../protocol/parse-time';

export const fleetPublishCommand: Command = {
  path: ['fleet', 'publish'],
  summary: 'publish a signed bundle to a device or a site, and wait for gateways to report it',
  usage: 'fleet publish BUNDLE --broker URL --site S (--device D | --all) [--wait N] [--timeout 30s] [--json]',
  description: `
Publishes the exact bundle bytes retained with QoS 1 on zonegate/v1/<site>/<device|all>/<kind>,
the kind being the bundle's type (policy, trust, grant, command) unless --topic-kind says.
With --wait N, watches the retained status topics until N gateways report the bundle (their
status carries its sha256), showing progress on stderr; exit 1 on timeout, naming the laggards,
and exit 1 as soon as a gateway refused these bytes (its status names the hash and the error)
and every other online gateway seen has answered, naming the refusals.`,
  options: {
    ...brokerOptionSpecs,
    site: { type: 'string', value: 'S', description: 'site id' },
    device: { type: 'string', value: 'D', description: 'publish to this device only' },
    all: { type: 'boolean', description: 'publish to every device of the site' },
    'topic-kind': { type: 'string', value: 'KIND', description: `topic kind instead of the bundle's type (${INBOUND_KINDS.join(', ')})` },
    wait: { type: 'string', value: 'N', description: 'wait until N gateways report the bundle' },
    timeout: { type: 'string', value: 'DURATION', description: 'give up waiting after this long (default 30s)' },
  },
  positionals: { min: 1, max: 1 },
  json: true,
  async run(ctx) {
    const o = ctx.options;
    const site = typeof o.site === 'string' ? o.site : undefined;
    if (!site) throw usageError('--site S is required');
    const device = typeof o.device === 'string' ? o.device : undefined;
    if ((device !== undefined) === (o.all === true)) throw usageError('give exactly one of --device D or --all');
    let wait = 0;
    if (typeof o.wait === 'string') {
      wait = Number(o.wait);
      if (!Number.isInteger(wait) || wait < 1) throw usageError(`--wait: not a positive integer: ${o.wait}`);
    }
    const timeoutMs = typeof o.timeout === 'string' ? parseDurationOption(o.timeout, '--timeout') : 30_000;
    const kindOpt = typeof o['topic-kind'] === 'string' ? o['topic-kind'] : undefined;
    if (kindOpt !== undefined && !(INBOUND_KINDS as readonly string[]).includes(kindOpt)) {
      throw usageError(`--topic-kind must be one of ${INBOUND_KINDS.join(', ')}`);
    }
    // Arguments first: a bad site or device id is a usage error whatever the file holds.
    const idIssue = idProblem(site, 'site') ?? (device !== undefined ? idProblem(device, 'device') : undefined);
    if (idIssue) throw usageError(idIssue);
    const file = ctx.positionals[0];
    let bytes: Buffer;
    try { bytes = readFileSync(file); } catch (e) {
      throw new ZonegateError('ERR_FILE', `cannot read ${file}: ${(e as Error).message}`);
    }
    const broker = brokerFromOptions(ctx);
    const client = await connectBroker(broker);
    const tty = !ctx.json && process.stderr.isTTY === true;
    let lastLine = '';
    try {
      const r = await publishBundle({
        client, site, device, all: o.all === true, bytes, kind: kindOpt as InboundKind | undefined, wait, timeoutMs, signal: ctx.signal,
        onProgress: (p) => {
          lastLine = formatProgress(p);
          if (tty) process.stderr.write(`\r${lastLine}`);
        },
      });
      if (tty && lastLine) process.stderr.write('\n');
      else if (!ctx.json && lastLine) ctx.err(lastLine);
      const ok = !r.rollout || r.rollout.done;
      if (ctx.json) {
        ctx.printJson({ ok, ...r });
      } else {
        const what = `${r.kind}${r.label.version !== undefined ? ` v${r.label.version}` : ''}`;
        ctx.out(`published ${what} (${r.bytes} bytes, sha256 ${r.hash.slice(0, 16)}…) to ${r.topic}`);
        if (r.label.site !== undefined && r.label.site !== site && r.label.site !== '*') {
          ctx.err(`warning: the bundle says site '${r.label.site}', published to site '${site}'`);
        }
        if (r.rollout) {
          const secs = (r.rollout.elapsedMs / 1000).toFixed(1);
          if (r.rollout.done) ctx.out(`${r.rollout.matched.length}/${r.rollout.wanted} gateways report it after ${secs} s`);
          else if (r.rollout.refused.length) {
            const shown = r.rollout.refused.slice(0, 20).map((x) => `  ${x.device}: ${x.error}`);
            ctx.err(`refused after ${secs} s: ${r.rollout.refused.length} gateway(s) refused it, ${r.rollout.matched.length}/${r.rollout.wanted} report it\n${shown.join('\n')}${r.rollout.refused.length > 20 ? `\n  … and ${r.rollout.refused.length - 20} more` : ''}`);
          } else {
            ctx.err(`timed out after ${secs} s: ${r.rollout.matched.length}/${r.rollout.wanted} gateways report it`);
            if (r.rollout.lagging.length) {
              const shown = r.rollout.lagging.slice(0, 20).map((l) => `  ${l.device}: ${l.online ? 'online' : 'OFFLINE'}, policy ${l.policyVersion === null ? '-' : `v${l.policyVersion}`}${l.lastError ? `, ${l.lastError}` : ''}`);
              ctx.err(`lagging:\n${shown.join('\n')}${r.rollout.lagging.length > 20 ? `\n  … and ${r.rollout.lagging.length - 20} more` : ''}`);
            }
            const missing = r.rollout.wanted - r.rollout.matched.length - r.rollout.lagging.length;
            if (missing > 0) ctx.err(`${missing} more gateway(s) never reported a status`);
          }
        }
      }
      return ok ? 0 : 1;
    } finally {
      await closeBroker(client);
    }
  },
};
