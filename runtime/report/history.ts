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
  const inRange = o.records.filter((r) => (o.from === undefined || r.at >= o.from) && (o.to === undefined || r.at <= o.to));
  // A loop, not Math.min(...): a log holds millions of records, more than a call's arguments.
  let first = Infinity, last = -Infinity;
  for (const r of inRange) { if (r.at < first) first = r.at; if (r.at > last) last = r.at; }
  const from = o.from ?? (inRange.length ? first : null);
  const to = o.to ?? (inRange.length ? last : null);
  const bucketMs = from !== null && to !== null ? bucketSize(Math.max(1, to - from)) : 3_600_000;
  const tally = new Tally(bucketMs, (r) => fields.some((f) => r[f] !== undefined));
  for (const r of inRange) tally.add(r);
  const history: History = { from, to, records: inRange.length, ...tally.counts(from, to), verify: verifySummary(o.verify ?? null) };
  for (const section of sections) Object.assign(history, section.collect(inRange));
  return history;
}

function verifySummary(v: VerifyReport | null): CommonHistory['verify'] {
  return v && {
    ok: v.ok, pinned: v.key?.source === 'pinned', records: v.records, firstSeq: v.firstSeq, lastSeq: v.lastSeq, checkpoints: v.checkpoints,
    key: v.key ? `${v.key.hex.slice(0, 16)}… (${v.key.source})` : null,
    error: v.error ? `${v.error.code} at ${[v.error.segment, v.error.seq !== null ? `seq ${v.error.seq}` : null].filter(Boolean).join(', ')}: ${v.error.message}` : null,
    gaps: v.gaps.length,
  };
}

type SourceCount = { identity: string | null; allow: number; deny: number; reasons: Set<string> };
const byName = <T>(key: (x: T) => string) => (a: T, b: T): number => (key(a) < key(b) ? -1 : 1);

/** The counts of one pass over the period's records: decisions by conduit, source, reason, asset and time; logins and the other events. */
class Tally {
  private readonly decisions: Counter = { allow: 0, deny: 0, monitor: 0 };
  private allowedConnections = 0;
  private readonly conduits = new Map<string, { allow: number; monitor: number }>();
  private readonly sources = new Map<string, SourceCount>();
  private readonly reasons = new Map<string, number>();
  private readonly assets = new Map<string, { allow: number; deny: number }>();
  private readonly logins = { ok: 0, failed: 0, events: [] as HistoryEvent[] };
  private readonly activations: HistoryEvent[] = [];
  private readonly breakGlass: HistoryEvent[] = [];
  private readonly grants: HistoryEvent[] = [];
  private readonly gaps: CommonHistory['gaps'] = [];
  private malformed = 0;
  private summarised = 0;
  private readonly buckets = new Map<number, TimeBucket>();

  /** `isOperation`: the record carries a protocol operation (a request), not just a connection. */
  constructor(private readonly bucketMs: number, private readonly isOperation: (r: AuditRecord) => boolean) {}

  add(r: AuditRecord): void {
    const d = r.decision;
    const det = r.detail as Record<string, unknown> | undefined;
    if (r.kind === 'decision' && d) {
      if (d.decision === 'allow') this.allow(r, d);
      else this.deny(r, 1, d.reason ?? 'unknown');
    } else if (r.kind === 'summary' && r.summary) {
      this.summarised += r.summary.count;
      this.deny(r, r.summary.count, d?.reason ?? 'unknown');
    } else if (r.kind === 'malformed') {
      this.malformed++;
    } else if (r.kind === 'auth') {
      this.auth(r, det);
    } else if (r.kind === 'policy') {
      if (r.message === 'activated' || r.message === 'reload refused' || (r.message ?? '').includes('refused') || (r.message ?? '').includes('activated')) {
        push(this.activations, { at: r.at, seq: r.seq, who: r.source, what: `${r.message ?? ''}${r.policyVersion ? ` (version ${r.policyVersion})` : ''}`, detail: detailString(det, ['previous', 'source', 'code', 'error', 'conduits']) });
      }
    } else if (r.kind === 'break-glass') {
      push(this.breakGlass, { at: r.at, seq: r.seq, who: String(det?.user ?? ''), what: r.message ?? '', detail: detailString(det, ['reason', 'minutes', 'sourceIp']) });
    } else if (r.kind === 'grant') {
      push(this.grants, { at: r.at, seq: r.seq, who: r.source, what: r.message ?? '', detail: detailString(det, ['id', 'conduits', 'identity', 'expiresAt']) });
    } else if (r.kind === 'gap' && r.gap) {
      this.gaps.push({ seq: r.seq, at: r.at, reason: r.gap.reason, count: r.gap.count, range: r.gap.fromSeq !== undefined ? `${r.gap.fromSeq}..${r.gap.toSeq}` : null });
    }
  }

