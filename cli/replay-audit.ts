/**
 * Replays recorded audit decisions under a compiled policy: finds the audit folders under each
 * DIR (a gateway's audit or state folder, or the fleet's collected copies, one per device),
 * streams their records one segment at a time into a ReplayEngine (policy/learn/replay.ts) and
 * returns its report. Shared by `policy replay` and `fleet sign --replay`.
 */
import { ZonegateError } from '../policy/errors';
import type { PolicyIndex } from '../policy/compile';
import { ReplayEngine, type ReplayReport } from '../policy/learn/replay';
import * as fsp from 'node:fs/promises';
import { eachSegmentRecord, findAuditFolders, SegmentBuffer } from '../protocol/audit/query';
import { releaseDecodeInput, type AuditRecord } from '../protocol/audit/record';
import { sortSegments } from '../protocol/audit/segment';

export interface AuditReplay {
  report: ReplayReport;
  /** The audit folders read. */
  folders: string[];
  /** Segments cut short by a bad frame. */
  problems: string[];
}

/** ERR_FILE when a DIR holds no audit segments at all. */
export async function replayAuditFolders(index: PolicyIndex, dirs: readonly string[], opts: { since?: number; signal?: AbortSignal } = {}): Promise<AuditReplay> {
  const engine = new ReplayEngine(index);
  const folders: string[] = [];
  const problems: string[] = [];
  for (const dir of dirs) {
    let found: string[];
    try { found = await findAuditFolders(dir); } catch (e) {
      throw new ZonegateError('ERR_FILE', `cannot read audit folder ${dir}: ${(e as Error).message}`, { cause: e });
    }
    if (found.length === 0) throw new ZonegateError('ERR_FILE', `${dir} holds no audit segments (audit-*.seg)`);
    folders.push(...found);
  }
  for (const folder of folders) await forEachAuditRecord(folder, (r) => engine.add(r), { since: opts.since, problems, signal: opts.signal });
  return { report: engine.report(), folders, problems };
}

/**
 * Every record of an audit folder handed to `each` as it is decoded, one segment read at a time
 * (streamAuditRecords without its per-segment batch: a record is garbage once `each` returns, so
 * it dies young instead of being promoted with a whole segment's batch; learning a million records
 * peaks lower), the segments read into one reused buffer. A bad frame ends the segment and is
 * noted in `problems`.
 */
export async function forEachAuditRecord(dir: string, each: (r: AuditRecord) => void, opts: { since?: number; problems?: string[]; signal?: AbortSignal } = {}): Promise<void> {
  const buffer = new SegmentBuffer();
  try {
    for (const seg of sortSegments(dir, await fsp.readdir(dir))) {
      if (opts.signal?.aborted) throw new ZonegateError('ERR_USAGE', 'interrupted');
      await eachSegmentRecord(seg.path, { ...opts, buffer }, each);
    }
  } finally {
    releaseDecodeInput(); // the buffer is garbage once this returns (record.ts)
  }
}
