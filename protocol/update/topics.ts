/**
 * The MQTT topics of runtime updates (design.md "MQTT"; same scheme as protocol/mqtt/topics.ts,
 * kept here until the sync's table gains the two kinds):
 *
 *   zonegate/v1/<site>/all/runtime          the signed runtime bundle (retained, QoS 1)
 *   zonegate/v1/<site>/<device>/runtime     the same for one device
 *   zonegate/v1/<site>/all/runtime/chunk    the package in chunks (QoS 1, not retained)
 *
 * A chunk is CBOR (RFC 8949) `{ sha256: tstr, index: uint, total: uint, offset: uint, bytes: bstr }`:
 * the package's hex sha256 (which signed bundle it belongs to), its place, and up to CHUNK_BYTES
 * of the package. Nothing in a chunk is believed: it is only stored when a verified bundle
 * announced that sha256, only inside the signed size, and the whole file is hashed at the end.
 */
import { ZonegateError } from '../../policy/errors';
import { decodeCbor } from '../../policy/bundle/decode-cbor';
import { encodeCbor } from '../../policy/bundle/encode-cbor';
import { isMap } from '../../policy/bundle/decode-envelope';
import { TOPIC_ROOT, idProblem } from '../mqtt/topics';

/** Bytes of package per chunk (the last may be shorter). */
export const CHUNK_BYTES = 256 * 1024;
/** Cap of a runtime bundle payload and of one chunk message, checked before decoding. */
export const RUNTIME_BUNDLE_MAX_BYTES = 64 * 1024;
export const CHUNK_MESSAGE_MAX_BYTES = CHUNK_BYTES + 1024;
/** Cap of a package (the packaging budget is 5 MiB; room to grow). */
export const PACKAGE_MAX_BYTES = 32 * 1024 * 1024;

function check(id: string, what: 'site' | 'device'): void {
  const p = idProblem(id, what);
  if (p) throw new TypeError(`${p}: ${JSON.stringify(id)}`);
}

/** The announcement topic: site-wide, or one device's. */
export function runtimeTopic(opts: { site: string; device?: string }): string {
  check(opts.site, 'site');
  if (opts.device !== undefined) check(opts.device, 'device');
  return `${TOPIC_ROOT}/${opts.site}/${opts.device ?? 'all'}/runtime`;
}

/** The site's chunk topic. */
export function chunkTopic(opts: { site: string }): string {
  check(opts.site, 'site');
  return `${TOPIC_ROOT}/${opts.site}/all/runtime/chunk`;
}

export interface PackageChunk {
  sha256: string;
  index: number;
  total: number;
  offset: number;
  bytes: Uint8Array;
}

/** Splits a package into chunk messages (CBOR bytes). */
export function encodeChunks(pkg: Uint8Array, sha256: string, chunkBytes = CHUNK_BYTES): Uint8Array[] {
  const total = Math.max(1, Math.ceil(pkg.length / chunkBytes));
  const out: Uint8Array[] = [];
  for (let i = 0; i < total; i++) {
    const offset = i * chunkBytes;
    out.push(encodeCbor({ sha256, index: i, total, offset, bytes: pkg.subarray(offset, offset + chunkBytes) }, { what: 'runtime chunk' }));
  }
  return out;
}

const nat = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Decodes one chunk message; ERR_MQTT_PAYLOAD when it is oversized or not a chunk. */
export function decodeChunk(bytes: Uint8Array): PackageChunk {
  if (bytes.length > CHUNK_MESSAGE_MAX_BYTES) throw new ZonegateError('ERR_MQTT_PAYLOAD', `runtime chunk of ${bytes.length} bytes exceeds ${CHUNK_MESSAGE_MAX_BYTES}`);
  const v = decodeCbor(bytes, { what: 'runtime chunk', maxDepth: 4 });
  if (!isMap(v)) throw new ZonegateError('ERR_MQTT_PAYLOAD', 'runtime chunk is not a CBOR map');
  const { sha256, index, total, offset, bytes: data } = v;
  if (typeof sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(sha256)) throw new ZonegateError('ERR_MQTT_PAYLOAD', 'runtime chunk: sha256 is not 64 lower-case hex digits');
  if (!nat(index) || !nat(total) || !nat(offset) || total < 1 || index >= total) throw new ZonegateError('ERR_MQTT_PAYLOAD', 'runtime chunk: index/total/offset out of range');
  if (!(data instanceof Uint8Array) || data.length > CHUNK_BYTES) throw new ZonegateError('ERR_MQTT_PAYLOAD', 'runtime chunk: bytes is not a byte string of at most CHUNK_BYTES');
  return { sha256, index, total, offset, bytes: data };
}
