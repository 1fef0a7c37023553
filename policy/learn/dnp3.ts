/**
 * DNP3 in replay and learning. The driver records each request (and each unsolicited response)
 * as the audit `dnp3` field (drivers/dnp3/audit-fields.ts): function, link source and
 * destination, object headers as text (`g12v1 q28 3-9 x2`: group, variation, qualifier, index
 * range or `all`, count when it is not the range's size) and the points the decider read
 * (indices of index-prefixed headers, and of CROB g12 / analog output g41 ranges, with their
 * control codes and values), at most 64 per record. That is enough to rebuild the operation the
 * decider saw (dnp3Operation here) and decide it again through the same hot path.
 *
 * A record whose points were cut at 64 is re-decided on what it lists: headers whose points
 * are missing are checked by their index range (the decider's rule for a header without
 * listed points), values of unlisted points are not known (counted in `truncated`).
 *
 * Learning gathers per source × asset: functions, link addresses (masters, outstations), the
 * objects each function used, the index ranges per group (only groups every header of which
 * named its indices: a read of `all` points leaves its group unrestricted), the g41 values'
 * span, the CROB operations, and whether unsolicited responses came. Reads (read, class and
 * unsolicited housekeeping) and controls (everything that changes the outstation) become
 * separate conduits, like Modbus reads and writes.
 */
import type { Dnp3Allow, Dnp3ObjectRef, Dnp3Operation, Dnp3Range, Dnp3RequestObject } from '../dnp3';
import { CROB_CODE_MASK, CROB_OPERATIONS, dnp3Function } from '../dnp3';
import type { ScopeState } from '../decide';
import { decideDnp3 } from '../dnp3-decide';
import { mergeRanges, mergeWithin } from '../ranges';
import { boundaryProbes, type LearntBlock, type Observation, type OperationLearner, type ProtocolHandler } from './observed';

/** The audit record's `dnp3` field (drivers/types.ts AuditEvent['dnp3']). */
export interface Dnp3Fields {
  function: number; name?: string; source: number; destination: number; seq?: number;
  objects: string[]; points?: number[]; values?: number[]; iin?: number;
}

/** One object header as the record writes it. */
export interface HeaderText { group: number; variation: number; qualifier: number; lo: number; hi: number; count: number }

const HEADER = /^g(\d{1,3})v(\d{1,3}) q([0-9a-f]{1,2})(?: (?:(\d+)(?:-(\d+))?|all))?(?: x(\d+))?$/;

/** Parses `g12v1 q28 3-9 x2`; undefined when the text is not one. */
export function parseHeaderText(s: string): HeaderText | undefined {
  const m = HEADER.exec(s);
  if (!m) return undefined;
  const group = Number(m[1]), variation = Number(m[2]), qualifier = parseInt(m[3], 16);
  if (group > 255 || variation > 255) return undefined;
  const lo = m[4] === undefined ? -1 : Number(m[4]);
  const hi = m[4] === undefined ? -1 : m[5] === undefined ? lo : Number(m[5]);
  if (hi < lo) return undefined;
  const count = m[6] !== undefined ? Number(m[6]) : lo >= 0 ? hi - lo + 1 : 0;
  return { group, variation, qualifier, lo, hi, count };
}

const CROB = 12, ANALOG_OUTPUT = 41, UNSOLICITED = 130, CONFIRM = 0;

/** Whether the driver listed the points of this header (drivers/dnp3/app.ts `pointsHere`). */
function pointsListed(fn: number, h: HeaderText): boolean {
  const prefix = (h.qualifier >> 4) & 7, range = h.qualifier & 0x0f;
  if (prefix >= 1 && prefix <= 3) return true;
  const data = dnp3Function(fn)?.data === true && fn !== UNSOLICITED;
  return data && (h.group === CROB || h.group === ANALOG_OUTPUT) && range <= 2 && prefix === 0;
}

function fieldsOf(obs: Observation): Dnp3Fields | undefined {
  const d = obs.dnp3 as Dnp3Fields | undefined;
  if (d === undefined || d === null || typeof d !== 'object' || typeof d.function !== 'number' || !Array.isArray(d.objects)) return undefined;
  return d;
}

/** The operation the decider saw, rebuilt from the record; undefined when the fields are not readable. */
export function dnp3OperationOf(d: Dnp3Fields): { op: Dnp3Operation; headers: HeaderText[]; truncated: boolean } | undefined {
  const headers: HeaderText[] = [];
  for (const s of d.objects) {
    const h = typeof s === 'string' ? parseHeaderText(s) : undefined;
    if (h === undefined) return undefined;
    headers.push(h);
  }
  const points = Array.isArray(d.points) ? d.points : [];
  const values = Array.isArray(d.values) ? d.values : [];
  const n = headers.length;
  const group = new Array<number>(n), variation = new Array<number>(n), lo = new Array<number>(n), hi = new Array<number>(n);
  const ptOff = new Array<number>(n + 1), ptIndex: number[] = [], ptValue: number[] = [];
  ptOff[0] = 0;
  let next = 0, truncated = false;
  for (let i = 0; i < n; i++) {
    const h = headers[i];
    group[i] = h.group; variation[i] = h.variation; lo[i] = h.lo; hi[i] = h.hi;
    if (pointsListed(d.function, h) && h.count > 0) {
      if (next + h.count <= points.length) {
        for (let k = 0; k < h.count; k++, next++) {
          ptIndex.push(points[next]);
          const v = values[next];
          ptValue.push(typeof v === 'number' ? v : NaN);
        }
      } else { truncated = true; next = points.length; }
    }
    ptOff[i + 1] = ptIndex.length;
  }
  return { op: { fn: d.function, source: d.source, destination: d.destination, headers: n, group, variation, lo, hi, ptOff, ptIndex, ptValue }, headers, truncated };
}

