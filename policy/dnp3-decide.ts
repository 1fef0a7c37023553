/**
 * DNP3 decisions over a compiled index: the rules of each dnp3 conduit compiled into sets and
 * typed arrays (compileDnp3Rules, called by compile.ts), and the per-request hot path
 * (decideDnp3), which follows compile.ts's evaluation order with DNP3's checks in place of
 * Modbus's:
 *
 *  4. Validity: a function code IEEE 1815 does not define, or a response code other than
 *     unsolicited-response (130) asked as a request → `malformed` (the driver parsed the rest).
 *  6. Per candidate, after schedule, requires.edgeAuth and requires.grant:
 *     function (`function-not-allowed`; CONFIRM always passes, UNSOLICITED_RESPONSE only with
 *     `unsolicited: true`), link addresses (`unit-not-allowed`: masters holds the source,
 *     outstations the destination), every object header's group/variation (`object-not-allowed`;
 *     per function when `objects` maps functions), point indices of the groups `points` names
 *     (`address-out-of-range`: every listed index, or the header's whole range, inside one
 *     allowed range; a header naming no index, e.g. qualifier 0x06, reads them all and fails),
 *     values (`value-out-of-range`: g41 values inside values.min..max, g12 control codes in
 *     `controls`). CONFIRM and unsolicited responses carry no objects the policy looks at.
 *  A dnp3 conduit without `allow` allows every well-formed request and unsolicited responses.
 */
import type { Conduit, Decision } from './types';
import { DENY_REASONS } from './types';
import { CROB_CODE_MASK, dnp3Function, type Dnp3Operation, type Dnp3Range } from './dnp3';
import { denyDecision } from './decision-cache';
import type { DecisionCache, PolicyIndex } from './index-tables';
import type { Dnp3Rules } from './protocol-rules';
import { decideStaged } from './staged-decide';
import type { ScopeState } from './scope';

export type { Dnp3Rules } from './protocol-rules';

const R = (r: (typeof DENY_REASONS)[number]): number => DENY_REASONS.indexOf(r);
const R_SCHEDULE = R('outside-schedule'), R_EDGE_AUTH = R('edge-auth-required'), R_GRANT = R('grant-required');
const R_FUNCTION = R('function-not-allowed'), R_UNIT = R('unit-not-allowed'), R_ADDRESS = R('address-out-of-range');
const R_MALFORMED = R('malformed'), R_OBJECT = R('object-not-allowed'), R_VALUE = R('value-out-of-range');

const FN_CONFIRM = 0;
const FN_UNSOLICITED = 130;


const objectKey = (g: number, v: number): number => (g << 8) | v;

function objectSet(refs: readonly { group: number; variation: number }[]): Set<number> {
  return new Set(refs.map((r) => objectKey(r.group, r.variation)));
}

function ranges(rs: readonly Dnp3Range[]): { start: Float64Array; end: Float64Array } {
  return { start: Float64Array.from(rs, (r) => r.start), end: Float64Array.from(rs, (r) => r.end) };
}

/** The compiled rules per conduit number: null for other protocols and for dnp3 conduits without `allow`. */
export function compileDnp3Rules(conduits: readonly Conduit[]): (Dnp3Rules | null)[] {
  return conduits.map((cd) => {
    const a = cd.protocol === 'dnp3' ? cd.dnp3 : undefined;
    if (a === undefined) return null;
    const fns = new Uint32Array(8);
    const set = (f: number): void => { fns[f >>> 5] |= 1 << (f & 31); };
    for (const f of a.functions) set(f);
    set(FN_CONFIRM);
    if (a.unsolicited === true) set(FN_UNSOLICITED);
    let objects: Set<number> | null = null;
    let objectsByFn: Map<number, Set<number>> | null = null;
    if (Array.isArray(a.objects)) objects = objectSet(a.objects);
    else if (a.objects !== undefined) {
      objectsByFn = new Map();
      for (const k of Object.keys(a.objects)) objectsByFn.set(Number(k), objectSet(a.objects[k]));
    }
    let points: Map<number, { start: Float64Array; end: Float64Array }> | null = null;
    if (a.points !== undefined) {
      points = new Map();
      for (const k of Object.keys(a.points)) points.set(Number(k.slice(1)), ranges(a.points[k]));
    }
    let controls: Uint8Array | null = null;
    if (a.controls !== undefined) {
      controls = new Uint8Array(256);
      for (const c of a.controls) controls[c & CROB_CODE_MASK] = 1;
    }
    return {
      fns, objects, objectsByFn, points, controls,
      masters: a.masters ? new Set(a.masters) : null,
      outstations: a.outstations ? new Set(a.outstations) : null,
      vmin: a.values?.min ?? -Infinity,
      vmax: a.values?.max ?? Infinity,
    };
  });
}

