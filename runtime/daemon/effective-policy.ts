/**
 * Which policy enforces (design.md "Signed bundles and the trust root"): the signed store once it
 * holds an active (or expired) bundle, else a lab policy file, else nothing (deny all as
 * `no-policy`). apply() makes that the decider's policy synchronously (the store calls it from
 * inside its activation) and, when it changed, logs, audits, raises or clears the policy alarms,
 * emits `policy-activated` on the bus and tells `onChanged` (the gateway schedules listeners,
 * nftables and the status file). The `clock` alarm is checked on every apply.
 */
import type { PolicyIndex } from '../../policy/compile';
import type { PolicyDocument } from '../../policy/types';
import type { LoadedPolicy, PolicySource } from '../policy-source';
import type { EnforcementState, PolicyKind } from '../gateway-status';
import { clockAlarmMessage, clockBehind, type ClockFloor } from '../clock-check';
import type { Core } from './core';

/** What enforces now. */
export interface Effective {
  kind: PolicyKind | null;
  index: PolicyIndex | null;
  expired: boolean;
  enforcement: EnforcementState;
  /** The document listeners are resolved against (kept through a deny-all expiry). */
  doc: PolicyDocument | null;
  version: string | null;
}

export interface EffectivePolicy {
  readonly current: Effective;
  /** Changes with every activation (kind, version, enforcement, file hash). */
  readonly key: string;
  readonly activatedAt: number | null;
  readonly file: LoadedPolicy | undefined;
  readonly source: PolicySource | undefined;
  /** The lab policy file in force from now on (start, reload). */
  setFile(file: LoadedPolicy | undefined, source: PolicySource | undefined): void;
  /** What would enforce with `file` as the policy file (a reload checks its listeners against it first). */
  choose(file: LoadedPolicy | undefined): Effective;
  /** Makes the effective policy the decider's; returns whether it changed. */
  apply(opts: { reconcile: boolean }): boolean;
  /** The store activated `index` (kept through a deny-all expiry so decisions say `policy-expired` with its version). */
  storeActivated(index: PolicyIndex | null): void;
  /** Applies the store's onExpiry now. */
  checkExpiry(): void;
  checkClock(): void;
  start(signal: AbortSignal): void;
  stop(): void;
}

const NONE: Effective = { kind: null, index: null, expired: false, enforcement: 'no-policy', doc: null, version: null };

