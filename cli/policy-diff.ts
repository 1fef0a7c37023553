/**
 * `zonegate policy diff OLD NEW [--json]`: the semantic diff of two policy files (policy/diff.ts):
 * conduits, functions, units, address ranges, ports, schedules and requirements widened or
 * narrowed, identities, zones, assets and quarantine changed, each line with the requests it
 * affects. Exit 0 whatever the diff says (it is a report), 1 when a file is not a valid policy.
 */
import type { Command } from './framework';
import { diffPolicies } from '../policy/diff';
import { renderDiffMarkdown } from '../policy/diff-render';
import { loadPolicyFile } from '../runtime/policy-file';

export const policyDiffCommand: Command = {
  path: ['policy', 'diff'],
  summary: 'what changes between two policies, and which requests each change affects',
  usage: 'policy diff OLD NEW [--json]',
  description: `
Compares two policies entry by entry (matched by id), not line by line: every change says whether
it widens (something denied is now allowed), narrows (something allowed is now denied) or changes
both ways (schedules, security levels), and which requests it affects. Markdown by default.
Both files must be valid policies. To see what a change breaks in recorded traffic, use
\`zonegate policy replay\`.`,
  positionals: { min: 2, max: 2 },
  json: true,
  async run(ctx) {
    const [oldFile, newFile] = ctx.positionals;
    const a = (await loadPolicyFile(oldFile)).doc;
    const b = (await loadPolicyFile(newFile)).doc;
    const diff = diffPolicies(a, b);
    if (ctx.json) ctx.printJson({ ok: true, old: oldFile, new: newFile, ...diff });
    else ctx.out(renderDiffMarkdown(diff, oldFile, newFile));
    return 0;
  },
};
