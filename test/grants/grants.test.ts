// Grants end to end: `zonegate fleet grant` signs, the gateway's GrantStore verifies offline
// (signature of the grant role, type, target, window, version) and persists; revocation by id
// (console) and by a bundle's revoked list; and a real Modbus proxy in front of a Modbus server
// with the session decider: the vendor's conduit opens only after edge login AND inside an active
// grant, and closes again on revocation and logout.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ZonegateError } from '../../policy/errors';
import { signBundle } from '../../policy/bundle/sign';
import type { TrustRoot } from '../../policy/bundle/types';
import { createTrustRoot } from '../../fleet/trust';
import { writeKeyPair } from '../../fleet/keys';
import { signGrant } from '../../fleet/grant';
import { fleetGrantCommand } from '../../cli/fleet/grant';
import { runCli } from '../../cli/framework';
import { FsBlobStore } from '../../runtime/store/fs-blob-store';
import { GrantStore } from '../../runtime/grants/grant-store';
import { createSessionTable } from '../../runtime/auth/sessions';
import { createSessionDecider } from '../../runtime/auth/session-decider';
import { createModbusProxy } from '../../drivers/modbus-tcp';
import { createTcpConduit } from '../../drivers/tcp-conduit';
import { createServer, connect as netConnect, type Socket } from 'node:net';
import { testKey } from '../bundle/fixtures';
import { adu, pdus, RawClient, startNodeModbusServer } from '../helpers/modbus';
import { accessDecider, auditSink, tempDir } from '../auth/helpers';

const HOUR = 3_600_000;
const NOW = Date.UTC(2030, 5, 1, 12);

function world(now: number): { root: TrustRoot; grantKey: ReturnType<typeof testKey>; policyKey: ReturnType<typeof testKey> } {
  const rootKey = testKey('g-root'), policyKey = testKey('g-policy'), grantKey = testKey('g-grant');
  const root = createTrustRoot({
    spec: { version: 1, issuedAt: now - HOUR, expiresAt: now + 400 * 24 * HOUR, roles: {
      root: { publicKeys: [rootKey.publicKey], threshold: 1 }, policy: { publicKeys: [policyKey.publicKey], threshold: 1 }, grant: { publicKeys: [grantKey.publicKey], threshold: 1 },
    } },
    signers: [rootKey],
  });
  return { root, grantKey, policyKey };
}

async function openStore(dir: string, root: TrustRoot, clock: { t: number }, audit = auditSink(), onChange?: () => void): Promise<GrantStore> {
  return GrantStore.open({ blobs: await FsBlobStore.open({ dir }), trustRoot: () => root, device: 'gw-01', site: 's1', now: () => clock.t, audit, onChange });
}

const grant = (o: Partial<{ id: string; identity: string; conduits: string[]; from: number; until: number; sourceIp: string }> = {}) => ({
  id: 'g1', identity: 'acme-support', conduits: ['vendor-maintenance'], from: NOW, until: NOW + 4 * HOUR, ...o,
});

async function refused(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  try { await p; assert.unreachable(`expected ${code}`); } catch (e) {
    assert.instance(e, ZonegateError);
    assert.is((e as ZonegateError).code, code, (e as Error).message);
    assert.match((e as Error).message, message);
  }
}

