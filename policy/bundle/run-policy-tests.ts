/**
 * Runs a policy's embedded `tests:` against its compiled index (design.md "The policy language":
 * checked by the gateway before it activates a bundle). Returns every failure, never throws for a
 * test that fails or cannot be decided.
 */
import { decide } from '../decide';
import type { PolicyIndex } from '../compile';
import type { PolicyTest } from '../types';

export interface PolicyTestFailure {
  /** Position in `tests:`. */
  index: number;
  name?: string;
  message: string;
}

/** Decides each test's request at `nowMs` (or its own `at`) and compares decision, conduit and reason. */
export function runPolicyTests(index: PolicyIndex, tests: readonly PolicyTest[], nowMs: number): PolicyTestFailure[] {
  const failures: PolicyTestFailure[] = [];
  tests.forEach((t, i) => {
    const fail = (message: string) => failures.push({ index: i, name: t.name, message });
    let d;
    try { d = decide(index, t.request, nowMs); } catch (e) { fail(`cannot be decided: ${(e as Error).message}`); return; }
    const got = `${d.decision}${d.conduit ? ` by ${d.conduit}` : ''}${d.reason ? ` (${d.reason})` : ''}`;
    if (d.decision !== t.expect) fail(`expected ${t.expect}, got ${got}`);
    else if (t.conduit !== undefined && d.conduit !== t.conduit) fail(`expected conduit ${t.conduit}, got ${got}`);
    else if (t.reason !== undefined && d.reason !== t.reason) fail(`expected reason ${t.reason}, got ${got}`);
  });
  return failures;
}

/** One line per failure: `tests[2] (name): expected deny, got allow by x`. */
export function formatTestFailure(f: PolicyTestFailure): string {
  return `tests[${f.index}]${f.name ? ` (${f.name})` : ''}: ${f.message}`;
}
