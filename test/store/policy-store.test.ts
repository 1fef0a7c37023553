import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { world, policyBundle, sitePolicy, testKey, T0, DAY } from '../bundle/fixtures';
import { rig, refusal } from './helpers';
import { sha256Hex } from '../../policy/bundle/ed25519';
import { buildTrustRoot, specOf } from '../../fleet/trust';
import { ACTIVE_BLOB, PREVIOUS_BLOB, HWM_BLOB } from '../../runtime/store/policy-store';
import { TRUST_BLOB } from '../../runtime/store/trust-store';
import { trustFileJson } from '../../policy/bundle/trust-file';
import { readTrustRoot } from '../../policy/bundle/read-trust-root';

const W = world();
const K = W.policyKeys.slice(0, 2);
const dirs: string[] = [];
const fresh = () => { const d = mkdtempSync(join(tmpdir(), 'zg-store-')); dirs.push(d); return join(d, 'state'); };
const q = { from: 'hmi-0', to: 'plc-0', modbus: { function: 3, unit: 1, address: 10 } };

test('cold start denies everything; accept activates, persists the exact bytes, tags the version', async () => {
  const dir = fresh();
  const r = await rig({ root: W.root, dir });
  assert.is(r.store.status().state, 'no-policy');
  assert.is(r.store.index, null);
  const c = r.decider.connect({ sourceIp: '10.20.0.1', asset: 'plc-0', port: 502, protocol: 'modbus' }, r.clock.now);
  assert.is(c.decision.reason, 'no-policy');
  const events: string[] = [];
  r.store.on('activated', (a) => events.push(`activated ${a.policyVersion}`));
  const b = policyBundle({ version: 1, keys: K });
  const res = await r.store.accept(b, { source: 'mqtt' });
  const tag = `v1-${sha256Hex(b).slice(0, 8)}`;
  assert.is(res.outcome, 'activated');
  assert.is(res.active.policyVersion, tag);
  assert.equal(events, [`activated ${tag}`]);
  assert.is(r.decider.version, tag);
  // The connection opened under no policy re-resolves lazily and is now allowed.
  assert.is(r.decider.modbus(c.scope, 3, 1, 10, 1, r.clock.now).decision, 'allow');
  const st = r.store.status();
  assert.is(st.state, 'active');
  assert.is(st.active!.version, 1);
  assert.is(st.active!.source, 'mqtt');
  assert.is(st.active!.conduits, 1);
  assert.equal(st.highWater, { version: 1, hash: sha256Hex(b) });
  assert.equal(new Uint8Array(readFileSync(join(dir, ACTIVE_BLOB))), b);
  assert.equal(JSON.parse(readFileSync(join(dir, HWM_BLOB), 'utf8')), { version: 1, hash: sha256Hex(b), previous: null });
  assert.ok(r.audit.some((e) => e.kind === 'policy' && e.message === `policy ${tag} activated (mqtt)`));
});

test('every single-bit flip of a signed bundle is refused and the old policy stays active', async () => {
  const r = await rig({ root: W.root });
  const v1 = policyBundle({ version: 1, keys: K });
  await r.store.accept(v1, { source: 'mqtt' });
  const v2 = policyBundle({ version: 2, keys: K, policy: sitePolicy({ tag: 'two' }) });
  const codes = new Map<string, number>();
  for (let bit = 0; bit < v2.length * 8; bit++) {
    const m = v2.slice();
    m[bit >> 3] ^= 1 << (bit & 7);
    const e = await refusal(r.store.accept(m, { source: 'mqtt' }));
    codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
  }
  assert.is(r.store.status().active!.version, 1);
  assert.is(r.store.status().active!.hash, sha256Hex(v1));
  assert.is(r.store.status().counts.refused, v2.length * 8);
  assert.ok(codes.get('ERR_BUNDLE_SIGNATURE')! > v2.length * 4, JSON.stringify([...codes]));
  for (const c of codes.keys()) assert.ok(['ERR_BUNDLE_SIGNATURE', 'ERR_BUNDLE_DECODE', 'ERR_BUNDLE_TYPE'].includes(c), c);
  assert.is((await r.store.accept(v2, { source: 'mqtt' })).active.version, 2, 'the unflipped one still goes in');
});