test('`zonegate fleet grant` signs a grant the gateway accepts; the window, identity and source are enforced', async () => {
  const tmp = tempDir('grant');
  try {
    const now = Date.now();
    const w = world(now);
    const key = await writeKeyPair({ dir: tmp.dir, name: 'grant', key: w.grantKey });
    const out: string[] = [], err: string[] = [];
    const file = join(tmp.dir, 'g.bundle');
    const code = await runCli(['fleet', 'grant', '--key', key.privateFile, '--site', 's1', '--targets', 'gw-01', '--identity', 'acme-support',
      '--conduits', 'vendor-maintenance', '--from', 'now', '--until', '2h', '--source-ip', '127.0.0.9', '--version', '3', '--out', file],
    [fleetGrantCommand], { out: (t) => out.push(t), err: (t) => err.push(t) }, new AbortController().signal);
    assert.is(code, 0, err.join('\n'));
    assert.match(out.join('\n'), /signed grant acme-support-v3 \(v3\): acme-support → vendor-maintenance from .* from 127\.0\.0\.9/);
    const clock = { t: now + 1_000 };
    const store = await openStore(join(tmp.dir, 'state'), w.root, clock);
    const r = await store.accept(new Uint8Array(readFileSync(file)), { source: 'import' });
    assert.is(r.outcome, 'accepted');
    assert.is(r.grant!.id, 'acme-support-v3');
    assert.equal(store.conduitsFor('acme-support', '127.0.0.9', clock.t), ['vendor-maintenance']);
    assert.is(store.conduitsFor('acme-support', '127.0.0.8', clock.t), undefined, 'other source address');
    assert.is(store.conduitsFor('alice', '127.0.0.9', clock.t), undefined, 'other identity');
    assert.is(store.conduitsFor('acme-support', '127.0.0.9', now + 2 * HOUR + 5_000), undefined, 'after until');
    const usage = await runCli(['fleet', 'grant', '--key', key.privateFile, '--site', 's1', '--targets', 'gw-01', '--version', '4', '--out', file],
      [fleetGrantCommand], { out: () => undefined, err: (t) => err.push(t) }, new AbortController().signal);
    assert.is(usage, 2);
    assert.match(err.join('\n'), /give --identity \(a grant\) or --revoke \(a revocation list\)/);
  } finally { tmp.remove(); }
});

test('refusals: wrong signer role, wrong type, other device, rollback, conflict, expired; state unchanged', async () => {
  const tmp = tempDir('grant');
  try {
    const w = world(NOW);
    const clock = { t: NOW };
    const audit = auditSink();
    const store = await openStore(tmp.dir, w.root, clock, audit);
    const sign = (version: number, g = grant(), keys = [w.grantKey], targets = ['gw-01']) => signGrant({ site: 's1', targets, version, issuedAt: NOW - 1000, keys, grant: g });
    await refused(store.accept(sign(1, grant(), [w.policyKey]), { source: 'mqtt' }), 'ERR_BUNDLE_SIGNATURE', /grant/);
    const policyBundle = signBundle({ type: 'policy', body: { site: 's1', targets: ['gw-01'], version: 1, issuedAt: NOW - 1, expiresAt: NOW + HOUR, policy: {} }, keys: [w.policyKey] });
    await refused(store.accept(policyBundle, { source: 'mqtt' }), 'ERR_BUNDLE_TYPE', /expected a 'grant' bundle, got 'policy'/);
    await refused(store.accept(sign(1, grant(), [w.grantKey], ['gw-02']), { source: 'mqtt' }), 'ERR_BUNDLE_TARGET', /not 'gw-01'/);
    const v5 = sign(5);
    assert.is((await store.accept(v5, { source: 'mqtt' })).outcome, 'accepted');
    assert.is((await store.accept(v5, { source: 'mqtt' })).outcome, 'unchanged', 'QoS 1 redelivery');
    await refused(store.accept(sign(4, grant({ id: 'g0' })), { source: 'mqtt' }), 'ERR_BUNDLE_ROLLBACK', /v4 is older than v5/);
    await refused(store.accept(sign(5, grant({ id: 'g9' })), { source: 'mqtt' }), 'ERR_BUNDLE_CONFLICT', /v5 differs/);
    clock.t = NOW + 5 * HOUR;
    await refused(store.accept(sign(6, grant({ id: 'late' })), { source: 'mqtt' }), 'ERR_BUNDLE_EXPIRED', /expired/);
    assert.equal(store.list().map((g) => `${g.id}:${g.state}`), ['g1:ended']);
    assert.is(audit.events.filter((e) => e.kind === 'grant' && e.message === 'grant bundle refused').length, 6);
  } finally { tmp.remove(); }
});

