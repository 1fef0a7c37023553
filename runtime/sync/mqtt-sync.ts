/**
 * The gateway side of MQTT sync (design.md "MQTT"). It runs beside enforcement and never blocks
 * it: it keeps one MQTT 5 connection with capped exponential backoff, subscribes (QoS 1) to the
 * device's and the site's policy/trust/grant/command topics, hands the RAW payload bytes to the
 * handlers (the store verifies; nothing here believes a payload), and publishes a retained status
 * with a retained last will that says offline.
 *
 * Order of checks on every inbound message (style.md "check everything first"):
 *   1. the topic is one of ours (site, device or `all`, a known kind)       else refused
 *   2. size cap of the kind, before any decoding                           else refused, audited
 *   3. empty payload = a cleared retained message                          ignored
 *   4. sha256; the same bytes on the same topic already accepted, pending
 *      or in flight (QoS 1 redelivery, retained replay on reconnect)        deduplicated
 *   5. queued for the kind's handler (bounded, newest per topic wins); handlers of one kind run
 *      one at a time, their errors are caught, counted and shown in the status.
 *
 * The parts: inbound.ts (steps 1-5, the queues and handlers), status-publisher.ts (the retained
 * status), broker-link.ts (the connection and its backoff); this file wires them and publishes
 * telemetry and audit batches.
 */
import type { MqttClient } from 'mqtt';
import { mqttConnect } from '../../protocol/mqtt/mqtt-lib';
import { ZonegateError } from '../../policy/errors';
import { createBackoff, type Backoff, type BackoffOptions } from '../../protocol/backoff';
import { encodeStatus } from '../../protocol/mqtt/status';
import { deviceTopic, gatewaySubscriptions, INBOUND_KINDS, TOPIC_KINDS } from '../../protocol/mqtt/topics';
import { BrokerLink } from './broker-link';
import { Inbound } from './inbound';
import { StatusPublisher } from './status-publisher';
import { connectOptions, errorOf, inboundLimits, realTimers, redactUrl } from './sync-helpers';
import type { MqttSync, MqttSyncOptions, SyncStatus } from './sync-types';

export type { MqttSync, MqttSyncOptions, PayloadMeta, SyncHandlers, SyncStatus, SyncTimers } from './sync-types';

/** Builds the sync. Nothing happens until start(). */
export function createMqttSync(options: MqttSyncOptions): MqttSync {
  const { site, device, handlers } = options;
  const subscriptions = [...gatewaySubscriptions({ site, device }), ...(options.extra?.topics ?? [])]; // throws TypeError on bad ids
  for (const k of INBOUND_KINDS) if (typeof handlers?.[k] !== 'function') throw new TypeError(`createMqttSync: handlers.${k} must be a function`);
  const now = options.now ?? Date.now;
  const timers = options.timers ?? realTimers;
  const backoff: Backoff = options.backoff && 'delay' in options.backoff ? options.backoff : createBackoff(options.backoff as BackoffOptions | undefined);
  const limits = inboundLimits(options.limits);
  const maxInbound = Math.max(...Object.values(limits));
  const log = options.log ?? (() => undefined);
  const statusTopic = deviceTopic({ site, device, kind: 'status' });
  const st: SyncStatus = {
    connected: false, broker: redactUrl(options.url), lastConnectAt: null, lastDisconnectAt: null,
    reconnectAttempts: 0, nextAttemptAt: null, messagesReceived: 0, messagesRefused: 0, messagesDuplicate: 0,
    queueDropped: 0, handlerErrors: 0, handled: 0, telemetryDropped: 0, lastError: null, lastConnectError: null,
  };
  const connectedListeners = new Set<() => void>();
  const inbound = new Inbound({
    site, device, handlers, limits, extra: options.extra, queueDepth: options.queueDepth ?? 8, dedupeSize: options.dedupeSize ?? 64,
    st, audit: options.audit, now, log, publishStatus: () => status.publish(),
  });
  const status: StatusPublisher = new StatusPublisher({
    site, device, runtimeVersion: options.runtimeVersion, startedAt: options.startedAt ?? now(), topic: statusTopic,
    intervalMs: options.statusIntervalMs ?? 60_000, state: options.state, st, applied: inbound.applied, refused: inbound.refused,
    client: () => link.client, now, timers, log,
  });
  const link: BrokerLink = new BrokerLink({
    url: options.url, connect: options.connect ?? mqttConnect, st, backoff, random: options.random ?? Math.random, now, timers, log,
    connectOptions: () => connectOptions({ options, statusTopic, will: encodeStatus(status.document(false)), maxInbound }),
    onConnected: (c) => {
      c.subscribe(subscriptions, { qos: 1 }, (err, granted) => {
        if (c !== link.client) return;
        if (err) { st.lastError = errorOf(err, now()); log('error', `subscribe failed: ${err.message}`); }
        const refused = (granted ?? []).filter((g) => g.qos > 2);
        if (refused.length) st.lastError = { at: now(), code: 'ERR_MQTT_CONNECT', message: `broker refused subscriptions: ${refused.map((g) => g.topic).join(', ')}` };
        status.publish();
      });
      status.publish();
      status.start();
      for (const cb of [...connectedListeners]) cb();
    },
    onMessage: (topic, payload, retained) => inbound.onMessage(topic, payload, retained),
  });
  return syncApi({ options, st, inbound, status, link, connectedListeners });
}

