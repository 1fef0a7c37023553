/**
 * The sync's one MQTT 5 connection: a new client per attempt (mqtt.js reconnects nothing itself),
 * capped exponential backoff between attempts, the broker's refusals and DISCONNECTs told once
 * each (refusal-log.ts). Events of a client that is no longer the current one are ignored.
 */
import type { IClientOptions, MqttClient } from 'mqtt';
import type { Backoff } from '../../protocol/backoff';
import { createRefusalLog, type RefusalLog } from './refusal-log';
import { errorOf } from './sync-helpers';
import type { SyncStatus, SyncTimers } from './sync-types';

export interface BrokerLinkOptions {
  url: string;
  /** The CONNECT options of the next attempt (its will is built then). */
  connectOptions: () => IClientOptions;
  connect: (url: string, options: IClientOptions) => MqttClient;
  /** The sync's connection fields, updated in place. */
  st: SyncStatus;
  backoff: Backoff;
  random: () => number;
  now: () => number;
  timers: SyncTimers;
  log: (level: 'info' | 'warn' | 'error', message: string) => void;
  /** The broker accepted `c` (st.connected is already true). */
  onConnected: (c: MqttClient) => void;
  onMessage: (topic: string, payload: Buffer, retained: boolean) => void;
}

/** Connects, reconnects after a close, and stops. */
export class BrokerLink {
  /** The current client, connected or connecting; undefined between attempts and after stop(). */
  client: MqttClient | undefined;
  private stopped = false;
  private retryTimer: unknown;
  private readonly refusals: RefusalLog;

  constructor(private readonly o: BrokerLinkOptions) {
    this.refusals = createRefusalLog({ log: (level, m) => o.log(level, m), now: o.now });
  }

  /** One connection attempt; a failure schedules the next. */
  attempt(): void {
    if (this.stopped) return;
    const { o } = this;
    const opts = o.connectOptions();
    let c: MqttClient;
    try {
      c = o.connect(o.url, opts);
    } catch (e) {
      o.st.lastConnectError = errorOf(e, o.now());
      this.scheduleRetry();
      return;
    }
    this.client = c;
    this.wire(c);
  }

  /** Stops retrying; returns the client that was current (the caller ends it). */
  stop(): MqttClient | undefined {
    this.stopped = true;
    if (this.retryTimer !== undefined) { this.o.timers.clearTimeout(this.retryTimer); this.retryTimer = undefined; }
    this.o.st.nextAttemptAt = null;
    const c = this.client;
    this.client = undefined;
    return c;
  }

  private wire(c: MqttClient): void {
    const { o, refusals } = this;
    const { st } = o;
    let closed = false;
    c.on('connect', () => {
      if (c !== this.client || this.stopped) return;
      st.connected = true;
      st.reconnectAttempts = 0;
      st.lastConnectAt = o.now();
      refusals.connected();
      o.log('info', `connected to ${st.broker}`);
      o.onConnected(c);
    });
    c.on('message', (topic, payload, packet) => {
      if (c !== this.client) return;
      o.onMessage(topic, payload, packet.retain === true);
    });
    c.on('error', (err) => {
      if (c !== this.client) return;
      const message = refusals.refused(`broker ${st.broker} refused or dropped the connection`, err as Error & { code?: unknown });
      st.lastConnectError = { at: o.now(), code: 'ERR_MQTT_CONNECT', message: message.slice(0, 500) };
    });
    // MQTT 5 §3.14: a DISCONNECT from the broker says why (session taken over, not authorized, ...).
    c.on('disconnect', (packet) => {
      if (c !== this.client || this.stopped) return;
      const rc = packet.reasonCode ?? 0;
      refusals.refused(`broker ${st.broker} disconnected us`, { message: `DISCONNECT`, code: rc, reasonString: packet.properties?.reasonString });
    });
    c.on('close', () => {
      if (closed) return;
      closed = true;
      if (c === this.client) {
        this.client = undefined;
        if (st.connected) { st.connected = false; st.lastDisconnectAt = o.now(); }
      }
      c.end(true);
      c.removeAllListeners('message');
      this.scheduleRetry();
    });
  }

  private scheduleRetry(): void {
    const { o } = this;
    if (this.stopped || this.retryTimer !== undefined) return;
    o.st.reconnectAttempts += 1;
    const d = o.backoff.delay(o.st.reconnectAttempts, o.random);
    o.st.nextAttemptAt = o.now() + d;
    o.log('info', `retry ${o.st.reconnectAttempts} in ${d} ms`);
    this.retryTimer = o.timers.setTimeout(() => { this.retryTimer = undefined; o.st.nextAttemptAt = null; this.attempt(); }, d);
  }
}