test('revocation by id (console) and by a bundle list; a revoked id never comes back; all survives a reopen', async () => {
  const tmp = tempDir('grant');
  try {
    const w = world(NOW);
    const clock = { t: NOW + 1_000 };
    let changes = 0;
    const store = await openStore(tmp.dir, w.root, clock, auditSink(), () => { changes += 1; });
    const sign = (version: number, g?: ReturnType<typeof grant>, revoked?: string[]) => signGrant({ site: 's1', targets: ['*'], version, issuedAt: NOW - 1, keys: [w.grantKey], grant: g, revoked });
    await store.accept(sign(1, grant({ id: 'a' })), { source: 'mqtt' });
    await store.accept(sign(2, grant({ id: 'b', conduits: ['other'] })), { source: 'mqtt' });
    assert.equal(store.conduitsFor('acme-support', '127.0.0.1', clock.t), ['vendor-maintenance', 'other']);
    assert.ok(await store.revoke('a', { by: 'console:root' }));
    assert.equal(store.conduitsFor('acme-support', '127.0.0.1', clock.t), ['other']);
    const v3 = sign(3, undefined, ['b', 'never-issued']);
    const r = await store.accept(v3, { source: 'mqtt' });
    assert.equal([r.outcome, r.revoked], ['revocations', ['b', 'never-issued']]);
    assert.is(store.conduitsFor('acme-support', '127.0.0.1', clock.t), undefined);
    await refused(store.accept(sign(4, grant({ id: 'never-issued' })), { source: 'mqtt' }), 'ERR_BUNDLE_CONFLICT', /grant never-issued was revoked/);
    assert.is(changes, 4);
    const reopened = await openStore(tmp.dir, w.root, clock);
    assert.ok(reopened.isRevoked('a') && reopened.isRevoked('b') && reopened.isRevoked('never-issued'));
    assert.equal(reopened.list(), []);
    assert.is((await reopened.accept(v3, { source: 'mqtt' })).outcome, 'unchanged', 'the high-water mark survived: the same bytes are a no-op');
    await refused(reopened.accept(sign(2, grant({ id: 'c' })), { source: 'mqtt' }), 'ERR_BUNDLE_ROLLBACK', /v2 is older than v3/);
  } finally { tmp.remove(); }
});

test('a real Modbus proxy: the vendor conduit opens only after edge login inside an active grant; revoke and logout close it', async () => {
  const tmp = tempDir('grant');
  const server = await startNodeModbusServer();
  const w = world(NOW);
  const clock = { t: NOW + 1_000 };
  const audit = auditSink();
  let store: GrantStore | undefined;
  const sessions = createSessionTable({ now: () => clock.t, audit, grants: (id, ip, t) => store?.conduitsFor(id, ip, t) });
  store = await openStore(tmp.dir, w.root, clock, audit, () => sessions.grantsChanged());
  const inner = accessDecider();
  const decider = createSessionDecider({ inner, facts: (ip) => sessions.facts(ip), generation: () => sessions.generation });
  const proxy = createModbusProxy({
    listen: { host: '127.0.0.1', port: 0 }, upstream: { host: '127.0.0.1', port: server.port }, asset: 'plc-1', servicePort: 502,
    decider, audit, now: () => clock.t, session: (ip) => sessions.facts(ip), timers: { setInterval: () => 0, clearInterval: () => undefined },
  });
  await proxy.start(new AbortController().signal);
  const port = proxy.address().port;
  const clients: RawClient[] = [];
  try {
    const refusedConnect = await RawClient.open(port);
    clients.push(refusedConnect);
    assert.ok(await refusedConnect.waitClosed(), 'no session: the connection is refused');
    const lastDecision = () => audit.events.filter((e) => e.kind === 'decision').pop()!.decision!;
    assert.equal([lastDecision().decision, lastDecision().reason], ['deny', 'no-conduit'], 'an anonymous laptop is nobody');

    const s = sessions.open({ sourceIp: '127.0.0.1', user: 'acme-support', role: 'operator', via: 'web' });
    const noGrant = await RawClient.open(port);
    clients.push(noGrant);
    assert.ok(await noGrant.waitClosed(), 'logged in but no grant: refused');
    assert.equal([lastDecision().decision, lastDecision().reason], ['deny', 'grant-required']);

    await store.accept(signGrant({ site: 's1', targets: ['gw-01'], version: 1, issuedAt: NOW - 1, keys: [w.grantKey], grant: grant() }), { source: 'mqtt' });
    const c = await RawClient.open(port);
    clients.push(c);
    const ok = await c.request(adu(1, 1, pdus.read(3, 10, 2)));
    assert.equal(ok?.registers, [1010, 1011], 'logged in + grant: reads pass');
    assert.is(lastDecision().conduit, 'vendor-maintenance');

    await store.revoke('g1', { by: 'console:admin' });
    const afterRevoke = await c.request(adu(2, 1, pdus.read(3, 10, 2)));
    assert.is(afterRevoke?.exception, 0x01, 'revoked: the same connection is refused on its next request');
    assert.equal([lastDecision().decision, lastDecision().reason], ['deny', 'grant-required']);

    await store.accept(signGrant({ site: 's1', targets: ['gw-01'], version: 2, issuedAt: NOW - 1, keys: [w.grantKey], grant: grant({ id: 'g2' }) }), { source: 'mqtt' });
    assert.equal((await c.request(adu(3, 1, pdus.read(3, 10, 1))))?.registers, [1010], 'a new grant reopens it');
    sessions.end(s.id, 'logout');
    assert.ok((await c.request(adu(4, 1, pdus.read(3, 10, 1))))?.exception !== undefined, 'logout: refused');
    assert.equal([lastDecision().decision, lastDecision().reason, lastDecision().identity], ['deny', 'no-conduit', null], 'logged out: the laptop is nobody again');
  } finally {
    for (const c of clients) c.close();
    await proxy.stop();
    await server.stop();
    tmp.remove();
  }
});

