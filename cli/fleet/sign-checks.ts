/**
 * What `fleet sign` looks at before it signs, beside validation and the embedded tests: the
 * semantic diff against the previous policy (`--previous`, a policy file or the previous signed
 * bundle) and a replay of recorded traffic (`--replay DIR`), which refuses a policy that would deny
 * traffic seen unless the signer accepts the breaks.
 */
import { promises as fsp } from 'node:fs';
import { ZonegateError } from '../../policy/errors';
import type { PolicyDocument } from '../../policy/types';
import type { PolicyIndex } from '../../policy/compile';
import type { ReplayEvidence } from '../../policy/bundle/types';
import { decodeEnvelope } from '../../policy/bundle/decode-envelope';
import { parseBody } from '../../policy/bundle/parse-body';
import { validatePolicy } from '../../policy/validate';
import { parsePolicy } from '../../policy/parse';
import { diffPolicies, type PolicyDiff } from '../../policy/diff';
import type { ReplayReport } from '../../policy/learn/replay';
import { readPolicyText } from '../../runtime/policy-file';
import { replayAuditFolders } from '../replay-audit';

/** The previous policy: a signed bundle's policy (signatures not checked: it is only compared) or a policy file. */
export async function readPreviousPolicy(file: string): Promise<PolicyDocument> {
  let bytes: Buffer;
  try { bytes = await fsp.readFile(file); } catch (e) {
    throw new ZonegateError('ERR_FILE', `--previous ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`, { cause: e });
  }
  let fromBundle: Record<string, unknown> | undefined;
  try {
    const env = decodeEnvelope(bytes);
    if (env.type === 'policy') fromBundle = parseBody(env.body, 'policy').policy;
  } catch { /* not a bundle: a policy file */ }
  if (fromBundle !== undefined) return validatePolicy(fromBundle, { file });
  return parsePolicy(await readPolicyText(file), { file });
}

/** The diff from the previous policy to the one being signed. */
export async function diffAgainstPrevious(file: string, doc: PolicyDocument): Promise<PolicyDiff> {
  return diffPolicies(await readPreviousPolicy(file), doc);
}

/**
 * Replays the audit logs under `dirs` against the policy being signed. Throws ERR_REPLAY_BREAKS
 * (each flip group as an issue) when something allowed then would be denied and breaks are not
 * accepted; otherwise returns the report and the evidence the bundle carries.
 */
export async function replayBeforeSigning(index: PolicyIndex, dirs: readonly string[], opts: { since?: number; acceptBreaks: boolean; signal?: AbortSignal }): Promise<{ report: ReplayReport; evidence: ReplayEvidence }> {
  const { report, folders } = await replayAuditFolders(index, dirs, { since: opts.since, signal: opts.signal });
  if (report.breaks > 0 && !opts.acceptBreaks) {
    const issues = report.flips.filter((f) => f.direction === 'allow→deny').slice(0, 20).map((f) => ({
      path: `conduit ${f.conduit}`,
      message: `${f.count} request(s) from ${f.source} to ${f.asset} allowed then would be denied (${Object.keys(f.reasons).join(', ')}), e.g. ${f.examples[0]?.operation ?? ''}`,
    }));
    throw new ZonegateError('ERR_REPLAY_BREAKS', `not signing: the policy would deny ${report.breaks} of ${report.replayed} recorded request(s) that were allowed (give --accept-breaks to sign anyway; \`zonegate policy replay\` shows them all)`, { issues });
  }
  const evidence: ReplayEvidence = {
    replayed: report.replayed, breaks: report.breaks, opens: report.opens,
    from: report.from ?? 0, to: report.to ?? 0, logs: folders.length, acceptedBreaks: report.breaks > 0,
  };
  return { report, evidence };
}
