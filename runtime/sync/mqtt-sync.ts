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
 */
import { createHash } from 'node:crypto';
import type { IClientOptions, MqttClient } from 'mqtt';
import { mqttConnect } from '../../protocol/mqtt/mqtt-lib';
import { ZonegateError } from '../../policy/errors';
import type { AuditSink } from '../../drivers/types';
import { createBackoff, type Backoff, type BackoffOptions } from '../../protocol/backoff';
import { createRefusalLog } from './refusal-log';
import { KindQueue, SeenCache } from './kind-queue';
import { encodeStatus, statusExtras, type GatewayState, type StatusDocument, type StatusError, STATUS_SCHEMA } from '../../protocol/mqtt/status';
import { deviceTopic, gatewaySubscriptions, INBOUND_KINDS, parseTopic, TOPIC_KINDS, type InboundKind } from '../../protocol/mqtt/topics';

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
  limits?: Partial<Record<InboundKind | 'audit/ack', number>>;
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
  /** Resolves once no handler is running or pending (tests, orderly shutdown). */
  idle(): Promise<void>;
}

interface Pending { bytes: Uint8Array; meta: PayloadMeta }

const realTimers: SyncTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

function errorOf(e: unknown, at: number): StatusError {
  const code = e instanceof ZonegateError ? e.code : typeof (e as { code?: unknown })?.code === 'string' ? String((e as { code: string }).code) : 'ERR_HANDLER';
  const message = e instanceof Error ? e.message : String(e);
  return { at, code, message: message.slice(0, 500) };
}

function redactUrl(url: string): string {
  try { const u = new URL(url); u.username = ''; u.password = ''; return u.toString().replace(/\/$/, ''); } catch { return url; }
}

