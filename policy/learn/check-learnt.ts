/**
 * Checks a learnt policy the way `policy check` and `policy test` will, holding one copy of it:
 * the learnt document goes to the validator `policy check` runs (validatePolicy) as the plain data
 * its text reads back as (emit.ts's builders; test/learn checks text and data agree), its
 * conduits and tests one at a time, each learnt item released as the validator reads it, so that
 * the validated document is the only copy left. Its embedded tests are then decided against its
 * compiled index: a learnt probe another conduit allows does not hold and is left out.
 * The text is written from the validated document afterwards (emitPolicyText). Pure.
 */
import type { PolicyDocument } from '../types';
import { validatePolicy } from '../validate';
import { compile } from '../compile';
import { decide } from '../decide';
import { policyData, type Data, type ListMaker } from './emit';

export interface CheckedLearnt {
  /** The validated document, without the tests that do not hold. */
  doc: PolicyDocument;
  /** The validated document's tests by index: 1 kept, 0 dropped (what the text leaves out). */
  keep: Uint8Array;
  /** The tests left out, each with what was decided. */
  dropped: string[];
  /** The validated document with every test (what the text is emitted from, with `keep`). */
  all: PolicyDocument;
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
 * Validates the learnt document and decides its tests; throws ERR_POLICY_INVALID (every problem,
 * by its path in the text) when learning produced something the checker refuses. Takes the
 * document's conduits and tests: its lists are empty afterwards.
 */
export function checkLearnt(learnt: PolicyDocument, opts: { file: string; now: number }): CheckedLearnt {
  const raw = policyData(learnt, consumingList);
  learnt.conduits.length = 0; // the text-ordered list in `raw` holds them until each is read
  let all: PolicyDocument;
  try {
    all = validatePolicy(raw, { file: opts.file });
  } finally {
    learnt.tests.length = 0;
  }
  const index = compile(all);
  const keep = new Uint8Array(all.tests.length);
  const dropped: string[] = [];
  all.tests.forEach((t, i) => {
    const d = decide(index, t.request, opts.now);
    const ok = d.decision === t.expect && (t.conduit === undefined || d.conduit === t.conduit) && (t.reason === undefined || d.reason === t.reason);
    if (ok) keep[i] = 1;
    else dropped.push(`${JSON.stringify(t.request)} expect ${t.expect}: decided ${d.decision} (${d.conduit ?? d.reason})`);
  });
  const doc = dropped.length ? { ...all, tests: all.tests.filter((_, i) => keep[i] === 1) } : all;
  return { doc, keep, dropped, all };
}
