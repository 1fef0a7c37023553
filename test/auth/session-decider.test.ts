// The session decider over the real IndexDecider: session facts at connect, lazy refresh of live
// scopes when sessions, grants or the local quarantine change (one integer compare otherwise),
// local quarantine of assets and identities, break-glass facts, and the session table's expiry.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createSessionTable } from '../../runtime/auth/sessions';
import { createSessionDecider } from '../../runtime/auth/session-decider';
import { compile } from '../../policy/compile';
import { IndexDecider } from '../../policy/decider';
import { validatePolicy } from '../../policy/validate';
import { parsePolicy } from '../../policy/parse';
import { readFileSync } from 'node:fs';
import { accessDecider, accessPolicy, auditSink } from './helpers';

function rig(inner: IndexDecider = accessDecider()) {
  const clock = { t: 1_000_000 };
  const audit = auditSink();
  let grants: string[] | undefined;
  const sessions = createSessionTable({ now: () => clock.t, audit, ttlMs: 60_000, grants: () => grants });
  const quarantined = new Set<string>();
  let qgen = 0;
  const decider = createSessionDecider({ inner, facts: (ip) => sessions.facts(ip), generation: () => sessions.generation + qgen, quarantined: (id) => quarantined.has(id) });
  const q = { add: (id: string) => { quarantined.add(id); qgen += 1; }, remove: (id: string) => { quarantined.delete(id); qgen += 1; } };
  return { clock, audit, sessions, decider, q, setGrants: (g: string[] | undefined) => { grants = g; sessions.grantsChanged(); } };
}
const query = { sourceIp: '127.0.0.7', asset: 'plc-1', port: 502, protocol: 'modbus' as const };
const read = (r: ReturnType<typeof rig>, scope: Parameters<ReturnType<typeof rig>['decider']['modbus']>[0]) => r.decider.modbus(scope, 3, 1, 10, 1, r.clock.t);

test('connect carries the session; a live scope follows logout, grants and quarantine', () => {
  const r = rig();
  assert.is(r.decider.connect(query, r.clock.t).decision.reason, 'no-conduit');
  const s = r.sessions.open({ sourceIp: '127.0.0.7', user: 'alice', role: 'operator', via: 'web' });
  const { scope, decision } = r.decider.connect(query, r.clock.t);
  assert.equal([decision.decision, decision.conduit, decision.identity], ['allow', 'operator-reads', 'alice']);
  assert.is(read(r, scope).decision, 'allow');
  r.q.add('alice');
  assert.equal([read(r, scope).decision, read(r, scope).reason], ['deny', 'quarantined']);
  assert.is(r.decider.recheck(scope, r.clock.t).reason, 'quarantined');
  r.q.remove('alice');
  assert.is(read(r, scope).decision, 'allow');
  r.q.add('plc-1');
  assert.is(r.decider.connect(query, r.clock.t).decision.reason, 'quarantined', 'a quarantined asset refuses new connections');
  r.q.remove('plc-1');
  r.sessions.end(s.id, 'logout');
  assert.equal([read(r, scope).decision, read(r, scope).reason], ['deny', 'no-conduit']);
});

test('a device\'s own conduits stay its own while a person is logged in at its address; quarantine of either cuts both', () => {
  const raw = accessPolicy() as { identities: unknown[]; conduits: unknown[] };
  raw.identities.push({ id: 'hmi-1', kind: 'device', address: '127.0.0.7' });
  raw.conduits.push({ id: 'hmi-polls', from: { identities: ['hmi-1'] }, to: { assets: ['plc-1'] }, protocol: 'modbus', allow: { functions: ['read-input-registers'], units: [1], addresses: ['0-99'] } });
  const r = rig(new IndexDecider(compile(validatePolicy(raw), { version: 'v1' })));
  const poll = (scope: Parameters<typeof read>[1]) => r.decider.modbus(scope, 4, 1, 10, 1, r.clock.t);
  const { scope, decision } = r.decider.connect(query, r.clock.t);
  assert.equal([decision.decision, decision.identity], ['allow', 'hmi-1']);
  const s = r.sessions.open({ sourceIp: '127.0.0.7', user: 'alice', role: 'operator', via: 'web' });
  assert.equal([poll(scope).decision, poll(scope).conduit, poll(scope).identity], ['allow', 'hmi-polls', 'hmi-1'], 'the HMI keeps polling while alice is logged in');
  assert.equal([read(r, scope).decision, read(r, scope).conduit, read(r, scope).identity], ['allow', 'operator-reads', 'alice']);
  r.q.add('hmi-1');
  assert.equal([poll(scope).decision, poll(scope).reason], ['deny', 'quarantined'], 'a locally quarantined device stays cut off with a person logged in');
  assert.equal([read(r, scope).decision, read(r, scope).reason], ['deny', 'quarantined']);
  r.q.remove('hmi-1');
  r.q.add('alice');
  assert.equal([poll(scope).decision, poll(scope).reason], ['deny', 'quarantined']);
  r.q.remove('alice');
  r.sessions.end(s.id, 'logout');
  assert.equal([poll(scope).decision, poll(scope).identity], ['allow', 'hmi-1']);
  assert.equal([read(r, scope).decision, read(r, scope).reason], ['deny', 'function-not-allowed']);
});

