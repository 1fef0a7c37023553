/**
 * The gateway's grants (design.md: the fleet grants time-boxed vendor access). accept() checks,
 * in order: size and envelope, the trust root's `grant` role signature threshold over the raw
 * body, type `grant`, site and device, validity window (verifyBundle), the payload, then the
 * version against the high-water mark (TUF spec 5.4: below it → ERR_BUNDLE_ROLLBACK; equal with
 * other bytes → ERR_BUNDLE_CONFLICT; the same bytes again → unchanged), and a grant id that was
 * revoked is never accepted again. Only then it persists (`grants.json`: the exact signed bytes
 * of every live grant, the revoked ids, the high-water mark; one atomic durable write) and tells
 * onChange. Revocation: by id from the console (`grant revoke ID`) or a bundle's `revoked` list.
 *
 * A grant is active for its identity while from ≤ now < until (and only from its sourceIp, when
 * it names one). Boot re-verifies every stored grant (signature under the current root, ignoring
 * expiry) and drops the ones that ended.
 */
import { ZonegateError } from '../../policy/errors';
import { verifyBundle } from '../../policy/bundle/verify';
import type { TrustRoot } from '../../policy/bundle/types';
import type { AuditSink } from '../../drivers/types';
import type { BlobStore } from '../store/blob-store';
import { parseGrantPayload } from '../../protocol/grant-payload';
import type { Grant } from '../../protocol/grant-payload';

export const GRANTS_BLOB = 'grants.json';
/** Revoked ids remembered at most; the oldest are forgotten first (counted). */
export const MAX_REVOKED = 10_000;
/** Live grants kept at most. */
export const MAX_GRANTS = 1_000;

export type GrantSource = 'mqtt' | 'import' | 'boot';

export interface StoredGrant extends Grant {
  version: number;
  hash: string;
  source: GrantSource;
  acceptedAt: number;
}

export interface GrantView extends StoredGrant {
  state: 'pending' | 'active' | 'ended';
}

export interface AcceptGrantResult {
  outcome: 'accepted' | 'unchanged' | 'revocations';
  grant?: StoredGrant;
  revoked: string[];
}

export interface GrantStoreOptions {
  blobs: BlobStore;
  trustRoot: () => TrustRoot;
  device: string;
  site: string;
  now: () => number;
  audit: AuditSink;
  /** Told after every change of the grant set or of which grants are active; must not throw. */
  onChange?: () => void;
}

interface Persisted {
  hwm: number;
  hwmHash: string;
  grants: { bytes: string; source: GrantSource; acceptedAt: number }[];
  revoked: { id: string; at: number; by: string }[];
}

/** The grant store; open with GrantStore.open(). */
export class GrantStore {
  private grants = new Map<string, { g: StoredGrant; bytes: Uint8Array }>();
  private revoked = new Map<string, { at: number; by: string }>();
  private hwm = 0;
  private hwmHash = '';
  private activeKey = '';
  private chain: Promise<unknown> = Promise.resolve();
  /** Revoked ids forgotten because MAX_REVOKED was reached. */
  revokedDropped = 0;

  private constructor(private readonly o: GrantStoreOptions) {}

