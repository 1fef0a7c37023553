/**
 * Replays recorded audit decisions under a compiled policy: finds the audit folders under each
 * DIR (a gateway's audit or state folder, or the fleet's collected copies, one per device),
 * streams their records one segment at a time into a ReplayEngine (policy/learn/replay.ts) and
 * returns its report. Shared by `policy replay` and `fleet sign --replay`.
 */
import { ZonegateError } from '../../policy/errors';
import type { PolicyIndex } from '../../policy/compile';
import { ReplayEngine, type ReplayReport } from '../../policy/learn/replay';
import { findAuditFolders, streamAuditRecords } from '../audit/query';

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
  for (const folder of folders) {
    for await (const batch of streamAuditRecords(folder, { since: opts.since, problems })) {
      if (opts.signal?.aborted) throw new ZonegateError('ERR_USAGE', 'interrupted');
      for (let i = 0; i < batch.length; i++) engine.add(batch[i]);
    }
  }
  return { report: engine.report(), folders, problems };
}