test('rollback to N-1 is refused, also after a restart over the same folder', async () => {
  const dir = fresh();
  const v1 = policyBundle({ version: 1, keys: K });
  const v2 = policyBundle({ version: 2, keys: K, policy: sitePolicy({ tag: 'two' }) });
  let r = await rig({ root: W.root, dir });
  await r.store.accept(v1, { source: 'mqtt' });
  await r.store.accept(v2, { source: 'mqtt' });
  let e = await refusal(r.store.accept(v1, { source: 'mqtt' }));
  assert.is(e.code, 'ERR_BUNDLE_ROLLBACK');
  assert.is(e.message, 'bundle v1 is older than v2, the highest version accepted here');
  assert.is(r.store.status().lastError!.code, 'ERR_BUNDLE_ROLLBACK');
  r = await rig({ root: W.root, dir });
  assert.is(r.store.status().active!.version, 2);
  assert.is(r.store.status().active!.source, 'boot');
  assert.equal(r.store.status().previous, { version: 1, hash: sha256Hex(v1) });
  e = await refusal(r.store.accept(v1, { source: 'import' }));
  assert.is(e.code, 'ERR_BUNDLE_ROLLBACK');
  // Even with the high-water file gone, the bundles on disk bound the version.
  rmSync(join(dir, HWM_BLOB));
  r = await rig({ root: W.root, dir });
  assert.is((await refusal(r.store.accept(v1, { source: 'import' }))).code, 'ERR_BUNDLE_ROLLBACK');
});

test('same version with other content: conflict and alarm; same bytes: idempotent', async () => {
  const r = await rig({ root: W.root });
  const v1 = policyBundle({ version: 1, keys: K });
  await r.store.accept(v1, { source: 'mqtt' });
  const alarms: string[] = [];
  r.store.on('alarm', (a) => alarms.push(a.kind));
  const other = policyBundle({ version: 1, keys: K, policy: sitePolicy({ tag: 'other' }) });
  const e = await refusal(r.store.accept(other, { source: 'mqtt' }));
  assert.is(e.code, 'ERR_BUNDLE_CONFLICT');
  assert.match(e.message, /^bundle v1 differs from the v1 accepted before/);
  assert.equal(alarms, ['policy-conflict']);
  assert.is(r.store.status().alarms[0].kind, 'policy-conflict');
  assert.is(r.store.status().active!.hash, sha256Hex(v1));
  const again = await r.store.accept(v1, { source: 'mqtt' });
  assert.is(again.outcome, 'unchanged');
  assert.is(r.store.status().counts.unchanged, 1);
  assert.is(r.store.status().counts.activated, 1);
});

test('below threshold, wrong device, wrong site, expired, not yet valid: refused, old stays', async () => {
  const r = await rig({ root: W.root });
  const v1 = policyBundle({ version: 1, keys: K });
  await r.store.accept(v1, { source: 'mqtt' });
  const cases: [Uint8Array, string, string][] = [
    [policyBundle({ version: 2, keys: [K[0]] }), 'ERR_BUNDLE_SIGNATURE', "bundle: 1 valid signature(s) by 'policy' keys, 2 required"],
    [policyBundle({ version: 2, keys: K, targets: ['gw-02'] }), 'ERR_BUNDLE_TARGET', "bundle targets gw-02, not 'gw-01'"],
    [policyBundle({ version: 2, keys: K, site: 'other' }), 'ERR_BUNDLE_TARGET', "bundle is for site 'other', this is 'substation-12'"],
    [policyBundle({ version: 2, keys: K, policy: sitePolicy({ site: 'other' }) }), 'ERR_BUNDLE_TARGET', "bundle v2 carries the policy of site 'other', this is 'substation-12'"],
    [policyBundle({ version: 2, keys: K, expiresAt: T0 + DAY }), 'ERR_BUNDLE_EXPIRED', 'bundle v2 expired at 2026-01-02T00:00:00.000Z'],
    [policyBundle({ version: 2, keys: K, notBefore: T0 + 3 * DAY }), 'ERR_BUNDLE_EXPIRED', 'bundle v2 is not valid before 2026-01-04T00:00:00.000Z'],
  ];
  for (const [b, c, msg] of cases) {
    const e = await refusal(r.store.accept(b, { source: 'mqtt' }));
    assert.is(e.code, c);
    assert.is(e.message, msg);
    assert.is(r.store.status().active!.hash, sha256Hex(v1));
    assert.is(r.decider.version, r.store.status().active!.policyVersion);
  }
  const refusals = r.audit.filter((a) => a.kind === 'policy' && /refused/.test(a.message ?? ''));
  assert.is(refusals.length, cases.length);
});

