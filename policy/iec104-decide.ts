/**
 * IEC 104 decisions over a compiled index: the rules of each iec104 conduit compiled into typed
 * arrays and sets (compileIec104Rules, called by compile.ts), and the per-ASDU hot path
 * (decideIec104), which follows compile.ts's evaluation order with IEC 104's checks in place of
 * Modbus's:
 *
 *  4. Validity: a type id IEC 104 does not define, or a monitor-direction type sent by the
 *     master → `malformed` (the driver answers an unknown type itself, cause 44).
 *  6. Per candidate (staged-decide.ts), after schedule, requires.edgeAuth and requires.grant:
 *     type (`function-not-allowed`), common address (`unit-not-allowed`), cause of transmission
 *     (`cause-not-allowed`: in `causes`, or by default one the type takes in control direction),
 *     every object's IOA (`address-out-of-range`; station-wide types, which carry IOA 0, are not
 *     held to `ioas`), set-point values (`value-out-of-range`: inside values.min..max, NaN never),
 *     select before execute (`select-required`: an execute, cause 6 with S/E 0, of a command or
 *     set-point the driver did not find selected by the same identity).
 *  An iec104 conduit without `allow` allows every well-formed control-direction ASDU.
 */
import type { Conduit, Decision } from './types';
import { DENY_REASONS } from './types';
import type { Iec104Operation } from './iec104';
import { controlCauseAllowed, selectable, stationWide, typeClass } from './iec104-classes';
import { denyDecision } from './decision-cache';
import type { DecisionCache, PolicyIndex } from './index-tables';
import type { Iec104Rules } from './protocol-rules';
import type { ScopeState } from './scope';
import { decideStaged } from './staged-decide';

export type { Iec104Rules } from './protocol-rules';

const R = (r: (typeof DENY_REASONS)[number]): number => DENY_REASONS.indexOf(r);
const STAGE_REASON = Int32Array.from(
  ['outside-schedule', 'edge-auth-required', 'grant-required', 'function-not-allowed', 'unit-not-allowed', 'cause-not-allowed',
    'address-out-of-range', 'value-out-of-range', 'select-required'] as const, R);
const R_MALFORMED = R('malformed');
const ACTIVATION = 6;


/** The compiled rules per conduit number: null for other protocols and for iec104 conduits without `allow`. */
export function compileIec104Rules(conduits: readonly Conduit[]): (Iec104Rules | null)[] {
  return conduits.map((cd) => {
    const a = cd.protocol === 'iec104' ? cd.iec104 : undefined;
    if (a === undefined) return null;
    const types = new Uint8Array(256);
    for (const t of a.types) types[t] = 1;
    let causes: Uint8Array | null = null;
    if (a.causes !== undefined) { causes = new Uint8Array(64); for (const c of a.causes) causes[c & 0x3f] = 1; }
    return {
      types, causes,
      cas: a.commonAddresses ? new Set(a.commonAddresses) : null,
      ioaStart: a.ioas ? Float64Array.from(a.ioas, (r) => r.start) : null,
      ioaEnd: Float64Array.from(a.ioas ?? [], (r) => r.end),
      vmin: a.values?.min ?? -Infinity,
      vmax: a.values?.max ?? Infinity,
      sbo: a.selectBeforeExecute === true,
    };
  });
}

function ioaIn(r: Iec104Rules, ioa: number): boolean {
  const s = r.ioaStart as Float64Array, e = r.ioaEnd;
  for (let i = 0; i < s.length; i++) {
    if (s[i] > ioa) return false;
    if (e[i] >= ioa) return true;
  }
  return false;
}

/**
 * The first IEC 104 check (stage 3..8: type, common address, cause, IOA, values, select) that
 * `rules` fails for `op`, or -1 when it passes. Null rules (no `allow`) pass everything.
 */
export function iec104Stage(rules: Iec104Rules | null, op: Iec104Operation): number {
  if (rules === null) return -1;
  const t = op.typeId;
  if (rules.types[t & 0xff] === 0) return 3;
  if (rules.cas !== null && !rules.cas.has(op.ca)) return 4;
  if (rules.causes !== null ? rules.causes[op.cause & 0x3f] === 0 : !controlCauseAllowed(t, op.cause)) return 5;
  const n = op.count;
  if (rules.ioaStart !== null && !stationWide(t)) {
    for (let i = 0; i < n; i++) if (!ioaIn(rules, op.ioa[i])) return 6;
  }
  const cls = typeClass(t);
  if (cls === 'setpoint' && (rules.vmin !== -Infinity || rules.vmax !== Infinity)) {
    for (let i = 0; i < n; i++) { const v = op.value[i]; if (!(v >= rules.vmin && v <= rules.vmax)) return 7; }
  }
  if (rules.sbo && !op.selected && op.cause === ACTIVATION && selectable(t)) {
    for (let i = 0; i < n; i++) if (op.select[i] === 0) return 8;
  }
  return -1;
}

/** The deny reason of an IEC 104 stage number. */
export function iec104StageReason(stage: number): (typeof DENY_REASONS)[number] {
  return DENY_REASONS[STAGE_REASON[stage]];
}

/** Whether the master may send this type at all (step 4): a type 104 defines, not monitor direction. */
export function iec104Valid(typeId: number): boolean {
  const c = typeClass(typeId);
  return c !== undefined && c !== 'monitor';
}

/** The hot path: one control-direction ASDU against a resolved scope. */
export function decideIec104(scope: ScopeState, op: Iec104Operation, nowMs: number): Decision {
  if (scope.pre !== null) return scope.pre;
  if (!iec104Valid(op.typeId)) return denyDecision(scope.cache as DecisionCache, R_MALFORMED);
  if (scope.cands.length === 0) return scope.empty as Decision;
  return decideStaged(scope, (scope.index as PolicyIndex).t.iec104, iec104Stage, op, STAGE_REASON, nowMs);
}

/**
 * Station direction (issue 17): the data an ASDU from the station carries (monitor direction, or
 * the answer to a master's command) is held to the same conduits as what the master sends, in
 * compile.ts's order: per candidate, schedule, requires.edgeAuth and requires.grant (a conduit
 * outside its window or whose grant expired carries no station data either), then its common
 * addresses (`unit-not-allowed`) and IOA ranges (`address-out-of-range`; station-wide ASDUs with
 * IOA 0, such as an interrogation's confirmation or end of initialisation, are not held to
 * `ioas`). The first passing candidate allows; a monitor-mode conduit that got furthest allows
 * in monitor mode (the record names it); else the deny names the furthest candidate's reason.
 * A scope decided in advance (unknown destination, quarantine) answers that decision.
 */
export function decideIec104Station(scope: ScopeState, op: Iec104Operation, nowMs: number): Decision {
  if (scope.pre !== null) return scope.pre;
  if (scope.cands.length === 0) return scope.empty as Decision;
  return decideStaged(scope, (scope.index as PolicyIndex).t.iec104, iec104StationStage, op, STAGE_REASON, nowMs);
}

const M_EI_NA_1 = 70;

/** The station-direction checks of one conduit: common address (4), IOAs (6), or -1. */
export function iec104StationStage(rules: Iec104Rules | null, op: Iec104Operation): number {
  if (rules === null) return -1;
  if (rules.cas !== null && !rules.cas.has(op.ca)) return 4;
  const t = op.typeId;
  if (rules.ioaStart !== null && !stationWide(t) && t !== M_EI_NA_1) {
    for (let i = 0; i < op.count; i++) if (!ioaIn(rules, op.ioa[i])) return 6;
  }
  return -1;
}
