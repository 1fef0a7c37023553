/**
 * compileSteps (the sliced compile the store drives between event-loop turns) against compile():
 * the same index, deep-equal, on the example site and on a generated 2,000-conduit site, and it
 * really yields in slices.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile, compileSteps, COMPILE_SLICE } from '../../policy/compile';
import type { PolicyIndex } from '../../policy/compile';
import { parsePolicy } from '../../policy/parse';
import { validatePolicy } from '../../policy/validate';
import { decide } from '../../policy/decide';
import type { PolicyDocument } from '../../policy/types';
import { sitePolicy } from '../bundle/fixtures';

function stepwise(doc: PolicyDocument, version: string): { index: PolicyIndex; yields: number } {
  const steps = compileSteps(doc, { version });
  let yields = 0;
  for (;;) {
    const r = steps.next();
    if (r.done) return { index: r.value, yields };
    yields += 1;
  }
}

test('the example site: compileSteps and compile give deep-equal indexes', () => {
  const file = join(process.cwd(), 'examples', 'substation.yaml');
  const doc = parsePolicy(readFileSync(file, 'utf8'), { file });
  const whole = compile(doc, { version: 'v7' });
  const { index, yields } = stepwise(doc, 'v7');
  assert.ok(yields >= 1);
  assert.equal(index, whole);
  assert.equal(index.counts, whole.counts);
  // Same answers too, for every embedded test request.
  for (const t of doc.tests) assert.equal(decide(index, t.request, 0), decide(whole, t.request, 0));
});

test('a generated 2,000-conduit site: deep-equal indexes, compiled in many slices', () => {
  const doc = validatePolicy(sitePolicy({ conduits: 2000 }));
  const whole = compile(doc, { version: 'v2' });
  const { index, yields } = stepwise(doc, 'v2');
  assert.is(index.counts.conduits, 2000);
  // 2,000 conduits + 1,000 assets + 200 identities, a yield every COMPILE_SLICE units at least.
  assert.ok(yields >= Math.floor(3200 / COMPILE_SLICE), `${yields} yields`);
  assert.equal(index, whole);
  // Tables compared one by one as well, so a failure names the table that differs.
  for (const k of Object.keys(whole.t) as (keyof PolicyIndex['t'])[]) assert.equal(index.t[k], whole.t[k], `table ${k}`);
  const req = { from: 'hmi-7', to: 'plc-7', modbus: { function: 3, unit: 1, address: 75 } };
  assert.equal(decide(index, req, 0), decide(whole, req, 0));
  assert.is(decide(index, req, 0).decision, 'allow');
});

test('compileSteps throws what compile throws', () => {
  const doc = validatePolicy(sitePolicy({ conduits: 3 }));
  const bad = { ...doc, conduits: [...doc.conduits, { ...doc.conduits[0], id: 'x', protocol: 'iec61850' as never }] };
  assert.throws(() => compile(bad), (e: Error) => e instanceof TypeError && /conduit x: unknown protocol iec61850/.test(e.message));
  assert.throws(() => stepwise(bad, 'v'), (e: Error) => e instanceof TypeError && /conduit x: unknown protocol iec61850/.test(e.message));
});

test.run();
