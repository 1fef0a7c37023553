/**
 * The audit record format (protocol code: the fleet imports it to verify uploaded logs).
 *
 * A record is one CBOR map (RFC 8949 §3.1 major type 5, text keys) with
 *   v     format version, 1
 *   seq   sequence number, 0 for the first record a device ever wrote, +1 for each record
 *   prev  32 bytes: SHA-256 of the previous record's CBOR payload (the bytes inside its frame,
 *         not the frame header), or 32 zero bytes for seq 0
 * and the AuditEvent fields as a driver gave them (kind, at, source, decision, src, asset, ...).
 * The chain hash of a record is SHA-256 over its exact stored payload bytes, so verification
 * never re-encodes anything; the payload is what gets hashed, uploaded and compared. Hashing the
 * payload rather than the frame lets the fleet verify records it received without frames.
 *
 * The log adds three kinds of its own:
 *   checkpoint  `checkpoint: { device, key, seq, head, at, sig }`: the device's ed25519
 *               signature over checkpointMessage(): the chain head (hash of record `seq`, which
 *               is the record just before the checkpoint) at time `at`. `key` is the device's raw
 *               32-byte public key so the fleet can pin it on first sight.
 *   gap         `gap: { reason, count, fromSeq?, toSeq? }`: records that were lost. Records that
 *               never got a seq (queue full, failed write) carry only `count`; evicted records
 *               carry the seq range that was deleted from disk before upload.
 *   log         the log's own life: `created`, `opened` (detail.clean false after a crash,
 *               detail.truncatedBytes cut from a torn tail)
 *   summary     a deny flood: `summary: { count, total, from, to, windowMs }` beside src, asset
 *               and decision: `count` denials were not kept verbatim between `from` and `to`.
 */
import { createHash } from 'node:crypto';
import { Encoder } from 'cbor-x';
import type { AuditEvent, AuditKind } from './event';

export const RECORD_VERSION = 1;
export const HASH_BYTES = 32;
/** prev of the first record a device ever writes. */
export const GENESIS_PREV: Buffer = Buffer.alloc(HASH_BYTES);

export type RecordKind = AuditKind | 'checkpoint' | 'gap' | 'summary' | 'log';
export type GapReason = 'queue-full' | 'write-failed' | 'evicted' | 'closed';

export interface CheckpointBody {
  /** The device id the log belongs to. */
  device: string;
  /** Raw 32-byte ed25519 public key of the device. */
  key: Uint8Array;
  /** Seq of the record whose hash is `head`. */
  seq: number;
  head: Uint8Array;
  at: number;
  /** ed25519 signature over checkpointMessage(). */
  sig: Uint8Array;
}

export interface GapBody {
  reason: GapReason;
  count: number;
  /** Denials among the lost records, a lost flood summary counted as the denials it stood for. */
  denials?: number;
  fromSeq?: number;
  toSeq?: number;
}

export interface SummaryBody {
  /** Denials not kept verbatim. */
  count: number;
  /** All denials of this (src, asset, reason) in the window, verbatim ones included. */
  total: number;
  from: number;
  to: number;
  windowMs: number;
}

/** A decoded record. */
export interface AuditRecord extends Omit<AuditEvent, 'kind'> {
  v: number;
  seq: number;
  prev: Uint8Array;
  kind: RecordKind;
  checkpoint?: CheckpointBody;
  gap?: GapBody;
  summary?: SummaryBody;
}

/** What the log hands to encodeRecord: an event or one of the log's own kinds, without seq/prev. */
export type RecordBody = Omit<AuditRecord, 'v' | 'seq' | 'prev'>;

// Plain CBOR: no cbor-x record extension, byte strings untagged (RFC 8949 §3.1 major type 2).
const codec = new Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: false, variableMapSize: true } as ConstructorParameters<typeof Encoder>[0]);

// The same profile, byte strings copied out of the input instead of viewed in it (decodeRecord's `copyBytes`).
const copyingCodec = new Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: false, variableMapSize: true, copyBuffers: true } as ConstructorParameters<typeof Encoder>[0]);

/** Encodes a record payload. The caller keeps the returned bytes: they are what gets hashed. */
export function encodeRecord(body: RecordBody, seq: number, prev: Uint8Array): Buffer {
  const rec: Record<string, unknown> = { v: RECORD_VERSION, seq, prev };
  for (const k of Object.keys(body)) {
    const val = (body as Record<string, unknown>)[k];
    if (val !== undefined && k !== 'v' && k !== 'seq' && k !== 'prev') rec[k] = val;
  }
  return codec.encode(rec) as Buffer;
}

/** Why a payload is not a record. */
export class RecordDecodeError extends Error {}

const TINY_PAYLOAD = Uint8Array.of(0xf6); // CBOR null

/**
 * Lets go of the last payload decoded: cbor-x keeps a DataView of its last input in a module
 * variable (not cleared when a decode ends), which holds a reader's whole segment buffer (4 MiB
 * and more) until the next decode. A reader calls this when it is done.
 */
export function releaseDecodeInput(): void {
  codec.decode(TINY_PAYLOAD);
  copyingCodec.decode(TINY_PAYLOAD);
}

/**
 * Decodes and shape-checks a payload; throws RecordDecodeError when it is not a version-1 record.
 * Its byte strings (`prev`) are views of `payload` unless `copyBytes` (a reader that reuses its
 * buffer for the next segment).
 */
export function decodeRecord(payload: Uint8Array, opts: { copyBytes?: boolean } = {}): AuditRecord {
  let value: unknown;
  try {
    value = (opts.copyBytes ? copyingCodec : codec).decode(payload);
  } catch (e) {
    throw new RecordDecodeError(`payload is not CBOR: ${(e as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new RecordDecodeError('payload is not a CBOR map');
  const r = value as Record<string, unknown>;
  if (r.v !== RECORD_VERSION) throw new RecordDecodeError(`unknown record version ${String(r.v)}`);
  if (!Number.isSafeInteger(r.seq) || (r.seq as number) < 0) throw new RecordDecodeError('seq is not a non-negative integer');
  if (!(r.prev instanceof Uint8Array) || r.prev.length !== HASH_BYTES) throw new RecordDecodeError('prev is not 32 bytes');
  if (typeof r.kind !== 'string') throw new RecordDecodeError('kind is missing');
  if (typeof r.at !== 'number') throw new RecordDecodeError('at is missing');
  return r as unknown as AuditRecord;
}

/** The chain hash of a record: SHA-256 of its payload bytes. */
export function hashPayload(payload: Uint8Array): Buffer {
  return createHash('sha256').update(payload).digest();
}

/** The exact bytes a checkpoint signature covers (domain-separated CBOR array). */
export function checkpointMessage(c: { device: string; seq: number; head: Uint8Array; at: number }): Buffer {
  return codec.encode(['zonegate-audit-checkpoint-v1', c.device, c.seq, c.head, c.at]) as Buffer;
}

/** Lower-case hex of bytes. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex');
}
