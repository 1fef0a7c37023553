/**
 * Checks a learnt policy the way `policy check` and `policy test` will, holding one copy of it:
 * the learnt document goes to the validator `policy check` runs (validatePolicyTestsApart) as the
 * plain data its text reads back as (emit.ts's builders; test/learn checks text and data agree),
 * its conduits one at a time, each learnt conduit released as the validator reads it, so that the
 * validated document is the only copy left. Its tests then come one at a time, as the text is
 * written: each made (LearnResult.tests), validated and decided against the compiled index, and
 * written or left out (a learnt probe another conduit allows does not hold); no list of them is
 * held. Pure.
 */
import type { PolicyDocument, PolicyTest } from '../types';
import { validatePolicyTestsApart } from '../validate';
import { compile } from '../compile';
import { decide } from '../decide';
import { policyData, testItemData, type Data, type ListMaker } from './emit';

export interface CheckedLearnt {
  /** The validated document without its tests (`doc.tests` is empty). */
  doc: PolicyDocument;
  /**
   * The validated tests that hold, one at a time, as `tests` makes them; counts them and notes
   * the dropped ones as it goes. Once read to its end, throws ERR_POLICY_INVALID (every problem,
   * by its path in the text) when a learnt test has problems. Read it once.
   */
  tests: Generator<PolicyTest, void, void>;
  /** Tests kept (so far). */
  kept: number;
  /** The tests left out (so far), each with what was decided. */
  dropped: string[];
}

const INDEX = /^(0|[1-9]\d*)$/;

/**
 * `items` as the validator reads a list (its length, `i in list`, `list[i]` once each, in order):
 * item i becomes its data when read and is released from `items` (a second read gives undefined),
 * so each item's data is garbage once the validator has made its own.
 */
const consumingList: ListMaker = <T>(items: T[], data: (item: T) => Data): Data[] => {
  const held = items as (T | undefined)[];
  return new Proxy(items as unknown as Data[], {
    get(target, key, receiver) {
      if (typeof key !== 'string' || !INDEX.test(key)) return Reflect.get(target, key, receiver);
      const i = Number(key);
      const item = held[i];
      held[i] = undefined;
      return item === undefined ? undefined : data(item);
    },
  });
};

/**
 * Validates the learnt document without its tests (throws ERR_POLICY_INVALID, every problem by its
 * path in the text, when learning produced something the checker refuses) and returns its tests
 * to read as the text is written. Takes the document's conduits: its list is empty afterwards.
 */
export function checkLearnt(learnt: PolicyDocument, tests: () => Iterable<PolicyTest>, opts: { file: string; now: number }): CheckedLearnt {
  const raw = policyData({ ...learnt, tests: [] }, consumingList) as Record<string, Data | undefined>;
  delete raw.tests;
  learnt.conduits.length = 0; // the text-ordered list in `raw` holds them until each is read
  const checked = validatePolicyTestsApart(raw, { file: opts.file });
  const index = compile(checked.doc);
  const out: CheckedLearnt = { doc: checked.doc, tests: holding(), kept: 0, dropped: [] };
  function* holding(): Generator<PolicyTest, void, void> {
    let i = 0;
    for (const learntTest of tests()) {
      const t = checked.test(testItemData(learntTest), i++);
      if (t === undefined) continue;
      const d = decide(index, t.request, opts.now);
      const ok = d.decision === t.expect && (t.conduit === undefined || d.conduit === t.conduit) && (t.reason === undefined || d.reason === t.reason);
      // Joined, not a template: a template's result is a tree of its parts (16,000 tests dropped
      // at --from of a 10,000-conduit site held 6.2 MiB so, 2.6 flat).
      if (ok) { out.kept++; yield t; } else out.dropped.push([JSON.stringify(t.request), ' expect ', t.expect, ': decided ', d.decision, ' (', String(d.conduit ?? d.reason), ')'].join(''));
    }
    checked.finish();
  }
  return out;
}
