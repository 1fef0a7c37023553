/** The searchable columns of one audit record, the same for the writer and every reader. */
import type { AuditRecord } from '../../../protocol/audit/record';
import type { Decision } from '../types';
import { decisionOf, operationOf } from '../operation';
import { partitionTime } from './schema';

export interface RecordColumns {
  at: number;
  kind: string;
  identity: string | null;
  src: string | null;
  asset: string | null;
  operation: string;
  decision: Decision | null;
  reason: string | null;
  /** Denials this record stands for: a flood summary's count, else 1. */
  weight: number;
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);


export function columnsOf(r: AuditRecord): RecordColumns {
  const count = r.kind === 'summary' ? r.summary?.count : undefined;
  return {
    at: partitionTime(r.at),
    kind: String(r.kind),
    identity: str(r.decision?.identity),
    src: str(r.src),
    asset: str(r.asset),
    operation: operationOf(r),
    decision: decisionOf(r),
    reason: str(r.decision?.reason),
    weight: typeof count === 'number' && Number.isSafeInteger(count) && count > 0 && count < 2 ** 31 ? count : 1,
  };
}
