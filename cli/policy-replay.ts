/**
 * `zonegate policy replay NEW.yaml --audit DIR [--audit DIR2] [--since 7d] [--json]`: re-decides
 * every recorded request under NEW and reports the decisions that flip, grouped by conduit,
 * source and asset. Exit 1 when anything allowed then would now be denied (a pipeline gate).
 */
import type { Command } from './framework';
import { usageError } from './framework';
import { compile } from '../policy/compile';
import { renderReplayMarkdown } from '../policy/learn/replay-render';
import { loadPolicyFile } from '../runtime/policy-file';
import { parseTimeOption } from '../protocol/parse-time';
import { replayAuditFolders } from './replay-audit';

export const policyReplayCommand: Command = {
  path: ['policy', 'replay'],
  summary: 're-decide recorded traffic under a new policy: what it would break, what it would open',
  usage: 'policy replay NEW.yaml --audit DIR [--audit DIR2] [--since 7d] [--json]',
  description: `
Reads every decision recorded in the audit logs under DIR (a gateway's audit or state folder, or a
folder of collected device logs as \`fleet audit collect\` writes them) and decides it again under
NEW at the time it was made. Decisions that flip are grouped by conduit, source and asset with
counts and examples: allow→deny is what NEW would break (requests monitor mode let through count
as allowed), deny→allow what it would open. Modbus, DNP3, IEC 104 and TCP conduit decisions are
replayed; rate-limited and malformed requests, DNP3 operates and IEC 104 executes denied for a
missing select, and IEC 104 ASDUs with more IOAs than the record lists, are not.
Exit 0 when nothing allowed would be denied, 1 otherwise (or on bad input), 2 usage.`,
  options: {
    audit: { type: 'string', multiple: true, value: 'DIR', description: 'an audit folder, state folder or collected fleet folder' },
    since: { type: 'string', value: 'T', description: 'only decisions at or after T (7d, 2026-03-01, ISO time)' },
  },
  positionals: { min: 1, max: 1 },
  json: true,
  async run(ctx) {
    const file = ctx.positionals[0];
    const dirs = Array.isArray(ctx.options.audit) ? ctx.options.audit.map(String) : [];
    if (dirs.length === 0) throw usageError('at least one --audit DIR is required');
    const since = typeof ctx.options.since === 'string'
      ? parseTimeOption(ctx.options.since, { flag: '--since', now: Date.now(), durations: 'past' }) : undefined;
    const { doc } = await loadPolicyFile(file);
    const index = compile(doc);
    const { report, folders, problems } = await replayAuditFolders(index, dirs, { since, signal: ctx.signal });
    if (ctx.json) ctx.printJson({ ok: report.breaks === 0, policy: file, folders, problems, ...report });
    else {
      ctx.out(renderReplayMarkdown(report, file));
      for (const p of problems) ctx.err(`warning: stopped reading at ${p} (run \`zonegate audit verify\`)`);
    }
    return report.breaks === 0 ? 0 : 1;
  },
};
