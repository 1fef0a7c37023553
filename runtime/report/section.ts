/**
 * A protocol's part of the compliance report's history, as a driver registration names it
 * (runtime/listeners/registry.ts `reportSection`): what it counts from the period's audit records
 * and the tables it shows. history.ts and both renderers iterate the sections and name no
 * protocol (the History type included: a section's fields are its own to read back);
 * sections/builtin.ts lists the built-in ones.
 */
import type { AuditRecord } from '../../protocol/audit/record';
import type { Decision } from '../../policy/types';

/** One table of a section: its heading, a note beside it, the columns and the rows (plain text, escaped by the renderer). */
export interface ReportTable { title: string; note?: string; columns: string[]; rows: (string | number)[][] }

export interface ReportSection {
  /**
   * The audit record field its driver's decisions on one protocol operation carry (`dnp3`: one DNP3
   * request). An allowed decision that carries no section's field is connection-level (a Modbus
   * connection opened, a TCP conduit connection) and is counted apart from requests.
   */
  operationField?: keyof AuditRecord;
  /** The history fields it adds, by name (they stay in the report model: `history.dnp3`, ...). */
  collect(records: readonly AuditRecord[]): Record<string, unknown>;
  /** Its tables for a history holding what `collect` added; none: nothing to show. */
  tables(history: Readonly<Record<string, unknown>>): ReportTable[];
}

/** At most this many events per list. */
export const EVENT_CAP = 200;

/** Who a record is from: its source address, else the decision's identity. */
export const sourceOf = (r: AuditRecord): string => r.src ?? r.decision?.identity ?? '(unknown)';

/** What a decision's row says: the path it allowed, or the reason with the record's message. */
export function decisionDetail(r: AuditRecord): string {
  const d = r.decision!;
  return d.decision === 'allow' ? (d.conduit ?? '') : `${d.reason ?? 'denied'}${r.message ? `: ${r.message}` : ''}`;
}

/** What a protocol's decisions come to: allow/deny per name and the first EVENT_CAP operations (operationCount: all of them). */
export interface DecisionTally<E> { per: Map<string, { allow: number; deny: number }>; operations: E[]; operationCount: number }

/**
 * Tallies the decision records that carry a protocol's fields (`fields` picks them): counted per
 * `name`, and those `isOperation` says act on the station listed as `event` builds them.
 */
export function tallyDecisions<Q, E>(records: readonly AuditRecord[], o: {
  fields: (r: AuditRecord) => Q | undefined; name: (q: Q) => string; isOperation: (q: Q) => boolean; event: (r: AuditRecord, q: Q, d: Decision) => E;
}): DecisionTally<E> {
  const t: DecisionTally<E> = { per: new Map(), operations: [], operationCount: 0 };
  for (const r of records) {
    const d = r.decision, q = o.fields(r);
    if (r.kind !== 'decision' || !d || q === undefined) continue;
    const c = t.per.get(o.name(q)) ?? { allow: 0, deny: 0 };
    if (d.decision === 'allow') c.allow++; else c.deny++;
    t.per.set(o.name(q), c);
    if (!o.isOperation(q)) continue;
    t.operationCount++;
    if (t.operations.length < EVENT_CAP) t.operations.push(o.event(r, q, d));
  }
  return t;
}

/** `per` as rows sorted by total, then by name. */
export function countsByTotal<K extends string>(per: Map<string, { allow: number; deny: number }>, key: K): ({ [P in K]: string } & { allow: number; deny: number })[] {
  return [...per.entries()].map(([name, c]) => ({ [key]: name, ...c }) as { [P in K]: string } & { allow: number; deny: number })
    .sort((a, b) => b.allow + b.deny - a.allow - a.deny || (a[key] < b[key] ? -1 : 1));
}

/** "the first N of M" when a list was capped. */
export const cappedNote = (shown: number, count: number): string | undefined => (count > shown ? `the first ${shown} of ${count}` : undefined);

/** ISO time without milliseconds, UTC; '-' for null. */
export function isoTime(ms: number | null): string {
  return ms === null ? '-' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Every section's tables for `history`, in section order (both renderers). */
export function sectionTables(history: object, sections: readonly ReportSection[]): ReportTable[] {
  return sections.flatMap((s) => s.tables(history as Readonly<Record<string, unknown>>));
}
