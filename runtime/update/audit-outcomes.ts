/**
 * Puts update outcomes into the gateway's audit log: every journal entry after the `audited`
 * cursor becomes one audit event (kind `config`, source `update`), then the cursor moves. The
 * daemon calls this at start, after its audit log is open, so a rollback that boot-check.sh did
 * before the daemon ran is audited by the version that came back.
 */
import type { AuditSink } from '../../drivers/types';
import { UpdateState, type UpdateEvent } from './state-files';

/** Records the outcomes not yet audited; returns them. */
export async function auditUpdateOutcomes(options: { stateDir: string; audit: AuditSink }): Promise<UpdateEvent[]> {
  const state = await UpdateState.open(options.stateDir);
  await state.ingestShellResult();
  const through = await state.auditedThrough();
  const fresh = (await state.journal()).filter((e) => e.seq > through);
  for (const e of fresh) {
    options.audit.record({
      kind: 'config', at: e.at, source: 'update',
      message: `runtime update ${e.outcome}: ${e.reason}`.slice(0, 500),
      detail: { outcome: e.outcome, version: e.version, previousVersion: e.previousVersion, bundleVersion: e.bundleVersion, code: e.code ?? null, source: e.source ?? null },
    });
  }
  if (fresh.length) await state.setAuditedThrough(fresh[fresh.length - 1].seq);
  return fresh;
}