test('invalid policy, failing embedded test: refused with issues, old stays', async () => {
  const r = await rig({ root: W.root });
  const v1 = policyBundle({ version: 1, keys: K });
  await r.store.accept(v1, { source: 'mqtt' });
  const bad = sitePolicy({ tag: 'bad' });
  (bad.conduits as Record<string, unknown>[])[0].to = { assets: ['no-such-plc'] };
  let e = await refusal(r.store.accept(policyBundle({ version: 2, keys: K, policy: bad }), { source: 'mqtt' }));
  assert.is(e.code, 'ERR_BUNDLE_POLICY');
  assert.match(e.message, 'bundle v2: the policy is invalid');
  assert.ok(e.issues.some((i) => i.path.startsWith('conduits[0].to.assets')), JSON.stringify(e.issues));
  const failing = sitePolicy({ tag: 'x', tests: [{ request: q, expect: 'deny' }] });
  e = await refusal(r.store.accept(policyBundle({ version: 2, keys: K, policy: failing }), { source: 'mqtt' }));
  assert.is(e.code, 'ERR_POLICY_TEST');
  assert.is(e.message, 'bundle v2: 1 of 1 embedded test(s) failed: tests[0]: expected deny, got allow by c-0-x');
  assert.is(r.store.status().active!.version, 1);
  assert.is(r.store.status().highWater!.version, 1, 'a refused bundle never moves the mark');
});

test('boot: corrupted or truncated active falls back to previous, then to deny-all', async () => {
  const dir = fresh();
  const v1 = policyBundle({ version: 1, keys: K });
  const v2 = policyBundle({ version: 2, keys: K, policy: sitePolicy({ tag: 'two' }) });
  let r = await rig({ root: W.root, dir });
  await r.store.accept(v1, { source: 'mqtt' });
  await r.store.accept(v2, { source: 'mqtt' });
  writeFileSync(join(dir, ACTIVE_BLOB), v2.subarray(0, v2.length - 10));
  r = await rig({ root: W.root, dir });
  let st = r.store.status();
  assert.is(st.state, 'active');
  assert.is(st.active!.version, 1);
  assert.is(st.alarms[0].kind, 'bundle-corrupt');
  assert.match(st.alarms[0].message, 'policy.active does not verify');
  assert.is((await refusal(r.store.accept(v1, { source: 'mqtt' }))).code, 'ERR_BUNDLE_ROLLBACK');
  // The retained v2 redelivered re-activates it.
  assert.is((await r.store.accept(v2, { source: 'mqtt' })).outcome, 'activated');
  r = await rig({ root: W.root, dir });
  assert.is(r.store.status().active!.version, 2);
  assert.equal(r.store.status().previous, { version: 1, hash: sha256Hex(v1) }, 'the good previous was kept, not replaced by the broken file');
  // Both corrupt: deny-all, never anything unverified.
  const flipped = readFileSync(join(dir, ACTIVE_BLOB)); flipped[flipped.length - 5] ^= 0x40;
  writeFileSync(join(dir, ACTIVE_BLOB), flipped);
  writeFileSync(join(dir, PREVIOUS_BLOB), 'garbage');
  r = await rig({ root: W.root, dir });
  st = r.store.status();
  assert.is(st.state, 'no-policy');
  assert.is(r.decider.active, null);
  assert.is(st.alarms.length, 2);
});

test('boot checks the high-water mark: an old, validly signed bundle copied over policy.active is not enforced', async () => {
  const dir = fresh();
  const v = [1, 2, 3].map((n) => policyBundle({ version: n, keys: K, policy: sitePolicy({ tag: `r${n}` }) }));
  let r = await rig({ root: W.root, dir });
  for (const b of v) await r.store.accept(b, { source: 'mqtt' });
  assert.equal(JSON.parse(readFileSync(join(dir, HWM_BLOB), 'utf8')).previous, { version: 2, hash: sha256Hex(v[1]) });
  // v1 over policy.active: a rollback alarm, the previous (v2, named by the mark) enforces.
  writeFileSync(join(dir, ACTIVE_BLOB), v[0]);
  r = await rig({ root: W.root, dir });
  let st = r.store.status();
  assert.is(st.active!.version, 2);
  assert.equal(st.alarms.map((a) => a.kind), ['policy-rollback']);
  assert.is(st.alarms[0].message, `policy.active holds v1-${sha256Hex(v[0]).slice(0, 8)}, below the high-water mark v3: not enforced; falling back to the previous bundle`);
  assert.equal(st.highWater, { version: 3, hash: sha256Hex(v[2]) });
  assert.ok(r.audit.some((e) => e.message === `alarm policy-rollback: ${st.alarms[0].message}`));
  // v1 in both files: nothing enforces (deny-all), two alarms.
  writeFileSync(join(dir, PREVIOUS_BLOB), v[0]);
  r = await rig({ root: W.root, dir });
  st = r.store.status();
  assert.is(st.state, 'no-policy');
  assert.is(r.decider.active, null);
  assert.equal(st.alarms.map((a) => a.kind), ['policy-rollback', 'policy-rollback']);
  // The marked v3 imported again takes over; the mark is intact.
  assert.is((await r.store.accept(v[2], { source: 'import' })).outcome, 'activated');
  // A mark from before `previous` was recorded still catches an old policy.active.
  writeFileSync(join(dir, HWM_BLOB), `${JSON.stringify({ version: 3, hash: sha256Hex(v[2]) })}\n`);
  writeFileSync(join(dir, ACTIVE_BLOB), v[0]);
  writeFileSync(join(dir, PREVIOUS_BLOB), v[1]);
  r = await rig({ root: W.root, dir });
  st = r.store.status();
  assert.equal(st.alarms.map((a) => a.kind), ['policy-rollback']);
  assert.is(st.active!.version, 2, 'a legacy mark cannot name the previous bundle: policy.previous is admitted as before');
});

