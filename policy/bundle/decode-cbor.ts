/**
 * Decodes CBOR bytes of the bundle profile into plain data: the bytes are first checked by
 * scanCbor (bounded, no tags, no indefinite lengths), then decoded by cbor-x into Maps, then
 * turned into null-prototype objects so that a `__proto__` key stays data (cbor-x would otherwise
 * rename it `__proto_` or, in other decoders, set a prototype). Byte strings become fresh
 * Uint8Arrays that do not alias the input.
 */
import { Decoder } from 'cbor-x';
import { ZonegateError } from '../errors';
import { scanCbor } from './scan-cbor';
import type { ScanCborOptions } from './scan-cbor';

/** Plain decoded data: null-prototype objects, arrays, strings, numbers, booleans, null, bytes. */
export type CborValue = null | boolean | number | string | Uint8Array | CborValue[] | { [key: string]: CborValue };

/** Scans, then decodes; throws ZonegateError ERR_BUNDLE_DECODE on anything outside the profile. */
export function decodeCbor(bytes: Uint8Array, opts: ScanCborOptions = {}): CborValue {
  const { protoKey } = scanCbor(bytes, opts);
  let raw: unknown;
  try {
    // Fast path: cbor-x builds objects directly. It renames a `__proto__` key to `__proto_`
    // (cbor-x 1.6 decode.js), which would silently change data, so when the scan saw such a key
    // the bytes are decoded into Maps instead and copied key for key.
    raw = new Decoder({ mapsAsObjects: !protoKey, useRecords: false }).decode(bytes);
  } catch (e) {
    throw new ZonegateError('ERR_BUNDLE_DECODE', `${opts.what ?? 'bundle'} cannot be decoded: ${(e as Error).message}`, { cause: e });
  }
  return protoKey ? toPlain(raw) : nullProto(raw);
}

// The fast path's objects get a null prototype in place (no copy): keys inherited from
// Object.prototype (`constructor`, `toString`) must not look present to a validator.
// Only containers and byte strings are visited or rewritten; scalars stay where they are.
function nullProto(v: unknown): CborValue {
  if (v === null || typeof v !== 'object') return v as CborValue;
  if (v instanceof Uint8Array) return new Uint8Array(v);
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const x: unknown = v[i];
      if (x !== null && typeof x === 'object') v[i] = nullProto(x);
    }
    return v as CborValue;
  }
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  for (let i = 0; i < keys.length; i++) {
    const x = o[keys[i]];
    if (x !== null && typeof x === 'object') o[keys[i]] = nullProto(x);
  }
  Object.setPrototypeOf(o, null);
  return o as CborValue;
}

function toPlain(v: unknown): CborValue {
  if (v === null || typeof v === 'boolean' || typeof v === 'number' || typeof v === 'string') return v;
  if (v instanceof Uint8Array) return new Uint8Array(v);
  if (Array.isArray(v)) return v.map(toPlain);
  if (v instanceof Map) {
    const o = Object.create(null) as { [key: string]: CborValue };
    for (const [k, val] of v) o[String(k)] = toPlain(val);
    return o;
  }
  throw new ZonegateError('ERR_BUNDLE_DECODE', `unexpected decoded value of type ${typeof v}`);
}
