/**
 * Shared pieces of the sync tests: a fake handler set that records payloads, manual timers that
 * the test fires by hand, an observer client, and a bounded wait for a condition.
 */
import { connect, type MqttClient, type IClientOptions } from 'mqtt';
import type { SyncHandlers, PayloadMeta, SyncTimers } from '../../runtime/sync/mqtt-sync';
import type { InboundKind } from '../../protocol/mqtt/topics';

export interface Recorded { kind: InboundKind; bytes: Buffer; meta: PayloadMeta }

/** Handlers that record every call; `fail` makes a kind's handler reject with that error. */
export function fakeHandlers(): { handlers: SyncHandlers; calls: Recorded[]; fail: Partial<Record<InboundKind, Error>> } {
  const calls: Recorded[] = [];
  const fail: Partial<Record<InboundKind, Error>> = {};
  const h = (kind: InboundKind) => async (bytes: Uint8Array, meta: PayloadMeta) => {
    calls.push({ kind, bytes: Buffer.from(bytes), meta });
    const e = fail[kind];
    if (e) throw e;
  };
  return { handlers: { policy: h('policy'), trust: h('trust'), grant: h('grant'), command: h('command') }, calls, fail };
}

/** Timers the test fires itself: nothing runs until fire(). */
export function manualTimers(): SyncTimers & { pending: { fn: () => void; ms: number; id: number }[]; fire(ms?: number): number } {
  let next = 1;
  const pending: { fn: () => void; ms: number; id: number }[] = [];
  return {
    pending,
    setTimeout(fn, ms) { const id = next++; pending.push({ fn, ms, id }); return id; },
    clearTimeout(h) { const i = pending.findIndex((p) => p.id === h); if (i >= 0) pending.splice(i, 1); },
    /** Fires the oldest pending timer (of delay `ms` if given); returns its delay. */
    fire(ms) {
      const i = ms === undefined ? 0 : pending.findIndex((p) => p.ms === ms);
      if (i < 0 || i >= pending.length) throw new Error(`no pending timer${ms === undefined ? '' : ` of ${ms} ms`}`);
      const [p] = pending.splice(i, 1);
      p.fn();
      return p.ms;
    },
  };
}

/** Polls cond every 10 ms; throws naming `what` after `limitMs` (a hang guard, not a timing assertion). */
export async function waitFor(cond: () => boolean, what: string, limitMs = 15_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A plain MQTT 5 client, connected. */
export async function observer(url: string, opts: IClientOptions = {}): Promise<MqttClient> {
  const c = connect(url, { protocolVersion: 5, reconnectPeriod: 0, ...opts });
  await new Promise<void>((resolve, reject) => {
    c.once('connect', () => resolve());
    c.once('error', reject);
  });
  return c;
}

export function publish(c: MqttClient, topic: string, payload: Buffer | string, retain = true): Promise<void> {
  return new Promise((resolve, reject) => c.publish(topic, payload, { qos: 1, retain }, (e) => (e ? reject(e) : resolve())));
}

export function subscribe(c: MqttClient, topic: string | string[]): Promise<{ topic: string; qos: number }[]> {
  return new Promise((resolve, reject) => c.subscribe(topic, { qos: 1 }, (e, g) => (e ? reject(e) : resolve((g ?? []).map((x) => ({ topic: x.topic, qos: x.qos }))))));
}

export function end(c: MqttClient | undefined): Promise<void> {
  return new Promise((resolve) => (c ? c.end(true, {}, () => resolve()) : resolve()));
}
