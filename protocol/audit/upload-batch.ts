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
 *   zonegate/v1/<site>/all/audit-resync    fleet → every gateway of the site, QoS 1, not retained,
 *       JSON { v: 1, site, collector, spreadMs }
 *     a collector (re)connected without a session at the broker: batches published before its
 *     subscription reached nobody. A gateway with batches sent and not acknowledged sends them
 *     again (from its acked point) after a random delay in [0, spreadMs), instead of waiting out
 *     its ack timeout; what the fleet already holds comes back as a duplicate and is re-acked.
 *     `collector` names the announcing process (logs only); spreadMs is at most 60,000.
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

export const AUDIT_RESYNC_VERSION = 1;
/** The longest spread a resync may ask for, ms (above it the payload is refused). */
export const MAX_RESYNC_SPREAD_MS = 60_000;
const MAX_COLLECTOR_ID_BYTES = 128;

export interface AuditResync {
  site: string;
  /** Names the announcing collector process (for logs). */
  collector: string;
  /** Gateways answer after a uniformly random delay in [0, spreadMs). */
  spreadMs: number;
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

/** The JSON bytes of a resync announcement. Throws TypeError on values the decoder would refuse. */
export function encodeAuditResync(r: AuditResync): Buffer {
  const bytes = Buffer.from(JSON.stringify({ v: AUDIT_RESYNC_VERSION, site: r.site, collector: r.collector, spreadMs: r.spreadMs }), 'utf8');
  const { error } = decodeAuditResync(bytes);
  if (error) throw new TypeError(`encodeAuditResync: ${error}`);
  return bytes;
}

/** `id` cut to the 128 bytes a resync's `collector` may hold (whole characters). */
export function resyncCollectorLabel(id: string): string {
  let out = '';
  let bytes = 0;
  for (const ch of id) {
    bytes += Buffer.byteLength(ch, 'utf8');
    if (bytes > MAX_COLLECTOR_ID_BYTES) break;
    out += ch;
  }
  return out || 'collector';
}

/** Decodes a resync announcement; `error` says why the bytes are not one. Never throws. */
export function decodeAuditResync(bytes: Uint8Array): { resync?: AuditResync; error?: string } {
  const max = TOPIC_KINDS['audit-resync'].maxBytes;
  if (bytes.length === 0) return { error: 'empty payload' };
  if (bytes.length > max) return { error: `resync of ${bytes.length} bytes exceeds ${max}` };
  let v: unknown;
  try { v = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')); } catch { return { error: 'not JSON' }; }
  if (!v || typeof v !== 'object' || Array.isArray(v)) return { error: 'not a JSON object' };
  const o = v as Record<string, unknown>;
  if (o.v !== AUDIT_RESYNC_VERSION) return { error: `unknown resync version ${JSON.stringify(o.v) ?? 'undefined'}`.slice(0, 200) };
  if (typeof o.site !== 'string' || o.site.length === 0) return { error: 'site missing' };
  if (typeof o.collector !== 'string' || o.collector.length === 0 || Buffer.byteLength(o.collector, 'utf8') > MAX_COLLECTOR_ID_BYTES) return { error: `collector is not a string of 1 to ${MAX_COLLECTOR_ID_BYTES} bytes` };
  if (!Number.isSafeInteger(o.spreadMs) || (o.spreadMs as number) < 0 || (o.spreadMs as number) > MAX_RESYNC_SPREAD_MS) return { error: `spreadMs is not an integer from 0 to ${MAX_RESYNC_SPREAD_MS}` };
  return { resync: { site: o.site, collector: o.collector, spreadMs: o.spreadMs as number } };
}
