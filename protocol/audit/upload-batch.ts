/**
 * The audit upload protocol (protocol code: the gateway's uploader encodes, the fleet's collector
 * decodes). Both messages travel on the device's topics (protocol/mqtt/topics.ts):
 *
 *   zonegate/v1/<site>/<device>/audit      gateway → fleet, QoS 1, CBOR map (RFC 8949 §3.1)
 *       { v: 1, device, site, fromSeq, records: [bytes, ...] }
 *     `records` are the EXACT stored record payloads (record.ts), seqs fromSeq, fromSeq+1, ...:
 *     the fleet hashes them as they are to continue the chain; nothing is re-encoded.
 *   zonegate/v1/<site>/<device>/audit/ack  fleet → gateway, QoS 1, JSON { device, through }
 *     every record up to and including `through` is stored and verified by the fleet.
 *
 * Decoders treat the bytes as untrusted: size first, then shape; they never throw, they return
 * a reason instead.
 */
import { Encoder } from 'cbor-x';
import { TOPIC_KINDS } from '../mqtt/topics';

export const AUDIT_BATCH_VERSION = 1;

export interface AuditBatch {
  device: string;
  site: string;
  /** Seq of records[0]; records[i] has seq fromSeq + i. */
  fromSeq: number;
  records: Uint8Array[];
}

export interface AuditAck {
  device: string;
  /** Highest seq the fleet holds verified, contiguous from its first record. */
  through: number;
}

// Plain CBOR, byte strings untagged (same settings as record.ts).
const codec = new Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: false, variableMapSize: true } as ConstructorParameters<typeof Encoder>[0]);

/** The CBOR bytes of a batch. */
export function encodeAuditBatch(b: AuditBatch): Buffer {
  return codec.encode({ v: AUDIT_BATCH_VERSION, device: b.device, site: b.site, fromSeq: b.fromSeq, records: b.records.map((r) => Buffer.from(r.buffer, r.byteOffset, r.byteLength)) }) as Buffer;
}

/** Decodes a batch from the network; `error` says why it is not one. Never throws. */
export function decodeAuditBatch(bytes: Uint8Array, maxBytes = TOPIC_KINDS.audit.maxBytes): { batch?: AuditBatch; error?: string } {
  if (bytes.length === 0) return { error: 'empty payload' };
  if (bytes.length > maxBytes) return { error: `batch of ${bytes.length} bytes exceeds ${maxBytes}` };
  let v: unknown;
  try { v = codec.decode(bytes); } catch (e) { return { error: `not CBOR: ${(e as Error).message}` }; }
  if (!v || typeof v !== 'object' || Array.isArray(v)) return { error: 'not a CBOR map' };
  const o = v as Record<string, unknown>;
  if (o.v !== AUDIT_BATCH_VERSION) return { error: `unknown batch version ${String(o.v)}` };
  if (typeof o.device !== 'string' || typeof o.site !== 'string') return { error: 'device or site missing' };
  if (!Number.isSafeInteger(o.fromSeq) || (o.fromSeq as number) < 0) return { error: 'fromSeq is not a non-negative integer' };
  if (!Array.isArray(o.records) || o.records.length === 0) return { error: 'records is not a non-empty array' };
  const records: Uint8Array[] = [];
  for (const r of o.records) {
    if (!(r instanceof Uint8Array) || r.length === 0) return { error: 'a record is not a byte string' };
    records.push(r);
  }
  return { batch: { device: o.device, site: o.site, fromSeq: o.fromSeq as number, records } };
}

/** The JSON bytes of an ack. */
export function encodeAuditAck(a: AuditAck): Buffer {
  return Buffer.from(JSON.stringify({ device: a.device, through: a.through }), 'utf8');
}

/** Decodes an ack; undefined when the bytes are not one. Never throws. */
export function decodeAuditAck(bytes: Uint8Array): AuditAck | undefined {
  if (bytes.length === 0 || bytes.length > TOPIC_KINDS['audit/ack'].maxBytes) return undefined;
  try {
    const o = JSON.parse(Buffer.from(bytes).toString('utf8')) as Record<string, unknown>;
    if (!o || typeof o.device !== 'string' || !Number.isSafeInteger(o.through) || (o.through as number) < -1) return undefined;
    return { device: o.device, through: o.through as number };
  } catch {
    return undefined;
  }
}
