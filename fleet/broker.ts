/**
 * Connects the fleet manager's tools to the broker: MQTT 5, credentials and TLS files as the
 * gateway's `mqtt:` block names them (protocol/mqtt/connect-options.ts).
 */
import type { MqttClient } from 'mqtt';
import { mqttConnect } from '../protocol/mqtt/mqtt-lib';
import { ZonegateError } from '../policy/errors';
import { mqttClientOptions } from '../protocol/mqtt/connect-options';

export interface BrokerOptions {
  url: string;
  username?: string;
  passwordFile?: string;
  ca?: string;
  cert?: string;
  key?: string;
  clientId?: string;
  /** Give up connecting after this long, ms. Default 10,000. */
  connectTimeoutMs?: number;
}

/** Resolves with a connected client; rejects ERR_MQTT_CONNECT naming the broker and the reason. */
export function connectBroker(options: BrokerOptions): Promise<MqttClient> {
  const opts = mqttClientOptions({ ...options, keepalive: 30 });
  opts.connectTimeout = options.connectTimeoutMs ?? 10_000;
  opts.clientId = options.clientId ?? `zonegate-fleet-${process.pid}-${Math.floor(Math.random() * 1e9).toString(36)}`;
  opts.clean = true;
  return new Promise((resolve, reject) => {
    const c = mqttConnect(options.url, opts);
    const onError = (e: Error) => fail(e.message);
    const onClose = () => fail('connection closed');
    const fail = (why: string) => {
      c.off('error', onError);
      c.off('close', onClose);
      c.on('error', () => undefined);
      c.end(true);
      reject(new ZonegateError('ERR_MQTT_CONNECT', `cannot connect to ${options.url}: ${why}`));
    };
    c.once('connect', () => {
      c.off('error', onError);
      c.off('close', onClose);
      c.on('error', () => undefined); // later errors surface as failed publishes or a closed stream
      resolve(c);
    });
    c.on('error', onError);
    c.on('close', onClose);
  });
}

/** Ends the client, sending DISCONNECT. */
export function closeBroker(c: MqttClient): Promise<void> {
  return new Promise((resolve) => c.end(false, {}, () => resolve()));
}
