/**
 * The audit half of the compliance report: access and refusal history over a period, from the
 * records of an audit folder (query.ts) and its verification (verify.ts). Pure: records in,
 * counts out. A deny-flood `summary` record stands for `summary.count` further denials of its
 * (source, asset, reason); they are added to the counts, so the totals are the real ones.
 */
import type { AuditRecord } from '../../protocol/audit/record';
import type { VerifyReport } from '../../protocol/audit/verify';
import { iec104LinksOf, type Iec104LinkEvent } from './iec104-links';

export interface Counter { allow: number; deny: number; monitor: number }

export interface HistoryEvent { at: number; seq: number; who: string; what: string; detail: string }

export interface Dnp3OperationEvent {
  at: number; seq: number; source: string; identity: string | null; function: string; links: string; objects: string[];
  points: number[]; values: number[]; decision: 'allow' | 'deny'; detail: string;
}

export interface Iec104OperationEvent {
  at: number; seq: number; source: string; identity: string | null; type: string; cause: string; ca: number; ioa: string;
  values: string; se: string; decision: 'allow' | 'deny'; detail: string;
}

/** IEC 104 classes that act on the station: commands, set-points, bitstrings, reset, parameters, file transfer. */
const IEC104_OPERATIONS = new Set(['command', 'setpoint', 'bitstring', 'reset-process', 'parameter', 'file-transfer']);

/** DNP3 function codes that act on the outstation (IEEE 1815 table 4-1): SELECT..DIRECT_OPERATE_NO_ACK, restarts, application and configuration, files. */
const isDnp3Operation = (fn: number): boolean => (fn >= 3 && fn <= 6) || (fn >= 13 && fn <= 19) || (fn >= 25 && fn <= 31);

export interface TimeBucket { start: number; allow: number; deny: number }

export interface History {
  from: number | null;
  to: number | null;
  records: number;
  /**
   * Decisions. `allow` counts allowed requests (decisions on a protocol operation, e.g. one Modbus
   * function or one DNP3 request); allowed connection-level decisions (a Modbus connection opened, a TCP conduit
   * connection) are counted apart in `allowedConnections`. `deny` counts every denial.
   */
  decisions: Counter;
  allowedConnections: number;
  perConduit: { conduit: string; allow: number; monitor: number }[];
  /** The 100 busiest sources (perSourceCount says how many there were). */
  perSource: { source: string; identity: string | null; allow: number; deny: number }[];
  perSourceCount: number;
  perReason: { reason: string; count: number }[];
  topDeniedSources: { source: string; identity: string | null; deny: number; reasons: string[] }[];
  perAsset: { asset: string; allow: number; deny: number }[];
  logins: { ok: number; failed: number; events: HistoryEvent[] };
  activations: HistoryEvent[];
  breakGlass: HistoryEvent[];
  grants: HistoryEvent[];
  gaps: { seq: number; at: number; reason: string; count: number; range: string | null }[];
  malformed: number;
  summarisedDenials: number;
  timeline: { bucketMs: number; buckets: TimeBucket[] };
  /**
   * DNP3 requests (and unsolicited responses) decided: per function, and every control,
   * restart, application, configuration and file operation (the first 200), allowed or refused,
   * with who sent it, the link addresses, objects, points and values. Null without DNP3 records.
   */
  dnp3: { perFunction: { function: string; allow: number; deny: number }[]; operations: Dnp3OperationEvent[]; operationCount: number } | null;
  /**
   * IEC 104 ASDUs from masters decided: per type, and every command, set-point, bitstring, reset,
   * parameter and file operation (the first 200), with who sent it, common address, IOAs, values
   * and select/execute. Null without IEC 104 records.
   */
  iec104: { perType: { type: string; allow: number; deny: number }[]; operations: Iec104OperationEvent[]; operationCount: number } | null;
  /** IEC 104 listener starts with the link settings they kept (k, w, t1/t2/t3), the first 200. */
  iec104Links?: Iec104LinkEvent[];
  /** `pinned`: checkpoints were checked against a device key given or kept beside the log, not the log's own claim. */
  verify: { ok: boolean; pinned: boolean; records: number; firstSeq: number | null; lastSeq: number | null; checkpoints: number; key: string | null; error: string | null; gaps: number } | null;
}

