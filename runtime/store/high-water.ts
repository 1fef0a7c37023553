/**
 * The policy store's persisted high-water mark (`policy.hwm`, JSON) and the boot-time rule that
 * keeps an old but validly signed bundle copied into the state folder from being enforced
 * (TUF spec 5.4 rollback protection, across restarts).
 */
import type { VerifiedBundle } from '../../policy/bundle/types';

/**
 * The persisted high-water mark: the highest version accepted, and what policy.previous held when
 * it was written (null: nothing; undefined: a mark written before it recorded that).
 */
export interface Hwm {
  version: number;
  hash: string;
  previous?: { version: number; hash: string } | null;
}

export function parseHwm(bytes: Uint8Array | null): Hwm | null {
  if (!bytes) return null;
  try {
    const v = JSON.parse(new TextDecoder().decode(bytes)) as { version?: unknown; hash?: unknown; previous?: unknown };
    if (typeof v.version === 'number' && Number.isSafeInteger(v.version) && typeof v.hash === 'string') {
      const p = v.previous as { version?: unknown; hash?: unknown } | null | undefined;
      const previous = p === null ? null
        : p && typeof p.version === 'number' && typeof p.hash === 'string' ? { version: p.version, hash: p.hash } : undefined;
      return { version: v.version, hash: v.hash, previous };
    }
  } catch { /* a torn mark cannot happen with atomic writes; treat as absent, the bundles still bound it */ }
  return null;
}

/**
 * Why a verified bundle found in `name` at boot must not be enforced under the mark, or null when
 * it may: newer than the mark (a crash before the mark was written), the marked bundle itself, or
 * the bundle the mark names as previous (either file: a power loss may leave the old active in
 * place). A legacy mark without `previous` still admits policy.previous below it.
 */
export function belowMark(name: string, b: VerifiedBundle, mark: Hwm | null): string | null {
  if (!mark) return null;
  const v = b.body.version;
  if (v > mark.version) return null;
  if (v === mark.version) return b.hash === mark.hash ? null : `not the v${v} accepted here (sha256 ${mark.hash.slice(0, 16)}…)`;
  if (mark.previous && mark.previous.version === v && mark.previous.hash === b.hash) return null;
  if (mark.previous === undefined && name === 'policy.previous') return null;
  return `below the high-water mark v${mark.version}`;
}
