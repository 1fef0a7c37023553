/** What a compliance report holds: the policy inventory and, when an audit folder was given, its history. */
import type { Inventory } from './inventory';
import type { History } from './history';

export { isoTime } from './section';

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
