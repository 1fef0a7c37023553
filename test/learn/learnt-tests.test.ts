// The compact holders of a learnt policy's tests and comments (policy/learn/learnt-tests.ts), the
// validator's tests-apart mode policy learn streams tests through (policy/validate.ts), and the
// audit reader letting go of its segment buffer (protocol/audit/record.ts releaseDecodeInput).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ConduitComments, LearntTests, type Seen } from '../../policy/learn/learnt-tests';
import type { LearntBlock } from '../../policy/learn/observed';
import { validatePolicy, validatePolicyTestsApart } from '../../policy/validate';
import { ZonegateError } from '../../policy/errors';
import { decodeRecord, encodeRecord, GENESIS_PREV, releaseDecodeInput } from '../../protocol/audit/record';

const seen = (src: string, asset: string, first: number, count = 5): Seen => ({ src, asset, first, last: first + 1000, count, denied: 0 });
const block = (b: Partial<LearntBlock>): LearntBlock => ({ suffix: 'read', fields: { allow: { functions: [3] } }, example: {}, probes: [], count: 1, ...b });

test('learnt tests come back exactly as the blocks gave them, in order, values JSON would change kept as they are', () => {
  const t = new LearntTests();
  const odd = { dnp3: { function: 5, objects: [{ group: 41, variation: 3, values: [-0, 1.5e-300, -2.25] }] } };
  t.add([
    block({ example: { modbus: { function: 3, unit: 1, address: 10, count: 2 } }, probes: [{ modbus: { function: 3, unit: 1, address: 9, count: 1 } }] }),
    block({ fields: { allow: { functions: [] } }, example: {} }), // a connect-only block with an allow: no allow test
    block({ fields: { ports: [443] }, example: { port: 443 } }),
  ], seen('10.0.0.1', 'plc-1', 1000));
  t.add([block({ fields: { dnp3: { functions: [5] } as never }, example: odd, probes: [odd] })], seen('10.0.0.2', 'rtu-1', 2000));
  for (let i = 0; i < 2000; i++) t.add([block({ example: { modbus: { function: 3, unit: 1, address: i, count: 1 } } })], seen(`10.1.${i >> 8}.${i & 255}`, `a-${i}`, i));
  const all = [...t.tests()];
  assert.is(all.length, 3 + 2 + 2000);
  assert.equal(all.slice(0, 4), [
    { request: { from: { ip: '10.0.0.1' }, to: 'plc-1', modbus: { function: 3, unit: 1, address: 10, count: 2 }, at: 1000 }, expect: 'allow' },
    { request: { from: { ip: '10.0.0.1' }, to: 'plc-1', modbus: { function: 3, unit: 1, address: 9, count: 1 }, at: 1000 }, expect: 'deny' },
    { request: { from: { ip: '10.0.0.1' }, to: 'plc-1', protocol: 'tcp', port: 443, at: 1000 }, expect: 'allow' },
    { request: { from: { ip: '10.0.0.2' }, to: 'rtu-1', ...odd, at: 2000 }, expect: 'allow' },
  ]);
  assert.ok(Object.is((all[3].request.dnp3 as unknown as typeof odd.dnp3).objects[0].values[0], -0), '-0 kept');
  assert.equal(all[all.length - 1].request, { from: { ip: '10.1.7.207' }, to: 'a-1999', modbus: { function: 3, unit: 1, address: 1999, count: 1 }, at: 1999 });
  assert.equal([...t.tests()], all, 'each call starts over');
  // Read once (policy learn): the same tests, each group's source let go as its tests are made.
  assert.equal([...t.tests(true)], all);
  assert.throws(() => [...t.tests()], (e: Error) => e instanceof TypeError && /released/.test(e.message));
});

