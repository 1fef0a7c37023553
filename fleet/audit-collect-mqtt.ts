/**
 * Connects an AuditCollector to the broker: subscribes QoS 1 to every device's `audit` topic of a
 * site and publishes the collector's acks (QoS 1) on each device's `audit/ack`. The session is
 * persistent (clean false, fixed client id, MQTT 5 session expiry), so batches published while
 * the collector was away wait at the broker; the gateways also resend anything unacked.
 *
 * With a group (scale-out, several collectors over one PostgreSQL store) it subscribes with an
 * MQTT 5 shared subscription, `$share/<group>/zonegate/v1/<site>/+/audit` (MQTT 5 §4.8.2): the
 * broker hands each batch to one member. The session is then clean (no session kept at the
 * broker) unless a client id is given: a member that dies takes only the batches in its hands,
 * and the gateway sends those again when no ack comes (runtime/audit/upload.ts, ackTimeoutMs).
 * Gateway status documents (retained; retained messages never reach shared subscriptions) are
 * read by every member with a plain subscription and handed to onStatus.
 *
 * Resync: whenever the broker answers a (re)connection with no session (a group member's clean
 * session, a broker restarted without persistence, an expired session), batches published before
 * the subscription reached nobody, though the broker acknowledged them to the gateways. So after
 * each such SUBACK the collector publishes one `audit-resync` on `zonegate/v1/<site>/all/...`
 * (protocol/audit/upload-batch.ts, not retained), and every gateway with unacknowledged batches
 * sends them again within spreadMs (runtime/audit/upload.ts) instead of after its ack timeout.
 * Duplicates are dropped by (device, seq) and re-acked. With a session present nothing was lost
 * (the broker queued the batches for it), and nothing is announced.
 */
import type { IClientOptions, IConnackPacket, MqttClient } from 'mqtt';
import { mqttConnect } from '../protocol/mqtt/mqtt-lib';
import { ZonegateError } from '../policy/errors';
import { mqttClientOptions } from '../protocol/mqtt/connect-options';
import { encodeAuditAck, encodeAuditResync, resyncCollectorLabel } from '../protocol/audit/upload-batch';
import { auditResyncTopic, deviceTopic, siteFilter, TOPIC_KINDS } from '../protocol/mqtt/topics';
import { createAuditCollector, type AuditCollector, type AuditCollectorOptions, type BatchResult } from './audit-collect';
import type { BrokerOptions } from './broker';
import { hostname } from 'node:os';

export interface CollectorConnection {
  client: MqttClient;
  collector: AuditCollector;
  /** Epoch ms of the last audit message received (or of the subscription). */
  lastMessageAt(): number;
  /** Unsubscribes, waits for the batches in hand, closes the stores and the connection. */
  close(): Promise<void>;
}

/** The audit subscription: the site's audit topics, shared by the group's members when there is a group. */
export function auditSubscription(site: string, group?: string): string {
  const f = siteFilter({ site, kind: 'audit' });
  return group === undefined ? f : `$share/${group}/${f}`;
}

/** The MQTT options of the collector's persistent session. */
export function collectorClientOptions(o: BrokerOptions & { site: string; group?: string; sessionExpirySeconds?: number }): IClientOptions {
  const opts = mqttClientOptions({ ...o, keepalive: 30 });
  const member = o.group !== undefined && o.clientId === undefined;
  opts.clientId = o.clientId ?? (member ? `zonegate-audit-collect-${o.site}-${o.group}-${hostname()}-${process.pid}` : `zonegate-audit-collect-${o.site}`);
  opts.clean = member;
  opts.reconnectPeriod = 1000;
  // startCollector subscribes again itself on every connection, then announces (resync).
  opts.resubscribe = false;
  opts.connectTimeout = o.connectTimeoutMs ?? 10_000;
  opts.properties = { sessionExpiryInterval: member ? 0 : o.sessionExpirySeconds ?? 7 * 86_400, maximumPacketSize: TOPIC_KINDS.audit.maxBytes + 64 * 1024 };
  return opts;
}

/**
 * Over how long the gateways spread their answers to one resync announcement, ms: 5 ms per device
 * the collector knows (about 200 gateways a second start resending, each at most its window of
 * batches), at least 500 ms, at most 30 s (the uploader's default ack timeout: past 6,000 devices
 * no gateway waits longer than it did without the resync, and the rate grows with the fleet).
 */
export function resyncSpreadMs(devices: number): number {
  return Math.min(30_000, Math.max(500, Math.ceil(devices) * 5));
}

/**
 * Connects, subscribes and starts collecting; rejects ERR_MQTT_CONNECT when the first connection
 * fails. Later disconnects are retried by mqtt.js every second (the subscription is renewed).
 */
