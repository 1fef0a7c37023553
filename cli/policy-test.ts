/**
 * `zonegate policy test FILE [--at TIME] [--json]`: runs a policy's embedded `tests:` against its
 * compiled index. Each failure shows the request, what was expected and what was decided (the
 * conduit or the reason). Exit 0 when every test passes, 1 when any fails (or the file is bad).
 */
import type { Command } from './framework';
import { usageError } from './framework';
import { compile } from '../policy/compile';
import { decide } from '../policy/decide';
import type { Decision, PolicyTest } from '../policy/types';
import { loadPolicyFile } from '../runtime/policy-file';
import { describeDecision } from '../policy/explain';

/** One embedded test's outcome. */
export interface PolicyTestResult {
  index: number;
  name?: string;
  pass: boolean;
  request: PolicyTest['request'];
  expected: { decision: PolicyTest['expect']; conduit?: string; reason?: string };
  decided: Decision | null;
  /** Set when the request could not be decided at all. */
  error?: string;
}

function describeExpected(t: PolicyTest): string {
  const parts = [t.expect as string];
  if (t.conduit) parts.push(`by ${t.conduit}`);
  if (t.reason) parts.push(`(${t.reason})`);
  return parts.join(' ');
}

/** Decides every test; never throws for a failing test. */
export function runEmbeddedTests(tests: readonly PolicyTest[], decideOne: (t: PolicyTest) => Decision): PolicyTestResult[] {
  return tests.map((t, index) => {
    const expected = { decision: t.expect, ...(t.conduit ? { conduit: t.conduit } : {}), ...(t.reason ? { reason: t.reason } : {}) };
    const base = { index, ...(t.name ? { name: t.name } : {}), request: t.request, expected };
    let d: Decision;
    try { d = decideOne(t); } catch (e) { return { ...base, pass: false, decided: null, error: (e as Error).message }; }
    const pass = d.decision === t.expect && (t.conduit === undefined || d.conduit === t.conduit) && (t.reason === undefined || d.reason === t.reason);
    return { ...base, pass, decided: d };
  });
}

export const policyTestCommand: Command = {
  path: ['policy', 'test'],
  summary: "run a policy's embedded tests against its compiled index",
  usage: 'policy test FILE [--at TIME] [--json]',
  description: `
Validates and compiles FILE, then decides the request of every entry under \`tests:\` and compares
the decision (and the conduit or reason, when the test names one). Tests without \`at\` are decided
at --at (ISO 8601 or epoch milliseconds; default: now). Exit 0 when all pass, 1 when any fails.`,
  options: { at: { type: 'string', value: 'TIME', description: 'the time for tests that give no `at`' } },
  positionals: { min: 1, max: 1 },
  json: true,
  async run(ctx) {
    const file = ctx.positionals[0];
    let now = Date.now();
    if (typeof ctx.options.at === 'string') {
      const s = ctx.options.at;
      now = /^\d+$/.test(s) ? Number(s) : Date.parse(s);
      if (!Number.isFinite(now)) throw usageError(`--at: not a time: ${s}`);
    }
    const { doc } = await loadPolicyFile(file);
    const index = compile(doc);
    const results = runEmbeddedTests(doc.tests, (t) => decide(index, t.request, now));
    const failed = results.filter((r) => !r.pass).length;
    if (ctx.json) {
      ctx.printJson({ ok: failed === 0, file, site: doc.site, total: results.length, passed: results.length - failed, failed, results });
      return failed === 0 ? 0 : 1;
    }
    for (const r of results) {
      const label = `tests[${r.index}]${r.name ? ` ${r.name}` : ''}`;
      if (r.pass) { ctx.out(`ok    ${label}`); continue; }
      ctx.out(`FAIL  ${label}`);
      ctx.out(`        request:  ${JSON.stringify(r.request)}`);
      ctx.out(`        expected: ${describeExpected(doc.tests[r.index])}`);
      ctx.out(`        decided:  ${r.decided ? describeDecision(r.decided) : `error: ${r.error}`}`);
    }
    ctx.out(`${results.length} test${results.length === 1 ? '' : 's'} in ${file}: ${results.length - failed} passed, ${failed} failed`);
    return failed === 0 ? 0 : 1;
  },
};