  /** Loads and re-verifies the stored grants. A corrupt file is ERR_STORAGE. */
  static async open(o: GrantStoreOptions): Promise<GrantStore> {
    const s = new GrantStore(o);
    const bytes = await o.blobs.read(GRANTS_BLOB);
    if (bytes !== null) {
      let p: Persisted;
      try { p = JSON.parse(Buffer.from(bytes).toString('utf8')) as Persisted; } catch (e) {
        throw new ZonegateError('ERR_STORAGE', `${GRANTS_BLOB} in the state folder is corrupt: ${(e as Error).message}`, { cause: e });
      }
      s.hwm = p.hwm ?? 0;
      s.hwmHash = p.hwmHash ?? '';
      for (const r of p.revoked ?? []) s.revoked.set(r.id, { at: r.at, by: r.by });
      for (const rec of p.grants ?? []) {
        try {
          const raw = new Uint8Array(Buffer.from(rec.bytes, 'base64'));
          const v = verifyBundle(raw, { trustRoot: o.trustRoot(), expectType: 'grant', device: o.device, site: o.site, now: o.now(), ignoreExpiry: true });
          const payload = parseGrantPayload(v.body.grant as Record<string, unknown>);
          if (!payload.grant || s.revoked.has(payload.grant.id) || payload.grant.until <= o.now()) continue;
          s.grants.set(payload.grant.id, { g: { ...payload.grant, version: v.body.version, hash: v.hash, source: rec.source, acceptedAt: rec.acceptedAt }, bytes: raw });
        } catch (e) {
          s.record('stored grant dropped: it no longer verifies', { error: (e as Error).message });
        }
      }
    }
    s.activeKey = s.activeSet(o.now());
    return s;
  }

  /** Verifies and applies a grant bundle (from MQTT or a USB stick). Throws ZonegateError and audits the refusal. */
  accept(bytes: Uint8Array, opts: { source: GrantSource }): Promise<AcceptGrantResult> {
    return this.serial(async () => {
      const now = this.o.now();
      try {
        const v = verifyBundle(bytes, { trustRoot: this.o.trustRoot(), expectType: 'grant', device: this.o.device, site: this.o.site, now });
        const payload = parseGrantPayload(v.body.grant as Record<string, unknown>);
        const version = v.body.version;
        if (payload.grant && this.revoked.has(payload.grant.id)) throw new ZonegateError('ERR_BUNDLE_CONFLICT', `grant ${payload.grant.id} was revoked; issue a new id`);
        if (version < this.hwm) throw new ZonegateError('ERR_BUNDLE_ROLLBACK', `grant bundle v${version} is older than v${this.hwm} already accepted`);
        if (version === this.hwm) {
          if (v.hash === this.hwmHash) return { outcome: 'unchanged', revoked: [], ...(payload.grant ? { grant: this.grants.get(payload.grant.id)?.g } : {}) };
          throw new ZonegateError('ERR_BUNDLE_CONFLICT', `grant bundle v${version} differs from the v${version} already accepted`);
        }
        if (payload.grant && v.body.expiresAt < payload.grant.until) {
          throw new ZonegateError('ERR_BUNDLE_DECODE', `grant ${payload.grant.id}: the bundle expires before the grant's until`);
        }
        const grants = new Map(this.grants);
        const revoked = new Map(this.revoked);
        let stored: StoredGrant | undefined;
        if (payload.grant) {
          stored = { ...payload.grant, version, hash: v.hash, source: opts.source, acceptedAt: now };
          grants.set(stored.id, { g: stored, bytes });
          if (grants.size > MAX_GRANTS) throw new ZonegateError('ERR_BUNDLE_POLICY', `more than ${MAX_GRANTS} live grants; revoke some first`);
        }
        for (const id of payload.revoked) { grants.delete(id); revoked.set(id, { at: now, by: `bundle v${version}` }); }
        await this.persist(grants, revoked, version, v.hash);
        for (const id of payload.revoked) this.record(`grant ${id} revoked`, { id, by: `bundle v${version}`, source: opts.source });
        if (stored) this.record(`grant ${stored.id} accepted`, { ...describe(stored), source: opts.source });
        this.changed(true);
        return { outcome: stored ? 'accepted' : 'revocations', revoked: payload.revoked, ...(stored ? { grant: stored } : {}) };
      } catch (e) {
        const err = e as ZonegateError;
        this.record('grant bundle refused', { code: err.code ?? 'ERR_INTERNAL', error: err.message, source: opts.source });
        throw e;
      }
    });
  }

