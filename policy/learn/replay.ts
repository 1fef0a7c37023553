/**
 * Replay: re-decides recorded requests under a new policy and gathers the decisions that flip.
 * allow→deny is what the new policy would break (monitor mode's "let through, would deny" counts
 * as allowed: that is what the plant saw), deny→allow what it would open. Flips are grouped by
 * direction, conduit (the one that allowed it before, or allows it now), source and asset, with
 * counts, first and last time and a few distinct examples.
 *
 * Scopes are resolved once per source × asset × port × protocol (× person) and kept, so each
 * record costs one key and one hot-path decision. Pure: observations in, a report out; reading the
 * log is the caller's (protocol/audit/query.ts streamAuditRecords).
 */
import type { Decision } from '../types';
import type { PolicyIndex } from '../compile';
import { ScopeState, decideConnect, resolveScope } from '../decide';
import type { Observation, ProtocolHandler } from './observed';
import { PROTOCOL_HANDLERS } from './handlers';

export type FlipDirection = 'allow→deny' | 'deny→allow';

export interface ReplayExample {
  at: number;
  src: string;
  operation: string;
  /** `allow by X`, `allow by X (monitor: would deny R)`, `deny (R)`. */
  was: string;
  now: string;
}

export interface ReplayFlip {
  direction: FlipDirection;
  /** allow→deny: the conduit that allowed it then; deny→allow: the one that allows it now ('-' when none). */
  conduit: string;
  /** The identity, or the source address when none. */
  source: string;
  asset: string;
  count: number;
  first: number;
  last: number;
  /** How many of each deny reason the new policy gives (allow→deny) or gave then (deny→allow). */
  reasons: Record<string, number>;
  examples: ReplayExample[];
}

export interface ReplayReport {
  /** Observations looked at. */
  records: number;
  /** Decisions re-decided. */
  replayed: number;
  unchanged: number;
  /** allow→deny and deny→allow counts. */
  breaks: number;
  opens: number;
  /** Observations not re-decided, by why. */
  skipped: Record<string, number>;
  /** First and last decision time replayed (epoch ms), or null. */
  from: number | null;
  to: number | null;
  /** Sorted: breaks first, then by count. */
  flips: ReplayFlip[];
  /** Flips that fell outside maxGroups (counted in breaks/opens, not grouped). */
  ungrouped: number;
}

export interface ReplayOptions {
  /** Most flip groups kept (default 10,000). */
  maxGroups?: number;
  /** Distinct examples per group (default 3). */
  examples?: number;
  /** Extra protocol handlers (tests; new drivers register in handlers.ts). */
  handlers?: ReadonlyMap<string, ProtocolHandler>;
}

/**
 * Reasons that were not the policy's answer then (rate limit, unparseable frames, a DNP3 operate
 * without its select, which the driver checks after the policy allowed it): not replayed.
 */
const NOT_POLICY = new Set(['rate-limited', 'malformed', 'select-required']);

export function describeRecorded(d: NonNullable<Observation['decision']>): string {
  if (d.decision === 'allow') return d.monitor ? `allow by ${d.conduit} (monitor: would deny ${d.reason})` : `allow by ${d.conduit}`;
  return `deny (${d.reason})`;
}

function describeNow(d: Decision): string {
  return describeRecorded(d);
}

interface CachedScope {
  port: number | undefined;
  protocol: string;
  scope: ScopeState;
  device: string | null;
  /** Scopes as a person logged in at the edge, by identity. */
  persons?: Map<string, ScopeState>;
}

/** Re-decides observations one at a time (add) and reports the flips (report). */
export class ReplayEngine {
  private readonly index: PolicyIndex;
  private readonly maxGroups: number;
  private readonly maxExamples: number;
  private readonly handlers: ReadonlyMap<string, ProtocolHandler>;
  /** Resolved scopes by source, then asset (a short list per port and protocol): no key string built per record. */
  private readonly scopes = new Map<string, Map<string, CachedScope[]>>();
  private scopeCount = 0;
  private readonly groups = new Map<string, ReplayFlip>();
  private readonly r: ReplayReport = { records: 0, replayed: 0, unchanged: 0, breaks: 0, opens: 0, skipped: {}, from: null, to: null, flips: [], ungrouped: 0 };

  constructor(index: PolicyIndex, opts: ReplayOptions = {}) {
    this.index = index;
    this.maxGroups = opts.maxGroups ?? 10_000;
    this.maxExamples = opts.examples ?? 3;
    this.handlers = opts.handlers ?? PROTOCOL_HANDLERS;
  }

  private skip(why: string): void {
    this.r.skipped[why] = (this.r.skipped[why] ?? 0) + 1;
  }

