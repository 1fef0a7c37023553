/** The learner's merged interval list against mergeRanges over every raw range (seeded). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { IntervalList } from '../../policy/learn/modbus';
import { mergeRanges } from '../../policy/ranges';
import type { AddressRange } from '../../policy/types';
import { mulberry32 } from '../helpers/prng';

test('adding ranges one at a time gives what mergeRanges gives for all of them', () => {
  const r = mulberry32(18);
  for (let round = 0; round < 400; round++) {
    const span = [40, 400, 65536][round % 3];
    const raw: AddressRange[] = [];
    const list = new IntervalList();
    for (let i = 0, n = 1 + Math.floor(r() * 300); i < n; i++) {
      const start = Math.floor(r() * span);
      const end = Math.min(65535, start + Math.floor(r() * (r() < 0.8 ? 4 : 60)));
      raw.push({ start, end });
      list.add(start, end);
      if (i % 37 === 0) assert.equal(list.list(), mergeRanges(raw), `round ${round} after ${i + 1}`);
    }
    assert.equal(list.list(), mergeRanges(raw), `round ${round}`);
  }
  const edges = new IntervalList();
  edges.add(65535, 65535); edges.add(0, 0); edges.add(1, 65534);
  assert.equal(edges.list(), [{ start: 0, end: 65535 }]);
});

test.run();