/** Builds the sync. Nothing happens until start(). */
export function createMqttSync(options: MqttSyncOptions): MqttSync {
  const { site, device, handlers } = options;
  const subscriptions = [...gatewaySubscriptions({ site, device }), ...(options.extra?.topics ?? [])]; // throws TypeError on bad ids
  const extra = options.extra;
  for (const k of INBOUND_KINDS) if (typeof handlers?.[k] !== 'function') throw new TypeError(`createMqttSync: handlers.${k} must be a function`);
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const timers = options.timers ?? realTimers;
  const backoff: Backoff = options.backoff && 'delay' in options.backoff ? options.backoff : createBackoff(options.backoff as BackoffOptions | undefined);
  const startedAt = options.startedAt ?? now();
  const refusals = createRefusalLog({ log: (level, m) => log(level, m), now });
  const statusIntervalMs = options.statusIntervalMs ?? 60_000;
  const limits: Record<InboundKind | 'audit/ack', number> = {
    policy: TOPIC_KINDS.policy.maxBytes, trust: TOPIC_KINDS.trust.maxBytes, grant: TOPIC_KINDS.grant.maxBytes,
    command: TOPIC_KINDS.command.maxBytes, 'audit/ack': TOPIC_KINDS['audit/ack'].maxBytes, ...options.limits,
  };
  const maxInbound = Math.max(...Object.values(limits));
  const doConnect = options.connect ?? mqttConnect;
  const log = options.log ?? (() => undefined);
  const statusTopic = deviceTopic({ site, device, kind: 'status' });
  const telemetryTopic = deviceTopic({ site, device, kind: 'telemetry' });
  const auditTopic = deviceTopic({ site, device, kind: 'audit' });

  const queues = {} as Record<InboundKind, KindQueue<Pending>>;
  const running = {} as Record<InboundKind, string | undefined>;
  const failed = {} as Record<InboundKind, Map<string, Pending>>;
  for (const k of INBOUND_KINDS) {
    queues[k] = new KindQueue<Pending>(options.queueDepth ?? 8, TOPIC_KINDS[k].retained);
    failed[k] = new Map();
  }
  const seen = new SeenCache(options.dedupeSize ?? 64);
  const applied: Partial<Record<InboundKind, string>> = {};
  const ackListeners = new Set<(bytes: Uint8Array) => void>();
  let idleWaiters: (() => void)[] = [];

  const st: SyncStatus = {
    connected: false, broker: redactUrl(options.url), lastConnectAt: null, lastDisconnectAt: null,
    reconnectAttempts: 0, nextAttemptAt: null, messagesReceived: 0, messagesRefused: 0, messagesDuplicate: 0,
    queueDropped: 0, handlerErrors: 0, handled: 0, telemetryDropped: 0, lastError: null, lastConnectError: null,
  };
  let client: MqttClient | undefined;
  let started = false;
  let stopped = false;
  let retryTimer: unknown;
  let statusTimer: unknown;

  function setError(e: StatusError): void {
    st.lastError = e;
  }

  function statusDocument(online = st.connected): StatusDocument {
    const s = options.state?.() ?? {};
    const mine = st.lastError;
    const theirs = s.lastError ?? null;
    const t = now();
    return {
      schema: STATUS_SCHEMA,
      device, site, online,
      policyVersion: s.policyVersion ?? null,
      policyHash: s.policyHash ?? applied.policy ?? null,
      policyExpiresAt: s.policyExpiresAt ?? null,
      applied: { ...applied },
      lastError: mine && theirs ? (mine.at >= theirs.at ? mine : theirs) : (mine ?? theirs),
      uptimeSeconds: Math.max(0, Math.floor((t - startedAt) / 1000)),
      alarms: s.alarms ? [...s.alarms] : [],
      runtimeVersion: options.runtimeVersion,
      lastSeen: t,
      ...statusExtras(s),
    };
  }

  // refreshStatus() asks; the ask is answered once, on the next turn of the event loop, unless a
  // publish happens first (a handler that activated a bundle returns, and drain publishes): one
  // activation told to the sync by several parts is one status document.
  let refreshAsked = false;
  function refreshStatus(): void {
    if (refreshAsked) return;
    refreshAsked = true;
    setImmediate(() => { if (refreshAsked) publishStatus(); });
  }

  function publishStatus(): void {
    refreshAsked = false;
    const c = client;
    if (!c || !st.connected) return;
    c.publish(statusTopic, encodeStatus(statusDocument(true)), { qos: 1, retain: true }, (err) => {
      if (err && c === client) log('warn', `status publish failed: ${err.message}`);
    });
  }

  function armStatusTimer(): void {
    if (statusTimer !== undefined) timers.clearTimeout(statusTimer);
    statusTimer = stopped ? undefined : timers.setTimeout(() => { statusTimer = undefined; publishStatus(); armStatusTimer(); }, statusIntervalMs);
  }

  function refuse(topic: string, reason: string, detail: Record<string, unknown>): void {
    st.messagesRefused += 1;
    const at = now();
    setError({ at, code: 'ERR_MQTT_PAYLOAD', message: reason });
    log('warn', `refused ${topic}: ${reason}`);
    try {
      options.audit?.record({ kind: 'policy', at, source: 'mqtt-sync', message: reason, detail: { topic, ...detail } });
    } catch { /* an audit sink must not throw; if it does, the sync carries on */ }
    publishStatus();
  }

  function onMessage(topic: string, payload: Buffer, retained: boolean): void {
    st.messagesReceived += 1;
    if (extra && extra.topics.includes(topic)) {
      const max = extra.maxBytes(topic);
      if (payload.length > max) { refuse(topic, `payload of ${payload.length} bytes exceeds the ${max}-byte limit`, { bytes: payload.length, limit: max }); return; }
      if (payload.length === 0) return;
      try { extra.onMessage(topic, new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength)); } catch (e) { log('error', `${topic}: ${(e as Error).message}`); }
      return;
    }
    const t = parseTopic(topic);
    // 1. ours? (a broker or ACL mistake must not feed us another device's payloads)
    if (!t || t.site !== site || (t.device !== device && !t.siteWide) || !(t.kind in limits)) {
      refuse(topic, 'message on an unexpected topic', { bytes: payload.length });
      return;
    }
    const kind = t.kind as InboundKind | 'audit/ack';
    // 2. size before anything else
    if (payload.length > limits[kind]) {
      refuse(topic, `${kind} payload of ${payload.length} bytes exceeds the ${limits[kind]}-byte limit`, { bytes: payload.length, limit: limits[kind] });
      return;
    }
    if (kind === 'audit/ack') {
      for (const cb of ackListeners) {
        try { cb(payload); } catch (e) { log('error', `audit/ack listener failed: ${(e as Error).message}`); }
      }
      return;
    }
    // 3. a zero-length retained message only clears the broker's copy
    if (payload.length === 0) return;
    // 4. dedupe identical bytes on the same topic
    const hash = createHash('sha256').update(payload).digest('hex');
    const key = `${topic}\u0000${hash}`;
    if (seen.has(key) || running[kind] === key || queues[kind].has(key)) {
      st.messagesDuplicate += 1;
      return;
    }
    // 5. queue for the kind's handler
    const q = queues[kind];
    const before = q.dropped;
    q.push({ topic, key, value: { bytes: payload, meta: { topic, kind, siteWide: t.siteWide, retained, hash, receivedAt: now() } } });
    st.queueDropped += q.dropped - before;
    void drain(kind);
  }

  async function drain(kind: InboundKind): Promise<void> {
    if (running[kind] !== undefined) return;
    const q = queues[kind];
    for (let e = q.shift(); e; e = q.shift()) {
      running[kind] = e.key;
      try {
        await handlers[kind](e.value.bytes, e.value.meta);
        st.handled += 1;
        applied[kind] = e.value.meta.hash;
        seen.add(e.key);
        failed[kind].delete(e.topic);
        if (kind === 'trust') retryFailed();
      } catch (err) {
        st.handlerErrors += 1;
        setError(errorOf(err, now()));
        failed[kind].set(e.topic, e.value);
        log('warn', `${kind} from ${e.topic} refused: ${(err as Error)?.message ?? err}`);
      }
      running[kind] = undefined;
      publishStatus();
    }
    if (INBOUND_KINDS.every((k) => running[k] === undefined && queues[k].length === 0)) {
      const w = idleWaiters; idleWaiters = [];
      for (const f of w) f();
    }
  }

  // A new trust root may make a refused bundle acceptable: give the refused ones another go.
  function retryFailed(): void {
    for (const k of INBOUND_KINDS) {
      if (k === 'trust') continue;
      for (const [topic, p] of failed[k]) {
        const key = `${topic}\u0000${p.meta.hash}`;
        if (queues[k].has(key) || running[k] === key) continue;
        const before = queues[k].dropped;
        queues[k].push({ topic, key, value: p });
        st.queueDropped += queues[k].dropped - before;
      }
      failed[k].clear();
      void drain(k);
    }
  }

  function scheduleRetry(): void {
    if (stopped || retryTimer !== undefined) return;
    st.reconnectAttempts += 1;
    const d = backoff.delay(st.reconnectAttempts, random);
    st.nextAttemptAt = now() + d;
    log('info', `retry ${st.reconnectAttempts} in ${d} ms`);
    retryTimer = timers.setTimeout(() => { retryTimer = undefined; st.nextAttemptAt = null; attempt(); }, d);
  }

  function attempt(): void {
    if (stopped) return;
    const will = statusDocument(false);
    const opts: IClientOptions = {
      clientId: `zonegate-${site}-${device}`,
      clean: false,
      ...options.clientOptions,
      protocolVersion: 5,
      reconnectPeriod: 0,
      resubscribe: false,
      will: { topic: statusTopic, payload: encodeStatus(will), qos: 1, retain: true },
      properties: {
        ...options.clientOptions?.properties,
        sessionExpiryInterval: options.sessionExpirySeconds ?? 86_400,
        // MQTT 5 §3.1.2.11.4: the broker must not send us anything bigger than this (it drops such
        // messages unseen). Twice the largest cap, so that moderately oversize payloads still
        // arrive to be refused, counted and reported, while a huge one cannot exhaust memory.
        maximumPacketSize: Math.min(2 * maxInbound + 64 * 1024, 268_435_455),
      },
    };
    let c: MqttClient;
    try {
      c = doConnect(options.url, opts);
    } catch (e) {
      st.lastConnectError = errorOf(e, now());
      scheduleRetry();
      return;
    }
    client = c;
    let closed = false;
    c.on('connect', () => {
      if (c !== client || stopped) return;
      st.connected = true;
      st.reconnectAttempts = 0;
      st.lastConnectAt = now();
      refusals.connected();
      log('info', `connected to ${st.broker}`);
      c.subscribe(subscriptions, { qos: 1 }, (err, granted) => {
        if (c !== client) return;
        if (err) { setError(errorOf(err, now())); log('error', `subscribe failed: ${err.message}`); }
        const refused = (granted ?? []).filter((g) => g.qos > 2);
        if (refused.length) setError({ at: now(), code: 'ERR_MQTT_CONNECT', message: `broker refused subscriptions: ${refused.map((g) => g.topic).join(', ')}` });
        publishStatus();
      });
      publishStatus();
      armStatusTimer();
    });
    c.on('message', (topic, payload, packet) => {
      if (c !== client) return;
      onMessage(topic, payload, packet.retain === true);
    });
    c.on('error', (err) => {
      if (c !== client) return;
      const message = refusals.refused(`broker ${st.broker} refused or dropped the connection`, err as Error & { code?: unknown });
      st.lastConnectError = { at: now(), code: 'ERR_MQTT_CONNECT', message: message.slice(0, 500) };
    });
    // MQTT 5 §3.14: a DISCONNECT from the broker says why (session taken over, not authorized, ...).
    c.on('disconnect', (packet) => {
      if (c !== client || stopped) return;
      const rc = packet.reasonCode ?? 0;
      refusals.refused(`broker ${st.broker} disconnected us`, { message: `DISCONNECT`, code: rc, reasonString: packet.properties?.reasonString });
    });
    c.on('close', () => {
      if (closed) return;
      closed = true;
      if (c === client) {
        client = undefined;
        if (st.connected) { st.connected = false; st.lastDisconnectAt = now(); }
      }
      c.end(true);
      c.removeAllListeners('message');
      scheduleRetry();
    });
  }

  return {
    async start(signal) {
      if (started) throw new TypeError('MqttSync: already started');
      started = true;
      signal?.addEventListener('abort', () => { void this.stop(); }, { once: true });
      attempt();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      refreshAsked = false; // publishStatus() finds no client from here on anyway
      if (retryTimer !== undefined) { timers.clearTimeout(retryTimer); retryTimer = undefined; }
      if (statusTimer !== undefined) { timers.clearTimeout(statusTimer); statusTimer = undefined; }
      st.nextAttemptAt = null;
      const c = client;
      client = undefined;
      if (!c) return;
      const wasConnected = st.connected;
      if (wasConnected) {
        await new Promise<void>((resolve) => {
          const h = timers.setTimeout(resolve, 2000);
          c.publish(statusTopic, encodeStatus(statusDocument(false)), { qos: 1, retain: true }, () => { timers.clearTimeout(h); resolve(); });
        });
      }
      st.connected = false;
      st.lastDisconnectAt = now();
      // A clean DISCONNECT (MQTT 5 §3.14.2.1 reason 0) discards the will: the offline status above stands.
      await new Promise<void>((resolve) => c.end(!wasConnected, {}, () => resolve()));
    },
    status: () => ({ ...st }),
    statusDocument: () => statusDocument(),
    refreshStatus,
    publishTelemetry(payload) {
      const bytes = payload instanceof Uint8Array ? payload : Buffer.from(JSON.stringify(payload), 'utf8');
      const c = client;
      if (!c || !st.connected || bytes.length > TOPIC_KINDS.telemetry.maxBytes) { st.telemetryDropped += 1; return false; }
      c.publish(telemetryTopic, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), { qos: 0 });
      return true;
    },
    publishAuditBatch(bytes) {
      const c = client;
      if (bytes.length > TOPIC_KINDS.audit.maxBytes) {
        return Promise.reject(new ZonegateError('ERR_MQTT_PAYLOAD', `audit batch of ${bytes.length} bytes exceeds ${TOPIC_KINDS.audit.maxBytes}`));
      }
      if (!c || !st.connected) return Promise.reject(new ZonegateError('ERR_MQTT_OFFLINE', 'not connected to the broker'));
      return new Promise((resolve, reject) => {
        c.publish(auditTopic, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), { qos: 1 }, (err) => {
          if (err) reject(new ZonegateError('ERR_MQTT_OFFLINE', `audit batch not acknowledged: ${err.message}`, { cause: err }));
          else resolve();
        });
      });
    },
    onAuditAck(cb) {
      ackListeners.add(cb);
      return () => { ackListeners.delete(cb); };
    },
    idle() {
      if (INBOUND_KINDS.every((k) => running[k] === undefined && queues[k].length === 0)) return Promise.resolve();
      return new Promise((resolve) => idleWaiters.push(resolve));
    },
  };
}
