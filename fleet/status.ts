/**
 * The fleet's view of its gateways, read from the retained status messages on
 * `zonegate/v1/<site>/+/status` (protocol/mqtt/status.ts). A status counts only for the device
 * its topic names (the broker's ACL lets a device write only its own status topic).
 */
import type { MqttClient } from 'mqtt';
import { ZonegateError } from '../policy/errors';
import { idProblem, parseTopic, siteFilter } from '../protocol/mqtt/topics';
import { parseStatus, type StatusDocument } from '../protocol/mqtt/status';

export interface WatchFleetOptions {
  client: MqttClient;
  site: string;
  /** Called with the device's new status document (or undefined when its retained status was cleared). */
  onStatus: (device: string, doc: StatusDocument | undefined) => void;
}

/** Subscribes to the site's statuses; resolves once subscribed, with a function that unsubscribes. */
export async function watchFleet(options: WatchFleetOptions): Promise<() => void> {
  const { client, site } = options;
  const p = idProblem(site, 'site');
  if (p) throw new ZonegateError('ERR_USAGE', p);
  const filter = siteFilter({ site, kind: 'status' });
  const onMessage = (t: string, payload: Buffer) => {
    const pt = parseTopic(t);
    if (!pt || pt.kind !== 'status' || pt.site !== site) return;
    if (payload.length === 0) { options.onStatus(pt.device, undefined); return; }
    const d = parseStatus(payload);
    if (d && d.device === pt.device && d.site === site) options.onStatus(pt.device, d);
  };
  client.on('message', onMessage);
  await new Promise<void>((resolve, reject) => client.subscribe(filter, { qos: 1 }, (e) => (e ? reject(e) : resolve())));
  return () => { client.off('message', onMessage); client.unsubscribe(filter); };
}

export interface CollectFleetOptions {
  client: MqttClient;
  site: string;
  /** The retained messages are taken as complete after this long without a new one, ms. Default 300. */
  quietMs?: number;
  /** Upper bound of the whole collection, ms. Default 10,000. */
  maxMs?: number;
}

/**
 * Every gateway's latest retained status, sorted by device. MQTT has no end-of-retained marker
 * (MQTT 5 §3.3.1.3), so collection ends after `quietMs` without a new message.
 */
export async function collectFleetStatus(options: CollectFleetOptions): Promise<StatusDocument[]> {
  const docs = new Map<string, StatusDocument>();
  let poke: (() => void) | undefined;
  const stop = await watchFleet({
    client: options.client, site: options.site,
    onStatus: (device, doc) => { if (doc) docs.set(device, doc); else docs.delete(device); poke?.(); },
  });
  try {
    await new Promise<void>((resolve) => {
      const hard = setTimeout(done, options.maxMs ?? 10_000);
      let quiet = setTimeout(done, options.quietMs ?? 300);
      poke = () => { clearTimeout(quiet); quiet = setTimeout(done, options.quietMs ?? 300); };
      function done() { clearTimeout(hard); clearTimeout(quiet); poke = undefined; resolve(); }
    });
  } finally {
    stop();
  }
  return [...docs.values()].sort((a, b) => (a.device < b.device ? -1 : a.device > b.device ? 1 : 0));
}

function age(ms: number): string {
  if (ms < 0) return 'now';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

const iso = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z'));

/** A fixed-width text table: device, online, policy version, expiry, alarms, last seen, runtime. */
export function formatFleetTable(docs: readonly StatusDocument[], now: number): string {
  const header = ['DEVICE', 'ONLINE', 'POLICY', 'EXPIRES', 'ALARMS', 'LAST SEEN', 'RUNTIME', 'LAST ERROR'];
  const rows = docs.map((d) => [
    d.device,
    d.online ? 'yes' : 'NO',
    d.policyVersion === null ? '-' : `v${d.policyVersion}`,
    iso(d.policyExpiresAt),
    d.alarms.length ? d.alarms.join(',') : '-',
    d.lastSeen ? age(now - d.lastSeen) : '-',
    d.runtimeVersion || '-',
    d.lastError ? `${d.lastError.code}` : '-',
  ]);
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(w[i])).join('  ').trimEnd();
  const online = docs.filter((d) => d.online).length;
  return [line(header), ...rows.map(line), `${docs.length} gateway(s), ${online} online`].join('\n');
}

/** The JSON a script reads: one object per gateway. */
export function fleetJson(docs: readonly StatusDocument[]): { gateways: StatusDocument[]; count: number; online: number } {
  return { gateways: [...docs], count: docs.length, online: docs.filter((d) => d.online).length };
}