test('conduit comments are made when read: no traffic, narrowed or kept, a block of a group', () => {
  const c = new ConduitComments();
  const s = { ...seen('10.0.0.1', 'plc-1', Date.UTC(2026, 0, 5, 9), 1234), denied: 3 };
  c.unused('a'); c.base('b', s, true); c.base('c', s, false); c.learnt('d', s, 1234); c.learnt('e', s, 1000);
  const says = '1,234 requests from 10.0.0.1, first 2026-01-05T09:00:00Z, last 2026-01-05T09:00:01Z (3 denied then)';
  assert.equal(['a', 'b', 'c', 'd', 'e', 'f'].map((id) => c.get(id)), [
    ['no traffic seen: kept as it was (review)'], [`${says}: narrowed to what was seen`], [says], [says], [`1,000 of ${says}`], undefined,
  ]);
  c.release(); // once the conduits are written
  assert.is(c.get('b'), undefined);
});

const DOC = {
  site: 's', zones: [{ id: 'z', networks: ['10.0.0.0/24'], securityLevel: 2 }], assets: [{ id: 'plc-1', zone: 'z', addresses: ['10.0.0.9'], kind: 'plc', services: [{ protocol: 'modbus', port: 502 }] }],
  identities: [{ id: 'hmi', kind: 'device', addresses: ['10.0.0.1'] }],
  conduits: [{ id: 'c1', from: { identities: ['hmi'] }, to: { assets: ['plc-1'] }, protocol: 'modbus', allow: { functions: ['read-holding-registers'] } }],
};
const TESTS = [
  { request: { from: { ip: '10.0.0.1' }, to: 'plc-1', modbus: { function: 3, unit: 1, address: 0, count: 1 } }, expect: 'allow', conduit: 'c1' },
  { request: { from: { ip: '10.0.0.1' }, to: 'plc-1', modbus: { function: 3, unit: 1, address: 0, count: 1 } }, expect: 'allow', conduit: 'c9' },
];

test('tests apart: the document validated without its tests, each test as validatePolicy checks it, its problems thrown by finish', () => {
  const whole = validatePolicy({ ...DOC, tests: [TESTS[0]] });
  const apart = validatePolicyTestsApart(DOC);
  assert.equal(apart.doc, { ...whole, tests: [] });
  assert.equal(apart.test(TESTS[0], 0), whole.tests[0]);
  apart.finish(); // no problem yet
  assert.is(apart.test(TESTS[1], 1), undefined);
  let err: unknown;
  try { validatePolicy({ ...DOC, tests: TESTS }); } catch (e) { err = e; }
  try { apart.finish(); assert.unreachable('finish should throw'); } catch (e) {
    assert.instance(e, ZonegateError);
    assert.is((e as ZonegateError).code, 'ERR_POLICY_INVALID');
    assert.equal((e as ZonegateError).issues, (err as ZonegateError).issues, 'the same issues as validating the whole document');
  }
  assert.throws(() => validatePolicyTestsApart({ ...DOC, conduits: [{ ...DOC.conduits[0], to: { assets: ['nope'] } }] }), (e: ZonegateError) => e.code === 'ERR_POLICY_INVALID');
  // The conduits' entries are let go once the document is read: a test naming one still checks.
  const again = validatePolicyTestsApart(DOC);
  assert.ok(again.test(TESTS[0], 0));
  assert.is(again.test(TESTS[1], 1), undefined);
  assert.throws(() => again.finish(), (e: ZonegateError) => /unknown conduit 'c9'.*did you mean|unknown conduit 'c9'/.test(JSON.stringify(e.issues)));
});

test('the audit reader lets go of the last buffer decoded (cbor-x keeps a view of its last input)', async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  setFlagsFromString('--no-expose-gc');
  const payload = encodeRecord({ kind: 'note', at: 1, message: 'x' } as never, 0, GENESIS_PREV);
  const held = (() => {
    const big = new Uint8Array(8 << 20);
    big.set(payload, 100);
    decodeRecord(big.subarray(100, 100 + payload.length), { copyBytes: true });
    return new WeakRef(big.buffer);
  })();
  const collected = async (): Promise<boolean> => { await new Promise((r) => setImmediate(r)); gc(); await new Promise((r) => setImmediate(r)); gc(); return held.deref() === undefined; };
  assert.is(await collected(), false, 'cbor-x still holds the buffer (the defect this works around)');
  releaseDecodeInput();
  assert.is(await collected(), true);
});

test.run();
