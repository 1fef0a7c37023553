/** The DNP3 part of the report's history (registered by runtime/listeners/dnp3.ts). */
import { cappedNote, countsByTotal, decisionDetail, isoTime, sourceOf, tallyDecisions, type ReportSection } from '../section';

export interface Dnp3OperationEvent {
  at: number; seq: number; source: string; identity: string | null; function: string; links: string; objects: string[];
  points: number[]; values: number[]; decision: 'allow' | 'deny'; detail: string;
}

/**
 * DNP3 requests (and unsolicited responses) decided: per function, and every control,
 * restart, application, configuration and file operation (the first 200), allowed or refused,
 * with who sent it, the link addresses, objects, points and values. Null without DNP3 records.
 */
export type Dnp3History = { perFunction: { function: string; allow: number; deny: number }[]; operations: Dnp3OperationEvent[]; operationCount: number } | null;

/** The DNP3 section's field of a report history (undefined: the section did not run). */
export const dnp3HistoryOf = (history: Readonly<Record<string, unknown>>): Dnp3History | undefined => history.dnp3 as Dnp3History | undefined;

/** DNP3 function codes that act on the outstation (IEEE 1815 table 4-1): SELECT..DIRECT_OPERATE_NO_ACK, restarts, application and configuration, files. */
const isDnp3Operation = (fn: number): boolean => (fn >= 3 && fn <= 6) || (fn >= 13 && fn <= 19) || (fn >= 25 && fn <= 31);

export const dnp3ReportSection: ReportSection = {
  operationField: 'dnp3',
  collect(records) {
    const t = tallyDecisions(records, {
      fields: (r) => r.dnp3, name: (q) => q.name, isOperation: (q) => isDnp3Operation(q.function),
      event: (r, q, d): Dnp3OperationEvent => ({
        at: r.at, seq: r.seq, source: sourceOf(r), identity: d.identity ?? null, function: q.name, links: `${q.source} → ${q.destination}`, objects: q.objects,
        points: q.points ?? [], values: (q.values ?? []).filter((v) => v === v), decision: d.decision, detail: decisionDetail(r),
      }),
    });
    const dnp3: Dnp3History = t.per.size === 0 ? null : { perFunction: countsByTotal(t.per, 'function'), operations: t.operations, operationCount: t.operationCount };
    return { dnp3 };
  },
  tables(history) {
    const h = dnp3HistoryOf(history);
    if (!h) return [];
    return [
      { title: 'DNP3 requests per function', columns: ['Function', 'Allowed', 'Denied'], rows: h.perFunction.map((f) => [f.function, f.allow, f.deny]) },
      {
        title: 'DNP3 controls, restarts, application, configuration and file operations', note: cappedNote(h.operations.length, h.operationCount),
        columns: ['Time', 'Seq', 'Source', 'Identity', 'Function', 'Link', 'Objects', 'Points', 'Values', 'Decision', 'Path or reason'],
        rows: h.operations.map((e) => [isoTime(e.at), e.seq, e.source, e.identity ?? '', e.function, e.links, e.objects.join(', '), e.points.join(', '), e.values.join(', '), e.decision, e.detail]),
      },
    ];
  },
};