function inOne(r: { start: Float64Array; end: Float64Array }, lo: number, hi: number): boolean {
  const s = r.start, e = r.end;
  for (let i = 0; i < s.length; i++) {
    if (s[i] > lo) return false;
    if (e[i] >= lo) return e[i] >= hi;
  }
  return false;
}

/**
 * The first DNP3 check (stage 3..7: function, link, object, points, values) that `rules` fails
 * for `op`, or -1 when it passes. Null rules (no `allow`) pass everything.
 */
export function dnp3Stage(rules: Dnp3Rules | null, op: Dnp3Operation): number {
  if (rules === null) return -1;
  const fn = op.fn;
  if ((rules.fns[fn >>> 5] & (1 << (fn & 31))) === 0) return 3;
  if ((rules.masters !== null && !rules.masters.has(op.source)) || (rules.outstations !== null && !rules.outstations.has(op.destination))) return 4;
  if (fn === FN_CONFIRM || fn === FN_UNSOLICITED) return -1;
  const n = op.headers;
  const objs = rules.objectsByFn !== null ? rules.objectsByFn.get(fn) ?? null : rules.objects;
  if (objs !== null || rules.objectsByFn !== null) {
    for (let h = 0; h < n; h++) {
      const g = op.group[h];
      if (objs === null || (!objs.has(objectKey(g, op.variation[h])) && !objs.has(objectKey(g, 0)))) return 5;
    }
  }
  const points = rules.points;
  if (points !== null) {
    for (let h = 0; h < n; h++) {
      const r = points.get(op.group[h]);
      if (r === undefined) continue;
      const a = op.ptOff[h], b = op.ptOff[h + 1];
      if (a < b) {
        for (let i = a; i < b; i++) if (!inOne(r, op.ptIndex[i], op.ptIndex[i])) return 6;
      } else if (op.lo[h] < 0 || !inOne(r, op.lo[h], op.hi[h])) return 6;
    }
  }
  if (rules.controls !== null || rules.vmin !== -Infinity || rules.vmax !== Infinity) {
    for (let h = 0; h < n; h++) {
      const g = op.group[h];
      if (g !== 12 && g !== 41) continue;
      for (let i = op.ptOff[h], e = op.ptOff[h + 1]; i < e; i++) {
        const v = op.ptValue[i];
        if (g === 41 ? !(v >= rules.vmin && v <= rules.vmax) : rules.controls !== null && (v !== v || rules.controls[v & CROB_CODE_MASK] === 0)) return 7;
      }
    }
  }
  return -1;
}

const STAGE_REASON = Int32Array.of(R_SCHEDULE, R_EDGE_AUTH, R_GRANT, R_FUNCTION, R_UNIT, R_OBJECT, R_ADDRESS, R_VALUE);

/** The deny reason of a DNP3 stage number. */
export function dnp3StageReason(stage: number): (typeof DENY_REASONS)[number] {
  return DENY_REASONS[STAGE_REASON[stage]];
}

/** Whether a function code can be asked about at all (step 4). */
export function dnp3Valid(fn: number): boolean {
  const f = dnp3Function(fn);
  return f !== undefined && (f.response !== true || fn === FN_UNSOLICITED) && (fn & 0xff) === fn;
}

/** The hot path: one DNP3 request (or unsolicited response) against a resolved scope. */
export function decideDnp3(scope: ScopeState, op: Dnp3Operation, nowMs: number): Decision {
  if (scope.pre !== null) return scope.pre;
  if (!dnp3Valid(op.fn)) return denyDecision(scope.cache as DecisionCache, R_MALFORMED);
  if (scope.cands.length === 0) return scope.empty as Decision;
  return decideStaged(scope, (scope.index as PolicyIndex).t.dnp3, dnp3Stage, op, STAGE_REASON, nowMs);
}
