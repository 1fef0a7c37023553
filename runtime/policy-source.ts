/**
 * Where the gateway's policy comes from. For now one kind: an unsigned policy file named by the
 * config's `policyFile` (labs and tests only; signed bundles come with the policy store). Loading
 * checks everything before anything is swapped: read (size-limited), parse, validate, compile,
 * and the policy's embedded tests (design: "the embedded tests" gate activation). The result is a
 * compiled index the gateway can activate; any failure throws and leaves the caller's active
 * policy as it was.
 */
import { createHash } from 'node:crypto';
import { ZonegateError, type Issue } from '../policy/errors';
import { compile, type PolicyIndex } from '../policy/compile';
import { decide } from '../policy/decide';
import type { PolicyDocument } from '../policy/types';
import { loadPolicyFile } from './policy-file';

/** Shown in the log at every activation and in the status while a policy file is in use. */
export const UNSIGNED_POLICY_WARNING = 'UNSIGNED POLICY FILE IN USE — labs only';

export interface LoadedPolicy {
  doc: PolicyDocument;
  index: PolicyIndex;
  /** `file-` and the first 12 hex digits of the text's SHA-256: decisions are tagged with it. */
  version: string;
  sha256: string;
  source: 'file';
  file: string;
  warning: string;
}

export interface PolicySource {
  readonly kind: 'file';
  /** What to call it in logs and status (the file's path). */
  readonly describe: string;
  /** Set while this source is unsigned. */
  readonly warning: string | undefined;
  load(): Promise<LoadedPolicy>;
}

/** Runs the document's `tests:` against the compiled index; every failure is one issue. */
function embeddedTestFailures(doc: PolicyDocument, index: PolicyIndex, nowMs: number, file: string): Issue[] {
  const issues: Issue[] = [];
  doc.tests.forEach((t, i) => {
    let d;
    try { d = decide(index, t.request, nowMs); } catch (e) {
      issues.push({ file, path: `tests[${i}]`, message: `could not be decided: ${(e as Error).message}` });
      return;
    }
    const name = t.name ? ` (${t.name})` : '';
    if (d.decision !== t.expect) issues.push({ file, path: `tests[${i}]`, message: `expected ${t.expect}, got ${d.decision} (${d.conduit ?? d.reason})${name}` });
    else if (t.conduit !== undefined && d.conduit !== t.conduit) issues.push({ file, path: `tests[${i}].conduit`, message: `expected conduit '${t.conduit}', got '${d.conduit}'${name}` });
    else if (t.reason !== undefined && d.reason !== t.reason) issues.push({ file, path: `tests[${i}].reason`, message: `expected reason '${t.reason}', got '${d.reason}'${name}` });
  });
  return issues;
}

/** A policy source reading an unsigned policy file. */
export function createFilePolicySource(options: { file: string; now: () => number }): PolicySource {
  const file = options.file;
  return {
    kind: 'file',
    describe: file,
    warning: UNSIGNED_POLICY_WARNING,
    async load(): Promise<LoadedPolicy> {
      const { doc, text } = await loadPolicyFile(file);
      const sha256 = createHash('sha256').update(text).digest('hex');
      const version = `file-${sha256.slice(0, 12)}`;
      let index: PolicyIndex;
      try {
        index = compile(doc, { version });
      } catch (e) {
        throw new ZonegateError('ERR_POLICY_INVALID', `policy ${file} does not compile: ${(e as Error).message}`, { cause: e, issues: [{ file, path: '', message: (e as Error).message }] });
      }
      const failures = embeddedTestFailures(doc, index, options.now(), file);
      if (failures.length > 0) {
        throw new ZonegateError('ERR_POLICY_TEST', `policy ${file}: ${failures.length} embedded test${failures.length === 1 ? '' : 's'} failed`, { issues: failures });
      }
      return { doc, index, version, sha256, source: 'file', file, warning: UNSIGNED_POLICY_WARNING };
    },
  };
}
