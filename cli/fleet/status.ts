/** `zonegate fleet status`: every gateway of a site, from the retained status messages. */
import type { Command } from '../framework';
import { usageError } from '../framework';
import type { StatusDocument } from '../../protocol/mqtt/status';
import { closeBroker, connectBroker } from '../../fleet/broker';
import { collectFleetStatus, fleetJson, formatFleetTable, watchFleet } from '../../fleet/status';
import { brokerFromOptions, brokerOptionSpecs } from './broker-options';

export const fleetStatusCommand: Command = {
  path: ['fleet', 'status'],
  summary: "show every gateway of a site: online, policy version, expiry, alarms, last seen",
  usage: 'fleet status --broker URL --site S [--json] [--watch]',
  description: `
Reads the retained status messages on zonegate/v1/<site>/+/status. --watch redraws the table
whenever a gateway reports, until Ctrl-C (with --json, prints one JSON line per change).`,
  options: {
    ...brokerOptionSpecs,
    site: { type: 'string', value: 'S', description: 'site id' },
    watch: { type: 'boolean', description: 'keep watching and redraw on every change' },
  },
  json: true,
  async run(ctx) {
    const site = typeof ctx.options.site === 'string' ? ctx.options.site : undefined;
    if (!site) throw usageError('--site S is required');
    const client = await connectBroker(brokerFromOptions(ctx));
    try {
      if (ctx.options.watch !== true) {
        const docs = await collectFleetStatus({ client, site });
        if (ctx.json) ctx.printJson(fleetJson(docs));
        else ctx.out(formatFleetTable(docs, Date.now()));
        return 0;
      }
      const docs = new Map<string, StatusDocument>();
      const tty = process.stdout.isTTY === true;
      let timer: NodeJS.Timeout | undefined;
      const draw = () => {
        timer = undefined;
        const list = [...docs.values()].sort((a, b) => (a.device < b.device ? -1 : 1));
        if (ctx.json) ctx.out(JSON.stringify(fleetJson(list)));
        else ctx.out(`${tty ? '\x1b[H\x1b[2J' : ''}${formatFleetTable(list, Date.now())}\n`);
      };
      const stop = await watchFleet({
        client, site,
        onStatus: (device, doc) => {
          if (doc) docs.set(device, doc); else docs.delete(device);
          timer ??= setTimeout(draw, 200); // coalesce bursts of retained messages
        },
      });
      const ticker = setInterval(() => { if (!ctx.json) timer ??= setTimeout(draw, 0); }, 5000); // ages move on
      await new Promise<void>((resolve) => {
        if (ctx.signal.aborted) resolve();
        ctx.signal.addEventListener('abort', () => resolve(), { once: true });
      });
      clearInterval(ticker);
      if (timer) clearTimeout(timer);
      stop();
      return 0;
    } finally {
      await closeBroker(client);
    }
  },
};