test('a pending grant opens on the sweep, and a TCP conduit closes the connection when its grant is revoked', async () => {
  const tmp = tempDir('grant');
  const w = world(NOW);
  const clock = { t: NOW - HOUR };
  const audit = auditSink();
  let store: GrantStore | undefined;
  let changes = 0;
  const sessions = createSessionTable({ now: () => clock.t, audit, grants: (id, ip, t) => store?.conduitsFor(id, ip, t), onChange: () => { changes += 1; } });
  store = await openStore(tmp.dir, w.root, clock, audit, () => sessions.grantsChanged());
  const decider = createSessionDecider({ inner: accessDecider(), facts: (ip) => sessions.facts(ip), generation: () => sessions.generation });
  const echo = createServer((s) => s.pipe(s));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
  const conduit = createTcpConduit({
    listen: { host: '127.0.0.1', port: 0 }, upstream: { host: '127.0.0.1', port: (echo.address() as { port: number }).port }, asset: 'plc-1', port: 443,
    decider, audit, now: () => clock.t, recheckIntervalMs: 0,
  });
  await conduit.start(new AbortController().signal);
  const sockets: Socket[] = [];
  try {
    sessions.open({ sourceIp: '127.0.0.1', user: 'acme-support', role: 'viewer', via: 'web', ttlMs: 10 * HOUR });
    await store.accept(signGrant({ site: 's1', targets: ['gw-01'], version: 1, issuedAt: NOW - 2 * HOUR, keys: [w.grantKey], grant: grant({ id: 'web-1', conduits: ['vendor-web'] }) }), { source: 'mqtt' });
    assert.equal(store.list().map((g) => g.state), ['pending']);
    const before = changes;
    await store.sweep();
    assert.is(changes, before, 'nothing moved yet: no change reported');
    clock.t = NOW + 1;
    await store.sweep();
    assert.is(changes, before + 1, 'the window opened: sessions told');
    const s = netConnect(conduit.address().port, '127.0.0.1');
    sockets.push(s);
    let echoed = '';
    s.on('data', (d) => { echoed += d; });
    s.write('ping');
    for (let i = 0; i < 100 && echoed !== 'ping'; i++) await new Promise((r) => setTimeout(r, 20));
    assert.is(echoed, 'ping', 'logged in + active grant: the TCP conduit splices');
    const closed = new Promise<void>((r) => s.on('close', () => r()));
    await store.revoke('web-1', { by: 'console:admin' });
    assert.is(conduit.recheck(), 1, 'the gateway re-checks TCP conduits on a session change: the connection closes');
    await closed;
  } finally {
    for (const s of sockets) s.destroy();
    await conduit.stop();
    await new Promise<void>((r) => echo.close(() => r()));
    tmp.remove();
  }
});

test.run();