// The MqttSync interface over the parts.
function syncApi(p: { options: MqttSyncOptions; st: SyncStatus; inbound: Inbound; status: StatusPublisher; link: BrokerLink; connectedListeners: Set<() => void> }): MqttSync {
  const { options, st, inbound, status, link, connectedListeners } = p;
  const telemetryTopic = deviceTopic({ site: options.site, device: options.device, kind: 'telemetry' });
  const auditTopic = deviceTopic({ site: options.site, device: options.device, kind: 'audit' });
  let started = false;
  let stopped = false;
  return {
    async start(signal) {
      if (started) throw new TypeError('MqttSync: already started');
      started = true;
      signal?.addEventListener('abort', () => { void this.stop(); }, { once: true });
      link.attempt();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      status.stop();
      const c = link.stop();
      if (!c) return;
      const wasConnected = st.connected;
      if (wasConnected) await status.publishOffline(c);
      st.connected = false;
      st.lastDisconnectAt = (options.now ?? Date.now)();
      // A clean DISCONNECT (MQTT 5 §3.14.2.1 reason 0) discards the will: the offline status above stands.
      await new Promise<void>((resolve) => c.end(!wasConnected, {}, () => resolve()));
    },
    status: () => ({ ...st }),
    statusDocument: () => status.document(),
    refreshStatus: () => status.refresh(),
    publishTelemetry(payload) {
      const bytes = payload instanceof Uint8Array ? payload : Buffer.from(JSON.stringify(payload), 'utf8');
      const c = link.client;
      if (!c || !st.connected || bytes.length > TOPIC_KINDS.telemetry.maxBytes) { st.telemetryDropped += 1; return false; }
      c.publish(telemetryTopic, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), { qos: 0 });
      return true;
    },
    publishAuditBatch: (bytes) => publishAudit(link.client, st, auditTopic, bytes),
    onAuditAck: (cb) => inbound.onAuditAck(cb),
    onAuditResync: (cb) => inbound.onAuditResync(cb),
    onConnected(cb) { connectedListeners.add(cb); return () => { connectedListeners.delete(cb); }; },
    idle: () => inbound.idle(),
  };
}

// QoS 1 on `.../audit`: resolves on PUBACK, rejects ERR_MQTT_OFFLINE / ERR_MQTT_PAYLOAD.
function publishAudit(c: MqttClient | undefined, st: SyncStatus, topic: string, bytes: Uint8Array): Promise<void> {
  if (bytes.length > TOPIC_KINDS.audit.maxBytes) {
    return Promise.reject(new ZonegateError('ERR_MQTT_PAYLOAD', `audit batch of ${bytes.length} bytes exceeds ${TOPIC_KINDS.audit.maxBytes}`));
  }
  if (!c || !st.connected) return Promise.reject(new ZonegateError('ERR_MQTT_OFFLINE', 'not connected to the broker'));
  return new Promise((resolve, reject) => {
    c.publish(topic, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), { qos: 1 }, (err) => {
      if (err) reject(new ZonegateError('ERR_MQTT_OFFLINE', `audit batch not acknowledged: ${err.message}`, { cause: err }));
      else resolve();
    });
  });
}