  /** The scope for a source and destination, resolved once; with the recorded person when the source had one. */
  private scopeFor(obs: Observation, h: ProtocolHandler): ScopeState {
    const src = obs.src as string, asset = obs.asset as string;
    let byAsset = this.scopes.get(src);
    if (byAsset === undefined) { byAsset = new Map(); this.scopes.set(src, byAsset); }
    let list = byAsset.get(asset);
    if (list === undefined) { list = []; byAsset.set(asset, list); }
    let c: CachedScope | undefined;
    for (const x of list) if (x.port === obs.port && x.protocol === h.policyProtocol) { c = x; break; }
    if (c === undefined) {
      const scope = resolveScope(new ScopeState(), this.index, { ip: src, fromIdentity: undefined, session: undefined },
        { asset, ip: undefined, port: obs.port, protocol: h.policyProtocol, hasOp: false });
      c = { port: obs.port, protocol: h.policyProtocol, scope, device: scope.device };
      list.push(c);
      this.scopeCount++;
    }
    // A person logged in at the edge was named by the decision; decide again as that person.
    const who = obs.decision?.identity ?? null;
    if (who === null || who === c.device) return c.scope;
    const n = this.index.t.identityIndex.get(who);
    if (n === undefined || this.index.doc.identities[n].kind === 'device' || this.index.doc.identities[n].kind === 'service') return c.scope;
    c.persons ??= new Map();
    let p = c.persons.get(who);
    if (p === undefined) {
      p = resolveScope(new ScopeState(), this.index, { ip: src, fromIdentity: undefined, session: { identity: who, edgeAuth: true, grant: true } },
        { asset, ip: undefined, port: obs.port, protocol: h.policyProtocol, hasOp: false });
      c.persons.set(who, p);
      this.scopeCount++;
    }
    return p;
  }

  /** Re-decides one observation (any record may be given; what is not a decision is skipped). */
  add(obs: Observation): void {
    this.r.records++;
    const was = obs.decision;
    if (obs.kind !== 'decision' || was === undefined) { this.skip('not a decision'); return; }
    if (was.decision === 'deny' && was.reason !== null && NOT_POLICY.has(was.reason)) { this.skip(`${was.reason} then`); return; }
    const h = this.handlers.get(obs.protocol ?? '');
    if (h === undefined) { this.skip(`no replayer for protocol ${obs.protocol ?? '(none)'}`); return; }
    if (typeof obs.src !== 'string' || typeof obs.asset !== 'string') { this.skip('no source or asset'); return; }
    if (this.scopeCount > 200_000) { this.scopes.clear(); this.scopeCount = 0; }
    const scope = this.scopeFor(obs, h);
    let now: Decision | null;
    if (h.isOperation(obs)) now = h.decideOperation(scope, obs, obs.at);
    else now = decideConnect(scope, obs.at);
    if (now === null) { this.skip('missing operation fields'); return; }
    this.r.replayed++;
    if (this.r.from === null || obs.at < this.r.from) this.r.from = obs.at;
    if (this.r.to === null || obs.at > this.r.to) this.r.to = obs.at;
    if (now.decision === was.decision) { this.r.unchanged++; return; }
    const direction: FlipDirection = was.decision === 'allow' ? 'allow→deny' : 'deny→allow';
    if (direction === 'allow→deny') this.r.breaks++; else this.r.opens++;
    this.group(direction, obs, h, was, now);
  }

  private group(direction: FlipDirection, obs: Observation, h: ProtocolHandler, was: NonNullable<Observation['decision']>, now: Decision): void {
    const conduit = (direction === 'allow→deny' ? was.conduit : now.conduit) ?? '-';
    const source = was.identity ?? now.identity ?? (obs.src as string);
    const asset = obs.asset as string;
    const key = `${direction}|${conduit}|${source}|${asset}`;
    let g = this.groups.get(key);
    if (g === undefined) {
      if (this.groups.size >= this.maxGroups) { this.r.ungrouped++; return; }
      g = { direction, conduit, source, asset, count: 0, first: obs.at, last: obs.at, reasons: {}, examples: [] };
      this.groups.set(key, g);
    }
    g.count++;
    if (obs.at < g.first) g.first = obs.at;
    if (obs.at > g.last) g.last = obs.at;
    const reason = (direction === 'allow→deny' ? now.reason : was.reason) ?? 'unknown';
    g.reasons[reason] = (g.reasons[reason] ?? 0) + 1;
    if (g.examples.length < this.maxExamples) {
      const operation = h.describe(obs);
      if (!g.examples.some((e) => e.operation === operation)) {
        g.examples.push({ at: obs.at, src: obs.src as string, operation, was: describeRecorded(was), now: describeNow(now) });
      }
    }
  }

  /** The report so far. */
  report(): ReplayReport {
    const flips = [...this.groups.values()].sort((a, b) => (a.direction === b.direction ? 0 : a.direction === 'allow→deny' ? -1 : 1)
      || b.count - a.count || a.conduit.localeCompare(b.conduit) || a.source.localeCompare(b.source) || a.asset.localeCompare(b.asset));
    return { ...this.r, skipped: { ...this.r.skipped }, flips };
  }
}
