/**
 * The mqtt library, loaded on the first connect instead of at start: the CLI and the daemon
 * bundle it, and evaluating it costs ~10 MiB of resident memory that a gateway without a fleet
 * link (or a CLI command that never talks to a broker) never needs.
 */
import type { IClientOptions, MqttClient } from 'mqtt';

type Mqtt = typeof import('mqtt');
let lib: Mqtt | undefined;

/** `mqtt.connect`, loading the library on first use. */
export function mqttConnect(url: string, options: IClientOptions): MqttClient {
  lib ??= require('mqtt') as Mqtt;
  return lib.connect(url, options);
}
