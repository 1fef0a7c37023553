/**
 * The public shapes of the gateway's MQTT sync (mqtt-sync.ts): what handlers receive, the
 * options, the sync's own status and its interface.
 */
import type { IClientOptions, MqttClient } from 'mqtt';
import type { AuditSink } from '../../drivers/types';
import type { Backoff, BackoffOptions } from '../../protocol/backoff';
import type { GatewayState, StatusDocument, StatusError } from '../../protocol/mqtt/status';
import type { InboundKind } from '../../protocol/mqtt/topics';
import type { AuditResync } from '../../protocol/audit/upload-batch';

/** What a handler learns about a payload besides its bytes. None of it is signed. */
export interface PayloadMeta {
  topic: string;
  kind: InboundKind;
  /** Came on the site-wide `all` topic. */
  siteWide: boolean;
  retained: boolean;
  /** Lower-case hex sha256 of the bytes. */
  hash: string;
  /** Epoch ms. */
  receivedAt: number;
}

/**
 * Receives raw payloads, one call at a time per kind. Resolve = accepted (or already active,
 * idempotent); reject = refused (the error's `code` and message go into the status).
 */
export type SyncHandlers = Record<InboundKind, (bytes: Uint8Array, meta: PayloadMeta) => Promise<void>>;

export interface SyncTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface MqttSyncOptions {
  site: string;
  device: string;
  /** Broker URL, e.g. mqtts://broker:8883. */
  url: string;
  /** mqtt.js options (credentials, TLS), e.g. from mqttClientOptions(config). */
  clientOptions?: IClientOptions;
  handlers: SyncHandlers;
  /** The store's active policy and the alarms, read whenever a status is written. */
  state?: () => GatewayState;
  /** Refused payloads are recorded here (kind 'policy', source 'mqtt-sync'). */
  audit?: AuditSink;
  runtimeVersion: string;
  /** Epoch ms at which the runtime started (uptime). Default: now() at construction. */
  startedAt?: number;
  now?: () => number;
  random?: () => number;
  timers?: SyncTimers;
  backoff?: Backoff | BackoffOptions;
  /** Republish the status this often, ms. Default 60,000. */
  statusIntervalMs?: number;
  /** Payload caps by kind in bytes; defaults from topics.ts (policy 4 MiB). */
  limits?: Partial<Record<InboundKind | 'audit/ack' | 'audit-resync', number>>;
  /** Pending payloads per kind. Default 8. */
  queueDepth?: number;
  /** Remembered accepted (topic, hash) pairs. Default 64. */
  dedupeSize?: number;
  /** MQTT 5 session expiry, seconds: QoS 1 messages wait at the broker this long. Default 86,400. */
  sessionExpirySeconds?: number;
  /** Diagnostics; never required. */
  log?: (level: 'info' | 'warn' | 'error', message: string) => void;
  /**
   * More subscriptions for another part (runtime updates): their messages skip the bundle queues
   * and go to onMessage as raw bytes, after the same size-before-anything check (maxBytes).
   */
  extra?: { topics: readonly string[]; maxBytes(topic: string): number; onMessage(topic: string, bytes: Uint8Array): void };
  /** Replaces mqtt.connect (tests). */
  connect?: (url: string, options: IClientOptions) => MqttClient;
}

/** The sync's own view, for the gateway's status command. */
export interface SyncStatus {
  connected: boolean;
  broker: string;
  lastConnectAt: number | null;
  lastDisconnectAt: number | null;
  /** Failed attempts since the last successful connection. */
  reconnectAttempts: number;
  /** When the next attempt is due (epoch ms), null while connected or stopped. */
  nextAttemptAt: number | null;
  messagesReceived: number;
  messagesRefused: number;
  messagesDuplicate: number;
  queueDropped: number;
  handlerErrors: number;
  handled: number;
  telemetryDropped: number;
  /** The last refused payload, handler error or refused subscription (also in the status document). */
  lastError: StatusError | null;
  /** The last connection failure (kept out of the status document: it would mask payload errors). */
  lastConnectError: StatusError | null;
}

export interface MqttSync {
  /** Starts connecting in the background; resolves at once (enforcement never waits). */
  start(signal?: AbortSignal): Promise<void>;
  /** Publishes an offline status when connected, disconnects cleanly (no will), stops retrying. */
  stop(): Promise<void>;
  status(): SyncStatus;
  /** The status document as it would be published now. */
  statusDocument(): StatusDocument;
  /** Publishes the status soon (call it when the gateway's state changed); asks in one turn of the event loop make one document. */
  refreshStatus(): void;
  /** QoS 0, not retained; false (and counted) when offline or over the cap. */
  publishTelemetry(payload: Uint8Array | Record<string, unknown>): boolean;
  /** QoS 1 on `.../audit`; resolves on PUBACK, rejects ERR_MQTT_OFFLINE / ERR_MQTT_PAYLOAD. */
  publishAuditBatch(bytes: Uint8Array): Promise<void>;
  /** Called with each `audit/ack` payload (raw bytes); returns an unsubscribe function. */
  onAuditAck(cb: (bytes: Uint8Array) => void): () => void;
  /** Called with each well-formed `audit-resync` of our site (malformed ones are refused and audit-logged); returns an unsubscribe function. */
  onAuditResync(cb: (r: AuditResync) => void): () => void;
  /** Called each time the connection to the broker is (re)established; returns an unsubscribe function. */
  onConnected(cb: () => void): () => void;
  /** Resolves once no handler is running or pending (tests, orderly shutdown). */
  idle(): Promise<void>;
}
