/**
 * Pure helpers of the MQTT sync (mqtt-sync.ts): error and URL shapes for the status, the payload
 * caps by kind, and the MQTT 5 CONNECT options with their retained last will.
 */
import type { IClientOptions } from 'mqtt';
import { ZonegateError } from '../../policy/errors';
import type { StatusError } from '../../protocol/mqtt/status';
import { TOPIC_KINDS, type InboundKind } from '../../protocol/mqtt/topics';
import type { MqttSyncOptions, SyncTimers } from './sync-types';

/** Payload caps by kind (inbound kinds, `audit/ack` and `audit-resync`), in bytes. */
export type InboundLimits = Record<InboundKind | 'audit/ack' | 'audit-resync', number>;

export const realTimers: SyncTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** A status error from anything thrown: its `code` when it has one, ERR_HANDLER otherwise; the message capped at 500 characters. */
export function errorOf(e: unknown, at: number): StatusError {
  const code = e instanceof ZonegateError ? e.code : typeof (e as { code?: unknown })?.code === 'string' ? String((e as { code: string }).code) : 'ERR_HANDLER';
  const message = e instanceof Error ? e.message : String(e);
  return { at, code, message: message.slice(0, 500) };
}

/** The broker URL without credentials (status, logs). */
export function redactUrl(url: string): string {
  try { const u = new URL(url); u.username = ''; u.password = ''; return u.toString().replace(/\/$/, ''); } catch { return url; }
}

/** The caps of topics.ts, overridden by `limits`. */
export function inboundLimits(limits: MqttSyncOptions['limits']): InboundLimits {
  return {
    policy: TOPIC_KINDS.policy.maxBytes, trust: TOPIC_KINDS.trust.maxBytes, grant: TOPIC_KINDS.grant.maxBytes,
    command: TOPIC_KINDS.command.maxBytes, 'audit/ack': TOPIC_KINDS['audit/ack'].maxBytes,
    'audit-resync': TOPIC_KINDS['audit-resync'].maxBytes, ...limits,
  };
}

/** The CONNECT options: a persistent MQTT 5 session, no automatic reconnect or resubscribe, `will` retained on the status topic. */
export function connectOptions(o: {
  options: MqttSyncOptions; statusTopic: string; will: Buffer; maxInbound: number;
}): IClientOptions {
  const { options } = o;
  return {
    clientId: `zonegate-${options.site}-${options.device}`,
    clean: false,
    ...options.clientOptions,
    protocolVersion: 5,
    reconnectPeriod: 0,
    resubscribe: false,
    will: { topic: o.statusTopic, payload: o.will, qos: 1, retain: true },
    properties: {
      ...options.clientOptions?.properties,
      sessionExpiryInterval: options.sessionExpirySeconds ?? 86_400,
      // MQTT 5 §3.1.2.11.4: the broker must not send us anything bigger than this (it drops such
      // messages unseen). Twice the largest cap, so that moderately oversize payloads still
      // arrive to be refused, counted and reported, while a huge one cannot exhaust memory.
      maximumPacketSize: Math.min(2 * o.maxInbound + 64 * 1024, 268_435_455),
    },
  };
}
