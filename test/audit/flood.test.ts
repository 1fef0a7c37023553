import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DenyFloodSummariser } from '../../runtime/audit/flood';
import type { RecordBody } from '../../protocol/audit/record';
import { decisionEvent } from './helpers';

const T0 = 1_760_000_000_000;
function make(o: { windowMs?: number; verbatim?: number; maxKeys?: number }) {
  const out: RecordBody[] = [];
  return { out, f: new DenyFloodSummariser({ ...o, emit: (b) => out.push(b) }) };
}

test('a new window for the same key closes the old one: summary, then the last denial verbatim', () => {
  const { out, f } = make({ windowMs: 1000, verbatim: 1 });
  const kept: number[] = [];
  for (let i = 0; i < 50; i++) if (f.admit(decisionEvent(i, { decision: 'deny', at: T0 + i * 10 }))) kept.push(i);
  assert.equal(kept, [0]);
  assert.is(f.pending(), 49);
  assert.ok(f.admit(decisionEvent(99, { decision: 'deny', at: T0 + 1000 })), 'first of the next window is verbatim');
  assert.is(out.length, 2);
  assert.is(out[0].kind, 'summary');
  assert.equal(out[0].summary, { count: 48, total: 50, from: T0 + 10, to: T0 + 490, windowMs: 1000 });
  assert.is(out[0].message, '48 denials summarised');
  assert.is(out[1].at, T0 + 490);
  assert.is(out[1].kind, 'decision');
  assert.is(f.summarised, 48);
});

test('keys are (src, asset, reason); one suppressed denial needs no summary; sweep closes ended windows only', () => {
  const { out, f } = make({ windowMs: 1000, verbatim: 2 });
  const ev = (i: number, src: string, asset: string, reason: string) => decisionEvent(i, { decision: 'deny', at: T0 + i, src, asset, reason });
  for (const [s, a, r] of [['a', 'p1', 'no-conduit'], ['a', 'p2', 'no-conduit'], ['a', 'p1', 'quarantined'], ['b', 'p1', 'no-conduit']]) {
    assert.ok(f.admit(ev(0, s, a, r)));
    assert.ok(f.admit(ev(1, s, a, r)));
    assert.not.ok(f.admit(ev(2, s, a, r)));
  }
  f.sweep(T0 + 999);
  assert.is(out.length, 0);
  f.sweep(T0 + 1000);
  assert.is(out.length, 4, 'just the last denial of each key, no summary for a single suppressed one');
  assert.ok(out.every((b) => b.kind === 'decision'));
  assert.is(f.pending(), 0);
  assert.is(f.summarised, 0);
});

test('past maxKeys, new keys share one overflow window summarised as *', () => {
  const { out, f } = make({ windowMs: 1000, verbatim: 1, maxKeys: 2 });
  assert.ok(f.admit(decisionEvent(0, { decision: 'deny', at: T0, src: 's1' })));
  assert.ok(f.admit(decisionEvent(0, { decision: 'deny', at: T0, src: 's2' })));
  let verbatim = 0;
  for (let i = 3; i < 100; i++) if (f.admit(decisionEvent(i, { decision: 'deny', at: T0 + i, src: `s${i}` }))) verbatim++;
  assert.is(verbatim, 1);
  f.closeAll();
  const s = out.find((b) => b.kind === 'summary');
  assert.is(s?.src, '*');
  assert.is(s?.asset, '*');
  assert.equal(s?.summary, { count: 95, total: 97, from: T0 + 4, to: T0 + 99, windowMs: 1000 });
});

test.run();
