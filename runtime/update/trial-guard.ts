/**
 * The daemon's side of a trial (`zonegate run`, cli/run.ts). A version on trial is kept
 * only once it has been healthy for a whole health period after READY; until then
 * build/boot-check.sh rolls it back at its next start. So a version that crashes a few seconds
 * after READY, or whose watchdog stops, comes back as the previous one instead of crash-looping.
 *
 *   start       the marker names the slot `current` points at: the READY deadline is armed
 *   ready()     READY was sent: the deadline is disarmed and the health period begins
 *   every check `health()` must hold (watchdog pinged, an active policy, running); if it does
 *               not, the reason is recorded in the marker (failureCode, failure) and the process
 *               exits with UPDATE_RESTART_EXIT_CODE: the service manager starts it again and
 *               boot-check.sh restores the previous slot, naming the code in the journal
 *   period over health() holds once more → commitTrial: the marker goes, `committed` journalled
 *
 * A crash, a kill by the watchdog or a stop inside the period leaves the marker: rolled back too.
 * Timers and the clock are injected (tests run the period without waiting for it).
 */
import { commitTrial, type CommitOutcome } from './commit-trial';
import { readActiveSlot } from './layout';
import { UpdateState, type RollbackCode } from './state-files';
import { UPDATE_RESTART_EXIT_CODE } from './install-update';

export interface TrialGuardTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** One look at the daemon: healthy, or why not (a rollback code and a sentence). */
export type HealthCheck = { ok: true } | { ok: false; code: RollbackCode; reason: string };

export interface TrialGuardOptions {
  root: string;
  stateDir: string;
  /** How long a trial version has to send READY, ms. Default 90,000 (the unit's TimeoutStartSec). */
  deadlineMs?: number;
  /** How long it must then stay healthy before it is kept, ms. Default 300,000 (5 minutes). */
  healthPeriodMs?: number;
  /** How often health() is asked during the period, ms. Default a tenth of it, 100..5,000. */
  checkEveryMs?: number;
  /** The daemon's health; default always healthy (READY alone then counts after the period). */
  health?: () => HealthCheck;
  now: () => number;
  timers?: TrialGuardTimers;
  /** Ends the process (default process.exit) with UPDATE_RESTART_EXIT_CODE when the trial fails. */
  exit?: (code: number) => void;
  log?: (level: 'info' | 'warn' | 'error', message: string) => void;
}

export interface TrialGuard {
  /** True when this process runs a version on trial. */
  readonly onTrial: boolean;
  /** READY was sent: disarms the READY deadline and starts the health period. */
  ready(): void;
  /** Resolves when the trial ended here: committed, failed (exiting), or disposed. */
  settled(): Promise<CommitOutcome | 'failed' | 'disposed'>;
  /** Commits at once (what the period ends with); kept for `update commit`-style callers and tests. */
  healthy(): Promise<CommitOutcome>;
  /** Stops every timer without committing (orderly shutdown: the marker stays for boot-check). */
  dispose(): void;
}

const realTimers: TrialGuardTimers = { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };

/** Reads the trial marker and arms the READY deadline when this slot is on trial. */
export async function startTrialGuard(options: TrialGuardOptions): Promise<TrialGuard> {
  const timers = options.timers ?? realTimers;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const log = options.log ?? (() => undefined);
  const state = await UpdateState.open(options.stateDir);
  const trial = await state.readTrial();
  const onTrial = trial !== null && (await readActiveSlot(options.root)) === trial.to;
  const periodMs = options.healthPeriodMs ?? 300_000;
  const everyMs = options.checkEveryMs ?? Math.min(5_000, Math.max(100, Math.floor(periodMs / 10)));
  const health = options.health ?? (() => ({ ok: true } as HealthCheck));
  let timer: unknown;
  let done = false;
  let settle: (r: CommitOutcome | 'failed' | 'disposed') => void = () => undefined;
  const settledP = new Promise<CommitOutcome | 'failed' | 'disposed'>((resolve) => { settle = resolve; });
  const stopTimer = () => { if (timer !== undefined) { timers.clearTimeout(timer); timer = undefined; } };
  const finish = (r: CommitOutcome | 'failed' | 'disposed') => { if (!done) { done = true; stopTimer(); settle(r); } };

  const fail = async (code: RollbackCode, reason: string) => {
    if (done) return;
    done = true;
    stopTimer();
    log('error', `version ${trial!.version} on trial: ${reason} (${code}); exiting so that the previous version comes back`);
    await state.recordTrialFailure(code, reason).catch((e: Error) => log('warn', `cannot record the trial failure: ${e.message}`));
    // Settled only once the failure is on disk and the exit is under way (no caller has to guess).
    settle('failed');
    exit(UPDATE_RESTART_EXIT_CODE);
  };
  const commit = async (): Promise<CommitOutcome> => {
    const r = await commitTrial({ root: options.root, stateDir: options.stateDir, now: options.now });
    if (r.outcome === 'committed') log('info', r.event!.reason);
    return r.outcome;
  };

  if (onTrial) {
    const ms = options.deadlineMs ?? 90_000;
    timer = timers.setTimeout(() => { timer = undefined; void fail('ERR_UPDATE_START_TIMEOUT', `not READY within ${ms} ms`); }, ms);
  } else finish('no-trial');

  return {
    onTrial,
    ready() {
      if (!onTrial || done) return;
      stopTimer();
      const readyAt = options.now();
      log('info', `version ${trial!.version} is READY; kept once healthy for ${periodMs} ms`);
      const check = () => {
        timer = undefined;
        if (done) return;
        const h = health();
        if (!h.ok) { void fail(h.code, h.reason); return; }
        if (options.now() - readyAt < periodMs) { timer = timers.setTimeout(check, everyMs); return; }
        done = true;
        void commit().then((o) => settle(o), (e: Error) => { log('error', `cannot commit the trial: ${e.message}`); settle('failed'); });
      };
      timer = timers.setTimeout(check, Math.min(everyMs, periodMs));
    },
    settled: () => settledP,
    async healthy() {
      if (done && onTrial) return 'no-trial';
      finish('committed');
      return commit();
    },
    dispose() { finish('disposed'); },
  };
}
