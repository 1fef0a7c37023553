/** `zonegate audit show DIR`: prints audit records as a table or JSON lines, filtered. */
import type { Command, CommandContext } from './framework';
import { usageError } from './framework';
import { parseTimeOption } from '../protocol/parse-time';
import { builtinDrivers, type DriverRegistry } from '../runtime/gateway';
import type { OperationText } from '../protocol/audit/operation-text';
import { readAuditRecords, recordJson, recordRow, resolveAuditDir, type RecordFilter, type RecordRow } from '../protocol/audit/query';

export const auditShowCommand: Command = {
  path: ['audit', 'show'],
  summary: 'print audit records (who reached which asset, denials, logins, ...)',
  usage: 'audit show DIR [--asset A] [--identity I] [--decision allow|deny] [--since T] [--until T] [--kind K] [--limit N] [--json]',
  description: `
DIR is an audit folder or a state folder holding audit/. T is an ISO 8601 time, a date
(YYYY-MM-DD, UTC), epoch milliseconds, now, or a duration back from now (2h, 7d). --limit N prints the N most recent matching records. --json prints one JSON
object per line (byte strings as hex). Use \`audit verify\` to check the log's integrity.`,
  options: {
    asset: { type: 'string', value: 'A', description: 'only records for this asset' },
    identity: { type: 'string', value: 'I', description: 'only decisions about this identity' },
    decision: { type: 'string', value: 'allow|deny', description: 'only allowed or only denied decisions' },
    since: { type: 'string', value: 'T', description: 'only records at or after T' },
    until: { type: 'string', value: 'T', description: 'only records at or before T' },
    kind: { type: 'string', value: 'K', description: 'only records of this kind (decision, auth, gap, summary, checkpoint, ...)' },
    limit: { type: 'string', value: 'N', description: 'at most the N most recent records' },
  },
  positionals: { min: 1, max: 1 },
  json: true,
  run: (ctx) => show(ctx, builtinDrivers().auditOperations()),
};

/** `audit show` printing each record's OPERATION as the drivers registered in `drivers` format it. */
export function auditShowCommandFor(drivers: DriverRegistry): Command {
  const formatters = drivers.auditOperations();
  return { ...auditShowCommand, run: (ctx) => show(ctx, formatters) };
}

async function show(ctx: CommandContext, formatters: readonly OperationText[]): Promise<number> {
  const o = ctx.options;
  const str = (k: string): string | undefined => (typeof o[k] === 'string' ? (o[k] as string) : undefined);
  const filter: RecordFilter = { asset: str('asset'), identity: str('identity'), kind: str('kind') };
  const d = str('decision');
  if (d !== undefined) {
    if (d !== 'allow' && d !== 'deny') throw usageError(`--decision must be allow or deny, got '${d}'`);
    filter.decision = d;
  }
  const when = (flag: string, text: string) => parseTimeOption(text, { flag, now: Date.now(), durations: 'past' });
  if (str('since') !== undefined) filter.since = when('--since', str('since') as string);
  if (str('until') !== undefined) filter.until = when('--until', str('until') as string);
  let limit = Infinity;
  if (str('limit') !== undefined) {
    limit = Number(str('limit'));
    if (!Number.isSafeInteger(limit) || limit < 1) throw usageError(`--limit must be a positive integer, got '${str('limit')}'`);
  }
  const dir = await resolveAuditDir(ctx.positionals[0]);
  const { records, problems } = await readAuditRecords(dir, filter);
  const shown = records.length > limit ? records.slice(records.length - limit) : records;
  if (ctx.json) {
    ctx.out(shown.map((r) => JSON.stringify(recordJson(r))).join('\n'));
  } else {
    ctx.out(renderTable(shown.map((r) => recordRow(r, formatters))));
    ctx.out(`${shown.length} record(s)${shown.length < records.length ? ` (of ${records.length} matching)` : ''}`);
  }
  for (const p of problems) ctx.err(`warning: stopped reading at ${p} (run \`zonegate audit verify\`)`);
  return 0;
}

const COLUMNS: [keyof RecordRow, string][] = [
  ['time', 'TIME'], ['seq', 'SEQ'], ['kind', 'KIND'], ['src', 'SRC'], ['identity', 'IDENTITY'], ['asset', 'ASSET'],
  ['operation', 'OPERATION'], ['decision', 'DECISION'], ['detail', 'CONDUIT/REASON'],
];

function renderTable(rows: RecordRow[]): string {
  const widths = COLUMNS.map(([k, h]) => Math.max(h.length, ...rows.map((r) => r[k].length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(COLUMNS.map(([, h]) => h)), ...rows.map((r) => line(COLUMNS.map(([k]) => r[k])))].join('\n');
}