export async function startCollector(o: Omit<AuditCollectorOptions, 'ack'> & {
  broker: BrokerOptions; group?: string; onBatch?: (r: BatchResult, topic: string) => void; onError?: (message: string) => void;
  /** Every status document of the site (retained and live); must not throw. */
  onStatus?: (topic: string, payload: Buffer) => void;
  /**
   * Shared store: how often batches held in memory for a hole look at the store again, ms, besides
   * the store's own wake-up when another collector moves the device's end (onAdvance). Default
   * 1,000 (one query per waiting device); 50 without onAdvance.
   */
  retryMs?: number;
  /** The spread announced to the gateways, ms; default resyncSpreadMs(devices known). */
  resyncSpreadMs?: number;
  /** Each resync announcement the broker acknowledged; must not throw. */
  onResync?: (spreadMs: number) => void;
}): Promise<CollectorConnection> {
  const options = collectorClientOptions({ ...o.broker, site: o.site, group: o.group });
  const client = mqttConnect(o.broker.url, options);
  const connack = await new Promise<IConnackPacket>((resolve, reject) => {
    const fail = (why: string) => {
      client.removeAllListeners('connect');
      client.end(true);
      reject(new ZonegateError('ERR_MQTT_CONNECT', `cannot connect to ${o.broker.url}: ${why}`));
    };
    client.once('connect', (p) => { client.removeAllListeners('error'); resolve(p); });
    client.once('error', (e) => fail(e.message));
  });
  client.on('error', (e) => o.onError?.(`mqtt: ${e.message}`));
  const collector = createAuditCollector({
    ...o,
    ack(device, through) {
      client.publish(deviceTopic({ site: o.site, device, kind: 'audit/ack' }), encodeAuditAck({ device, through }), { qos: 1 }, (err) => {
        if (err) o.onError?.(`ack to ${device} not sent: ${err.message}`);
      });
    },
  });
  let last = Date.now();
  const statusFilter = siteFilter({ site: o.site, kind: 'status' });
  client.on('message', (topic, payload) => {
    if (topic.endsWith('/status')) { o.onStatus?.(topic, payload); return; }
    last = Date.now();
    collector.handle(topic, payload).then((r) => o.onBatch?.(r, topic), (e: Error) => o.onError?.(`batch on ${topic} failed: ${e.message}`));
  });
  const filters = [auditSubscription(o.site, o.group), ...(o.onStatus ? [statusFilter] : [])];
  const subscribe = () => new Promise<void>((resolve, reject) => {
    client.subscribe(filters, { qos: 1 }, (err, granted) => {
      if (err) return reject(new ZonegateError('ERR_MQTT_CONNECT', `subscribe failed: ${err.message}`));
      const refused = (granted ?? []).filter((g) => g.qos > 2).map((g) => g.topic);
      if (refused.length > 0) return reject(new ZonegateError('ERR_MQTT_CONNECT', `the broker refused the subscription to ${refused.join(', ')} (ACL? shared subscriptions not supported?)`));
      resolve();
    });
  });
  const resync = resyncAnnouncer({ client, collector, site: o.site, clientId: String(options.clientId), spreadMs: o.resyncSpreadMs, onResync: o.onResync, onError: o.onError });
  await subscribe();
  if (!connack.sessionPresent) resync();
  // Later connections (mqtt.js reconnects every second): subscribe again, then announce.
  client.on('connect', (p) => {
    subscribe().then(() => { if (!p.sessionPresent) resync(); }, (e: Error) => o.onError?.(e.message));
  });
  last = Date.now();
  const retryFailed = (e: Error) => o.onError?.(`retrying waiting batches: ${e.message}`);
  const stopWake = o.store?.onAdvance ? await o.store.onAdvance((device) => { collector.retryPending(device).catch(retryFailed); }) : null;
  const retry = o.store?.shared ? setInterval(() => { collector.retryPending().catch(retryFailed); }, o.retryMs ?? (stopWake ? 1000 : 50)) : null;
  return {
    client,
    collector,
    lastMessageAt: () => last,
    async close() {
      client.removeAllListeners('message');
      client.removeAllListeners('connect');
      if (retry) clearInterval(retry);
      await stopWake?.();
      await collector.idle();
      // Let the last acks reach the broker before DISCONNECT.
      await new Promise<void>((resolve) => client.end(false, {}, () => resolve()));
      await collector.close();
    },
  };
}

/** Publishes one `audit-resync` (QoS 1) with the spread sized for the devices known; never throws. */
function resyncAnnouncer(a: {
  client: MqttClient; collector: AuditCollector; site: string; clientId: string; spreadMs?: number;
  onResync?: (spreadMs: number) => void; onError?: (message: string) => void;
}): () => void {
  const topic = auditResyncTopic(a.site);
  const collector = resyncCollectorLabel(a.clientId);
  return () => {
    void (async () => {
      const spreadMs = a.spreadMs ?? resyncSpreadMs(await a.collector.deviceCount());
      a.client.publish(topic, encodeAuditResync({ site: a.site, collector, spreadMs }), { qos: 1 }, (err) => {
        if (err) a.onError?.(`resync announcement not sent: ${err.message}`);
        else a.onResync?.(spreadMs);
      });
    })().catch((e: Error) => a.onError?.(`resync announcement not sent: ${e.message}`));
  };
}
