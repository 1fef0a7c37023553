/**
 * Signs a policy into a bundle on the fleet manager's side. The policy must pass the same checks a
 * gateway runs (validation, compilation, every embedded test) before it is signed; the bundle
 * carries the policy as the plain data that was written (not the normalised document), so the
 * device validates exactly what the author wrote.
 */
import { ZonegateError } from '../policy/errors';
import { parseSource } from '../policy/source';
import type { ParsedSource, SourcePath, SourcePosition } from '../policy/source';
import { validatePolicy } from '../policy/validate';
import { compile } from '../policy/compile';
import { signBundle } from '../policy/bundle/sign';
import { runPolicyTests, formatTestFailure } from '../policy/bundle/run-policy-tests';
import type { PolicyDocument } from '../policy/types';
import type { ReplayEvidence, SigningKey } from '../policy/bundle/types';
import type { PolicyIndex } from '../policy/compile';

export interface SignPolicyInput {
  /** The policy as plain data (YAML/JSON parsed, not yet validated). */
  policy: unknown;
  /** Shown in errors. */
  file?: string;
  /** Line/column of a document path (parseSource's locate), so that issues name them. */
  locate?: (path: SourcePath) => SourcePosition | undefined;
  version: number;
  /** Default: the policy's own site. */
  site?: string;
  targets: readonly string[];
  issuedAt: number;
  expiresAt: number;
  notBefore?: number;
  keys: readonly SigningKey[];
  /** What recorded traffic the policy was replayed against (fleet sign --replay), carried in the body. */
  replay?: ReplayEvidence;
}

/** The checked policy: its document and compiled index (what replay and the diff read). */
export interface PreparedPolicy { doc: PolicyDocument; index: PolicyIndex }

/** Validates, compiles and runs the embedded tests (ERR_POLICY_INVALID / ERR_POLICY_TEST / ERR_USAGE for a wrong --site). */
export function preparePolicy(input: Pick<SignPolicyInput, 'policy' | 'file' | 'locate' | 'version' | 'site' | 'issuedAt'>): PreparedPolicy {
  const doc = validatePolicy(input.policy, { file: input.file, locate: input.locate });
  const site = input.site ?? doc.site;
  if (site !== doc.site) throw new ZonegateError('ERR_USAGE', `--site ${site} differs from the policy's site '${doc.site}'`);
  const index = compile(doc, { version: `v${input.version}` });
  const failures = runPolicyTests(index, doc.tests, input.issuedAt);
  if (failures.length) {
    throw new ZonegateError('ERR_POLICY_TEST', `${failures.length} of ${doc.tests.length} embedded test(s) failed; not signing`,
      { issues: failures.map((f) => ({ path: `tests[${f.index}]`, message: formatTestFailure(f), file: input.file })) });
  }
  return { doc, index };
}

/** Checks the policy (preparePolicy) and returns the signed bundle bytes and the document. */
export function signPolicy(input: SignPolicyInput): { bytes: Uint8Array; doc: PolicyDocument } {
  const { doc } = preparePolicy(input);
  const bytes = signBundle({
    type: 'policy',
    body: {
      site: doc.site, targets: [...input.targets], version: input.version, issuedAt: input.issuedAt, expiresAt: input.expiresAt,
      ...(input.notBefore !== undefined ? { notBefore: input.notBefore } : {}),
      ...(input.replay !== undefined ? { replay: input.replay } : {}),
      policy: input.policy as Record<string, unknown>,
    },
    keys: input.keys,
  });
  return { bytes, doc };
}

/** Reads policy text (YAML or JSON) into plain data and its locator (ERR_POLICY_PARSE on syntax errors). */
export function policyData(text: string, file?: string): ParsedSource {
  return parseSource(text, { file });
}
