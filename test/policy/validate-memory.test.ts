// What a validated policy holds: its lists at their exact length (a list built by push keeps room
// for 17 entries, 192 bytes for a list of one; a large policy and a learnt one are held whole).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parsePolicy } from '../../policy/parse';
import { emitPolicyYaml } from '../../policy/learn/emit';
import { generateSite } from '../helpers/learn-site';

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
  const validated = held(() => parsePolicy(text));
  const plain = held(() => JSON.parse(JSON.stringify(validated.value)));
  assert.equal(plain.value, validated.value);
  assert.ok(validated.bytes < plain.bytes * 1.55, `validated ${validated.bytes} bytes, a plain copy ${plain.bytes}`);
});

test.run();
