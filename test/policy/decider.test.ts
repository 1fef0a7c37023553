import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compile } from '../../policy/compile';
import { IndexDecider } from '../../policy/decider';
import { conduit, substation } from './engine-doc';

const NOW = Date.UTC(2026, 2, 2, 14, 0);
const reads = conduit({ id: 'hmi-reads', from: { identities: ['hmi-1'] }, to: { assets: ['plc-1'] }, allow: { functions: [3], units: [1], addresses: [{ start: 0, end: 99 }] }, rateLimit: { perSecond: 50, burst: 100 } });
const writes = conduit({ id: 'hmi-writes', from: { identities: ['hmi-1'] }, to: { assets: ['plc-1'] }, allow: { functions: [3, 6], units: [1], addresses: [{ start: 0, end: 9 }] } });
const vendor = conduit({ id: 'vendor', from: { roles: ['vendor'] }, to: { assets: ['plc-1'] }, requires: { edgeAuth: true } });

test('no index: everything is denied no-policy', () => {
  const d = new IndexDecider();
  assert.is(d.version, null);
  const { scope, decision } = d.connect({ sourceIp: '10.10.1.5', asset: 'plc-1', port: 502, protocol: 'modbus' }, NOW);
  assert.equal({ ...decision }, { decision: 'deny', conduit: null, reason: 'no-policy', identity: null });
  assert.is(scope.policyVersion, 'none');
  assert.is(d.modbus(scope, 3, 1, 0, 1, NOW).reason, 'no-policy');
  assert.is(d.recheck(scope, NOW).reason, 'no-policy');
});

test('expired: everything is denied policy-expired until cleared', () => {
  const d = new IndexDecider(compile(substation([reads]), { version: '5' }));
  const { scope } = d.connect({ sourceIp: '10.10.1.5', asset: 'plc-1', port: 502, protocol: 'modbus' }, NOW);
  d.setExpired(true);
  assert.ok(d.isExpired);
  assert.is(d.modbus(scope, 3, 1, 0, 1, NOW).reason, 'policy-expired');
  assert.is(d.connect({ sourceIp: '10.10.1.5', asset: 'plc-1', port: 502, protocol: 'modbus' }, NOW).decision.reason, 'policy-expired');
  assert.is(d.recheck(scope, NOW).reason, 'policy-expired');
  d.setIndex(compile(substation([reads]), { version: '6' }));
  assert.is(d.modbus(scope, 3, 1, 0, 1, NOW).reason, 'policy-expired', 'setIndex does not clear it');
  d.setExpired(false);
  assert.is(d.modbus(scope, 3, 1, 0, 1, NOW).conduit, 'hmi-reads');
  assert.is(scope.policyVersion, '6');
});

test('connect resolves the scope once; modbus decides per request from it', () => {
  const d = new IndexDecider(compile(substation([reads]), { version: '7' }));
  assert.is(d.version, '7');
  const { scope, decision } = d.connect({ sourceIp: '10.10.1.5', asset: 'plc-1', port: 502, protocol: 'modbus' }, NOW);
  assert.equal({ ...decision }, { decision: 'allow', conduit: 'hmi-reads', reason: null, identity: 'hmi-1' });
  assert.is(scope.policyVersion, '7');
  assert.is(scope.identity, 'hmi-1');
  assert.is(d.scopeIdentity(scope), 'hmi-1');
  const a = d.modbus(scope, 3, 1, 10, 5, NOW);
  assert.is(a.conduit, 'hmi-reads');
  assert.is(d.modbus(scope, 3, 1, 20, 5, NOW), a, 'the same frozen decision object');
  assert.is(d.modbus(scope, 3, 1, 99, 2, NOW).reason, 'address-out-of-range');
  assert.is(d.modbus(scope, 6, 1, 0, 1, NOW).reason, 'function-not-allowed');
  assert.is(d.modbus(scope, 3, 2, 0, 1, NOW).reason, 'unit-not-allowed');
  assert.is(d.modbus(scope, 3, 1, 0, 0, NOW).reason, 'malformed');
  assert.is(d.modbus(scope, 3, 1, -1, 1, NOW).reason, 'malformed');
  assert.is(d.modbus(scope, 3, 1.5, 0, 1, NOW).reason, 'malformed');
  assert.is(d.modbus(scope, 300, 1, 0, 1, NOW).reason, 'malformed');
  assert.is(d.modbus(scope, 23, 1, 0, 1, NOW).reason, 'malformed', 'FC 23 without its write range');
  assert.equal(d.conduit('hmi-reads')?.rateLimit, { perSecond: 50, burst: 100 });
  assert.is(d.conduit('nope'), undefined);
});

