/**
 * The gateway's offline policy store (design.md "Signed bundles and the trust root").
 *
 * accept() checks, in this order, and stops at the first failure: size limit, decode, signature
 * threshold of the trust root's `policy` role, type, target (site and device), version against
 * the persisted high-water mark, validity window, policy validation, compilation, the embedded
 * tests. Only then does it persist (the exact signed bytes as `policy.active`, the previous
 * active as `policy.previous`, then the high-water mark), each an atomic durable BlobStore write,
 * and swap the active index through `activate` (IndexDecider.setIndex), which keeps connections.
 * Whatever fails leaves the running policy exactly as it was and is reported: `refused` event,
 * status.lastError, an audit record of kind 'policy'.
 *
 * Versions (TUF spec 5.4 rollback protection): below the high-water mark → ERR_BUNDLE_ROLLBACK;
 * equal with other bytes → ERR_BUNDLE_CONFLICT and a `policy-conflict` alarm; equal with the same
 * bytes while that bundle is active → an idempotent no-op (QoS 1 redelivery).
 *
 * Crash safety: rename active → previous, write the new active and the high-water mark (temp,
 * fsync, rename); each step atomic. They run as one BlobStore.commit whose round trips overlap (the
 * temp files are written while the old active is renamed; one folder fsync at the end), and the
 * activation is reported only once all of it is durable. A crash anywhere leaves the old bundle (as active, or as previous with no
 * active) or the new one as active; boot takes the high-water mark as the maximum of the
 * persisted mark and the versions of both files, so it never goes back.
 *
 * Activation runs in slices (LoopSlicer): the body decode, validation and compilation are step
 * generators in policy/, driven here with a turn of the event loop every `sliceMs` of work.
 *
 * Boot re-verifies the active bundle fully (signatures under the current root, target, validation,
 * compilation, tests; expiry is then handled by settings.onExpiry); a corrupt or unverifiable file
 * falls back to the previous one, then to deny-all (index null: every decision 'no-policy').
 * Boot also checks both files against the persisted high-water mark, which names the bundle
 * persisted as previous too: a validly signed old bundle copied over `policy.active` (or
 * `policy.previous`) is not enforced (`policy-rollback` alarm, then the same fallback).
 * Alarms raised at boot reach listeners attached before boot() (open-gateway-store.ts `listen`).
 *
 * The checks short of persisting live in prepare-bundle.ts, the shapes in store-types.ts.
 */
import { EventBus } from '../bus';
import { ZonegateError } from '../../policy/errors';
import type { PolicyIndex } from '../../policy/compile';
import { checkValidity } from '../../policy/bundle/verify';
import type { TrustRoot, VerifiedBundle } from '../../policy/bundle/types';
import type { LoopSlicer } from './loop-slicer';
import { belowMark, parseHwm } from './high-water';
import type { Hwm } from './high-water';
import { activationSlicer, prepareVerified, verifyPolicyBundle } from './prepare-bundle';
import {
  ACTIVE_BLOB, HWM_BLOB, PREVIOUS_BLOB,
  type AcceptResult, type ActivePolicy, type BundleSource, type Candidate, type PolicyStoreEvents, type PolicyStoreOptions,
  type PolicyStoreStatus, type StoreAlarm, type StoreAlarmKind, type StoreBusEvents, type StoreError, type StoreEventBus,
  type StoreState, type TrustAcceptResult,
} from './store-types';

export { ACTIVE_BLOB, HWM_BLOB, PREVIOUS_BLOB } from './store-types';
export type {
  AcceptResult, ActivePolicy, BundleSource, PolicyStoreEvents, PolicyStoreOptions, PolicyStoreStatus, StoreAlarm, StoreAlarmKind,
  StoreBusEvents, StoreError, StoreEventBus, StoreState, TrustAcceptResult,
} from './store-types';

const MAX_ALARMS = 16;

/** The policy store; construct with `new PolicyStore(opts)`, then `await boot()` once. */
export class PolicyStore {
  private readonly opts: PolicyStoreOptions;
  private readonly bus: StoreEventBus;
  private queue: Promise<unknown> = Promise.resolve();
  private active: ActivePolicy | null = null;
  private activeIndex: PolicyIndex | null = null;
  /** Which blob holds the bundle being enforced (the previous one after a fallback at boot). */
  private activeBlob: string | null = null;
  private previous: { version: number; hash: string } | null = null;
  private hwm: Hwm | null = null;
  private state: StoreState = 'no-policy';
  private lastError: StoreError | null = null;
  private readonly alarms: StoreAlarm[] = [];
  private alarmsDropped = 0;
  private readonly counts = { activated: 0, unchanged: 0, refused: 0 };
  private booted = false;

