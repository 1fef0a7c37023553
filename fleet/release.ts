/**
 * Signs a runtime update on the fleet manager's side and publishes it: the bundle (type
 * `runtime`, signed by the trust root's delegated `runtime` keys) names the package's sha256,
 * size, architecture and version; the package itself goes out in chunks (protocol/update/topics.ts).
 */
import { createHash } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { ZonegateError } from '../policy/errors';
import { signBundle } from '../policy/bundle/sign';
import type { SigningKey } from '../policy/bundle/types';
import { PACKAGE_ARCHES } from '../protocol/update/device-arch';
import { chunkTopic, encodeChunks, runtimeTopic } from '../protocol/update/topics';

export interface SignReleaseInput {
  /** The package file's bytes (dist/zonegate-<version>-linux-<arch>.tar.gz). */
  pkg: Uint8Array;
  /** The zonegate version inside (shown on devices; checked against the package's VERSION). */
  packageVersion: string;
  arch: string;
  /** The bundle version: a positive integer above every runtime bundle signed before. */
  version: number;
  site: string;
  targets: readonly string[];
  issuedAt: number;
  expiresAt: number;
  keys: readonly SigningKey[];
  /** Signed as a deliberate downgrade (devices refuse an older runtime otherwise). */
  downgrade?: boolean;
}

/** Returns the signed runtime bundle's bytes and the package's hash. Throws ERR_USAGE for a bad arch. */
export function signRelease(input: SignReleaseInput): { bytes: Uint8Array; sha256: string; size: number } {
  if (!(PACKAGE_ARCHES as readonly string[]).includes(input.arch)) {
    throw new ZonegateError('ERR_USAGE', `--arch ${input.arch}: one of ${PACKAGE_ARCHES.join(', ')}`);
  }
  const sha256 = createHash('sha256').update(input.pkg).digest('hex');
  const bytes = signBundle({
    type: 'runtime',
    body: {
      site: input.site, targets: [...input.targets], version: input.version, issuedAt: input.issuedAt, expiresAt: input.expiresAt,
      runtime: { sha256, size: input.pkg.length, arch: input.arch, version: input.packageVersion, ...(input.downgrade ? { downgrade: true } : {}) },
    },
    keys: input.keys,
  });
  return { bytes, sha256, size: input.pkg.length };
}

function publish(client: MqttClient, topic: string, bytes: Uint8Array, retain: boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    client.publish(topic, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), { qos: 1, retain }, (e) => {
      if (e) reject(new ZonegateError('ERR_MQTT_CONNECT', `the broker refused the publish on ${topic}: ${e.message}`, { cause: e }));
      else resolve();
    });
  });
}

/**
 * Publishes the announcement (retained, QoS 1, site-wide or one device) and then every chunk
 * (QoS 1; each resolves on PUBACK). Gateways verify the announcement before they keep a chunk.
 */
export async function publishRelease(options: { client: MqttClient; site: string; device?: string; bundle: Uint8Array; pkg: Uint8Array; sha256: string }): Promise<{ topic: string; chunkTopic: string; chunks: number }> {
  const topic = runtimeTopic({ site: options.site, device: options.device });
  const ct = chunkTopic({ site: options.site });
  await publish(options.client, topic, options.bundle, true);
  const chunks = encodeChunks(options.pkg, options.sha256);
  for (const c of chunks) await publish(options.client, ct, c, false);
  return { topic, chunkTopic: ct, chunks: chunks.length };
}