/** Functions that only read or keep the session: learnt apart from those that change the outstation. */
const READS = new Set([CONFIRM, 1, 20, 21, 22, 23, 24, UNSOLICITED]);

class Dnp3Group {
  readonly functions = new Set<number>();
  readonly masters = new Set<number>();
  readonly outstations = new Set<number>();
  /** Per function: object keys group << 8 | variation. */
  readonly objects = new Map<number, Set<number>>();
  /** Per group: ranges as start * 2^32 + end (compacted when many); null once a header named no indices. */
  readonly points = new Map<number, Set<number> | null>();
  vmin = Infinity;
  vmax = -Infinity;
  readonly controls = new Set<number>();
  unsolicited = false;
  count = 0;
  example: Dnp3RequestObject[] | null = null;
  exampleFn = -1;
  exampleSrc = 0;
  exampleDst = 0;

  addRange(g: number, lo: number, hi: number): void {
    const cur = this.points.get(g);
    if (cur === null) return;
    const set = cur ?? new Set<number>();
    if (cur === undefined) this.points.set(g, set);
    set.add(lo * 4294967296 + hi);
    if (set.size > 4096) {
      const merged = mergeRanges(rangesOf(set));
      set.clear();
      for (const r of merged) set.add(r.start * 4294967296 + r.end);
    }
  }
}

// `>>> 0`: the remainder of a division past 2^31 is a boxed double even when small, and one boxed
// double in a `{ start, end }` literal boxes the fields of every range in the process (see
// test/policy/validate-memory.test.ts); the unsigned shift gives back a small integer.
const rangesOf = (set: ReadonlySet<number>): Dnp3Range[] => [...set].map((k) => ({ start: Math.floor(k / 4294967296), end: (k % 4294967296) >>> 0 }));

const CROB_NAMES = new Map(Object.entries(CROB_OPERATIONS).map(([k, v]) => [v, k]));

class Dnp3Learner implements OperationLearner {
  private readonly groups = new Map<'read' | 'control', Dnp3Group>();
  private connects = 0;

  add(obs: Observation): void {
    const d = fieldsOf(obs);
    if (d === undefined) { this.connects++; return; }
    const parsed = dnp3OperationOf(d);
    const f = dnp3Function(d.function);
    if (parsed === undefined || f === undefined || (f.response === true && d.function !== UNSOLICITED)) return; // never learnt
    const kind = READS.has(d.function) ? 'read' : 'control';
    let g = this.groups.get(kind);
    if (!g) { g = new Dnp3Group(); this.groups.set(kind, g); }
    g.count++;
    if (d.function === UNSOLICITED) { g.unsolicited = true; return; }
    g.functions.add(d.function);
    g.masters.add(d.source);
    g.outstations.add(d.destination);
    const { op, headers } = parsed;
    if (headers.length > 0) {
      let objs = g.objects.get(d.function);
      if (!objs) { objs = new Set(); g.objects.set(d.function, objs); }
      for (const h of headers) objs.add((h.group << 8) | h.variation);
    }
    for (let i = 0; i < headers.length; i++) {
      const h = headers[i];
      const a = op.ptOff[i], b = op.ptOff[i + 1];
      if (a < b) for (let k = a; k < b; k++) g.addRange(h.group, op.ptIndex[k], op.ptIndex[k]);
      else if (h.lo >= 0) g.addRange(h.group, h.lo, h.hi);
      else g.points.set(h.group, null);
      for (let k = a; k < b; k++) {
        const v = op.ptValue[k];
        if (v !== v) continue;
        if (h.group === ANALOG_OUTPUT) { if (v < g.vmin) g.vmin = v; if (v > g.vmax) g.vmax = v; }
        if (h.group === CROB) g.controls.add(v & CROB_CODE_MASK);
      }
    }
    if (g.example === null && !parsed.truncated) {
      g.exampleFn = d.function; g.exampleSrc = d.source; g.exampleDst = d.destination;
      g.example = headers.map((h, i) => {
        const o: Dnp3RequestObject = { group: h.group, variation: h.variation };
        const a = op.ptOff[i], b = op.ptOff[i + 1];
        if (a < b) {
          o.indices = Array.from({ length: b - a }, (_, k) => op.ptIndex[a + k]);
          const vs = Array.from({ length: b - a }, (_, k) => op.ptValue[a + k]);
          if (vs.every((v) => v === v)) o.values = vs;
        } else if (h.lo >= 0) { o.start = h.lo; o.stop = h.hi; }
        return o;
      });
    }
  }