const EVENT_CAP = 200;

function bucketSize(spanMs: number): number {
  const steps = [60_000, 5 * 60_000, 15 * 60_000, 3_600_000, 6 * 3_600_000, 86_400_000, 7 * 86_400_000];
  for (const s of steps) if (spanMs / s <= 96) return s;
  return 30 * 86_400_000;
}

function detailString(d: Record<string, unknown> | undefined, keys: string[]): string {
  if (!d) return '';
  return keys.filter((k) => d[k] !== undefined && d[k] !== null).map((k) => `${k} ${typeof d[k] === 'object' ? JSON.stringify(d[k]) : String(d[k])}`).join(', ');
}

/** Counts the records with `at` in [from, to] (either bound may be open). */
export function buildHistory(o: { records: AuditRecord[]; from?: number; to?: number; verify?: VerifyReport | null }): History {
  const inRange = o.records.filter((r) => (o.from === undefined || r.at >= o.from) && (o.to === undefined || r.at <= o.to));
  const decisions: Counter = { allow: 0, deny: 0, monitor: 0 };
  let allowedConnections = 0;
  const conduits = new Map<string, { allow: number; monitor: number }>();
  const sources = new Map<string, { identity: string | null; allow: number; deny: number; reasons: Set<string> }>();
  const reasons = new Map<string, number>();
  const assets = new Map<string, { allow: number; deny: number }>();
  const logins = { ok: 0, failed: 0, events: [] as HistoryEvent[] };
  const activations: HistoryEvent[] = [];
  const breakGlass: HistoryEvent[] = [];
  const grants: HistoryEvent[] = [];
  const gaps: History['gaps'] = [];
  let malformed = 0;
  let summarised = 0;
  const dnp3Functions = new Map<string, { allow: number; deny: number }>();
  const dnp3Operations: Dnp3OperationEvent[] = [];
  let dnp3OperationCount = 0;
  const iec104Types = new Map<string, { allow: number; deny: number }>();
  const iec104Operations: Iec104OperationEvent[] = [];
  let iec104OperationCount = 0;
  // A loop, not Math.min(...): a log holds millions of records, more than a call's arguments.
  let first = Infinity, last = -Infinity;
  for (const r of inRange) { if (r.at < first) first = r.at; if (r.at > last) last = r.at; }
  const from = o.from ?? (inRange.length ? first : null);
  const to = o.to ?? (inRange.length ? last : null);
  const bucketMs = from !== null && to !== null ? bucketSize(Math.max(1, to - from)) : 3_600_000;
  const buckets = new Map<number, TimeBucket>();
  const bucket = (at: number): TimeBucket => {
    const start = Math.floor(at / bucketMs) * bucketMs;
    let b = buckets.get(start);
    if (!b) { b = { start, allow: 0, deny: 0 }; buckets.set(start, b); }
    return b;
  };
  const src = (r: AuditRecord): string => r.src ?? r.decision?.identity ?? '(unknown)';
  const countDeny = (r: AuditRecord, n: number, reason: string): void => {
    decisions.deny += n;
    reasons.set(reason, (reasons.get(reason) ?? 0) + n);
    const s = sources.get(src(r)) ?? { identity: r.decision?.identity ?? null, allow: 0, deny: 0, reasons: new Set<string>() };
    s.identity ??= r.decision?.identity ?? null; // a source's first record may predate its identity (no policy yet)
    s.deny += n;
    s.reasons.add(reason);
    sources.set(src(r), s);
    if (r.asset) { const a = assets.get(r.asset) ?? { allow: 0, deny: 0 }; a.deny += n; assets.set(r.asset, a); }
    bucket(r.at).deny += n;
  };
  const push = (list: HistoryEvent[], e: HistoryEvent): void => { if (list.length < EVENT_CAP) list.push(e); };

  for (const r of inRange) {
    const d = r.decision;
    if (r.kind === 'decision' && d && r.dnp3 !== undefined) {
      const q = r.dnp3;
      const f = dnp3Functions.get(q.name) ?? { allow: 0, deny: 0 };
      if (d.decision === 'allow') f.allow++; else f.deny++;
      dnp3Functions.set(q.name, f);
      if (isDnp3Operation(q.function)) {
        dnp3OperationCount++;
        if (dnp3Operations.length < EVENT_CAP) {
          dnp3Operations.push({
            at: r.at, seq: r.seq, source: src(r), identity: d.identity ?? null, function: q.name, links: `${q.source} → ${q.destination}`, objects: q.objects,
            points: q.points ?? [], values: (q.values ?? []).filter((v) => v === v), decision: d.decision,
            detail: d.decision === 'allow' ? (d.conduit ?? '') : `${d.reason ?? 'denied'}${r.message ? `: ${r.message}` : ''}`,
          });
        }
      }
    }
    if (r.kind === 'decision' && d && r.iec104 !== undefined) {
      const q = r.iec104;
      const t = iec104Types.get(q.name) ?? { allow: 0, deny: 0 };
      if (d.decision === 'allow') t.allow++; else t.deny++;
      iec104Types.set(q.name, t);
      if (q.class !== undefined && IEC104_OPERATIONS.has(q.class)) {
        iec104OperationCount++;
        if (iec104Operations.length < EVENT_CAP) {
          iec104Operations.push({
            at: r.at, seq: r.seq, source: src(r), identity: d.identity ?? null, type: q.name, cause: `${q.cause}${q.negative ? ' P/N' : ''}${q.test ? ' T' : ''}`, ca: q.ca,
            ioa: q.ioa.join(', ') + (q.count > q.ioa.length ? ` (+${q.count - q.ioa.length})` : ''), values: (q.values ?? []).map((v) => (v === null ? 'NaN' : String(v))).join(', '),
            se: q.select ? [...new Set(q.select.map((x) => (x ? 'select' : 'execute')))].join('/') : '', decision: d.decision,
            detail: d.decision === 'allow' ? (d.conduit ?? '') : `${d.reason ?? 'denied'}${r.message ? `: ${r.message}` : ''}`,
          });
        }
      }
    }
    if (r.kind === 'decision' && d) {
      if (d.decision === 'allow') {
        // A decision without an operation is connection-level: not a request.
        if (r.modbus === undefined && r.dnp3 === undefined && r.iec104 === undefined) allowedConnections++;
        else decisions.allow++;
        if (d.monitor) decisions.monitor++;
        const c = conduits.get(d.conduit ?? '(none)') ?? { allow: 0, monitor: 0 };
        c.allow++;
        if (d.monitor) c.monitor++;
        conduits.set(d.conduit ?? '(none)', c);
        const s = sources.get(src(r)) ?? { identity: d.identity ?? null, allow: 0, deny: 0, reasons: new Set<string>() };
        s.identity ??= d.identity ?? null;
        s.allow++;
        sources.set(src(r), s);
        if (r.asset) { const a = assets.get(r.asset) ?? { allow: 0, deny: 0 }; a.allow++; assets.set(r.asset, a); }
        bucket(r.at).allow++;
      } else {
        countDeny(r, 1, d.reason ?? 'unknown');
      }
    } else if (r.kind === 'summary' && r.summary) {
      summarised += r.summary.count;
      countDeny(r, r.summary.count, d?.reason ?? 'unknown');
    } else if (r.kind === 'malformed') {
      malformed++;
    } else if (r.kind === 'auth') {
      const m = r.message ?? '';
      const det = r.detail as Record<string, unknown> | undefined;
      if (m === 'login') logins.ok++;
      else if (m.startsWith('login failed') || m.startsWith('login refused') || m === 'account locked') logins.failed++;
      if (m === 'login' || m.startsWith('login') || m === 'account locked' || m === 'session ended' || m === 'console logout') {
        push(logins.events, { at: r.at, seq: r.seq, who: String(det?.user ?? r.src ?? ''), what: m, detail: detailString(det, ['via', 'from', 'role', 'reason']) });
      }
    } else if (r.kind === 'policy') {
      if (r.message === 'activated' || r.message === 'reload refused' || (r.message ?? '').includes('refused') || (r.message ?? '').includes('activated')) {
        push(activations, { at: r.at, seq: r.seq, who: r.source, what: `${r.message ?? ''}${r.policyVersion ? ` (version ${r.policyVersion})` : ''}`, detail: detailString(r.detail as Record<string, unknown> | undefined, ['previous', 'source', 'code', 'error', 'conduits']) });
      }
    } else if (r.kind === 'break-glass') {
      push(breakGlass, { at: r.at, seq: r.seq, who: String((r.detail as Record<string, unknown> | undefined)?.user ?? ''), what: r.message ?? '', detail: detailString(r.detail as Record<string, unknown> | undefined, ['reason', 'minutes', 'sourceIp']) });
    } else if (r.kind === 'grant') {
      push(grants, { at: r.at, seq: r.seq, who: r.source, what: r.message ?? '', detail: detailString(r.detail as Record<string, unknown> | undefined, ['id', 'conduits', 'identity', 'expiresAt']) });
    } else if (r.kind === 'gap' && r.gap) {
      gaps.push({ seq: r.seq, at: r.at, reason: r.gap.reason, count: r.gap.count, range: r.gap.fromSeq !== undefined ? `${r.gap.fromSeq}..${r.gap.toSeq}` : null });
    }
  }
  const perSource = [...sources.entries()].map(([source, s]) => ({ source, identity: s.identity, allow: s.allow, deny: s.deny }))
    .sort((a, b) => b.allow + b.deny - (a.allow + a.deny) || (a.source < b.source ? -1 : 1));
  const topDeniedSources = [...sources.entries()].filter(([, s]) => s.deny > 0)
    .map(([source, s]) => ({ source, identity: s.identity, deny: s.deny, reasons: [...s.reasons].sort() }))
    .sort((a, b) => b.deny - a.deny || (a.source < b.source ? -1 : 1)).slice(0, 10);
  // Empty buckets too, so the chart's time axis is even.
  const tl: TimeBucket[] = [];
  if (from !== null && to !== null) {
    for (let s = Math.floor(from / bucketMs) * bucketMs; s <= to; s += bucketMs) tl.push(buckets.get(s) ?? { start: s, allow: 0, deny: 0 });
  }
  const v = o.verify ?? null;
  return {
    from, to, records: inRange.length, decisions, allowedConnections,
    perConduit: [...conduits.entries()].map(([conduit, c]) => ({ conduit, ...c })).sort((a, b) => b.allow - a.allow || (a.conduit < b.conduit ? -1 : 1)),
    perSource: perSource.slice(0, 100), perSourceCount: perSource.length, perReason: [...reasons.entries()].map(([reason, count]) => ({ reason, count })).sort((a, b) => b.count - a.count || (a.reason < b.reason ? -1 : 1)),
    topDeniedSources,
    perAsset: [...assets.entries()].map(([asset, a]) => ({ asset, ...a })).sort((a, b) => (a.asset < b.asset ? -1 : 1)),
    logins, activations, breakGlass, grants, gaps, malformed, summarisedDenials: summarised,
    timeline: { bucketMs, buckets: tl },
    dnp3: dnp3Functions.size === 0 ? null : {
      perFunction: [...dnp3Functions.entries()].map(([fn, c]) => ({ function: fn, ...c })).sort((a, b) => b.allow + b.deny - a.allow - a.deny || (a.function < b.function ? -1 : 1)),
      operations: dnp3Operations, operationCount: dnp3OperationCount,
    },
    iec104: iec104Types.size === 0 ? null : {
      perType: [...iec104Types.entries()].map(([type, c]) => ({ type, ...c })).sort((a, b) => b.allow + b.deny - a.allow - a.deny || (a.type < b.type ? -1 : 1)),
      operations: iec104Operations, operationCount: iec104OperationCount,
    },
    iec104Links: iec104LinksOf(inRange),
    verify: v && {
      ok: v.ok, pinned: v.key?.source === 'pinned', records: v.records, firstSeq: v.firstSeq, lastSeq: v.lastSeq, checkpoints: v.checkpoints,
      key: v.key ? `${v.key.hex.slice(0, 16)}… (${v.key.source})` : null,
      error: v.error ? `${v.error.code} at ${[v.error.segment, v.error.seq !== null ? `seq ${v.error.seq}` : null].filter(Boolean).join(', ')}: ${v.error.message}` : null,
      gaps: v.gaps.length,
    },
  };
}
