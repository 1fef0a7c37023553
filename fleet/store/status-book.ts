/**
 * The last status document of every gateway, kept in memory from the retained status topics
 * (fleet/status.ts watchFleet). A store without a table of its own for gateway state (the file
 * store) answers FleetReadStore.gateways() from it.
 */
import type { MqttClient } from 'mqtt';
import type { StatusDocument } from '../../protocol/mqtt/status';
import { watchFleet } from '../status';

export class StatusBook {
  private readonly docs = new Map<string, StatusDocument>();
  private readonly listeners = new Set<(doc: StatusDocument | { site: string; device: string; removed: true }) => void>();

  /**
   * Keeps `doc` as the gateway's status. The last message on the topic wins, whatever its
   * lastSeen: MQTT keeps one topic's messages in order, and a gateway's last will (offline) was
   * written when it connected, so it is older than the statuses it replaces.
   */
  set(doc: StatusDocument): void {
    const key = `${doc.site}\u0000${doc.device}`;
    this.docs.set(key, doc);
    for (const l of this.listeners) l(doc);
  }

  delete(site: string, device: string): void {
    if (this.docs.delete(`${site}\u0000${device}`)) for (const l of this.listeners) l({ site, device, removed: true });
  }

  /** The gateways of `site` (every site when undefined), sorted by site then device. */
  list(site?: string): StatusDocument[] {
    const out = [...this.docs.values()].filter((d) => site === undefined || d.site === site);
    return out.sort((a, b) => (a.site === b.site ? cmp(a.device, b.device) : cmp(a.site, b.site)));
  }

  /** Calls `fn` on every change; returns a function that stops it. */
  onChange(fn: (doc: StatusDocument | { site: string; device: string; removed: true }) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Follows the retained status topics of `sites` on `client`; resolves once subscribed, with a stop function. */
  async follow(client: MqttClient, sites: readonly string[]): Promise<() => void> {
    const stops: (() => void)[] = [];
    for (const site of sites) {
      stops.push(await watchFleet({ client, site, onStatus: (device, doc) => (doc ? this.set(doc) : this.delete(site, device)) }));
    }
    return () => { for (const s of stops) s(); };
  }
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
