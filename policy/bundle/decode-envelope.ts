/**
 * Decodes the outer envelope `{ type, body, signatures: [{ keyId, sig }] }` after the size cap
 * (design.md: size limit before decoding). Nothing in the envelope is believed yet: the body stays
 * raw bytes until verify-signatures.ts counted a threshold over them.
 *
 * The envelope's shape is known, so its walk is capped to it (ENVELOPE_LIMITS: depth 4, at most
 * 32 entries per container, 167 items, 64-byte texts): a payload declaring 4,000,000 signatures,
 * a million-key map, deep nesting or a megabyte `type` is refused at the header that declares it,
 * and nothing decodes it. The body is a view of `bytes`, not a copy.
 */
import { ZonegateError } from '../errors';
import type { CborValue } from './decode-cbor';
import { decodeCbor } from './decode-cbor';
import { ENVELOPE_LIMITS } from './limits';
import { DEFAULT_MAX_BUNDLE_BYTES, MAX_SIGNATURES } from './types';
import type { BundleSignature, Envelope } from './types';

const KEY_ID = /^[0-9a-f]{32}$/;

/** Size-checks and decodes an envelope; throws ERR_BUNDLE_SIZE or ERR_BUNDLE_DECODE. The body aliases `bytes`. */
export function decodeEnvelope(bytes: Uint8Array, opts: { maxBytes?: number } = {}): Envelope {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('bundle bytes must be a Uint8Array');
  const max = opts.maxBytes ?? DEFAULT_MAX_BUNDLE_BYTES;
  if (bytes.length > max) throw new ZonegateError('ERR_BUNDLE_SIZE', `bundle is ${bytes.length} bytes, above the limit of ${max}`);
  // The envelope is shallow (depth 3); the body is decoded separately, after the signatures, with its own caps.
  const v = decodeCbor(bytes, { what: 'bundle', ...ENVELOPE_LIMITS, viewBytes: true });
  const bad = (msg: string): never => { throw new ZonegateError('ERR_BUNDLE_DECODE', `bundle envelope: ${msg}`); };
  if (!isMap(v)) return bad('not a map');
  for (const k of Object.keys(v)) if (k !== 'type' && k !== 'body' && k !== 'signatures') bad(`unknown field '${k}'`);
  const { type, body, signatures } = v;
  if (typeof type !== 'string') bad('type is not a string');
  if (!(body instanceof Uint8Array)) bad('body is not a byte string');
  if (!Array.isArray(signatures)) return bad('signatures is not an array');
  if (signatures.length > MAX_SIGNATURES) bad(`more than ${MAX_SIGNATURES} signatures`);
  const sigs: BundleSignature[] = signatures.map((s, i) => {
    if (!isMap(s)) return bad(`signatures[${i}] is not a map`);
    if (typeof s.keyId !== 'string' || !KEY_ID.test(s.keyId)) return bad(`signatures[${i}].keyId is not 32 lower-case hex digits`);
    if (!(s.sig instanceof Uint8Array) || s.sig.length !== 64) return bad(`signatures[${i}].sig is not 64 bytes`);
    for (const k of Object.keys(s)) if (k !== 'keyId' && k !== 'sig') bad(`signatures[${i}] has unknown field '${k}'`);
    return { keyId: s.keyId, sig: s.sig };
  });
  return { type: type as string, body: body as Uint8Array, signatures: sigs };
}

/** True for a decoded CBOR map (a null-prototype object), not an array, bytes or null. */
export function isMap(v: CborValue | undefined): v is { [key: string]: CborValue } {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}