test('connect: unknown source has no conduit; port and unknown asset', () => {
  const d = new IndexDecider(compile(substation([reads])));
  assert.is(d.connect({ sourceIp: '10.20.0.77', asset: 'plc-1', port: 502, protocol: 'modbus' }, NOW).decision.reason, 'no-conduit');
  assert.is(d.connect({ sourceIp: '10.10.1.5', asset: 'plc-1', port: 503, protocol: 'modbus' }, NOW).decision.reason, 'port-not-allowed');
  const { scope, decision } = d.connect({ sourceIp: '10.10.1.5', asset: 'ghost', port: 502, protocol: 'modbus' }, NOW);
  assert.is(decision.reason, 'unknown-destination');
  assert.is(d.modbus(scope, 3, 1, 0, 1, NOW).reason, 'unknown-destination');
  assert.is(d.connect({ sourceIp: 'not an ip', asset: 'plc-1', port: 502, protocol: 'modbus' }, NOW).decision.reason, 'no-conduit');
});

test('setIndex: live scopes re-resolve lazily and are tagged with the new version', () => {
  const d = new IndexDecider(compile(substation([reads]), { version: '1' }));
  const { scope } = d.connect({ sourceIp: '10.10.1.5', asset: 'plc-1', port: 502, protocol: 'modbus' }, NOW);
  assert.is(d.modbus(scope, 6, 1, 0, 1, NOW).reason, 'function-not-allowed');
  d.setIndex(compile(substation([writes]), { version: '2' }));
  assert.is(scope.policyVersion, '1', 'nothing happens until the next use');
  const dec = d.modbus(scope, 6, 1, 0, 1, NOW);
  assert.is(dec.conduit, 'hmi-writes');
  assert.is(scope.policyVersion, '2');
  // quarantine arrives with version 3
  d.setIndex(compile(substation([writes], { quarantine: ['hmi-1'] }), { version: '3' }));
  assert.is(d.modbus(scope, 3, 1, 0, 1, NOW).reason, 'quarantined');
  assert.is(scope.policyVersion, '3');
  // policy withdrawn, then back
  d.setIndex(null);
  assert.is(d.modbus(scope, 3, 1, 0, 1, NOW).reason, 'no-policy');
  d.setIndex(compile(substation([reads]), { version: '4' }));
  assert.is(d.modbus(scope, 3, 1, 0, 1, NOW).conduit, 'hmi-reads');
  assert.is(scope.policyVersion, '4');
});

test('refreshSession: an edge login and logout change what the connection may do', () => {
  const d = new IndexDecider(compile(substation([vendor]), { version: '1' }));
  const { scope, decision } = d.connect({ sourceIp: '10.20.0.77', asset: 'plc-1', port: 502, protocol: 'modbus' }, NOW);
  assert.is(decision.reason, 'no-conduit');
  d.refreshSession(scope, { identity: 'acme' });
  assert.is(scope.identity, 'acme');
  assert.is(d.modbus(scope, 16, 1, 0, 10, NOW).reason, 'edge-auth-required');
  assert.is(d.recheck(scope, NOW).reason, 'edge-auth-required');
  d.refreshSession(scope, { identity: 'acme', edgeAuth: true });
  const ok = d.modbus(scope, 16, 1, 0, 10, NOW);
  assert.equal({ ...ok }, { decision: 'allow', conduit: 'vendor', reason: null, identity: 'acme' });
  d.refreshSession(scope, undefined);
  assert.is(scope.identity, null);
  assert.is(d.modbus(scope, 16, 1, 0, 10, NOW).reason, 'no-conduit');
});

