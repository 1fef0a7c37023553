/**
 * What the update manager keeps in the gateway's state folder (outside the slots, so it survives
 * every update and rollback), all written atomically through FsBlobStore:
 *
 *   runtime.hwm     highest runtime bundle version ever accepted (decimal): the rollback guard
 *   update.trial    the trial marker while a new version has not yet proven healthy (kv.ts)
 *   update.result   a rollback done by build/boot-check.sh, not yet taken into the journal (kv.ts)
 *   update.journal  the last outcomes (JSON array, newest last, bounded), each with a seq
 *   update.audited  the seq up to which the journal went into the audit log
 */
import { FsBlobStore } from '../store/fs-blob-store';
import { formatKv, parseKv } from './kv';
import type { Slot } from './layout';

export const HWM_BLOB = 'runtime.hwm';
export const TRIAL_BLOB = 'update.trial';
export const RESULT_BLOB = 'update.result';
export const JOURNAL_BLOB = 'update.journal';
export const AUDITED_BLOB = 'update.audited';
/** Outcomes kept in the journal. */
export const JOURNAL_MAX = 32;

/** A new version on trial: written before `current` is switched, removed when it commits or rolls back. */
export interface TrialMarker {
  from: Slot;
  to: Slot;
  version: string;
  previousVersion: string;
  /** The runtime bundle's (signed) version number. */
  bundleVersion: number;
  sha256: string;
  /** Epoch ms of the switch. */
  at: number;
  /** Starts of the trial version so far (boot-check.sh counts them). */
  attempts: number;
  /** How the last process of the trial ended (`RESULT/CODE/STATUS`), from boot-check.sh --stopped. */
  lastExit?: string;
  /** Why the trial version gave up on itself (trial-guard.ts): a ROLLBACK_CODES code and the reason. */
  failureCode?: string;
  failure?: string;
}

/**
 * Why a trial version was rolled back; build/boot-check.sh writes one into update.result (from the
 * way the process ended, or the failure trial-guard.ts recorded in the marker).
 */
export const ROLLBACK_CODES = {
  ERR_UPDATE_CRASH: 'the process died (exit code, signal or core dump)',
  ERR_UPDATE_WATCHDOG: 'the watchdog was not pinged in time',
  ERR_UPDATE_START_TIMEOUT: 'not READY before the start deadline',
  ERR_UPDATE_NO_POLICY: 'no active policy during the health period',
  ERR_UPDATE_UNHEALTHY: 'the gateway stopped running during the health period',
  ERR_UPDATE_STOPPED: 'stopped before the health period ended',
  ERR_UPDATE_INTERRUPTED: 'did not come back after its start (power loss or reboot)',
  ERR_UPDATE_ROLLED_BACK: 'rolled back (no reason recorded)',
} as const;
export type RollbackCode = keyof typeof ROLLBACK_CODES;

export type UpdateOutcome = 'installed' | 'committed' | 'rolled-back' | 'refused';

/** One line of the journal. */
export interface UpdateEvent {
  seq: number;
  outcome: UpdateOutcome;
  /** Epoch ms. */
  at: number;
  version: string | null;
  previousVersion: string | null;
  bundleVersion: number | null;
  /** Why (refusals and rollbacks), or what happened. */
  reason: string;
  code?: string;
  /** Where the bundle came from: mqtt, import. */
  source?: string;
}

/** The update manager's files in one state folder. */
export class UpdateState {
  private constructor(readonly blobs: FsBlobStore) {}

  /** Opens (creating, mode 0700) the state folder. */
  static async open(stateDir: string): Promise<UpdateState> {
    return new UpdateState(await FsBlobStore.open({ dir: stateDir }));
  }

  /** The highest runtime bundle version accepted so far (0 when none). */
  async highWater(): Promise<number> {
    const b = await this.blobs.read(HWM_BLOB);
    const n = b ? Number(Buffer.from(b).toString('utf8').trim()) : 0;
    return Number.isSafeInteger(n) && n > 0 ? n : 0;
  }

