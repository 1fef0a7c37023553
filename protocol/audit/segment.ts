/**
 * Segment files: `audit-<seq of the first record, 16 lower-case hex digits>.seg` in the audit
 * folder, each a plain run of frames (frame.ts) with no header. The name is part of the format:
 * the verifier checks that a segment's first record has the seq its name says.
 */
import { join } from 'node:path';

const NAME = /^audit-([0-9a-f]{16})\.seg$/;

/** The file name of the segment whose first record is `firstSeq`. */
export function segmentName(firstSeq: number): string {
  return `audit-${firstSeq.toString(16).padStart(16, '0')}.seg`;
}

/** The first seq a segment name declares, or null when the name is not a segment's. */
export function parseSegmentName(name: string): number | null {
  const m = NAME.exec(name);
  if (!m) return null;
  const n = parseInt(m[1], 16);
  return Number.isSafeInteger(n) ? n : null;
}

export interface SegmentRef {
  name: string;
  path: string;
  firstSeq: number;
}

/** The segments among `names` (a folder listing), oldest first. */
export function sortSegments(dir: string, names: readonly string[]): SegmentRef[] {
  const out: SegmentRef[] = [];
  for (const name of names) {
    const firstSeq = parseSegmentName(name);
    if (firstSeq !== null) out.push({ name, path: join(dir, name), firstSeq });
  }
  return out.sort((a, b) => a.firstSeq - b.firstSeq);
}
