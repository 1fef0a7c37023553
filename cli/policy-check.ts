/**
 * `zonegate policy check FILE [--json]`: validates a policy file and prints every problem as
 * `FILE:LINE:COL: PATH: message`, or a one-line summary when it is valid. Exit 0 valid, 1 not.
 */
import type { Command } from './framework';
import { formatIssue, ZonegateError } from '../policy/errors';
import type { Issue } from '../policy/errors';
import { parseSource } from '../policy/source';
import type { SourcePosition } from '../policy/source';
import { checkPolicy } from '../policy/validate';
import { policyWarnings } from '../policy/warnings';
import type { PolicyDocument } from '../policy/types';
import { readPolicyText } from '../runtime/policy-file';
import { interfaceWarnings, zonesWithoutInterfaces } from '../drivers/nftables/input';

/** The counts `policy check` prints for a valid policy (and in --json). */
export interface PolicySummary {
  site: string;
  zones: number;
  assets: number;
  identities: number;
  conduits: number;
  tests: number;
}

function summarize(doc: PolicyDocument): PolicySummary {
  return {
    site: doc.site,
    zones: doc.zones.length,
    assets: doc.assets.length,
    identities: doc.identities.length,
    conduits: doc.conduits.length,
    tests: doc.tests.length,
  };
}

function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}

/**
 * Findings in a valid policy that leave enforcement closed but deserve a look: zones that name no
 * interfaces (the nftables ruleset tells their traffic apart by address only).
 */
function interfaceWarningIssues(doc: PolicyDocument, file: string, locate: (path: (string | number)[]) => SourcePosition | undefined): Issue[] {
  const without = new Set(zonesWithoutInterfaces(doc));
  return doc.zones.flatMap((z, i) => (without.has(z.id) ? [{ file, path: `zones[${i}]`, message: `warning: ${interfaceWarnings([z.id])[0]}`, ...(locate(['zones', i]) ?? {}) }] : []));
}

/** Reads and checks a policy file without throwing for problems in it. */
export async function checkPolicyFile(file: string): Promise<{ doc?: PolicyDocument; issues: Issue[]; warnings: Issue[] }> {
  try {
    const text = await readPolicyText(file);
    const src = parseSource(text, { file });
    const r = checkPolicy(src.value, { file, locate: src.locate });
    if (!r.doc) return { ...r, warnings: [] };
    return { ...r, warnings: [...interfaceWarningIssues(r.doc, file, (p) => src.locate(p)), ...policyWarnings(r.doc, { file, locate: src.locate })] };
  } catch (e) {
    if (e instanceof ZonegateError && e.code === 'ERR_POLICY_PARSE') return { issues: [...e.issues], warnings: [] };
    throw e;
  }
}

export const policyCheckCommand: Command = {
  path: ['policy', 'check'],
  summary: 'validate a policy file and list every problem with its line',
  usage: 'policy check FILE [--json]',
  description: `
Reads FILE (YAML, or JSON when it ends in .json), checks it against the policy format and prints
each problem as FILE:LINE:COL: PATH: message. Exit status 0 when the policy is valid, 1 when it
is not (or cannot be read), 2 for a usage error. Warnings go to stderr as FILE:LINE:COL: PATH:
warning: ... and do not change the exit status: zones that name no interfaces (the nftables
ruleset tells their traffic apart by address only), and conduits that let everyone in a zone
write or run state-changing diagnostics. The embedded tests are checked for shape and
references here; run them with \`zonegate policy test\`.`,
  positionals: { min: 1, max: 1 },
  json: true,
  async run(ctx) {
    const file = ctx.positionals[0];
    const { doc, issues, warnings } = await checkPolicyFile(file);
    const summary = doc ? summarize(doc) : null;
    if (ctx.json) {
      ctx.printJson({ ok: doc !== undefined, file, issues, warnings, summary });
      return doc ? 0 : 1;
    }
    for (const w of warnings) ctx.err(formatIssue(w));
    if (doc && summary) {
      ctx.out(`ok: site ${summary.site}, ${plural(summary.zones, 'zone')}, ${plural(summary.assets, 'asset')}, `
        + `${plural(summary.identities, 'identity', 'identities')}, ${plural(summary.conduits, 'conduit')}, ${plural(summary.tests, 'test')}`);
      return 0;
    }
    for (const issue of issues) ctx.err(formatIssue(issue));
    ctx.err(`${plural(issues.length, 'problem')} in ${file}`);
    return 1;
  },
};
