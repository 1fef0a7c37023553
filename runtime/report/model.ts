/** What a compliance report holds: the policy inventory and, when an audit folder was given, its history. */
import type { Inventory } from './inventory';
import type { History, Iec104OperationEvent } from './history';
import type { Iec104LinkEvent } from './iec104-links';
import { formatIec104Link } from '../config/iec104';

export interface ComplianceReport {
  title: string;
  /** Epoch ms. */
  generatedAt: number;
  policy: { file: string; sha256: string; source: 'file' | 'bundle'; version: string | null };
  audit: { dir: string; device: string | null } | null;
  /** The period asked for (null bounds: from the first / to the last record). */
  period: { from: number | null; to: number | null };
  inventory: Inventory;
  history: History | null;
}

/** ISO time without milliseconds, UTC; '-' for null. */
export function isoTime(ms: number | null): string {
  return ms === null ? '-' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The columns of the IEC 104 operations table, and one row (both renderers). */
export const IEC104_COLUMNS = ['Time', 'Seq', 'Source', 'Identity', 'Type', 'Cause', 'CA', 'IOA', 'Values', 'S/E', 'Decision', 'Path or reason'];
export function iec104Row(e: Iec104OperationEvent): (string | number)[] {
  return [isoTime(e.at), e.seq, e.source, e.identity ?? '', e.type, e.cause, e.ca, e.ioa, e.values, e.se, e.decision, e.detail];
}

/** The columns of the IEC 104 links table, and one row (both renderers). */
export const IEC104_LINK_COLUMNS = ['Started', 'Seq', 'Listener', 'Asset', 'Service port', 'Link (k, w, t1, t2, t3)'];
export function iec104LinkRow(e: Iec104LinkEvent): (string | number)[] {
  return [isoTime(e.at), e.seq, e.listener, e.asset, e.port, formatIec104Link(e)];
}
