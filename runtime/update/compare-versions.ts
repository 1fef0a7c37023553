/**
 * Orders zonegate versions (Semantic Versioning 2.0.0, section 11: precedence): MAJOR.MINOR.PATCH,
 * then a version with a pre-release tag before the same version without one, pre-release
 * identifiers compared numerically or in ASCII order. Build metadata (+...) is ignored.
 */

interface Parsed { core: [number, number, number]; pre: string[] }

function parse(v: string): Parsed | undefined {
  const m = /^v?(\d{1,9})\.(\d{1,9})\.(\d{1,9})(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/.exec(v.trim());
  if (!m) return undefined;
  return { core: [Number(m[1]), Number(m[2]), Number(m[3])], pre: m[4] ? m[4].split('.') : [] };
}

function comparePre(a: string[], b: string[]): number {
  if (!a.length || !b.length) return (a.length ? -1 : 0) - (b.length ? -1 : 0);
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const na = /^\d+$/.test(a[i]), nb = /^\d+$/.test(b[i]);
    if (na && nb) { const d = Number(a[i]) - Number(b[i]); if (d) return Math.sign(d); continue; }
    if (na !== nb) return na ? -1 : 1;
    if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  }
  return Math.sign(a.length - b.length);
}

/** -1, 0 or 1 as `a` is older than, as old as or newer than `b`; undefined when either is no semver. */
export function compareVersions(a: string, b: string): -1 | 0 | 1 | undefined {
  const pa = parse(a), pb = parse(b);
  if (!pa || !pb) return undefined;
  for (let i = 0; i < 3; i++) if (pa.core[i] !== pb.core[i]) return pa.core[i] < pb.core[i] ? -1 : 1;
  return comparePre(pa.pre, pb.pre) as -1 | 0 | 1;
}
