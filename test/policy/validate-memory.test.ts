// What a validated policy holds: its lists at their exact length (a list built by push keeps room
// for 17 entries, 192 bytes for a list of one; a large policy and a learnt one are held whole).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parsePolicy } from '../../policy/parse';
import { emitPolicyYaml } from '../../policy/learn/emit';
import { generateSite } from '../helpers/learn-site';
import { diffPolicies } from '../../policy/diff';
import { narrowConduit } from '../../policy/learn/narrow';

test('a validated policy holds its lists at their length (no more than 1.55 times a plain copy of the same data)', () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  setFlagsFromString('--no-expose-gc');
  const text = emitPolicyYaml(generateSite(5, 5000), { header: [], conduit: new Map() });
  const held = (make: () => unknown): { bytes: number; value: unknown } => {
    gc(); gc();
    const before = process.memoryUsage().heapUsed;
    const value = make();
    gc(); gc();
    return { bytes: process.memoryUsage().heapUsed - before, value };
  };
  // The first parses also leave the parser's compiled code and type feedback on the heap, and
  // V8's background compiler installs optimized code whenever it finishes (later under load):
  // up to 1.5 MB more in one measurement of three. Warmed up, the least of three is the data.
  parsePolicy(text); parsePolicy(text);
  const least = (make: () => unknown) => [held(make), held(make), held(make)].reduce((a, b) => (b.bytes < a.bytes ? b : a));
  const validated = least(() => parsePolicy(text));
  const plain = least(() => JSON.parse(JSON.stringify(validated.value)));
  assert.equal(plain.value, validated.value);
  console.log(`validated ${validated.bytes} plain ${plain.bytes}`);
  assert.ok(validated.bytes < plain.bytes * 1.55, `validated ${validated.bytes} bytes, a plain copy ${plain.bytes}`);
});

// V8 gives every `{ start, end }` object literal in the process one shape: a single one holding a
// number past the small-integer range (the DNP3 diff's "every index", 0xffffffff, made when its
// module loaded) turns both fields into boxed doubles for all of them, 16 bytes more per field
// in each of a large policy's hundreds of thousands of ranges (learn --from held 72 bytes a range
// instead of 40). Loaded here: the policy code, the diff and learning included.
test('after the policy modules are loaded, address ranges hold small integers, not boxed doubles', () => {
  assert.type(diffPolicies, 'function');
  assert.type(narrowConduit, 'function');
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  setFlagsFromString('--no-expose-gc');
  const N = 100_000;
  const perObject = (make: (i: number) => unknown): number => {
    const keep: unknown[] = new Array(N).fill(undefined);
    gc(); gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < N; i++) keep[i] = make(i);
    gc(); gc();
    const bytes = (process.memoryUsage().heapUsed - before) / N;
    assert.is(keep.length, N);
    return bytes;
  };
  // A shape nothing else uses, with two small-integer fields, as the yardstick.
  const yardstick = perObject((i) => ({ zgFirst: i, zgLast: i + 7 }));
  const ranges = perObject((i) => parseRange(i));
  assert.ok(ranges < yardstick + 8, `a range takes ${ranges.toFixed(1)} bytes, an object of two small integers ${yardstick.toFixed(1)}`);
});

/** A range as the validator makes it (a literal of two small integers). */
function parseRange(i: number): { start: number; end: number } {
  return { start: i & 0xffff, end: (i & 0xffff) + 9 };
}

test.run();
