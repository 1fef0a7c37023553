/**
 * `fleet sign --replay DIR` refuses a policy that would deny recorded traffic unless
 * --accept-breaks, and the bundle records the replay (bundle verify shows it); `--previous`
 * prints the semantic diff against the policy (or bundle) it replaces.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeEnvelope } from '../../policy/bundle/decode-envelope';
import { parseBody } from '../../policy/bundle/parse-body';
import { encodeCbor } from '../../policy/bundle/encode-cbor';
import { ZonegateError } from '../../policy/errors';
import { cli, FIX, writeAudit, monday, modbusEvent, D } from './helpers';

const root = mkdtempSync(join(tmpdir(), 'zg-sign-replay-'));
const p = (...x: string[]) => join(root, ...x);
test.after(() => rmSync(root, { recursive: true, force: true }));

const HMI = '127.70.0.5';

test.before(async () => {
  for (const name of ['root', 'signer']) assert.is((await cli('fleet', 'keygen', '--out', p('keys'), '--name', name)).code, 0);
  assert.is((await cli('fleet', 'trust', 'init', '--root-key', p('keys', 'root.key'), '--threshold', '1', '--policy-key', p('keys', 'signer.pub'), '--out', p('root.json'))).code, 0);
  // The HMI read 60-64 under v1; v2 allows only 0-49 and 200-209.
  await writeAudit(p('audit'), [
    modbusEvent(monday('09:00'), HMI, 'plc-1', D.allow('hmi-reads-plc', 'hmi-1'), 3, 10, 2),
    modbusEvent(monday('09:01'), HMI, 'plc-1', D.allow('hmi-reads-plc', 'hmi-1'), 3, 60, 5),
  ]);
});

const sign = (policy: string, out: string, ...extra: string[]) => cli('fleet', 'sign', policy, '--key', p('keys', 'signer.key'), '--version', '2', '--targets', 'gw-01', '--out', out, ...extra);

test('a policy that would deny recorded traffic is refused, naming the conduit and the request', async () => {
  const r = await sign(`${FIX}/plant-v2.yaml`, p('v2.zgb'), '--replay', p('audit'));
  assert.is(r.code, 1, r.out + r.err);
  assert.match(r.err, /not signing: the policy would deny 1 of 2 recorded request\(s\) that were allowed \(give --accept-breaks/);
  assert.match(r.err, /conduit hmi-reads-plc: 1 request\(s\) from hmi-1 to plc-1 allowed then would be denied \(address-out-of-range\), e\.g\. read-holding-registers unit 1 @60\+5/);
  assert.not.ok(existsSync(p('v2.zgb')));
  const j = await sign(`${FIX}/plant-v2.yaml`, p('v2.zgb'), '--replay', p('audit'), '--json');
  assert.is(j.code, 1);
  assert.is(JSON.parse(j.out).code, 'ERR_REPLAY_BREAKS');
});

test('--accept-breaks signs and the bundle records the replay; bundle verify shows it', async () => {
  const r = await sign(`${FIX}/plant-v2.yaml`, p('v2.zgb'), '--replay', p('audit'), '--accept-breaks', '--json');
  assert.is(r.code, 0, r.out + r.err);
  const j = JSON.parse(r.out);
  assert.equal(j.replay, { replayed: 2, breaks: 1, opens: 0, from: monday('09:00'), to: monday('09:01'), logs: 1, acceptedBreaks: true });
  const body = parseBody(decodeEnvelope(readFileSync(p('v2.zgb'))).body, 'policy');
  assert.equal(JSON.parse(JSON.stringify(body.replay)), j.replay);
  const v = await cli('bundle', 'verify', p('v2.zgb'), '--trust', p('root.json'));
  assert.is(v.code, 0, v.err);
  assert.match(v.out, /replayed: {3}2 recorded decision\(s\) in 1 log\(s\) from 2026-11-23T09:00:00\.000Z to 2026-11-23T09:01:00\.000Z: 1 would be denied \(accepted by the signer\), 0 opened/);
  // v1 breaks nothing it allowed itself: signed without accepting anything.
  const ok = await sign(`${FIX}/plant-v1.yaml`, p('v1.zgb'), '--replay', p('audit'));
  assert.is(ok.code, 0, ok.err);
  assert.match(ok.out, /replayed 2 recorded decision\(s\) from 1 log\(s\): 0 would be denied, 0 would be opened/);
});

test('--previous prints the diff against a policy file or the previous bundle', async () => {
  const r = await sign(`${FIX}/plant-v2.yaml`, p('v2b.zgb'), '--previous', `${FIX}/plant-v1.yaml`);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /# Policy diff: .*plant-v1\.yaml → .*plant-v2\.yaml\n\nSite plant-7: 7 changes/);
  assert.match(r.out, /signed .*plant-v2\.yaml as policy bundle v2/);
  const b = await sign(`${FIX}/plant-v2.yaml`, p('v2c.zgb'), '--previous', p('v1.zgb'), '--json');
  assert.is(b.code, 0, b.err);
  assert.is(JSON.parse(b.out).diff.counts.narrows, 4);
  assert.is((await sign(`${FIX}/plant-v2.yaml`, p('x.zgb'), '--accept-breaks')).code, 2);
  const missing = await sign(`${FIX}/plant-v2.yaml`, p('x.zgb'), '--previous', p('nope.yaml'));
  assert.is(missing.code, 1);
});

test('a gateway refuses malformed replay evidence, and evidence on a non-policy bundle', () => {
  const base = { site: 's', targets: ['*'], version: 1, issuedAt: 1, expiresAt: 2, policy: {} };
  const bad = (extra: Record<string, unknown>, type: 'policy' | 'grant' = 'policy') => {
    try { parseBody(encodeCbor({ ...base, ...extra }, { what: 'body' }), type); return null; } catch (e) { return (e as ZonegateError).message; }
  };
  assert.is(bad({ replay: { replayed: 1, breaks: 0, opens: 0, from: 0, to: 0, logs: 1, acceptedBreaks: false } }), null);
  assert.match(bad({ replay: { replayed: -1, breaks: 0, opens: 0, from: 0, to: 0, logs: 1, acceptedBreaks: false } }) ?? '', 'replay.replayed is not a non-negative integer');
  assert.match(bad({ replay: 'yes' }) ?? '', 'replay is not a map');
  const grant = { site: 's', targets: ['*'], version: 1, issuedAt: 1, expiresAt: 2, grant: {}, replay: { replayed: 1, breaks: 0, opens: 0, from: 0, to: 0, logs: 1, acceptedBreaks: false } };
  assert.throws(() => parseBody(encodeCbor(grant, { what: 'body' }), 'grant'), /replay on a grant bundle/);
});

test.run();