  private bucket(at: number): TimeBucket {
    const start = Math.floor(at / this.bucketMs) * this.bucketMs;
    let b = this.buckets.get(start);
    if (!b) { b = { start, allow: 0, deny: 0 }; this.buckets.set(start, b); }
    return b;
  }

  private source(r: AuditRecord, identity: string | null): SourceCount {
    const key = sourceOf(r);
    const s = this.sources.get(key) ?? { identity, allow: 0, deny: 0, reasons: new Set<string>() };
    s.identity ??= identity; // a source's first record may predate its identity (no policy yet)
    this.sources.set(key, s);
    return s;
  }

  private asset(r: AuditRecord): { allow: number; deny: number } | null {
    if (!r.asset) return null;
    const a = this.assets.get(r.asset) ?? { allow: 0, deny: 0 };
    this.assets.set(r.asset, a);
    return a;
  }

  private allow(r: AuditRecord, d: NonNullable<AuditRecord['decision']>): void {
    // A decision without an operation is connection-level: not a request.
    if (!this.isOperation(r)) this.allowedConnections++;
    else this.decisions.allow++;
    if (d.monitor) this.decisions.monitor++;
    const c = this.conduits.get(d.conduit ?? '(none)') ?? { allow: 0, monitor: 0 };
    c.allow++;
    if (d.monitor) c.monitor++;
    this.conduits.set(d.conduit ?? '(none)', c);
    this.source(r, d.identity ?? null).allow++;
    const a = this.asset(r);
    if (a) a.allow++;
    this.bucket(r.at).allow++;
  }

  private deny(r: AuditRecord, n: number, reason: string): void {
    this.decisions.deny += n;
    this.reasons.set(reason, (this.reasons.get(reason) ?? 0) + n);
    const s = this.source(r, r.decision?.identity ?? null);
    s.deny += n;
    s.reasons.add(reason);
    const a = this.asset(r);
    if (a) a.deny += n;
    this.bucket(r.at).deny += n;
  }

  private auth(r: AuditRecord, det: Record<string, unknown> | undefined): void {
    const m = r.message ?? '';
    if (m === 'login') this.logins.ok++;
    else if (m.startsWith('login failed') || m.startsWith('login refused') || m === 'account locked') this.logins.failed++;
    if (m === 'login' || m.startsWith('login') || m === 'account locked' || m === 'session ended' || m === 'console logout') {
      push(this.logins.events, { at: r.at, seq: r.seq, who: String(det?.user ?? r.src ?? ''), what: m, detail: detailString(det, ['via', 'from', 'role', 'reason']) });
    }
  }

  /** The counts as the report shows them, sorted; the timeline with its empty buckets too, so the chart's time axis is even. */
  counts(from: number | null, to: number | null): Omit<CommonHistory, 'from' | 'to' | 'records' | 'verify'> {
    const perSource = [...this.sources.entries()].map(([source, s]) => ({ source, identity: s.identity, allow: s.allow, deny: s.deny }))
      .sort((a, b) => b.allow + b.deny - (a.allow + a.deny) || (a.source < b.source ? -1 : 1));
    const topDeniedSources = [...this.sources.entries()].filter(([, s]) => s.deny > 0)
      .map(([source, s]) => ({ source, identity: s.identity, deny: s.deny, reasons: [...s.reasons].sort() }))
      .sort((a, b) => b.deny - a.deny || (a.source < b.source ? -1 : 1)).slice(0, 10);
    const tl: TimeBucket[] = [];
    const bucketMs = this.bucketMs;
    if (from !== null && to !== null) {
      for (let s = Math.floor(from / bucketMs) * bucketMs; s <= to; s += bucketMs) tl.push(this.buckets.get(s) ?? { start: s, allow: 0, deny: 0 });
    }
    return {
      decisions: this.decisions, allowedConnections: this.allowedConnections,
      perConduit: [...this.conduits.entries()].map(([conduit, c]) => ({ conduit, ...c })).sort((a, b) => b.allow - a.allow || (a.conduit < b.conduit ? -1 : 1)),
      perSource: perSource.slice(0, 100), perSourceCount: perSource.length,
      perReason: [...this.reasons.entries()].map(([reason, count]) => ({ reason, count })).sort((a, b) => b.count - a.count || (a.reason < b.reason ? -1 : 1)),
      topDeniedSources,
      perAsset: [...this.assets.entries()].map(([asset, a]) => ({ asset, ...a })).sort(byName((a) => a.asset)),
      logins: this.logins, activations: this.activations, breakGlass: this.breakGlass, grants: this.grants, gaps: this.gaps,
      malformed: this.malformed, summarisedDenials: this.summarised,
      timeline: { bucketMs, buckets: tl },
    };
  }
}

const push = (list: HistoryEvent[], e: HistoryEvent): void => { if (list.length < EVENT_CAP) list.push(e); };
