/** The gateway's small parts: the bounded in-memory audit sink and the typed event bus. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createMemoryAudit } from '../../runtime/memory-audit';
import { EventBus } from '../../runtime/bus';
import type { AuditEvent } from '../../drivers/types';

const ev = (i: number, kind: AuditEvent['kind'] = 'decision'): AuditEvent => ({ kind, at: i, source: 'test', message: `e${i}` });

test('memory audit: a bounded ring that counts what it overwrote', () => {
  const a = createMemoryAudit({ capacity: 3 });
  for (let i = 1; i <= 5; i++) a.record(ev(i));
  assert.equal(a.recent().map((e) => e.at), [3, 4, 5]);
  assert.equal(a.recent(2).map((e) => e.at), [4, 5]);
  const s = a.stats();
  assert.is(s.recorded, 5);
  assert.is(s.overwritten, 2);
  assert.is(s.byKind.decision, 5);
});

test('memory audit: decision lines are batched into one write per turn; other kinds stay in the ring', () => {
  const writes: string[] = [];
  const pending: (() => void)[] = [];
  const a = createMemoryAudit({ capacity: 10, write: (c) => writes.push(c), schedule: (fn) => pending.push(fn) });
  a.record(ev(1)); a.record(ev(2, 'connection')); a.record(ev(3, 'malformed'));
  assert.equal(writes, []);
  assert.is(pending.length, 1, 'one flush scheduled');
  pending.shift()!();
  assert.is(writes.length, 1);
  assert.equal(writes[0].trim().split('\n').map((l) => JSON.parse(l).at), [1, 3]);
  assert.is(a.stats().written, 2);
});

test('memory audit: a full line queue drops and counts; a throwing writer is counted, never thrown', () => {
  const pending: (() => void)[] = [];
  const a = createMemoryAudit({ capacity: 10, write: () => { throw new Error('EPIPE'); }, maxQueuedLines: 2, schedule: (fn) => pending.push(fn) });
  for (let i = 0; i < 5; i++) a.record(ev(i));
  assert.is(a.stats().droppedLines, 3);
  pending.shift()!();
  assert.is(a.stats().droppedLines, 5);
  assert.is(a.stats().recorded, 5);
});

test('memory audit: seeded from a previous sink without writing the seed again', () => {
  const writes: string[] = [];
  const a = createMemoryAudit({ capacity: 2, write: (c) => writes.push(c), seed: [ev(1), ev(2), ev(3)] });
  assert.equal(a.recent().map((e) => e.at), [2, 3]);
  a.flush();
  assert.equal(writes, []);
});

interface Events { tick: { n: number }; other: string }

test('bus: handler errors (thrown or rejected) are reported per owner; the other handlers still run', async () => {
  const failures: string[] = [];
  const bus = new EventBus<Events>({ onError: ({ owner, event, error }) => failures.push(`${owner}/${event}: ${(error as Error).message}`) });
  const seen: string[] = [];
  bus.on('tick', 'a', () => { throw new Error('sync boom'); });
  bus.on('tick', 'b', async () => { throw new Error('async boom'); });
  bus.on('tick', 'c', ({ n }) => { seen.push(`c${n}`); });
  await bus.emit('tick', { n: 1 });
  assert.equal(seen, ['c1']);
  assert.equal(failures, ['a/tick: sync boom', 'b/tick: async boom']);
});

test('bus: removeOwner drops every handler of that owner; on() returns an unsubscribe', async () => {
  const bus = new EventBus<Events>({ onError: () => {} });
  const seen: string[] = [];
  bus.on('tick', 'x', () => { seen.push('x-tick'); });
  bus.on('other', 'x', (s) => { seen.push(`x-${s}`); });
  const off = bus.on('tick', 'y', () => { seen.push('y-tick'); });
  await bus.emit('tick', { n: 1 });
  bus.removeOwner('x');
  off();
  await bus.emit('tick', { n: 2 });
  await bus.emit('other', 'hi');
  assert.equal(seen, ['x-tick', 'y-tick']);
});

test.run();
