/** The IEC 104 part of the report's history (registered by runtime/listeners/iec104.ts): ASDUs decided and the links that ran. */
import { cappedNote, countsByTotal, decisionDetail, isoTime, sourceOf, tallyDecisions, type ReportSection, type ReportTable } from '../section';
import { iec104LinksOf, type Iec104LinkEvent } from '../iec104-links';
import { formatIec104Link } from '../../config/iec104';

export interface Iec104OperationEvent {
  at: number; seq: number; source: string; identity: string | null; type: string; cause: string; ca: number; ioa: string;
  values: string; se: string; decision: 'allow' | 'deny'; detail: string;
}

/**
 * IEC 104 ASDUs from masters decided: per type, and every command, set-point, bitstring, reset,
 * parameter and file operation (the first 200), with who sent it, common address, IOAs, values
 * and select/execute. Null without IEC 104 records.
 */
export type Iec104History = { perType: { type: string; allow: number; deny: number }[]; operations: Iec104OperationEvent[]; operationCount: number } | null;

/** The IEC 104 section's fields of a report history: the ASDU counts and the link starts (undefined: the section did not run). */
export function iec104HistoryOf(history: Readonly<Record<string, unknown>>): { asdus: Iec104History | undefined; links: Iec104LinkEvent[] | undefined } {
  return { asdus: history.iec104 as Iec104History | undefined, links: history.iec104Links as Iec104LinkEvent[] | undefined };
}

/** IEC 104 classes that act on the station: commands, set-points, bitstrings, reset, parameters, file transfer. */
const IEC104_OPERATIONS = new Set(['command', 'setpoint', 'bitstring', 'reset-process', 'parameter', 'file-transfer']);

const IEC104_COLUMNS = ['Time', 'Seq', 'Source', 'Identity', 'Type', 'Cause', 'CA', 'IOA', 'Values', 'S/E', 'Decision', 'Path or reason'];
const iec104Row = (e: Iec104OperationEvent): (string | number)[] => [isoTime(e.at), e.seq, e.source, e.identity ?? '', e.type, e.cause, e.ca, e.ioa, e.values, e.se, e.decision, e.detail];
const IEC104_LINK_COLUMNS = ['Started', 'Seq', 'Listener', 'Asset', 'Service port', 'Link (k, w, t1, t2, t3)'];
const iec104LinkRow = (e: Iec104LinkEvent): (string | number)[] => [isoTime(e.at), e.seq, e.listener, e.asset, e.port, formatIec104Link(e)];

export const iec104ReportSection: ReportSection = {
  operationField: 'iec104',
  collect(records) {
    const t = tallyDecisions(records, {
      fields: (r) => r.iec104, name: (q) => q.name, isOperation: (q) => q.class !== undefined && IEC104_OPERATIONS.has(q.class),
      event: (r, q, d): Iec104OperationEvent => ({
        at: r.at, seq: r.seq, source: sourceOf(r), identity: d.identity ?? null, type: q.name, cause: `${q.cause}${q.negative ? ' P/N' : ''}${q.test ? ' T' : ''}`, ca: q.ca,
        ioa: q.ioa.join(', ') + (q.count > q.ioa.length ? ` (+${q.count - q.ioa.length})` : ''), values: (q.values ?? []).map((v) => (v === null ? 'NaN' : String(v))).join(', '),
        se: q.select ? [...new Set(q.select.map((x) => (x ? 'select' : 'execute')))].join('/') : '', decision: d.decision, detail: decisionDetail(r),
      }),
    });
    const iec104: Iec104History = t.per.size === 0 ? null : { perType: countsByTotal(t.per, 'type'), operations: t.operations, operationCount: t.operationCount };
    return { iec104, iec104Links: iec104LinksOf(records) };
  },
  tables(history) {
    const { asdus: h, links } = iec104HistoryOf(history);
    const out: ReportTable[] = h ? [
      { title: 'IEC 104 ASDUs per type', columns: ['Type', 'Allowed', 'Denied'], rows: h.perType.map((t) => [t.type, t.allow, t.deny]) },
      { title: 'IEC 104 commands, set-points, resets, parameters and file operations', note: cappedNote(h.operations.length, h.operationCount), columns: IEC104_COLUMNS, rows: h.operations.map(iec104Row) },
    ] : [];
    if (links?.length) out.push({ title: 'IEC 104 links', columns: IEC104_LINK_COLUMNS, rows: links.map(iec104LinkRow) });
    return out;
  },
};
