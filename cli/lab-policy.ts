import { mkdir } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Command } from './framework';
import { usageError } from './framework';
import { formatIssue } from '../policy/errors';
import { parseSource } from '../policy/source';
import { checkPolicy } from '../policy/validate';
import { readPolicyText } from '../runtime/policy-file';
import { labPolicyCopy } from '../runtime/lab/lab-policy';
import { writeFileAtomic } from '../protocol/write-atomic';

/** `zonegate lab policy FILE --out FILE`: the loopback lab copy of a site policy. */
export const labPolicyCommand: Command = {
  path: ['lab', 'policy'],
  summary: 'write the loopback lab copy of a policy (10.x.y.z becomes 127.x.y.z)',
  usage: 'lab policy FILE --out FILE',
  description: `Copies the policy with every IPv4 address 10.x.y.z rewritten to 127.x.y.z, so that the lab
gateway (examples/gateway.yaml, \`make run\`) sees \`zonegate lab client --from 127.10.0.5\` as the HMI
at 10.10.0.5. The copy is checked before it is written (same checks as \`policy check\`).`,
  options: {
    out: { type: 'string', value: 'FILE', description: 'where to write the lab copy (its folder is created)' },
  },
  positionals: { min: 1, max: 1 },
  async run(ctx) {
    if (typeof ctx.options.out !== 'string') throw usageError('--out FILE is required');
    const src = ctx.positionals[0];
    const text = labPolicyCopy(await readPolicyText(src));
    const src2 = parseSource(text, { file: ctx.options.out });
    const { issues } = checkPolicy(src2.value, { file: ctx.options.out, locate: src2.locate });
    if (issues.length) {
      for (const issue of issues) ctx.err(formatIssue(issue));
      return 1;
    }
    await mkdir(dirname(ctx.options.out), { recursive: true });
    await writeFileAtomic(dirname(ctx.options.out), basename(ctx.options.out), text, 0o644);
    ctx.out(`lab copy of ${src} written to ${ctx.options.out} (10.x.y.z -> 127.x.y.z)`);
    return 0;
  },
};
