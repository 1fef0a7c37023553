/**
 * The candidate loop the protocol deciders share (DNP3 dnp3-decide.ts, IEC 104 iec104-decide.ts):
 * per candidate conduit, in compile.ts's order, schedule (stage 0), requires.edgeAuth (1),
 * requires.grant (2), then the protocol's own checks (`stage(rules[c], op)`: 3.. or -1 to pass).
 * The first passing candidate allows; otherwise a monitor conduit that got furthest allows in
 * monitor mode, else the deny names the reason of the candidate that got furthest.
 */
import type { Decision } from './types';
import { windowOpen } from './schedule';
import { allowDecision, denyDecision, monitorDecision } from './decision-cache';
import type { DecisionCache, IndexTables, PolicyIndex } from './index-tables';
import type { ScopeState } from './scope';

/** A protocol's checks: the first failing stage (3..) for op under rules, or -1. */
export type StageCheck<R, O> = (rules: R | null, op: O) => number;

/** Decides op against a resolved scope's candidates (the caller checked pre, validity and that there are candidates). */
export function decideStaged<R, O>(scope: ScopeState, rules: readonly (R | null)[], stage: StageCheck<R, O>, op: O, reasons: Int32Array, nowMs: number): Decision {
  const index = scope.index as PolicyIndex;
  const t: IndexTables = index.t;
  const cands = scope.cands;
  let best = -1, bestStage = -1, mon = -1, monStage = -1, monAt = -1;
  for (let i = 0; i < cands.length; i++) {
    const c = cands[i];
    let st: number;
    const tz = t.cSchedTz[c];
    if (tz >= 0 && !windowOpen(t.cSchedDays[c], t.cSchedFrom[c], t.cSchedTo[c], t.clock.weekMinute(tz, nowMs))) st = 0;
    else if (t.cEdgeAuth[c] === 1 && !scope.edgeAuth) st = 1;
    else if (t.cGrant[c] === 1 && !scope.grantAll && (scope.grant === null || scope.grant[c] === 0)) st = 2;
    else {
      st = stage(rules[c], op);
      if (st < 0) {
        const d = scope.allowAt[i];
        return d !== undefined ? d : (scope.allowAt[i] = allowDecision(scope.candCache[i], index, c));
      }
    }
    if (st > bestStage) { best = c; bestStage = st; }
    if (t.cMonitor[c] === 1 && st > monStage) { mon = c; monStage = st; monAt = i; }
  }
  if (mon >= 0) return monitorDecision(scope.candCache[monAt], index, mon, reasons[monStage]);
  return best >= 0 ? denyDecision(scope.cache as DecisionCache, reasons[bestStage]) : (scope.empty as Decision);
}
