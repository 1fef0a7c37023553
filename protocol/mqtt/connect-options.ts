/**
 * Turns an MqttConfig into mqtt.js client options: MQTT 5, TLS material and password read from
 * their files. Used by the gateway's sync and by the fleet tools.
 */
import { readFileSync } from 'node:fs';
import type { IClientOptions } from 'mqtt';
import { ZonegateError } from '../../policy/errors';
import type { MqttConfig } from './config';

export interface ReadFile { (path: string): Buffer }

/** Reads the password and PEM files named by the config; throws ERR_CONFIG_INVALID naming the file. */
export function mqttClientOptions(config: Pick<MqttConfig, 'clientId' | 'username' | 'passwordFile' | 'ca' | 'cert' | 'key' | 'keepalive'>,
  readFile: ReadFile = readFileSync): IClientOptions {
  const read = (what: string, path: string): Buffer => {
    try { return readFile(path); } catch (e) {
      throw new ZonegateError('ERR_CONFIG_INVALID', `mqtt.${what}: cannot read ${path}: ${(e as Error).message}`, { cause: e });
    }
  };
  const opts: IClientOptions = {
    protocolVersion: 5,
    keepalive: config.keepalive ?? 30,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
    resubscribe: false,
  };
  if (config.clientId) opts.clientId = config.clientId;
  if (config.username) opts.username = config.username;
  if (config.passwordFile) opts.password = read('passwordFile', config.passwordFile).toString('utf8').split(/\r?\n/)[0];
  if (config.ca) opts.ca = read('ca', config.ca);
  if (config.cert) opts.cert = read('cert', config.cert);
  if (config.key) opts.key = read('key', config.key);
  if (config.ca || config.cert) opts.rejectUnauthorized = true;
  return opts;
}

/**
 * The parts of MqttSyncOptions that come from the `mqtt:` block: the URL, the client options
 * (files read now) and the policy payload cap. Spread into createMqttSync({ ...this, site, ... }).
 */
export function syncConnection(config: MqttConfig, readFile: ReadFile = readFileSync): { url: string; clientOptions: IClientOptions; limits: { policy: number } } {
  return { url: config.url, clientOptions: mqttClientOptions(config, readFile), limits: { policy: config.maxPayloadBytes } };
}
