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
import type { Core, Part } from './core';

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

const NONE: Effective = { kind: null, index: null, expired: false, enforcement: 'no-policy', doc: null, version: null };

/** See the file comment; `onChanged(reconcile)` hears every change of the effective policy. */
export class EffectivePolicy implements Part {
  private storeIndex: PolicyIndex | null = null;
  private fileValue: LoadedPolicy | undefined;
  private sourceValue: PolicySource | undefined;
  private effective: Effective = NONE;
  private keyValue = '';
  private activated: number | null = null;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly core: Core, private readonly onChanged: (reconcile: boolean) => void) {}

  get current(): Effective { return this.effective; }
  /** Changes with every activation (kind, version, enforcement, file hash). */
  get key(): string { return this.keyValue; }
  get activatedAt(): number | null { return this.activated; }
  get file(): LoadedPolicy | undefined { return this.fileValue; }
  get source(): PolicySource | undefined { return this.sourceValue; }

  /** The lab policy file in force from now on (start, reload). */
  setFile(file: LoadedPolicy | undefined, source: PolicySource | undefined): void {
    this.fileValue = file;
    this.sourceValue = source;
  }

  /** The store activated `index` (kept through a deny-all expiry so decisions say `policy-expired` with its version). */
  storeActivated(index: PolicyIndex | null): void {
    if (index) this.storeIndex = index;
  }

  /** What would enforce with `file` as the policy file (a reload checks its listeners against it first). */
  choose(file: LoadedPolicy | undefined): Effective {
    const store = this.core.store;
    const s = store?.status();
    if (store && s && s.state !== 'no-policy') {
      if (store.index) this.storeIndex = store.index;
      const enforcement: EnforcementState = s.state === 'active' ? 'enforcing' : s.state;
      // expired-deny-all: the store hands out null, but IndexDecider answers `policy-expired` only
      // with an index set (and no-policy without one), so the expired index stays with setExpired(true).
      const index = this.storeIndex;
      return { kind: 'signed', index, expired: s.state === 'expired-deny-all', enforcement, doc: index?.doc ?? null, version: s.active?.policyVersion ?? null };
    }
    if (file) return { kind: 'file', index: file.index, expired: false, enforcement: 'enforcing', doc: file.doc, version: file.version };
    return NONE;
  }

  /**
   * The `clock` alarm: raised while the clock is behind a time it cannot be before: the active
   * bundle's signing time, or the last audit record written before this start.
   */
  checkClock(): void {
    const { core } = this;
    const active = core.store?.status().active;
    const floors: ClockFloor[] = active ? [{ what: `the signing time of policy bundle v${active.version}`, at: active.issuedAt }] : [];
    const lastAudit = core.audit.log?.lastRecordAtOpen ?? null;
    if (lastAudit !== null) floors.push({ what: 'the last audit record written before this start', at: lastAudit });
    const behind = clockBehind(core.now(), floors);
    if (behind) core.alarms.raise('clock', 'warning', clockAlarmMessage(core.now(), behind));
    else core.alarms.clear('clock');
  }

  /** Makes the effective policy the decider's (synchronously: the store calls it from inside its activation); returns whether it changed. */
  apply(opts: { reconcile: boolean }): boolean {
    const { core } = this;
    this.checkClock();
    const eff = this.choose(this.fileValue);
    core.decider.setIndex(eff.index);
    core.decider.setExpired(eff.expired);
    const next = `${eff.kind}|${eff.version}|${eff.enforcement}|${eff.kind === 'file' ? this.fileValue?.sha256 : ''}`;
    const previous = this.effective.version;
    this.effective = eff;
    if (next === this.keyValue) return false;
    this.keyValue = next;
    this.activated = core.now();
    this.announce(eff, previous);
    const source = eff.kind === 'file' ? this.sourceValue!.describe : eff.kind === 'signed' ? 'policy store' : 'none';
    void core.bus.emit('policy-activated', { version: eff.version ?? 'none', previous, source });
    this.onChanged(opts.reconcile);
    return true;
  }

  /** Applies the store's onExpiry now. */
  checkExpiry(): void {
    const { core } = this;
    if (!core.store) return;
    try { core.store.checkExpiry(core.now()); } catch (e) { core.logError('expiry check failed', e); }
    // checkExpiry swaps the index through `activate` when it denies; keep-enforcing only changes the state.
    this.apply({ reconcile: false });
  }

  /** Checks the store's expiry every expiryCheckMs. */
  start(_signal: AbortSignal): void {
    const ms = this.core.options.expiryCheckMs ?? 30_000;
    if (this.core.store && ms > 0) { this.timer = setInterval(() => this.checkExpiry(), ms); this.timer.unref(); }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Logs, audits and raises or clears the policy alarms of a new effective policy. */
  private announce(eff: Effective, previous: string | null): void {
    const { log, alarms } = this.core;
    const source = this.sourceValue, file = this.fileValue;
    if (eff.kind === 'file') {
      alarms.raise('unsigned-policy', 'warning', `${source!.warning}: ${source!.describe}`);
      log.warn(`WARNING: ${source!.warning}: ${source!.describe} (version ${eff.version})`);
      this.core.record({ kind: 'policy', policyVersion: eff.version!, message: 'activated', detail: { previous, source: source!.describe, conduits: file!.index.counts.conduits, sha256: file!.sha256 } });
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
}