test('refreshSession: a login adds the person to the device, a logout leaves the device', () => {
  const ops = conduit({ id: 'ops', from: { roles: ['operator'] }, to: { assets: ['plc-1'] }, requires: { edgeAuth: true }, allow: { functions: [6], units: [1] } });
  const d = new IndexDecider(compile(substation([reads, ops])));
  const { scope } = d.connect({ sourceIp: '10.10.1.5', asset: 'plc-1', port: 502, protocol: 'modbus' }, NOW);
  assert.equal({ ...d.modbus(scope, 3, 1, 0, 1, NOW) }, { decision: 'allow', conduit: 'hmi-reads', reason: null, identity: 'hmi-1' });
  assert.equal({ ...d.modbus(scope, 6, 1, 0, 1, NOW) }, { decision: 'deny', conduit: null, reason: 'function-not-allowed', identity: 'hmi-1' });
  d.refreshSession(scope, { identity: 'alice', edgeAuth: true });
  assert.is(d.scopeIdentity(scope), 'alice');
  assert.equal({ ...d.modbus(scope, 3, 1, 0, 1, NOW) }, { decision: 'allow', conduit: 'hmi-reads', reason: null, identity: 'hmi-1' }, 'the HMI keeps polling');
  assert.equal({ ...d.modbus(scope, 6, 1, 0, 1, NOW) }, { decision: 'allow', conduit: 'ops', reason: null, identity: 'alice' });
  assert.equal({ ...d.modbus(scope, 16, 1, 0, 2, NOW) }, { decision: 'deny', conduit: null, reason: 'function-not-allowed', identity: 'alice' });
  d.refreshSession(scope, undefined);
  assert.is(d.scopeIdentity(scope), 'hmi-1');
  assert.is(d.modbus(scope, 3, 1, 0, 1, NOW).conduit, 'hmi-reads');
  assert.equal({ ...d.modbus(scope, 6, 1, 0, 1, NOW) }, { decision: 'deny', conduit: null, reason: 'function-not-allowed', identity: 'hmi-1' });
});

test('grants listed by conduit id in the session', () => {
  const g = conduit({ id: 'g', from: { identities: ['hmi-1'] }, to: { assets: ['plc-1'] }, requires: { grant: true } });
  const d = new IndexDecider(compile(substation([g])));
  const { scope } = d.connect({ sourceIp: '10.10.1.5', asset: 'plc-1', port: 502, protocol: 'modbus', session: { grant: ['g'] } }, NOW);
  assert.is(d.modbus(scope, 3, 1, 0, 1, NOW).conduit, 'g');
  d.refreshSession(scope, { grant: ['other'] });
  assert.is(d.modbus(scope, 3, 1, 0, 1, NOW).reason, 'grant-required');
});

test('monitor decisions from the hot path', () => {
  const mon = conduit({ id: 'mon', mode: 'monitor', from: { identities: ['hmi-1'] }, to: { assets: ['plc-1'] }, allow: { functions: [3] } });
  const d = new IndexDecider(compile(substation([mon])));
  const { scope } = d.connect({ sourceIp: 'fd00:10:1::5', asset: 'plc-1', port: 502, protocol: 'modbus' }, NOW);
  const m = d.modbus(scope, 6, 1, 0, 1, NOW);
  assert.equal({ ...m }, { decision: 'allow', conduit: 'mon', reason: 'function-not-allowed', identity: 'hmi-1', monitor: true });
  assert.is(d.modbus(scope, 6, 1, 5, 1, NOW), m);
});

test.run();