export function createEffectivePolicy(core: Core, onChanged: (reconcile: boolean) => void): EffectivePolicy {
  let storeIndex: PolicyIndex | null = null;
  let file: LoadedPolicy | undefined;
  let source: PolicySource | undefined;
  let effective: Effective = NONE;
  let key = '';
  let activatedAt: number | null = null;
  let timer: NodeJS.Timeout | undefined;

  function choose(f: LoadedPolicy | undefined): Effective {
    const store = core.store;
    const s = store?.status();
    if (store && s && s.state !== 'no-policy') {
      if (store.index) storeIndex = store.index;
      const enforcement: EnforcementState = s.state === 'active' ? 'enforcing' : s.state;
      // expired-deny-all: the store hands out null, but IndexDecider answers `policy-expired` only
      // with an index set (and no-policy without one), so the expired index stays with setExpired(true).
      return { kind: 'signed', index: storeIndex, expired: s.state === 'expired-deny-all', enforcement, doc: storeIndex?.doc ?? null, version: s.active?.policyVersion ?? null };
    }
    if (f) return { kind: 'file', index: f.index, expired: false, enforcement: 'enforcing', doc: f.doc, version: f.version };
    return NONE;
  }

  /**
   * The `clock` alarm: raised while the clock is behind a time it cannot be before: the active
   * bundle's signing time, or the last audit record written before this start.
   */
  function checkClock(): void {
    const active = core.store?.status().active;
    const floors: ClockFloor[] = active ? [{ what: `the signing time of policy bundle v${active.version}`, at: active.issuedAt }] : [];
    const lastAudit = core.audit.log?.lastRecordAtOpen ?? null;
    if (lastAudit !== null) floors.push({ what: 'the last audit record written before this start', at: lastAudit });
    const behind = clockBehind(core.now(), floors);
    if (behind) core.alarms.raise('clock', 'warning', clockAlarmMessage(core.now(), behind));
    else core.alarms.clear('clock');
  }

  function announce(eff: Effective, previous: string | null): void {
    const { log, alarms } = core;
    if (eff.kind === 'file') {
      alarms.raise('unsigned-policy', 'warning', `${source!.warning}: ${source!.describe}`);
      log.warn(`WARNING: ${source!.warning}: ${source!.describe} (version ${eff.version})`);
      core.record({ kind: 'policy', policyVersion: eff.version!, message: 'activated', detail: { previous, source: source!.describe, conduits: file!.index.counts.conduits, sha256: file!.sha256 } });
      log.info(`policy ${eff.version} from ${source!.describe} enforcing (${file!.index.counts.conduits} conduits)`);
    } else alarms.clear('unsigned-policy');
    if (eff.kind === 'signed') {
      if (eff.enforcement === 'expired-deny-all') log.error(`policy ${eff.version} expired (onExpiry deny-all): denying everything as policy-expired`);
      else if (eff.enforcement === 'expired-enforcing') log.warn(`policy ${eff.version} expired (onExpiry keep-enforcing): still enforcing it`);
      else log.info(`signed policy ${eff.version} enforcing (${eff.index?.counts.conduits ?? 0} conduits)`);
    }
    if (eff.enforcement === 'no-policy') {
      alarms.raise('no-policy', 'critical', 'no verified policy: every connection and request is denied (no-policy)');
      log.error('no verified policy: denying everything (no-policy)');
    } else alarms.clear('no-policy');
    if (eff.enforcement === 'expired-deny-all') alarms.raise('policy-expired', 'critical', `policy ${eff.version} expired; onExpiry deny-all: denying everything`);
    else if (eff.enforcement === 'expired-enforcing') alarms.raise('policy-expired', 'warning', `policy ${eff.version} expired; onExpiry keep-enforcing: still enforcing it`);
    else alarms.clear('policy-expired');
  }

  function apply(opts: { reconcile: boolean }): boolean {
    checkClock();
    const eff = choose(file);
    core.decider.setIndex(eff.index);
    core.decider.setExpired(eff.expired);
    const next = `${eff.kind}|${eff.version}|${eff.enforcement}|${eff.kind === 'file' ? file?.sha256 : ''}`;
    const previous = effective.version;
    effective = eff;
    if (next === key) return false;
    key = next;
    activatedAt = core.now();
    announce(eff, previous);
    void core.bus.emit('policy-activated', { version: eff.version ?? 'none', previous, source: eff.kind === 'file' ? source!.describe : eff.kind === 'signed' ? 'policy store' : 'none' });
    onChanged(opts.reconcile);
    return true;
  }

  function checkExpiry(): void {
    if (!core.store) return;
    try { core.store.checkExpiry(core.now()); } catch (e) { core.logError('expiry check failed', e); }
    // checkExpiry swaps the index through `activate` when it denies; keep-enforcing only changes the state.
    apply({ reconcile: false });
  }

  return {
    get current() { return effective; },
    get key() { return key; },
    get activatedAt() { return activatedAt; },
    get file() { return file; },
    get source() { return source; },
    setFile(f, s) { file = f; source = s; },
    choose,
    apply,
    storeActivated(index) { if (index) storeIndex = index; },
    checkExpiry,
    checkClock,
    start() {
      const ms = core.options.expiryCheckMs ?? 30_000;
      if (core.store && ms > 0) { timer = setInterval(checkExpiry, ms); timer.unref(); }
    },
    stop() { if (timer) clearInterval(timer); timer = undefined; },
  };
}
