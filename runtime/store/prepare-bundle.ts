/**
 * Everything the policy store does to a bundle short of persisting it (policy-store.ts, steps
 * 1-5 and validation, compilation, the embedded tests), in slices: each phase is a step
 * generator in policy/, driven by one LoopSlicer per activation so the event loop gets a turn
 * every `sliceMs` of work (design.md performance budget).
 */
import { ZonegateError } from '../../policy/errors';
import { compileSteps } from '../../policy/compile';
import type { PolicyIndex } from '../../policy/compile';
import { validatePolicySteps } from '../../policy/validate';
import type { PolicyDocument } from '../../policy/types';
import { verifyBundleSteps } from '../../policy/bundle/verify';
import { policyVersionTag } from '../../policy/bundle/version-tag';
import { runPolicyTests, formatTestFailure } from '../../policy/bundle/run-policy-tests';
import type { VerifiedBundle } from '../../policy/bundle/types';
import { LoopSlicer } from './loop-slicer';
import { answerSignatureCheckAsync } from './async-signatures';
import type { Candidate, PolicyStoreOptions } from './store-types';

/** Default synchronous work between two turns of the event loop during an activation (ms). */
const DEFAULT_SLICE_MS = 0.5;

type PrepareOptions = Pick<PolicyStoreOptions, 'trust' | 'device' | 'site' | 'maxBytes' | 'yieldToLoop' | 'sliceMs' | 'monotonic'>;

/** One time budget for all the phases of one activation. */
export function activationSlicer(o: PrepareOptions): LoopSlicer {
  const pause = o.yieldToLoop ?? (() => new Promise<void>((resolve) => setImmediate(resolve)));
  return new LoopSlicer({ pause, clock: o.monotonic ?? (() => performance.now()), budgetMs: o.sliceMs ?? DEFAULT_SLICE_MS });
}

/** verifyBundle under the trust root in force, with a turn of the event loop between the signature check and the body decode. */
export function verifyPolicyBundle(o: PrepareOptions, bytes: Uint8Array, v: { now: number; ignoreExpiry: boolean; slicer: LoopSlicer }): Promise<VerifiedBundle> {
  const steps = verifyBundleSteps(bytes, {
    trustRoot: o.trust.current(), expectType: 'policy', device: o.device, site: o.site,
    now: v.now, maxBytes: o.maxBytes, ignoreExpiry: v.ignoreExpiry,
  });
  // Signature checks run on the thread pool: the longest piece of an accept otherwise.
  return v.slicer.run(steps, answerSignatureCheckAsync);
}

/** Validation, the site check, compilation and the embedded tests of a verified bundle. */
export async function prepareVerified(o: PrepareOptions, bundle: VerifiedBundle, now: number, slicer: LoopSlicer): Promise<Candidate> {
  const v = bundle.body.version;
  let doc: PolicyDocument;
  try {
    // Validation is the longest phase (about half of a 10,000-conduit activation): its
    // generator yields every few entries and the slicer gives the loop a turn once per budget.
    doc = await slicer.run(validatePolicySteps(bundle.body.policy, { file: `bundle v${v}` }));
  } catch (e) {
    const issues = e instanceof ZonegateError ? e.issues : [];
    throw new ZonegateError('ERR_BUNDLE_POLICY', `bundle v${v}: the policy is invalid: ${(e as Error).message}`, { cause: e, issues });
  }
  if (doc.site !== o.site) {
    throw new ZonegateError('ERR_BUNDLE_TARGET', `bundle v${v} carries the policy of site '${doc.site}', this is '${o.site}'`);
  }
  const policyVersion = policyVersionTag({ version: v, hash: bundle.hash });
  let index: PolicyIndex;
  try {
    index = await slicer.run(compileSteps(doc, { version: policyVersion }));
  } catch (e) {
    throw new ZonegateError('ERR_BUNDLE_POLICY', `bundle v${v}: the policy does not compile: ${(e as Error).message}`, { cause: e });
  }
  await slicer.checkpoint();
  const failures = runPolicyTests(index, doc.tests, now);
  if (failures.length > 0) {
    throw new ZonegateError('ERR_POLICY_TEST', `bundle v${v}: ${failures.length} of ${doc.tests.length} embedded test(s) failed: ${formatTestFailure(failures[0])}`,
      { issues: failures.map((f) => ({ path: `tests[${f.index}]`, message: f.message })) });
  }
  return { bundle, doc, index, policyVersion };
}