test('a vendor needs edge auth and a grant; the grant can come and go under a live connection', () => {
  const r = rig();
  r.sessions.open({ sourceIp: '127.0.0.7', user: 'acme-support', role: 'viewer', via: 'web' });
  const { scope, decision } = r.decider.connect(query, r.clock.t);
  assert.equal([decision.decision, decision.reason], ['deny', 'grant-required']);
  r.setGrants(['vendor-maintenance']);
  assert.equal([read(r, scope).decision, read(r, scope).conduit], ['allow', 'vendor-maintenance']);
  r.setGrants(['some-other-conduit']);
  assert.is(read(r, scope).reason, 'grant-required');
  r.setGrants(undefined);
  assert.is(read(r, scope).reason, 'grant-required');
});

test('IEC 104 station direction through the session decider: the inner answer, none once the source is quarantined', () => {
  const text = readFileSync('test/fixtures/policy/iec104-substation.yaml', 'utf8');
  const r = rig(new IndexDecider(compile(parsePolicy(text, { file: 'iec104-substation.yaml' }), { version: '1' })));
  const { scope } = r.decider.connect({ sourceIp: '127.10.0.2', asset: 'rtu-104', port: 2404, protocol: 'iec104' }, r.clock.t);
  const op = (ca: number) => ({ typeId: 1, cause: 3, ca, count: 1, ioa: [1000], value: [0], select: [0], selected: false });
  const verdict = (ca: number) => r.decider.iec104Station!(scope, op(ca), r.clock.t).decision;
  assert.equal([1, 2].map(verdict), ['allow', 'deny']);
  r.q.add('scada-1');
  assert.is(r.decider.iec104Station!(scope, op(1), r.clock.t).reason, 'quarantined');
  r.q.remove('scada-1');
  assert.is(verdict(1), 'allow');
});

test('break-glass sessions carry a grant for every conduit; sessions expire and are replaced per address', () => {
  const r = rig();
  r.sessions.open({ sourceIp: '127.0.0.7', user: 'acme-support', role: 'admin', via: 'break-glass', ttlMs: 5_000 });
  assert.equal(r.sessions.facts('127.0.0.7'), { edgeAuth: true, identity: 'acme-support', grant: true });
  assert.is(r.decider.connect(query, r.clock.t).decision.conduit, 'vendor-maintenance');
  r.clock.t += 5_000;
  assert.is(r.sessions.facts('127.0.0.7'), undefined, 'expired at expiresAt');
  const a = r.sessions.open({ sourceIp: '127.0.0.8', user: 'alice', role: 'operator', via: 'web' });
  const b = r.sessions.open({ sourceIp: '127.0.0.8', user: 'bob', role: 'viewer', via: 'web' });
  assert.is(r.sessions.get(a.id), undefined, 'a newer login from the same address replaces the older session');
  assert.is(r.sessions.bySource('127.0.0.8')!.id, b.id);
  assert.is(r.sessions.endUser('bob', 'revoked'), 1);
  const ended = r.audit.events.filter((e) => e.message === 'session ended').map((e) => (e.detail as { reason: string }).reason);
  assert.equal(ended, ['timeout', 'replaced', 'revoked']);
});

test.run();
