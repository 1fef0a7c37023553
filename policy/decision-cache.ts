/**
 * The frozen decisions a compiled index hands out: one object per (source identity, conduit,
 * reason), made on first use and shared, so that decide() allocates nothing once warm.
 */
import { DENY_REASONS, type Decision, type DenyReason } from './types';
import { N_REASONS, type DecisionCache, type PolicyIndex } from './index-tables';

/** The decision cache of a source identity (number, or -1 for none), made on first use. */
export function decisionCache(index: PolicyIndex, identity: number): DecisionCache {
  const slot = identity + 1;
  let d = index.t.decisions[slot];
  if (d === undefined) {
    d = { identity: identity < 0 ? null : index.doc.identities[identity].id, allow: new Map(), deny: new Array(N_REASONS).fill(undefined), monitor: new Map() };
    index.t.decisions[slot] = d;
  }
  return d;
}

/** The frozen allow decision naming conduit `c`. */
export function allowDecision(cache: DecisionCache, index: PolicyIndex, c: number): Decision {
  let d = cache.allow.get(c);
  if (d === undefined) {
    d = Object.freeze({ decision: 'allow', conduit: index.conduits[c].id, reason: null, identity: cache.identity });
    cache.allow.set(c, d);
  }
  return d;
}

/** The frozen deny decision for reason number `r`. */
export function denyDecision(cache: DecisionCache, r: number): Decision {
  let d = cache.deny[r];
  if (d === undefined) {
    d = Object.freeze({ decision: 'deny', conduit: null, reason: DENY_REASONS[r], identity: cache.identity });
    cache.deny[r] = d;
  }
  return d;
}

/** The frozen monitor-mode allow: conduit `c` would have denied for reason `r`. */
export function monitorDecision(cache: DecisionCache, index: PolicyIndex, c: number, r: number): Decision {
  const k = c * N_REASONS + r;
  let d = cache.monitor.get(k);
  if (d === undefined) {
    d = Object.freeze({ decision: 'allow', conduit: index.conduits[c].id, reason: DENY_REASONS[r] as DenyReason, identity: cache.identity, monitor: true });
    cache.monitor.set(k, d);
  }
  return d;
}