  blocks(slack: number): LearntBlock[] {
    const kinds = (['read', 'control'] as const).filter((k) => this.groups.has(k));
    if (kinds.length === 0) return [{ suffix: 'dnp3', fields: { dnp3: { functions: [CONFIRM] } }, example: { protocol: 'dnp3' }, probes: [], count: this.connects }];
    return kinds.map((kind) => {
      const g = this.groups.get(kind) as Dnp3Group;
      const functions = [...g.functions].sort((a, b) => a - b);
      if (functions.length === 0) functions.push(CONFIRM); // only unsolicited responses came
      const allow: Dnp3Allow = { functions };
      if (g.masters.size) allow.masters = [...g.masters].sort((a, b) => a - b);
      if (g.outstations.size) allow.outstations = [...g.outstations].sort((a, b) => a - b);
      const byFn: Record<string, Dnp3ObjectRef[]> = {};
      for (const fn of [...g.objects.keys()].sort((a, b) => a - b)) {
        byFn[String(fn)] = [...(g.objects.get(fn) as Set<number>)].sort((a, b) => a - b).map((k) => ({ group: k >> 8, variation: k & 255 }));
      }
      if (Object.keys(byFn).length > 0 || functions.some((f) => f !== CONFIRM)) allow.objects = byFn;
      const points: Record<string, Dnp3Range[]> = {};
      for (const grp of [...g.points.keys()].sort((a, b) => a - b)) {
        const set = g.points.get(grp);
        if (set) points[`g${grp}`] = mergeWithin(mergeRanges(rangesOf(set)), slack);
      }
      if (Object.keys(points).length > 0) allow.points = points;
      if (g.vmin <= g.vmax) allow.values = { min: g.vmin, max: g.vmax };
      if (g.controls.size) allow.controls = [...g.controls].filter((c) => CROB_NAMES.has(c)).sort((a, b) => a - b);
      if (allow.controls?.length === 0) delete allow.controls;
      if (g.unsolicited) allow.unsolicited = true;
      const example = g.example === null ? { protocol: 'dnp3' } : { dnp3: { function: g.exampleFn, source: g.exampleSrc, destination: g.exampleDst, objects: g.example } };
      // Boundary probes: an index just outside each learnt range, by a function that used the group.
      const probes: Record<string, unknown>[] = [];
      for (const [key, rs] of Object.entries(points)) {
        const grp = Number(key.slice(1));
        const variations = [...g.objects.entries()].flatMap(([f, s]) => [...s].filter((k) => k >> 8 === grp).map((k) => ({ f, v: k & 255 })));
        const pick = variations.find((x) => !READS.has(x.f)) ?? variations[0];
        if (!pick) continue;
        {
          for (const index of boundaryProbes(rs, 0xffffffff)) {
            const o: Dnp3RequestObject = { group: grp, variation: pick.v, indices: [index] };
            if (grp === ANALOG_OUTPUT && allow.values) o.values = [allow.values.min];
            if (grp === CROB && allow.controls) o.control = allow.controls[0];
            probes.push({ dnp3: { function: pick.f, source: allow.masters?.[0] ?? 1, destination: allow.outstations?.[0] ?? 10, objects: [o] } });
          }
        }
      }
      return { suffix: `dnp3-${kind}`, fields: { dnp3: allow }, example, probes, count: g.count };
    });
  }
}

export const dnp3Handler: ProtocolHandler = {
  recordProtocol: 'dnp3',
  policyProtocol: 'dnp3',
  isOperation: (obs) => fieldsOf(obs) !== undefined,
  decideOperation(scope: ScopeState, obs: Observation, at: number) {
    const d = fieldsOf(obs);
    const parsed = d === undefined ? undefined : dnp3OperationOf(d);
    return parsed === undefined ? null : decideDnp3(scope, parsed.op, at);
  },
  describe(obs) {
    const d = fieldsOf(obs);
    if (d === undefined) return 'connect';
    const name = dnp3Function(d.function)?.name ?? `function-${d.function}`;
    const pts = Array.isArray(d.points) && d.points.length ? ` points ${d.points.slice(0, 8).join(',')}${d.points.length > 8 ? ',…' : ''}` : '';
    const vals = Array.isArray(d.values) && d.values.some((v) => v === v) ? ` values ${d.values.slice(0, 8).map((v) => (d.objects.some((o) => o.startsWith('g12')) && v === v ? CROB_NAMES.get(v & CROB_CODE_MASK) ?? v : v)).join(',')}` : '';
    return `${name} ${d.source}→${d.destination}${d.objects.length ? ` ${d.objects.join('; ')}` : ''}${pts}${vals}`;
  },
  newLearner: () => new Dnp3Learner(),
};