  /** Revokes a grant by id locally (console, admin); it stays refused if it arrives again. False when unknown and already revoked. */
  revoke(id: string, opts: { by: string }): Promise<boolean> {
    return this.serial(async () => {
      if (this.revoked.has(id) && !this.grants.has(id)) return false;
      const grants = new Map(this.grants);
      const revoked = new Map(this.revoked);
      const had = grants.delete(id);
      revoked.set(id, { at: this.o.now(), by: opts.by });
      await this.persist(grants, revoked, this.hwm, this.hwmHash);
      this.record(`grant ${id} revoked`, { id, by: opts.by, wasLive: had });
      this.changed(true);
      return true;
    });
  }

  /** Every live grant with its state now, soonest end first. */
  list(): GrantView[] {
    const now = this.o.now();
    return [...this.grants.values()].map(({ g }) => ({ ...g, state: stateOf(g, now) }) as GrantView).sort((a, b) => a.until - b.until);
  }

  /** Whether an id was revoked. */
  isRevoked(id: string): boolean {
    return this.revoked.has(id);
  }

  /** The conduit ids open to `identity` from `sourceIp` at `now` (undefined: none). */
  conduitsFor(identity: string, sourceIp: string, now: number): string[] | undefined {
    let out: string[] | undefined;
    for (const { g } of this.grants.values()) {
      if (g.identity !== identity || now < g.from || now >= g.until) continue;
      if (g.sourceIp !== undefined && g.sourceIp !== sourceIp) continue;
      out = out ? [...out, ...g.conduits] : [...g.conduits];
    }
    return out;
  }

  /**
   * Drops grants that ended (persisted) and tells onChange when the set of active grants moved
   * (a window opened or closed). Run it periodically (every few seconds).
   */
  async sweep(): Promise<number> {
    return this.serial(async () => {
      const now = this.o.now();
      const ended = [...this.grants.values()].filter(({ g }) => g.until <= now).map(({ g }) => g);
      if (ended.length) {
        const grants = new Map(this.grants);
        for (const g of ended) grants.delete(g.id);
        await this.persist(grants, this.revoked, this.hwm, this.hwmHash);
        for (const g of ended) this.record(`grant ${g.id} ended`, describe(g));
      }
      this.changed(false);
      return ended.length;
    });
  }

  private activeSet(now: number): string {
    return [...this.grants.values()].filter(({ g }) => stateOf(g, now) === 'active').map(({ g }) => g.id).sort().join(',');
  }

  private changed(force: boolean): void {
    const key = this.activeSet(this.o.now());
    if (!force && key === this.activeKey) return;
    this.activeKey = key;
    try { this.o.onChange?.(); } catch { /* promised not to throw */ }
  }

  private async persist(grants: Map<string, { g: StoredGrant; bytes: Uint8Array }>, revoked: Map<string, { at: number; by: string }>, hwm: number, hwmHash: string): Promise<void> {
    let dropped = 0;
    while (revoked.size > MAX_REVOKED) { revoked.delete(revoked.keys().next().value as string); dropped += 1; }
    const doc: Persisted = {
      hwm, hwmHash,
      grants: [...grants.values()].map(({ g, bytes }) => ({ bytes: Buffer.from(bytes).toString('base64'), source: g.source, acceptedAt: g.acceptedAt })),
      revoked: [...revoked].map(([id, r]) => ({ id, at: r.at, by: r.by })),
    };
    await this.o.blobs.write(GRANTS_BLOB, Buffer.from(JSON.stringify(doc)));
    this.grants = grants;
    this.revoked = revoked;
    this.hwm = hwm;
    this.hwmHash = hwmHash;
    this.revokedDropped += dropped;
  }

  private record(message: string, detail: Record<string, unknown>): void {
    try { this.o.audit.record({ kind: 'grant', at: this.o.now(), source: 'grants', message, detail }); } catch { /* never throws */ }
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }
}

function stateOf(g: Grant, now: number): GrantView['state'] {
  return now < g.from ? 'pending' : now < g.until ? 'active' : 'ended';
}

function describe(g: StoredGrant): Record<string, unknown> {
  return { id: g.id, identity: g.identity, conduits: g.conduits, from: g.from, until: g.until, ...(g.sourceIp ? { sourceIp: g.sourceIp } : {}), version: g.version, hash: g.hash };
}
