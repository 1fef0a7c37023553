/** LoopSlicer: time-boxed driving of step generators, with an injected clock (no real time). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { LoopSlicer } from '../../runtime/store/loop-slicer';
import { answerSignatureCheckAsync } from '../../runtime/store/async-signatures';
import { answerSignatureCheck, type SignatureCheck } from '../../policy/bundle/verify-signatures';
import { publicKeyObject, publicKeyOfSeed, signEd25519 } from '../../policy/bundle/ed25519';

// A clock that each step advances by its cost, and a pause that records when it was asked for.
function rig(budgetMs: number) {
  const clock = { t: 0 };
  const pausedAt: number[] = [];
  const slicer = new LoopSlicer({ clock: () => clock.t, budgetMs, pause: async () => { pausedAt.push(clock.t); } });
  return { clock, pausedAt, slicer };
}

function* steps(clock: { t: number }, costs: number[], result: string): Generator<void, string, void> {
  for (let i = 0; i < costs.length; i++) {
    clock.t += costs[i];
    if (i < costs.length - 1) yield;
  }
  return result;
}

test('runs steps until the budget is spent, then gives the loop a turn; returns the value', async () => {
  const r = rig(0.5);
  const v = await r.slicer.run(steps(r.clock, Array(20).fill(0.1), 'done'));
  assert.is(v, 'done');
  // 2 ms of work in 0.1 ms steps with a 0.5 ms budget: a turn about every 4-5 steps.
  assert.ok(r.slicer.pauses >= 3 && r.slicer.pauses <= 5, `${r.slicer.pauses} pauses`);
  let prev = 0;
  for (const t of r.pausedAt) { assert.ok(t - prev <= 0.5 + 1e-9, `slice of ${t - prev} ms`); prev = t; }
});

test('pauses before a step that would overrun the budget (the last step cost is remembered)', async () => {
  const r = rig(0.5);
  await r.slicer.run(steps(r.clock, [0.4, 0.4, 0.4], 'x'));
  assert.equal(r.pausedAt.map((t) => Math.round(t * 10) / 10), [0.4, 0.8]);
});

test('one budget across phases; checkpoint pauses only when it is spent', async () => {
  const r = rig(1);
  await r.slicer.run(steps(r.clock, [0.3, 0.3], 'a'));
  await r.slicer.checkpoint();
  assert.is(r.slicer.pauses, 0, 'budget not spent yet');
  r.clock.t += 0.5;
  await r.slicer.checkpoint();
  assert.is(r.slicer.pauses, 1);
});

test('a step that throws rejects run() with that error; bad options are TypeErrors', async () => {
  const r = rig(0.5);
  function* bad(): Generator<void, string, void> { yield; throw new RangeError('boom'); }
  try { await r.slicer.run(bad()); assert.unreachable(); } catch (e) { assert.instance(e, RangeError); assert.is((e as Error).message, 'boom'); }
  assert.throws(() => new LoopSlicer({ clock: () => 0, budgetMs: 0, pause: async () => undefined }), TypeError);
});

test('a step that yields a request gets the answer back; without an answer it is a TypeError', async () => {
  const r = rig(0.5);
  function* asks(): Generator<string | undefined, string[], unknown> {
    const got: string[] = [];
    got.push(String(yield 'first'));
    yield;
    got.push(String(yield 'second'));
    return got;
  }
  const answered: string[] = [];
  const v = await r.slicer.run(asks(), async (q: string) => { answered.push(q); return q.toUpperCase(); });
  assert.equal(v, ['FIRST', 'SECOND']);
  assert.equal(answered, ['first', 'second']);
  try { await rig(0.5).slicer.run(asks()); assert.unreachable('should throw'); } catch (e) { assert.instance(e, TypeError); }
});

test('signature checks answered on the thread pool agree with the synchronous answer', async () => {
  const seed = randomBytes(32);
  const key = publicKeyObject(publicKeyOfSeed(seed));
  const message = randomBytes(300_000);
  const sig = signEd25519(seed, message);
  const flipped = Uint8Array.from(sig); flipped[5] ^= 1;
  const otherMessage = Uint8Array.from(message); otherMessage[1000] ^= 1;
  const cases: [SignatureCheck, boolean][] = [
    [{ kind: 'ed25519', key, message, sig }, true],
    [{ kind: 'ed25519', key, message, sig: flipped }, false],
    [{ kind: 'ed25519', key, message: otherMessage, sig }, false],
    [{ kind: 'ed25519', key, message, sig: sig.subarray(0, 63) }, false],
    [{ kind: 'ed25519', key: publicKeyObject(publicKeyOfSeed(randomBytes(32))), message, sig }, false],
  ];
  for (const [check, expected] of cases) {
    assert.is(await answerSignatureCheckAsync(check), expected);
    assert.is(answerSignatureCheck(check), expected);
  }
});

test.run();
