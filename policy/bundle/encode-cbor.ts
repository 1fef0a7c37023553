/**
 * Encodes plain data as CBOR of the bundle profile (see decode-cbor.ts): objects as maps with text
 * keys, Uint8Array as untagged byte strings, numbers as integers or floats. The result is checked
 * by decoding it (decodeCbor) so that a signer can never produce bytes a device would refuse.
 */
import { Buffer } from 'node:buffer';
import { Encoder } from 'cbor-x';
import { ZonegateError } from '../errors';
import { decodeCbor } from './decode-cbor';

// useTag259ForMaps: false keeps cbor-x from tagging Maps (tag 259), which the profile refuses.
const ENCODER_OPTIONS = { useRecords: false, tagUint8Array: false, useTag259ForMaps: false, variableMapSize: true } as ConstructorParameters<typeof Encoder>[0];

/** Encodes `value` (null-prototype or plain objects, arrays, strings, numbers, booleans, null, bytes). */
export function encodeCbor(value: unknown, opts: { what?: string } = {}): Uint8Array {
  const plain = normalise(value, opts.what ?? 'value', 0);
  const bytes = new Encoder(ENCODER_OPTIONS).encode(plain);
  const out = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength).slice();
  decodeCbor(out, { what: opts.what });
  return out;
}

// Copies into Maps (cbor-x encodes a Map key-for-key, own `__proto__` keys included) and refuses
// what the profile cannot carry (undefined, functions, Dates, BigInts, non-finite numbers).
function normalise(v: unknown, path: string, depth: number): unknown {
  if (depth > 16) throw new ZonegateError('ERR_BUNDLE_DECODE', `${path}: nested deeper than 16`);
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new ZonegateError('ERR_BUNDLE_DECODE', `${path}: non-finite number`);
    return v;
  }
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (Array.isArray(v)) return v.map((x, i) => normalise(x, `${path}[${i}]`, depth + 1));
  if (typeof v === 'object' && !(v instanceof Date) && !(v instanceof Map)) {
    const m = new Map<string, unknown>();
    for (const k of Object.keys(v as object)) {
      const x = (v as Record<string, unknown>)[k];
      if (x === undefined) continue;
      m.set(k, normalise(x, `${path}.${k}`, depth + 1));
    }
    return m;
  }
  throw new ZonegateError('ERR_BUNDLE_DECODE', `${path}: a ${v instanceof Date ? 'Date' : typeof v} cannot go into a bundle`);
}