test('boot: a crash between the writes of a commit still boots the newest whole bundle, no rollback alarm', async () => {
  const dir = fresh();
  const v1 = policyBundle({ version: 1, keys: K });
  const v2 = policyBundle({ version: 2, keys: K, policy: sitePolicy({ tag: 'c2' }) });
  let r = await rig({ root: W.root, dir });
  await r.store.accept(v1, { source: 'mqtt' });
  await r.store.accept(v2, { source: 'mqtt' });
  // The mark of v2 durable, but the renames of active/previous lost: v1 still in policy.active.
  writeFileSync(join(dir, ACTIVE_BLOB), v1);
  rmSync(join(dir, PREVIOUS_BLOB), { force: true });
  r = await rig({ root: W.root, dir });
  assert.is(r.store.status().active!.version, 1, 'the mark names v1 as the previous: the whole old bundle, as after any crash');
  assert.equal(r.store.status().alarms, []);
  assert.is((await refusal(r.store.accept(v1, { source: 'mqtt' }))).code, 'ERR_BUNDLE_ROLLBACK');
  assert.is((await r.store.accept(v2, { source: 'mqtt' })).outcome, 'activated');
});

test('expiry while offline: keep-enforcing alarms and keeps the index; deny-all drops it', async () => {
  for (const onExpiry of ['keep-enforcing', 'deny-all'] as const) {
    const r = await rig({ root: W.root });
    await r.store.accept(policyBundle({ version: 1, keys: K, expiresAt: T0 + 2 * DAY, policy: sitePolicy({ onExpiry }) }), { source: 'mqtt' });
    assert.is(r.store.checkExpiry(T0 + 2 * DAY - 1).state, 'active');
    r.clock.now = T0 + 2 * DAY;
    const st = r.store.checkExpiry();
    assert.is(st.state, onExpiry === 'deny-all' ? 'expired-deny-all' : 'expired-enforcing');
    assert.is(st.alarms[0].kind, 'policy-expired');
    assert.match(st.alarms[0].message, `onExpiry ${onExpiry}`);
    assert.is(r.decider.active === null, onExpiry === 'deny-all');
    r.store.checkExpiry();
    assert.is(r.store.status().alarms.length, 1, 'raised once');
    // A newer valid bundle takes over; an older one never does.
    await r.store.accept(policyBundle({ version: 3, keys: K, expiresAt: T0 + 9 * DAY, policy: sitePolicy({ onExpiry, tag: 'new' }) }), { source: 'import' });
    assert.is(r.store.status().state, 'active');
    assert.ok(r.decider.active !== null);
  }
});

test('boot of an expired active bundle applies onExpiry, never refuses the verified policy outright', async () => {
  const dir = fresh();
  let r = await rig({ root: W.root, dir });
  await r.store.accept(policyBundle({ version: 1, keys: K, expiresAt: T0 + 2 * DAY }), { source: 'mqtt' });
  r = await rig({ root: W.root, dir, now: T0 + 5 * DAY });
  assert.is(r.store.status().state, 'expired-enforcing');
  assert.ok(r.decider.active !== null);
});

