/**
 * The in-process side of the health deadline, for the daemon (`zonegate run`): when it starts as
 * a version on trial, it must become healthy (READY: policy enforcing, every listener up) within
 * `deadlineMs`, or it exits with UPDATE_RESTART_EXIT_CODE so that the service manager starts it
 * again and build/boot-check.sh puts the previous slot back. Under systemd TimeoutStartSec and
 * ExecStartPost (`update commit`) do the same from outside; the guard covers supervisors without
 * them and a daemon that hangs after READY but before committing.
 */
import { commitTrial, type CommitOutcome } from './commit-trial';
import { readActiveSlot } from './layout';
import { UpdateState } from './state-files';
import { UPDATE_RESTART_EXIT_CODE } from './install-update';

export interface TrialGuardTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface TrialGuardOptions {
  root: string;
  stateDir: string;
  /** How long a trial version has to become healthy, ms. Default 90,000 (the unit's TimeoutStartSec). */
  deadlineMs?: number;
  now: () => number;
  timers?: TrialGuardTimers;
  /** Ends the process (default process.exit); called with UPDATE_RESTART_EXIT_CODE at the deadline. */
  exit?: (code: number) => void;
  log?: (level: 'info' | 'warn' | 'error', message: string) => void;
}

export interface TrialGuard {
  /** True when this process runs a version on trial (the deadline is armed). */
  readonly onTrial: boolean;
  /** Call once the gateway is READY: commits the trial and disarms the deadline. */
  healthy(): Promise<CommitOutcome>;
  /** Disarms the deadline without committing (orderly shutdown). */
  dispose(): void;
}

const realTimers: TrialGuardTimers = { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };

/** Reads the trial marker and arms the deadline when this slot is on trial. */
export async function startTrialGuard(options: TrialGuardOptions): Promise<TrialGuard> {
  const timers = options.timers ?? realTimers;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const trial = await (await UpdateState.open(options.stateDir)).readTrial();
  const onTrial = trial !== null && (await readActiveSlot(options.root)) === trial.to;
  let timer: unknown;
  if (onTrial) {
    const ms = options.deadlineMs ?? 90_000;
    timer = timers.setTimeout(() => {
      timer = undefined;
      options.log?.('error', `version ${trial!.version} on trial was not healthy within ${ms} ms; exiting so that the previous version comes back`);
      exit(UPDATE_RESTART_EXIT_CODE);
    }, ms);
  }
  const disarm = () => { if (timer !== undefined) { timers.clearTimeout(timer); timer = undefined; } };
  return {
    onTrial,
    async healthy() {
      disarm();
      const r = await commitTrial({ root: options.root, stateDir: options.stateDir, now: options.now });
      if (r.outcome === 'committed') options.log?.('info', r.event!.reason);
      return r.outcome;
    },
    dispose: disarm,
  };
}
