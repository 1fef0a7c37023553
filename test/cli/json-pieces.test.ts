/** cli/json-pieces.ts: large JSON printed in pieces, byte for byte what JSON.stringify(v, null, 2) prints. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { JsonStream, printJsonPieces } from '../../cli/json-pieces';

const printed = (v: unknown, depth?: number): { text: string; pieces: string[] } => {
  const pieces: string[] = [];
  printJsonPieces(v, (t) => pieces.push(t), depth);
  return { text: pieces.join('\n'), pieces };
};

test('same text as JSON.stringify(v, null, 2): nesting, empty containers, undefined, null, strings with line ends', () => {
  const values: unknown[] = [
    { ok: true, n: 1, s: 'a\nb "q"', empty: [], none: {}, skip: undefined, fn: () => 1, nul: null, arr: [1, undefined, 'x', { a: [1, 2, { b: [] }] }], deep: { a: { b: { c: { d: [1] } } } } },
    [], {}, 3, 'x', null, [[[]], [{}], [[1, [2, [3]]]]],
    Object.assign(Object.create(null) as object, { k: 'null prototype' }),
    { date: new Date(0), big: { toJSON: () => 'custom' }, gone: { toJSON: () => undefined }, list: [{ toJSON: () => undefined }, Symbol('s')] },
  ];
  for (const v of values) for (const depth of [0, 1, 2, 3, 8]) assert.is(printed(v, depth).text, JSON.stringify(v, null, 2), JSON.stringify(v));
});

test('a summary with 30,000 changes comes out in pieces of about 16 KiB, each ending at a whole line', () => {
  const changes = Array.from({ length: 30_000 }, (_, i) => ({ area: 'conduit', id: `c-${i}`, what: 'added', effect: 'widens', detail: `modbus read-coils unit 1 at ${i}-${i + 9}`, affects: `requests from h to a at ${i} now allowed` }));
  const summary = { ok: true, out: 'x.yaml', diff: { site: { old: 's', new: 's' }, changes, counts: { widens: 30_000, narrows: 0, changes: 0 } } };
  const { text, pieces } = printed(summary);
  assert.is(text, JSON.stringify(summary, null, 2));
  assert.ok(pieces.length > 50, `${pieces.length} pieces`);
  for (const p of pieces) {
    assert.ok(p.length < 16 * 1024 + 400, `piece of ${p.length}`);
    assert.not.ok(p.endsWith('\n'));
  }
});

test('each entry is stringified once: no container is stringified whole to see whether JSON leaves it out', () => {
  // The first cut stringified every container to test it for undefined: the whole 11 MB diff at
  // the top, then each level again (the --from learn peaked 60 MiB higher). Count reads of a leaf.
  let reads = 0;
  const leaf = { get x() { reads++; return 1; } };
  const v = { a: { b: { c: [leaf] } } };
  assert.is(printed(v).text, JSON.stringify(v, null, 2));
  reads = 0;
  printed(v);
  assert.is(reads, 1);
});

test('a JsonStream is written as the array JSON.stringify makes of it, each entry made after the one before is printed', () => {
  const made: number[] = [];
  const printedBefore: number[] = [];
  let out: string[] = [];
  const counts = { n: 0 };
  const items = function* (): Generator<unknown, void, void> {
    for (let i = 0; i < 3000; i++) { printedBefore.push(out.join('\n').length); made.push(i); counts.n++; yield i % 7 === 0 ? undefined : { i, s: `entry ${i} → x` }; }
  };
  const v = { ok: true, diff: { changes: new JsonStream(items()), counts, empty: new JsonStream([]) } };
  printJsonPieces(v, (t) => out.push(t));
  const text = out.join('\n');
  const whole = { ok: true, diff: { changes: Array.from({ length: 3000 }, (_, i) => (i % 7 === 0 ? undefined : { i, s: `entry ${i} → x` })), counts: { n: 3000 }, empty: [] } };
  assert.is(text, JSON.stringify(whole, null, 2), 'counts filled as the entries came are written after them');
  assert.is(made.length, 3000);
  assert.ok(printedBefore[2999] > 16 * 1024, 'later entries are made once earlier pieces are out');
  out = [];
  assert.is(JSON.stringify({ a: new JsonStream([1, { b: 2 }]) }), JSON.stringify({ a: [1, { b: 2 }] }), 'JSON.stringify reads it whole');
});

test.run();
