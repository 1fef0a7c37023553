/**
 * Connects an AuditCollector to the broker: subscribes QoS 1 to every device's `audit` topic of a
 * site and publishes the collector's acks (QoS 1) on each device's `audit/ack`. The session is
 * persistent (clean false, fixed client id, MQTT 5 session expiry), so batches published while
 * the collector was away wait at the broker; the gateways also resend anything unacked.
 */
import type { IClientOptions, MqttClient } from 'mqtt';
import { mqttConnect } from '../protocol/mqtt/mqtt-lib';
import { ZonegateError } from '../policy/errors';
import { mqttClientOptions } from '../protocol/mqtt/connect-options';
import { encodeAuditAck } from '../protocol/audit/upload-batch';
import { deviceTopic, siteFilter, TOPIC_KINDS } from '../protocol/mqtt/topics';
import { createAuditCollector, type AuditCollector, type AuditCollectorOptions, type BatchResult } from './audit-collect';
import type { BrokerOptions } from './broker';

export interface CollectorConnection {
  client: MqttClient;
  collector: AuditCollector;
  /** Epoch ms of the last audit message received (or of the subscription). */
  lastMessageAt(): number;
  /** Unsubscribes, waits for the batches in hand, closes the stores and the connection. */
  close(): Promise<void>;
}

/** The MQTT options of the collector's persistent session. */
export function collectorClientOptions(o: BrokerOptions & { site: string; sessionExpirySeconds?: number }): IClientOptions {
  const opts = mqttClientOptions({ ...o, keepalive: 30 });
  opts.clientId = o.clientId ?? `zonegate-audit-collect-${o.site}`;
  opts.clean = false;
  opts.reconnectPeriod = 1000;
  opts.resubscribe = true;
  opts.connectTimeout = o.connectTimeoutMs ?? 10_000;
  opts.properties = { sessionExpiryInterval: o.sessionExpirySeconds ?? 7 * 86_400, maximumPacketSize: TOPIC_KINDS.audit.maxBytes + 64 * 1024 };
  return opts;
}

/**
 * Connects, subscribes and starts collecting; rejects ERR_MQTT_CONNECT when the first connection
 * fails. Later disconnects are retried by mqtt.js every second (the subscription is renewed).
 */
export async function startCollector(o: Omit<AuditCollectorOptions, 'ack'> & { broker: BrokerOptions; onBatch?: (r: BatchResult, topic: string) => void; onError?: (message: string) => void }): Promise<CollectorConnection> {
  const client = mqttConnect(o.broker.url, collectorClientOptions({ ...o.broker, site: o.site }));
  await new Promise<void>((resolve, reject) => {
    const fail = (why: string) => {
      client.removeAllListeners('connect');
      client.end(true);
      reject(new ZonegateError('ERR_MQTT_CONNECT', `cannot connect to ${o.broker.url}: ${why}`));
    };
    client.once('connect', () => { client.removeAllListeners('error'); resolve(); });
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
  client.on('message', (topic, payload) => {
    last = Date.now();
    collector.handle(topic, payload).then((r) => o.onBatch?.(r, topic), (e: Error) => o.onError?.(`batch on ${topic} failed: ${e.message}`));
  });
  await new Promise<void>((resolve, reject) => {
    client.subscribe(siteFilter({ site: o.site, kind: 'audit' }), { qos: 1 }, (err, granted) => {
      if (err) return reject(new ZonegateError('ERR_MQTT_CONNECT', `subscribe failed: ${err.message}`));
      if ((granted ?? []).some((g) => g.qos > 2)) return reject(new ZonegateError('ERR_MQTT_CONNECT', `the broker refused the subscription to ${siteFilter({ site: o.site, kind: 'audit' })} (ACL?)`));
      resolve();
    });
  });
  last = Date.now();
  return {
    client,
    collector,
    lastMessageAt: () => last,
    async close() {
      client.removeAllListeners('message');
      await collector.idle();
      // Let the last acks reach the broker before DISCONNECT.
      await new Promise<void>((resolve) => client.end(false, {}, () => resolve()));
      await collector.close();
    },
  };
}
