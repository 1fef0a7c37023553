/**
 * Reads a body (already signature-checked) into a BundleBody: the header fields every type
 * carries and exactly one payload field, named like the bundle type. The payload field binds the
 * envelope's (unsigned) type to the signed body: a grant body relabelled `policy` is refused.
 */
import { ZonegateError } from '../errors';
import { decodeCborSteps } from './decode-cbor';
import type { CborValue } from './decode-cbor';
import { isMap } from './decode-envelope';
import { BUNDLE_TYPES } from './types';
import { parseCommandPayload } from './command-payload';
import type { BundleBody, BundleType } from './types';

const HEADER = new Set(['site', 'targets', 'version', 'issuedAt', 'expiresAt', 'notBefore', 'replay']);

/** Decodes body bytes of a bundle of `type`; throws ERR_BUNDLE_DECODE or ERR_BUNDLE_TYPE. */
export function parseBody(bytes: Uint8Array, type: BundleType): BundleBody {
  const steps = parseBodySteps(bytes, type);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/**
 * parseBody in slices (decode-cbor.ts yields every DECODE_SLICE items): returns the same
 * body or throws the same error; `bytes` must not change until it is done.
 */
export function* parseBodySteps(bytes: Uint8Array, type: BundleType): Generator<undefined, BundleBody, unknown> {
  const v = yield* decodeCborSteps(bytes, { what: 'bundle body', maxDepth: 16 });
  return bodyFromValue(v, type);
}

/** Checks decoded body data; exported for signers that check before they sign. */
export function bodyFromValue(v: CborValue, type: BundleType): BundleBody {
  const bad = (msg: string): never => { throw new ZonegateError('ERR_BUNDLE_DECODE', `bundle body: ${msg}`); };
  if (!isMap(v)) return bad('not a map');
  const { site, targets, version, issuedAt, expiresAt, notBefore } = v;
  if (typeof site !== 'string' || site === '') bad('site is not a non-empty string');
  if (!Array.isArray(targets) || targets.length === 0 || !targets.every((t) => typeof t === 'string' && t !== '')) {
    bad('targets is not a non-empty list of device ids (or ["*"])');
  }
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) bad('version is not a positive integer');
  for (const [name, t] of [['issuedAt', issuedAt], ['expiresAt', expiresAt]] as const) {
    if (typeof t !== 'number' || !Number.isSafeInteger(t) || t < 0) bad(`${name} is not epoch milliseconds`);
  }
  if (notBefore !== undefined && (typeof notBefore !== 'number' || !Number.isSafeInteger(notBefore) || notBefore < 0)) {
    bad('notBefore is not epoch milliseconds');
  }
  if ((expiresAt as number) <= (issuedAt as number)) bad('expiresAt is not after issuedAt');
  if (v.replay !== undefined) checkReplayEvidence(v.replay, type, bad);
  const payloads = Object.keys(v).filter((k) => !HEADER.has(k));
  for (const k of payloads) if (!(BUNDLE_TYPES as readonly string[]).includes(k)) bad(`unknown field '${k}'`);
  if (payloads.length !== 1 || payloads[0] !== type) {
    throw new ZonegateError('ERR_BUNDLE_TYPE', `bundle body carries ${payloads.length ? payloads.map((p) => `'${p}'`).join(', ') : 'no payload'}, expected '${type}'`);
  }
  const payload = v[type];
  if (!isMap(payload)) return bad(`${type} is not a map`);
  if (type === 'runtime') {
    // A runtime update names the package exactly: its sha256, size and architecture.
    if (typeof payload.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(payload.sha256)) bad('runtime.sha256 is not 64 lower-case hex digits');
    if (typeof payload.size !== 'number' || !Number.isSafeInteger(payload.size) || payload.size < 1) bad('runtime.size is not a positive integer');
    if (typeof payload.arch !== 'string' || payload.arch === '') bad('runtime.arch is not a non-empty string');
    if (payload.version !== undefined && typeof payload.version !== 'string') bad('runtime.version is not a string');
    if (payload.downgrade !== undefined && typeof payload.downgrade !== 'boolean') bad('runtime.downgrade is not true or false');
  }
  // A command's actions are checked before anything acts on them (command-payload.ts).
  if (type === 'command') parseCommandPayload(payload);
  return v as unknown as BundleBody;
}

/** `replay` (fleet sign --replay): only on policy bundles, counts as non-negative integers. */
function checkReplayEvidence(r: CborValue, type: BundleType, bad: (msg: string) => never): void {
  if (type !== 'policy') bad(`replay on a ${type} bundle`);
  if (!isMap(r)) return bad('replay is not a map');
  for (const k of ['replayed', 'breaks', 'opens', 'from', 'to', 'logs']) {
    const n = r[k];
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) bad(`replay.${k} is not a non-negative integer`);
  }
  if (typeof r.acceptedBreaks !== 'boolean') bad('replay.acceptedBreaks is not a boolean');
}
