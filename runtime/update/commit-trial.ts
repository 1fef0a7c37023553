/**
 * Commits a trial version once it is healthy: called after READY (systemd ExecStartPost runs
 * `zonegate update commit`, and READY=1 is only sent once the policy is enforcing and every
 * listener is up). Only the version the marker names, running from the slot `current` points at,
 * is committed; anything else leaves the marker for boot-check.sh to roll back.
 */
import { readActiveSlot } from './layout';
import { UpdateState, type UpdateEvent } from './state-files';

export type CommitOutcome = 'committed' | 'no-trial' | 'not-current';

/** Removes the trial marker and journals `committed`; also takes a boot-check rollback into the journal. */
export async function commitTrial(options: { root: string; stateDir: string; now: () => number }): Promise<{ outcome: CommitOutcome; event?: UpdateEvent }> {
  const state = await UpdateState.open(options.stateDir);
  await state.ingestShellResult();
  const trial = await state.readTrial();
  if (!trial) return { outcome: 'no-trial' };
  if ((await readActiveSlot(options.root)) !== trial.to) return { outcome: 'not-current' };
  await state.removeTrial();
  const event = await state.append({
    outcome: 'committed', at: options.now(), version: trial.version, previousVersion: trial.previousVersion,
    bundleVersion: trial.bundleVersion, reason: `version ${trial.version} became healthy in slot ${trial.to} (start ${trial.attempts})`,
  });
  return { outcome: 'committed', event };
}