  constructor(opts: PolicyStoreOptions) {
    if (!opts.blobs || !opts.trust || typeof opts.now !== 'function') throw new TypeError('PolicyStore needs blobs, trust and now');
    if (!opts.device || !opts.site) throw new TypeError('PolicyStore needs device and site');
    this.opts = opts;
    this.bus = opts.bus ?? new EventBus<StoreBusEvents>({ onError: () => { /* a listener's failure is its own */ } });
  }

  /** Subscribes to an event; a throwing handler is caught and never reaches the store. */
  on<K extends keyof PolicyStoreEvents>(event: K, handler: (...args: PolicyStoreEvents[K]) => void): () => void {
    const name = `store:${event}` as `store:${K}`;
    return this.bus.on(name, 'policy-store-listener', ((payload: PolicyStoreEvents[K][0]) => handler(...([payload] as PolicyStoreEvents[K]))) as never);
  }

  /** The trust root in force now (after any rotation); grants verify against it. */
  trustRoot(): TrustRoot {
    return this.opts.trust.current();
  }

  /** The compiled active index, or null (deny everything). */
  get index(): PolicyIndex | null {
    return this.activeIndex;
  }

  /** A snapshot of the store's state. */
  status(): PolicyStoreStatus {
    const root = this.opts.trust.current();
    return {
      state: this.state,
      active: this.active ? { ...this.active } : null,
      previous: this.previous ? { ...this.previous } : null,
      highWater: this.hwm ? { version: this.hwm.version, hash: this.hwm.hash } : null,
      trustRoot: { version: root.version, expiresAt: root.expiresAt, hash: root.hash },
      lastError: this.lastError,
      alarms: this.alarms.slice(),
      alarmsDropped: this.alarmsDropped,
      counts: { ...this.counts },
    };
  }

  /**
   * Loads and fully re-verifies the persisted bundle (falling back to the previous one, then to
   * deny-all), applies onExpiry if it expired meanwhile, and hands the index to `activate`.
   */
  boot(): Promise<PolicyStoreStatus> {
    return this.load('boot');
  }

  // boot() and reload(): `source` names what put a new bundle on disk (at a reload: an offline import).
  private load(source: BundleSource): Promise<PolicyStoreStatus> {
    return this.serial(async () => {
      const active = await this.opts.blobs.read(ACTIVE_BLOB);
      const previous = await this.opts.blobs.read(PREVIOUS_BLOB);
      let hwm = parseHwm(await this.opts.blobs.read(HWM_BLOB));
      // A mark file edited back while running never lowers the mark this process knows.
      if (this.hwm && (!hwm || this.hwm.version > hwm.version)) hwm = this.hwm;
      let chosen: Candidate | null = null;
      let chosenName = '';
      const others: Candidate[] = [];
      for (const [name, bytes] of [[ACTIVE_BLOB, active], [PREVIOUS_BLOB, previous]] as const) {
        if (!bytes) continue;
        try {
          const c = await this.prepare(bytes, { ignoreExpiry: true });
          const rollback = belowMark(name, c.bundle, hwm);
          if (rollback) {
            this.raise('policy-rollback', `${name} holds ${c.policyVersion}, ${rollback}: not enforced${name === ACTIVE_BLOB ? '; falling back to the previous bundle' : ''}`);
            continue;
          }
          if (!chosen) { chosen = c; chosenName = name; } else others.push(c);
        } catch (e) {
          this.raise('bundle-corrupt', `${name} does not verify (${(e as Error).message}); ${name === ACTIVE_BLOB ? 'falling back to the previous bundle' : 'ignored'}`);
        }
      }
      // The high-water mark never goes below what is on disk (a crash between the writes).
      let mark: Hwm | null = hwm;
      for (const c of [chosen, ...others]) {
        if (c && (!mark || c.bundle.body.version > mark.version)) mark = { version: c.bundle.body.version, hash: c.bundle.hash, previous: mark?.previous };
      }
      this.hwm = mark;
      if (chosen && this.active && chosen.bundle.hash === this.active.hash) {
        // A reload that finds what is already enforced: nothing to swap.
        this.activeBlob = chosenName;
        this.previous = others[0] ? { version: others[0].bundle.body.version, hash: others[0].bundle.hash } : null;
      } else if (chosen) {
        this.previous = others[0] ? { version: others[0].bundle.body.version, hash: others[0].bundle.hash } : null;
        this.activeBlob = chosenName;
        this.swap(chosen, this.booted ? source : 'boot');
        this.counts.activated += 1;
        this.audit(`policy ${chosen.policyVersion} loaded from ${chosenName}${this.booted ? ` (${source})` : ''}`, { version: chosen.bundle.body.version, hash: chosen.bundle.hash }, chosen.policyVersion);
        this.emit('activated', this.active as ActivePolicy);
        this.expiryCheck(this.opts.now());
      } else {
        this.active = null;
        this.activeBlob = null;
        this.activeIndex = null;
        this.state = 'no-policy';
        this.callActivate(null);
        this.audit('no verified policy on disk: denying everything', {});
      }
      this.booted = true;
      return this.status();
    });
  }