test('trust root rotation through the store: persisted, new policy keys take over', async () => {
  const dir = fresh();
  let r = await rig({ root: W.root, dir });
  await r.store.accept(policyBundle({ version: 1, keys: K }), { source: 'mqtt' });
  const newPolicy = [testKey('p-new-1')];
  const spec = { ...specOf(W.root), version: 2, issuedAt: T0, expiresAt: T0 + 300 * DAY };
  spec.roles = { ...spec.roles, policy: { publicKeys: newPolicy.map((k) => k.publicKey), threshold: 1 } };
  const badRot = buildTrustRoot({ spec, signers: [W.rootKeys[0]] });
  const e = await refusal(r.store.acceptTrust(badRot));
  assert.is(e.code, 'ERR_BUNDLE_SIGNATURE');
  assert.is(r.store.status().lastError!.source, 'trust');
  const rot = buildTrustRoot({ spec, signers: W.rootKeys.slice(0, 2) });
  const alarms: string[] = [];
  r.store.on('alarm', (a) => alarms.push(a.kind));
  assert.is((await r.store.acceptTrust(rot)).version, 2);
  assert.equal(alarms, ['policy-unverifiable'], 'the v1 bundle was signed by keys the new root dropped');
  assert.ok(existsSync(join(dir, TRUST_BLOB)));
  assert.is((await refusal(r.store.accept(policyBundle({ version: 2, keys: K }), { source: 'mqtt' }))).code, 'ERR_BUNDLE_SIGNATURE');
  await r.store.accept(policyBundle({ version: 2, keys: newPolicy, policy: sitePolicy({ tag: 'n' }) }), { source: 'mqtt' });
  r = await rig({ root: W.root, dir });
  assert.is(r.store.status().trustRoot.version, 2, 'the persisted rotation wins over the provisioned v1');
  assert.is(r.store.status().active!.version, 2);
  // The retained rotation delivered again after the restart: the root in force, unchanged.
  const events: string[] = [];
  for (const k of ['refused', 'alarm', 'trust'] as const) r.store.on(k, () => events.push(k));
  const again = await r.store.acceptTrust(rot);
  assert.equal(again, { outcome: 'unchanged', version: 2, expiresAt: T0 + 300 * DAY, hash: sha256Hex(rot) });
  assert.equal(events, [], 'no refusal, no alarm, no new trust event');
  assert.is(r.store.status().lastError, null);
  assert.is(r.store.status().counts.refused, 0);
  // The JSON wrapper of the same root is the same root; the older provisioned v1 is still refused.
  assert.is((await r.store.acceptTrust(new TextEncoder().encode(trustFileJson(readTrustRoot(rot))))).outcome, 'unchanged');
  const old = await refusal(r.store.acceptTrust(W.root.bytes));
  assert.is(old.code, 'ERR_TRUST_ROOT');
  assert.is(old.message, 'new trust root is v1, expected exactly v3');
});

test('reload: the daemon store picks up what an import wrote through another store over the same folder', async () => {
  const dir = fresh();
  const daemon = await rig({ root: W.root, dir });
  await daemon.store.accept(policyBundle({ version: 1, keys: K }), { source: 'mqtt' });
  const importer = await rig({ root: W.root, dir });
  const v2 = policyBundle({ version: 2, keys: K, policy: sitePolicy({ tag: 'usb' }) });
  await importer.store.accept(v2, { source: 'import' });
  const events: string[] = [];
  daemon.store.on('activated', (a) => events.push(a.policyVersion));
  const st = await daemon.store.reload();
  assert.is(st.active!.version, 2);
  assert.is(st.active!.source, 'import', 'what a reload finds on disk was put there by an offline import, not by boot');
  assert.ok(daemon.audit.some((e) => e.message === `policy v2-${sha256Hex(v2).slice(0, 8)} loaded from policy.active (import)`));
  assert.is(daemon.decider.version, `v2-${sha256Hex(v2).slice(0, 8)}`);
  assert.equal(events, [`v2-${sha256Hex(v2).slice(0, 8)}`]);
  await daemon.store.reload();
  assert.equal(events.length, 1, 'a reload that finds the same bundle swaps nothing');
  assert.is((await refusal(daemon.store.accept(policyBundle({ version: 1, keys: K }), { source: 'mqtt' }))).code, 'ERR_BUNDLE_ROLLBACK');
});

test('accepts are serialised: concurrent deliveries end with the highest version active', async () => {
  const r = await rig({ root: W.root });
  const bundles = [1, 2, 3, 4].map((v) => policyBundle({ version: v, keys: K, policy: sitePolicy({ tag: `t${v}` }) }));
  const results = await Promise.allSettled([bundles[0], bundles[2], bundles[1], bundles[3]].map((b) => r.store.accept(b, { source: 'mqtt' })));
  assert.equal(results.map((x) => x.status), ['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
  assert.is(r.store.status().active!.version, 4);
});

test.after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
test.run();
