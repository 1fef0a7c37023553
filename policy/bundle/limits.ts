/**
 * The caps of the CBOR profile (decode-cbor.ts): every count and length a
 * header declares is checked against them before anything is walked, allocated or decoded
 * (design.md performance budget: hostile input up to the size caps never blocks the event loop
 * over 10 ms and grows RSS by 5 MiB at most).
 */
import { MAX_SIGNATURES } from './types';

export interface CborLimits {
  /** Containers nested inside each other. */
  maxDepth: number;
  /** Items of one array, or key/value pairs of one map. */
  maxCount: number;
  /** Data items in the whole document (map keys count; a container counts once itself). */
  maxItems: number;
  /** Bytes of one text string (byte strings are bounded by the size cap only). */
  maxTextBytes: number;
}

/**
 * A signed body (and the default): room for far more than a 16 MiB body holds (a 10,000-conduit
 * policy is 1.6 MB, about 300,000 items, its longest list 10,000 entries).
 */
export const BODY_LIMITS: Readonly<CborLimits> = { maxDepth: 16, maxCount: 1 << 18, maxItems: 1 << 22, maxTextBytes: 64 * 1024 };

/**
 * The envelope `{ type, body, signatures: [{ keyId, sig }] }`: 3 fields, at most MAX_SIGNATURES
 * signatures of 2 fields each; the longest text is a 32-digit keyId. Anything bigger is not an
 * envelope and is refused at the header that declares it.
 */
export const ENVELOPE_LIMITS: Readonly<CborLimits> = {
  maxDepth: 4,
  maxCount: MAX_SIGNATURES,
  // the map, 3 keys, type, body, the array; per signature a map, 2 keys, 2 values
  maxItems: 7 + 5 * MAX_SIGNATURES,
  maxTextBytes: 64,
};
