// The console's audit trail file (fleet/console/trail.ts): appended and chained, continued after a
// reopen, and every kind of tampering (an edited, removed, reordered or torn line) named at its line.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { ConsoleTrail, readTrail } from '../../../fleet/console/trail';
import { tempDir } from '../../audit/helpers';

const t = tempDir('zg-trail-');
test.after(() => t.cleanup());

function fresh(name: string, n: number): string {
  const file = join(t.dir, name);
  let clock = 1000;
  const tr = ConsoleTrail.open({ file, now: () => clock++ });
  for (let i = 0; i < n; i++) tr.append(`action ${i}`);
  tr.close();
  return file;
}

test('appended entries verify, and a reopened trail continues the chain', () => {
  const file = fresh('a.jsonl', 3);
  const again = ConsoleTrail.open({ file });
  again.append('after a restart');
  again.close();
  const r = readTrail(file);
  assert.is(r.problem, null);
  assert.equal(r.entries.map((e) => [e.seq, e.text]), [[0, 'action 0'], [1, 'action 1'], [2, 'action 2'], [3, 'after a restart']]);
  assert.is(r.entries[0].prev, '0'.repeat(64));
  assert.is(r.entries[3].prev, r.entries[2].hash);
  assert.equal(readTrail(join(t.dir, 'none.jsonl')), { entries: [], problem: null });
});

test('edited, removed, reordered and torn lines are caught at their line', () => {
  const lines = (f: string) => readFileSync(f, 'utf8').trim().split('\n');
  const edited = fresh('e.jsonl', 4);
  writeFileSync(edited, lines(edited).map((l, i) => (i === 2 ? l.replace('action 2', 'action X') : l)).join('\n') + '\n');
  assert.equal(readTrail(edited).problem, { line: 3, message: 'entry 2 does not match its hash (edited)' });
  assert.is(readTrail(edited).entries.length, 2);
  const removed = fresh('r.jsonl', 4);
  writeFileSync(removed, lines(removed).filter((_, i) => i !== 1).join('\n') + '\n');
  assert.equal(readTrail(removed).problem, { line: 2, message: 'seq 2 where 1 belongs (an entry removed or reordered)' });
  const swapped = fresh('s.jsonl', 3);
  const s = lines(swapped);
  writeFileSync(swapped, [s[0], s[2], s[1]].join('\n') + '\n');
  assert.is(readTrail(swapped).problem?.line, 2);
  const torn = fresh('t.jsonl', 2);
  writeFileSync(torn, readFileSync(torn, 'utf8').slice(0, -9));
  assert.equal(readTrail(torn).problem, { line: 2, message: 'not JSON (a torn or edited line)' });
  // Long text is capped, not refused.
  const long = join(t.dir, 'l.jsonl');
  const tr = ConsoleTrail.open({ file: long });
  tr.append('x'.repeat(10_000));
  tr.close();
  assert.is(readTrail(long).entries[0].text.length, 2000);
});

test.run();