  /**
   * Re-reads and fully re-verifies what is on disk (the daemon calls it on SIGHUP after an offline
   * `bundle import` wrote through another store over the same folder). Same rules as boot().
   */
  reload(): Promise<PolicyStoreStatus> {
    return this.load('import');
  }

  /** Checks and, when everything passes, persists and activates a policy bundle. Throws the first failure. */
  accept(bytes: Uint8Array, opts: { source: BundleSource }): Promise<AcceptResult> {
    return this.serial(async () => {
      if (!this.booted) throw new TypeError('PolicyStore.boot() must run before accept()');
      const now = this.opts.now();
      try {
        // Steps 1-5 (size, decode, signatures, type, target) in verifyBundle; the window comes after the version.
        const slicer = this.slicer();
        const bundle = await this.verify(bytes, now, true, slicer);
        const v = bundle.body.version;
        if (this.hwm && v < this.hwm.version) {
          throw new ZonegateError('ERR_BUNDLE_ROLLBACK', `bundle v${v} is older than v${this.hwm.version}, the highest version accepted here`);
        }
        if (this.hwm && v === this.hwm.version) {
          if (bundle.hash !== this.hwm.hash) {
            const msg = `bundle v${v} differs from the v${v} accepted before (sha256 ${bundle.hash.slice(0, 16)}… vs ${this.hwm.hash.slice(0, 16)}…)`;
            this.raise('policy-conflict', msg);
            throw new ZonegateError('ERR_BUNDLE_CONFLICT', msg);
          }
          if (this.active && this.active.hash === bundle.hash) {
            this.counts.unchanged += 1;
            this.emit('unchanged', this.active);
            return { outcome: 'unchanged' as const, active: { ...this.active } };
          }
        }
        checkValidity(bundle.body, now);
        const c = await this.prepareVerified(bundle, now, slicer);
        await this.persist(c);
        this.swap(c, opts.source);
        this.counts.activated += 1;
        this.audit(`policy ${c.policyVersion} activated (${opts.source})`, { version: v, hash: c.bundle.hash, signedBy: c.bundle.keyIds }, c.policyVersion);
        this.emit('activated', this.active as ActivePolicy);
        return { outcome: 'activated' as const, active: { ...(this.active as ActivePolicy) } };
      } catch (e) {
        this.refuse(e, opts.source);
        throw e;
      }
    });
  }

  /**
   * Accepts a trust-root rotation (verifyRootRotation), persists it and reports whether the active
   * policy still verifies under it (if not: a `policy-unverifiable` alarm; the running policy stays
   * until a bundle signed by the new keys arrives, but a restart would fall back to deny-all).
   */
  acceptTrust(bytes: Uint8Array): Promise<TrustAcceptResult> {
    return this.serial(async () => {
      try {
        // The root already in force (a retained rotation redelivered at every restart, or imported
        // again) is "unchanged", as the active policy is: no refusal, no alarm.
        if (this.opts.trust.isCurrent(bytes)) {
          const cur = this.opts.trust.current();
          return { outcome: 'unchanged' as const, version: cur.version, expiresAt: cur.expiresAt, hash: cur.hash };
        }
        const root = await this.opts.trust.rotate(bytes, { now: this.opts.now(), site: this.opts.site, device: this.opts.device });
        const info = { version: root.version, expiresAt: root.expiresAt, hash: root.hash };
        this.audit(`trust root rotated to v${root.version}`, info);
        this.emit('trust', info);
        const activeBytes = this.active ? await this.opts.blobs.read(ACTIVE_BLOB) : null;
        if (activeBytes) {
          try { await this.prepare(activeBytes, { ignoreExpiry: true }); } catch (e) {
            this.raise('policy-unverifiable', `the active policy does not verify under trust root v${root.version}: ${(e as Error).message}`);
          }
        }
        return { outcome: 'rotated' as const, ...info };
      } catch (e) {
        this.refuse(e, 'trust');
        throw e;
      }
    });
  }

  /**
   * Applies settings.onExpiry once the active bundle expired (the runtime calls this on a timer):
   * keep-enforcing raises a `policy-expired` alarm; deny-all also hands `activate` a null index.
   */
  checkExpiry(now: number = this.opts.now()): PolicyStoreStatus {
    this.expiryCheck(now);
    return this.status();
  }

  private expiryCheck(now: number): void {
    if (!this.active || this.state !== 'active' || now < this.active.expiresAt) return;
    const when = new Date(this.active.expiresAt).toISOString();
    if (this.active.onExpiry === 'deny-all') {
      this.state = 'expired-deny-all';
      this.activeIndex = null;
      this.callActivate(null);
      this.raise('policy-expired', `policy ${this.active.policyVersion} expired at ${when}; onExpiry deny-all: denying everything`);
    } else {
      this.state = 'expired-enforcing';
      this.raise('policy-expired', `policy ${this.active.policyVersion} expired at ${when}; onExpiry keep-enforcing: still enforcing it`);
    }
  }