  async setHighWater(version: number): Promise<void> {
    await this.blobs.write(HWM_BLOB, Buffer.from(`${version}\n`));
  }

  async readTrial(): Promise<TrialMarker | null> {
    const b = await this.blobs.read(TRIAL_BLOB);
    if (!b) return null;
    const kv = parseKv(Buffer.from(b).toString('utf8'));
    if ((kv.from !== 'a' && kv.from !== 'b') || (kv.to !== 'a' && kv.to !== 'b')) return null;
    return {
      from: kv.from, to: kv.to, version: kv.version ?? '', previousVersion: kv.previousVersion ?? '',
      bundleVersion: Number(kv.bundleVersion) || 0, sha256: kv.sha256 ?? '', at: Number(kv.at) || 0,
      attempts: Number(kv.attempts) || 0, ...(kv.lastExit ? { lastExit: kv.lastExit } : {}),
      ...(kv.failureCode ? { failureCode: kv.failureCode } : {}), ...(kv.failure ? { failure: kv.failure } : {}),
    };
  }

  async writeTrial(m: TrialMarker): Promise<void> {
    await this.blobs.write(TRIAL_BLOB, Buffer.from(formatKv({ ...m })));
  }

  /** Records in the marker why the trial version gives up (boot-check.sh names it in the rollback). */
  async recordTrialFailure(code: RollbackCode, reason: string): Promise<void> {
    const t = await this.readTrial();
    if (t) await this.writeTrial({ ...t, failureCode: code, failure: reason });
  }

  async removeTrial(): Promise<void> {
    await this.blobs.remove(TRIAL_BLOB);
  }

  /** The journal, oldest first. */
  async journal(): Promise<UpdateEvent[]> {
    const b = await this.blobs.read(JOURNAL_BLOB);
    if (!b) return [];
    try {
      const v = JSON.parse(Buffer.from(b).toString('utf8')) as unknown;
      return Array.isArray(v) ? (v.filter((e) => e && typeof e === 'object' && typeof e.seq === 'number') as UpdateEvent[]) : [];
    } catch {
      return [];
    }
  }

  /** Appends an outcome (bounded to JOURNAL_MAX) and returns it with its seq. */
  async append(event: Omit<UpdateEvent, 'seq'>): Promise<UpdateEvent> {
    const list = await this.journal();
    const seq = (list.length ? list[list.length - 1].seq : 0) + 1;
    const full: UpdateEvent = { seq, ...event };
    list.push(full);
    await this.blobs.write(JOURNAL_BLOB, Buffer.from(JSON.stringify(list.slice(-JOURNAL_MAX), null, 1)));
    return full;
  }

  /** Moves a rollback that boot-check.sh recorded into the journal; returns it, or null. */
  async ingestShellResult(): Promise<UpdateEvent | null> {
    const b = await this.blobs.read(RESULT_BLOB);
    if (!b) return null;
    const kv = parseKv(Buffer.from(b).toString('utf8'));
    const at = Number(kv.at);
    const ev = await this.append({
      outcome: kv.outcome === 'rolled-back' ? 'rolled-back' : 'refused',
      at: Number.isFinite(at) && at > 0 ? at * 1000 : 0,
      version: kv.version || null,
      previousVersion: kv.previousVersion || null,
      bundleVersion: null,
      reason: kv.reason || 'rolled back by boot-check',
      // Why, as boot-check.sh found it (older copies of it wrote no code).
      code: kv.code && Object.prototype.hasOwnProperty.call(ROLLBACK_CODES, kv.code) ? kv.code : 'ERR_UPDATE_ROLLED_BACK',
    });
    await this.blobs.remove(RESULT_BLOB);
    return ev;
  }

  async auditedThrough(): Promise<number> {
    const b = await this.blobs.read(AUDITED_BLOB);
    const n = b ? Number(Buffer.from(b).toString('utf8').trim()) : 0;
    return Number.isSafeInteger(n) && n > 0 ? n : 0;
  }

  async setAuditedThrough(seq: number): Promise<void> {
    await this.blobs.write(AUDITED_BLOB, Buffer.from(`${seq}\n`));
  }
}
