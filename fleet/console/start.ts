/**
 * `fleet serve`'s composition: the MQTT connection, the status and telemetry books fed from the
 * retained status and telemetry topics, the read store (the file store here), the HTTPS server,
 * and the change signals that reach open pages as server-sent events (a gateway's status or
 * telemetry changed; the stored audit grew).
 */
import { readFile } from 'node:fs/promises';
import type { MqttClient } from 'mqtt';
import { ZonegateError } from '../../policy/errors';
import { createSemaphore } from '../../protocol/web/semaphore';
import { parseTopic, siteFilter } from '../../protocol/mqtt/topics';
import { closeBroker, connectBroker } from '../broker';
import { publishBundle } from '../publish';
import { FileReadStore } from '../store/file-read';
import { createPgReadStore } from '../store/pg/read';
import { StatusBook } from '../store/status-book';
import type { FleetReadStore } from '../store/types';
import type { FleetConsoleConfig } from './config';
import { Rollouts, TelemetryBook } from './rollouts';
import { createConsoleServer, type ConsoleServer } from './server';
import { ConsoleSessions } from './sessions';
import { ConsoleAuth, roleAtLeast } from './users';
import { ConsoleTrail, loggingToTrail } from './trail';
import { dirname, join } from 'node:path';

export interface RunningConsole { server: ConsoleServer; store: FleetReadStore; client: MqttClient; stop(): Promise<void> }

/** Starts everything; resolves once the server listens. ERR_FILE when the certificate or key cannot be read. */
export async function startConsole(o: { config: FleetConsoleConfig; log: (line: string) => void; auditPollMs?: number }): Promise<RunningConsole> {
  const c = o.config;
  let tls: { cert: string; key: string };
  try { tls = { cert: await readFile(c.tls.cert, 'utf8'), key: await readFile(c.tls.key, 'utf8') }; } catch (e) {
    throw new ZonegateError('ERR_FILE', `cannot read the console certificate or key: ${(e as Error).message}`);
  }
  const limiter = createSemaphore({ limit: 1, maxQueued: 32 });
  const auth = new ConsoleAuth({ file: c.users, limiter });
  await auth.reload();
  const client = await connectBroker(c.mqtt);
  const statuses = new StatusBook();
  const telemetry = new TelemetryBook();
  const store = openReadStore(c.store, c.sites, statuses);
  // What people did on the console: logged as before, and appended to the hash-chained trail (trail.ts).
  const trail = ConsoleTrail.open({ file: join(dirname(c.users), 'console-audit.jsonl') });
  const log = loggingToTrail(o.log, trail);
  const deps = {
    trailFile: trail.file,
    store, sites: c.sites, auth, sessions: new ConsoleSessions({ idleMs: c.session.idleMs, maxMs: c.session.maxMs }),
    rollouts: new Rollouts(), telemetry, usersFile: c.users, limiter, roleOk: roleAtLeast, log,
    async publish(p: { site: string; device?: string; bytes: Uint8Array; kind: 'policy' | 'trust' | 'grant' | 'command' }) {
      await publishBundle({ client, site: p.site, device: p.device, all: p.device === undefined, bytes: p.bytes, kind: p.kind, wait: 0 });
    },
  };
  const server = createConsoleServer({ listen: c.listen, tls, deps });
  let pending: NodeJS.Timeout | undefined;
  const changed = (what: string) => { pending ??= setTimeout(() => { pending = undefined; server.notify(what); }, 250); };
  statuses.onChange(() => changed('status'));
  const stopStatus = await statuses.follow(client, c.sites);
  const onTelemetry = (topic: string, payload: Buffer) => {
    const t = parseTopic(topic);
    if (t && t.kind === 'telemetry' && c.sites.includes(t.site)) { telemetry.take(t.site, t.device, payload); changed('telemetry'); }
  };
  client.on('message', onTelemetry);
  for (const site of c.sites) client.subscribe(siteFilter({ site, kind: 'telemetry' }), { qos: 0 });
  let head = '';
  const poll = setInterval(() => {
    store.chains().then((cs) => {
      const h = cs.map((x) => `${x.site}/${x.device}:${x.through}`).join(',');
      if (h !== head) { head = h; changed('audit'); }
    }).catch((e) => o.log(`reading the audit store failed: ${(e as Error).message}`));
  }, o.auditPollMs ?? 1000);
  await server.start();
  return {
    server, store, client,
    async stop() {
      clearInterval(poll);
      if (pending) clearTimeout(pending);
      stopStatus();
      client.off('message', onTelemetry);
      await server.stop();
      await store.close();
      await closeBroker(client);
      trail.close();
    },
  };
}

/**
 * The audit side from the configured store; gateway statuses always from the console's own
 * live subscription (the same documents the collectors copy into the database, without waiting
 * for a collector to run).
 */
export function openReadStore(s: FleetConsoleConfig['store'], sites: readonly string[], statuses: StatusBook): FleetReadStore {
  if (s.kind === 'files') return new FileReadStore({ dir: s.dir, sites: [...sites], statuses });
  const pg = createPgReadStore({ url: s.url });
  return { search: (q) => pg.search(q), denials: (q) => pg.denials(q), chains: (site) => pg.chains(site), gateways: async (site) => statuses.list(site), close: () => pg.close() };
}
