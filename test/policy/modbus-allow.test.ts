/**
 * Issue 14 defect 5: a Modbus conduit says what it allows (`allow: all` or the operations); a
 * missing `allow` is a located error, and `policy warnings` names zone-wide writes and diagnostics.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { parsePolicy } from '../../policy/parse';
import { parseSource } from '../../policy/source';
import { validatePolicy } from '../../policy/validate';
import { compile } from '../../policy/compile';
import { decide } from '../../policy/decide';
import { policyWarnings } from '../../policy/warnings';
import { ZonegateError } from '../../policy/errors';

const head = `site: t
zones:
  - { id: control, networks: [10.10.1.0/24], securityLevel: 3 }
  - { id: station, networks: [10.10.0.0/24], securityLevel: 2 }
assets:
  - { id: plc-1, zone: control, address: 10.10.1.20, kind: plc, services: [{ protocol: modbus, port: 502 }] }
identities:
  - { id: hmi-1, kind: device, zone: station, addresses: [10.10.0.5] }
conduits:
  - id: c1
    from: { identities: [hmi-1] }
    to: { assets: [plc-1] }
    protocol: modbus
`;

test('a modbus conduit without allow is an error naming file, path, line and column', () => {
  try {
    parsePolicy(head, { file: 'p.yaml' });
    assert.unreachable('accepted a conduit without allow');
  } catch (e) {
    assert.instance(e, ZonegateError);
    const err = e as ZonegateError;
    assert.is(err.code, 'ERR_POLICY_INVALID');
    assert.is(err.issues.length, 1);
    const [i] = err.issues;
    assert.is(i.path, 'conduits[0].allow');
    assert.match(i.message, /required field 'allow' is missing.*allow: all/);
    assert.is(i.file, 'p.yaml');
    assert.is(i.line, 10); // the conduit's first line: `allow` itself is absent
    assert.is(i.col, 5);
  }
});

test('allow: all is explicit and allows every well-formed operation; other strings are refused', () => {
  const doc = parsePolicy(`${head}    allow: all\n`, { file: 'p.yaml' });
  assert.is(doc.conduits[0].allow, undefined);
  const index = compile(doc);
  const d = decide(index, { from: 'hmi-1', to: 'plc-1', modbus: { function: 8, unit: 7, address: 0 } }, 0);
  assert.is(d.decision, 'allow');
  try {
    parsePolicy(`${head}    allow: everything\n`, { file: 'p.yaml' });
    assert.unreachable();
  } catch (e) {
    const i = (e as ZonegateError).issues;
    assert.equal(i.map((x) => x.path), ['conduits[0].allow']);
    assert.match(i[0].message, /must be `all` or a mapping/);
    assert.is(i[0].line, 14);
  }
});

test('a plain object (bundle) without allow is refused too', () => {
  try {
    validatePolicy({
      site: 's', zones: [{ id: 'z', networks: ['10.0.0.0/8'], securityLevel: 2 }],
      assets: [{ id: 'a', zone: 'z', address: '10.0.0.1', services: [{ protocol: 'modbus', port: 502 }] }],
      conduits: [{ id: 'c', from: { zones: ['z'] }, to: { assets: ['a'] }, protocol: 'modbus' }],
    });
    assert.unreachable();
  } catch (e) {
    assert.equal((e as ZonegateError).issues.map((x) => x.path), ['conduits[0].allow']);
  }
});

test('warnings: zone-wide writes, state-changing diagnostics and allow: all; identities and reads are fine', () => {
  const file = 'test/fixtures/policy/zone-writes.yaml';
  const text = readFileSync(file, 'utf8');
  const src = parseSource(text, { file });
  const doc = validatePolicy(src.value, { file, locate: src.locate });
  assert.equal(policyWarnings(doc, { file, locate: src.locate }), [{
    path: 'conduits[1].from.zones', file, line: 17, col: 13,
    message: "warning: conduit 'station-writes' allows write-single-register to everyone in zone 'station'; name identities or roles for writes and diagnostics",
  }]);
  const wide = validatePolicy(src.value);
  wide.conduits[0].from.zones = ['station'];
  wide.conduits[0].allow = { functions: [8] };
  wide.conduits[2].from = { identities: [], roles: [], zones: ['station'] };
  assert.equal(policyWarnings(wide).map((w) => w.message), [
    "warning: conduit 'station-reads' allows diagnostics to everyone in zone 'station'; name identities or roles for writes and diagnostics",
    "warning: conduit 'station-writes' allows write-single-register to everyone in zone 'station'; name identities or roles for writes and diagnostics",
    "warning: conduit 'hmi-everything' allows every operation (allow: all) to everyone in zone 'station'; name identities or roles for writes and diagnostics",
  ]);
});

test.run();
