/**
 * Subscribes an MQTT client to the runtime update topics (topics.ts) and hands the raw payloads
 * to an UpdateReceiver: the site's and the device's announcement, and the site's chunks (QoS 1).
 * For a gateway whose sync does not carry the runtime kinds yet; errors go to onError, never up.
 */
import type { MqttClient } from 'mqtt';
import { chunkTopic, runtimeTopic } from '../../protocol/update/topics';
import type { UpdateReceiver } from './update-receiver';

/** Subscribes; resolves once the broker granted the subscriptions. Returns an unsubscribe function. */
export async function subscribeUpdates(options: { client: MqttClient; site: string; device: string; receiver: UpdateReceiver; onError?: (e: Error) => void }): Promise<() => void> {
  const { client, receiver } = options;
  const announce = [runtimeTopic({ site: options.site }), runtimeTopic({ site: options.site, device: options.device })];
  const chunks = chunkTopic({ site: options.site });
  const onMessage = (topic: string, payload: Buffer) => {
    const bytes = new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
    if (payload.length === 0) return; // a cleared retained message
    const p = topic === chunks ? receiver.onChunk(bytes) : announce.includes(topic) ? receiver.onBundle(bytes) : undefined;
    p?.catch((e: Error) => options.onError?.(e));
  };
  client.on('message', onMessage);
  await new Promise<void>((resolve, reject) => client.subscribe([...announce, chunks], { qos: 1 }, (e) => (e ? reject(e) : resolve())));
  return () => { client.off('message', onMessage); client.unsubscribe([...announce, chunks]); };
}
