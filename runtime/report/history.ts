/**
 * The audit half of the compliance report: access and refusal history over a period, from the
 * records of an audit folder (query.ts) and its verification (verify.ts). Pure: records in,
 * counts out. A deny-flood `summary` record stands for `summary.count` further denials of its
 * (source, asset, reason); they are added to the counts, so the totals are the real ones.
 */
import type { AuditRecord } from '../../protocol/audit/record';
import type { VerifyReport } from '../../protocol/audit/verify';
import { EVENT_CAP, sourceOf, type ReportSection } from './section';
import { BUILTIN_REPORT_SECTIONS } from './sections/builtin';

export interface Counter { allow: number; deny: number; monitor: number }

export interface HistoryEvent { at: number; seq: number; who: string; what: string; detail: string }

export interface TimeBucket { start: number; allow: number; deny: number }

/** The counts every report has, whatever drivers wrote the records. */
export interface CommonHistory {
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
  /** `pinned`: checkpoints were checked against a device key given or kept beside the log, not the log's own claim. */
  verify: { ok: boolean; pinned: boolean; records: number; firstSeq: number | null; lastSeq: number | null; checkpoints: number; key: string | null; error: string | null; gaps: number } | null;
}

/**
 * The report's history: the common counts, and beside them (in the same object, so the JSON
 * report keeps `history.dnp3`, `history.iec104`, ...) the fields the drivers' report sections
 * added. Each section reads its own fields back (section.ts `tables`); nothing here names one.
 */
export type History = CommonHistory & Record<string, unknown>;

function bucketSize(spanMs: number): number {
  const steps = [60_000, 5 * 60_000, 15 * 60_000, 3_600_000, 6 * 3_600_000, 86_400_000, 7 * 86_400_000];
  for (const s of steps) if (spanMs / s <= 96) return s;
  return 30 * 86_400_000;
}

function detailString(d: Record<string, unknown> | undefined, keys: string[]): string {
  if (!d) return '';
  return keys.filter((k) => d[k] !== undefined && d[k] !== null).map((k) => `${k} ${typeof d[k] === 'object' ? JSON.stringify(d[k]) : String(d[k])}`).join(', ');
}

/** Counts the records with `at` in [from, to] (either bound may be open); each of `sections` (a driver registry's, default the built-in ones) adds its part. */
export function buildHistory(o: { records: AuditRecord[]; from?: number; to?: number; verify?: VerifyReport | null; sections?: readonly ReportSection[] }): History {
  const sections = o.sections ?? BUILTIN_REPORT_SECTIONS;
  const fields = sections.flatMap((s) => (s.operationField ? [s.operationField] : []));
  const isOperation = (r: AuditRecord): boolean => fields.some((f) => r[f] !== undefined);
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
  const src = sourceOf;
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
    if (r.kind === 'decision' && d) {
      if (d.decision === 'allow') {
        // A decision without an operation is connection-level: not a request.
        if (!isOperation(r)) allowedConnections++;
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
  const history: History = {
    from, to, records: inRange.length, decisions, allowedConnections,
    perConduit: [...conduits.entries()].map(([conduit, c]) => ({ conduit, ...c })).sort((a, b) => b.allow - a.allow || (a.conduit < b.conduit ? -1 : 1)),
    perSource: perSource.slice(0, 100), perSourceCount: perSource.length, perReason: [...reasons.entries()].map(([reason, count]) => ({ reason, count })).sort((a, b) => b.count - a.count || (a.reason < b.reason ? -1 : 1)),
    topDeniedSources,
    perAsset: [...assets.entries()].map(([asset, a]) => ({ asset, ...a })).sort((a, b) => (a.asset < b.asset ? -1 : 1)),
    logins, activations, breakGlass, grants, gaps, malformed, summarisedDenials: summarised,
    timeline: { bucketMs, buckets: tl },
    verify: v && {
      ok: v.ok, pinned: v.key?.source === 'pinned', records: v.records, firstSeq: v.firstSeq, lastSeq: v.lastSeq, checkpoints: v.checkpoints,
      key: v.key ? `${v.key.hex.slice(0, 16)}… (${v.key.source})` : null,
      error: v.error ? `${v.error.code} at ${[v.error.segment, v.error.seq !== null ? `seq ${v.error.seq}` : null].filter(Boolean).join(', ')}: ${v.error.message}` : null,
      gaps: v.gaps.length,
    },
  };
  for (const section of sections) Object.assign(history, section.collect(inRange));
  return history;
}
