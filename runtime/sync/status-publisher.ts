/**
 * The sync's retained status (design.md "MQTT"): the document built from the gateway's state and
 * the sync's own, published on connect, after each handled or refused payload, every
 * `intervalMs`, and soon after refresh() (asks in one turn of the event loop make one document).
 */
import type { MqttClient } from 'mqtt';
import { encodeStatus, statusExtras, STATUS_SCHEMA, type GatewayState, type StatusDocument, type StatusRefusal } from '../../protocol/mqtt/status';
import type { InboundKind } from '../../protocol/mqtt/topics';
import type { SyncStatus, SyncTimers } from './sync-types';

export interface StatusPublisherOptions {
  site: string;
  device: string;
  runtimeVersion: string;
  startedAt: number;
  topic: string;
  intervalMs: number;
  state?: () => GatewayState;
  /** The sync's own view (connected, lastError). */
  st: SyncStatus;
  /** The hashes the handlers accepted last, by kind. */
  applied: Partial<Record<InboundKind, string>>;
  /** The payloads the handlers refused last, by kind (none: the document leaves `refused` out). */
  refused?: Partial<Record<InboundKind, StatusRefusal>>;
  /** The client to publish on, while there is one. */
  client: () => MqttClient | undefined;
  now: () => number;
  timers: SyncTimers;
  log: (level: 'info' | 'warn' | 'error', message: string) => void;
}

/** Builds and publishes the status document; start() arms the periodic publication, stop() ends every publication. */
export class StatusPublisher {
  private refreshAsked = false;
  private timer: unknown;
  private stopped = false;

  constructor(private readonly o: StatusPublisherOptions) {}

  /** The document as it would be published now (`online` false for the will and the last word). */
  document(online = this.o.st.connected): StatusDocument {
    const { o } = this;
    const s = o.state?.() ?? {};
    const mine = o.st.lastError;
    const theirs = s.lastError ?? null;
    const t = o.now();
    return {
      schema: STATUS_SCHEMA,
      device: o.device, site: o.site, online,
      policyVersion: s.policyVersion ?? null,
      policyHash: s.policyHash ?? o.applied.policy ?? null,
      policyExpiresAt: s.policyExpiresAt ?? null,
      applied: { ...o.applied },
      lastError: mine && theirs ? (mine.at >= theirs.at ? mine : theirs) : (mine ?? theirs),
      uptimeSeconds: Math.max(0, Math.floor((t - o.startedAt) / 1000)),
      alarms: s.alarms ? [...s.alarms] : [],
      runtimeVersion: o.runtimeVersion,
      lastSeen: t,
      ...statusExtras(s),
      ...(o.refused && Object.keys(o.refused).length ? { refused: { ...o.refused } } : {}),
    };
  }

  // refresh() asks; the ask is answered once, on the next turn of the event loop, unless a
  // publish happens first (a handler that activated a bundle returns, and drain publishes): one
  // activation told to the sync by several parts is one status document.
  refresh(): void {
    if (this.refreshAsked) return;
    this.refreshAsked = true;
    setImmediate(() => { if (this.refreshAsked) this.publish(); });
  }

  /** Publishes the document now (retained, QoS 1) when connected. */
  publish(): void {
    this.refreshAsked = false;
    const c = this.o.client();
    if (!c || !this.o.st.connected) return;
    c.publish(this.o.topic, encodeStatus(this.document(true)), { qos: 1, retain: true }, (err) => {
      if (err && c === this.o.client()) this.o.log('warn', `status publish failed: ${err.message}`);
    });
  }

  /** (Re)arms the periodic publication. */
  start(): void {
    if (this.timer !== undefined) this.o.timers.clearTimeout(this.timer);
    this.timer = this.stopped ? undefined : this.o.timers.setTimeout(() => { this.timer = undefined; this.publish(); this.start(); }, this.o.intervalMs);
  }

  /** Drops a pending refresh and the timer; nothing is published from here on but publishOffline. */
  stop(): void {
    this.stopped = true;
    this.refreshAsked = false; // publish() finds no client from here on anyway
    if (this.timer !== undefined) { this.o.timers.clearTimeout(this.timer); this.timer = undefined; }
  }

  /** The last word on `c`: the offline document, resolved on PUBACK or after 2 s. */
  publishOffline(c: MqttClient): Promise<void> {
    return new Promise<void>((resolve) => {
      const h = this.o.timers.setTimeout(resolve, 2000);
      c.publish(this.o.topic, encodeStatus(this.document(false)), { qos: 1, retain: true }, () => { this.o.timers.clearTimeout(h); resolve(); });
    });
  }
}