  // Verification, validation, compilation and tests: everything short of persisting.
  private async prepare(bytes: Uint8Array, o: { ignoreExpiry: boolean }): Promise<Candidate> {
    const now = this.opts.now();
    const slicer = this.slicer();
    const bundle = await this.verify(bytes, now, o.ignoreExpiry, slicer);
    return this.prepareVerified(bundle, now, slicer);
  }

  // verifyBundle with a turn of the event loop between the signature check and the body decode.
  private verify(bytes: Uint8Array, now: number, ignoreExpiry: boolean, slicer = this.slicer()): Promise<VerifiedBundle> {
    return verifyPolicyBundle(this.opts, bytes, { now, ignoreExpiry, slicer });
  }

  // One time budget for all the phases of one activation (design.md performance budget).
  private slicer(): LoopSlicer {
    return activationSlicer(this.opts);
  }

  private prepareVerified(bundle: VerifiedBundle, now: number, slicer = this.slicer()): Promise<Candidate> {
    return prepareVerified(this.opts, bundle, now, slicer);
  }

  private async persist(c: Candidate): Promise<void> {
    const moveOld = this.active !== null && this.activeBlob === ACTIVE_BLOB;
    // The mark names what policy.previous holds after this commit, so that boot can tell it from
    // an old bundle copied there (the enforced one, moved there or still there after a fallback).
    const prev = this.active ? { version: this.active.version, hash: this.active.hash } : this.previous;
    const mark: Hwm = { version: c.bundle.body.version, hash: c.bundle.hash, previous: prev ?? null };
    const { moved } = await this.opts.blobs.commit({
      moves: moveOld ? [{ from: ACTIVE_BLOB, to: PREVIOUS_BLOB }] : [],
      writes: [{ name: ACTIVE_BLOB, bytes: c.bundle.bytes }, { name: HWM_BLOB, bytes: new TextEncoder().encode(`${JSON.stringify(mark)}\n`) }],
    });
    if (moveOld && moved[0] && this.active) this.previous = { version: this.active.version, hash: this.active.hash };
    this.activeBlob = ACTIVE_BLOB;
    this.hwm = mark;
  }

  private swap(c: Candidate, source: BundleSource): void {
    const b = c.bundle.body;
    this.active = {
      version: b.version, policyVersion: c.policyVersion, hash: c.bundle.hash, site: b.site, targets: b.targets.slice(),
      issuedAt: b.issuedAt, expiresAt: b.expiresAt, signedBy: c.bundle.keyIds.slice(), source, activatedAt: this.opts.now(),
      conduits: c.doc.conduits.length, onExpiry: c.doc.settings.onExpiry,
    };
    this.activeIndex = c.index;
    this.state = 'active';
    this.callActivate(c.index);
  }

  private callActivate(index: PolicyIndex | null): void {
    try { this.opts.activate?.(index); } catch { /* activate must not throw; the store's state is still right */ }
    this.emit('index', index);
  }

  private refuse(e: unknown, source: BundleSource | 'trust'): void {
    const err: StoreError = e instanceof ZonegateError
      ? { code: e.code, message: e.message, issues: e.issues, at: this.opts.now(), source }
      : { code: 'ERR_STORAGE', message: (e as Error)?.message ?? String(e), issues: [], at: this.opts.now(), source };
    this.lastError = err;
    this.counts.refused += 1;
    this.audit(`${source === 'trust' ? 'trust root' : 'bundle'} refused (${source}): ${err.code}: ${err.message}`, { code: err.code }, this.active?.policyVersion);
    this.emit('refused', err);
  }

  private raise(kind: StoreAlarmKind, message: string): void {
    const alarm = { kind, message, at: this.opts.now() };
    this.alarms.push(alarm);
    if (this.alarms.length > MAX_ALARMS) { this.alarms.shift(); this.alarmsDropped += 1; }
    this.audit(`alarm ${kind}: ${message}`, { alarm: kind }, this.active?.policyVersion);
    this.emit('alarm', alarm);
  }

  private audit(message: string, detail: Record<string, unknown>, policyVersion?: string): void {
    try {
      this.opts.audit?.record({ kind: 'policy', at: this.opts.now(), source: 'store', message, detail, policyVersion });
    } catch { /* AuditSink.record must not throw */ }
  }

  private emit<K extends keyof PolicyStoreEvents>(event: K, ...args: PolicyStoreEvents[K]): void {
    void this.bus.emit(`store:${event}` as `store:${K}`, args[0] as never);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }
}
