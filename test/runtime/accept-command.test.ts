/**
 * The command acceptor (runtime/commands/accept-command.ts) over a real local quarantine and a
 * memory blob store: threshold of the command role, target, expiry, the persisted high-water mark
 * (idempotent replay, conflict, rollback, survives a reopen), users handed to acceptUsers.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ZonegateError } from '../../policy/errors';
import { signBundle } from '../../policy/bundle/sign';
import type { BundleBody, SigningKey } from '../../policy/bundle/types';
import type { AuditEvent } from '../../drivers/types';
import { createTrustRoot } from '../../fleet/trust';
import { MemoryBlobStore } from '../../runtime/store/memory-blob-store';
import { openLocalQuarantine } from '../../runtime/console/local-quarantine';
import { openCommandAcceptor, COMMAND_HWM_BLOB } from '../../runtime/commands/accept-command';
import { testKey, T0, DAY } from '../bundle/fixtures';

const rootKeys = [testKey('cmd-root-1')];
const commandKeys = [testKey('cmd-command-1'), testKey('cmd-command-2')];
const root = createTrustRoot({
  spec: {
    version: 1, issuedAt: T0 - DAY, expiresAt: T0 + 365 * DAY,
    roles: {
      root: { publicKeys: rootKeys.map((k) => k.publicKey), threshold: 1 },
      policy: { publicKeys: [testKey('cmd-policy-1').publicKey], threshold: 1 },
      command: { publicKeys: commandKeys.map((k) => k.publicKey), threshold: 2 },
    },
  },
  signers: rootKeys,
});

function cmd(o: { version: number; command: Record<string, unknown>; keys?: SigningKey[]; targets?: string[]; site?: string; expiresAt?: number }): Uint8Array {
  const body: BundleBody = { site: o.site ?? 's1', targets: o.targets ?? ['gw-01'], version: o.version, issuedAt: T0, expiresAt: o.expiresAt ?? T0 + DAY, command: o.command };
  return signBundle({ type: 'command', body, keys: o.keys ?? commandKeys });
}

async function rig(blobs = new MemoryBlobStore()) {
  const events: AuditEvent[] = [];
  const audit = { record: (e: AuditEvent) => { events.push(e); } };
  let changes = 0;
  const quarantine = await openLocalQuarantine({ blobs, audit, now: () => T0, onChange: () => { changes += 1; } });
  const userLists: unknown[] = [];
  const acceptor = await openCommandAcceptor({
    blobs, trustRoot: () => root, device: 'gw-01', site: 's1', now: () => T0 + 1000, quarantine,
    acceptUsers: async (list) => { userLists.push(list); return (list as unknown[]).length; },
  });
  return { blobs, events, quarantine, acceptor, userLists, changes: () => changes };
}

async function code(p: Promise<unknown>): Promise<string> {
  try { await p; } catch (e) { assert.instance(e, ZonegateError); return `${(e as ZonegateError).code}: ${(e as Error).message}`; }
  return 'accepted';
}

test('quarantine add then remove: applied through the local quarantine, audited, onChange told', async () => {
  const r = await rig();
  const a = await r.acceptor.accept(cmd({ version: 1, command: { id: 'iso', actions: [{ quarantine: { add: ['hmi-1', 'plc-9'] } }] } }));
  assert.equal(a, { outcome: 'applied', id: 'iso', version: 1, quarantined: ['hmi-1', 'plc-9'], released: [], users: null });
  assert.ok(r.quarantine.has('hmi-1'));
  assert.is(r.quarantine.list()[0].by, 'fleet command iso v1');
  assert.equal(r.events.map((e) => [e.kind, e.message]), [['quarantine', 'quarantined hmi-1 locally'], ['quarantine', 'quarantined plc-9 locally']]);
  assert.is(r.changes(), 2);
  const b = await r.acceptor.accept(cmd({ version: 2, command: { id: 'lift', actions: [{ quarantine: { remove: ['hmi-1', 'never-there'] } }] } }));
  assert.equal([b.released, r.quarantine.has('hmi-1'), r.quarantine.has('plc-9')], [['hmi-1'], false, true]);
  assert.equal(r.acceptor.highWater()?.version, 2);
});

test('same bytes again: unchanged no-op; same version other bytes: conflict; older: rollback', async () => {
  const r = await rig();
  const v1 = cmd({ version: 5, command: { id: 'a', actions: [{ quarantine: { add: ['hmi-1'] } }] } });
  await r.acceptor.accept(v1);
  const again = await r.acceptor.accept(v1);
  assert.is(again.outcome, 'unchanged');
  assert.is(r.events.length, 1, 'nothing re-applied');
  assert.match(await code(r.acceptor.accept(cmd({ version: 5, command: { id: 'b', actions: [{ quarantine: { add: ['x'] } }] } }))), /^ERR_BUNDLE_CONFLICT: command bundle v5 differs/);
  assert.match(await code(r.acceptor.accept(cmd({ version: 4, command: { id: 'c', actions: [{ quarantine: { remove: ['hmi-1'] } }] } }))), /^ERR_BUNDLE_ROLLBACK: command bundle v4 is older than v5 already applied$/);
  assert.ok(r.quarantine.has('hmi-1'), 'the rollback did not lift the quarantine');
});

test('the high-water mark survives a reopen (persisted in the state folder)', async () => {
  const first = await rig();
  await first.acceptor.accept(cmd({ version: 7, command: { id: 'a', actions: [{ quarantine: { add: ['hmi-1'] } }] } }));
  assert.ok(await first.blobs.read(COMMAND_HWM_BLOB));
  const second = await rig(first.blobs);
  assert.equal(second.acceptor.highWater()?.version, 7);
  assert.match(await code(second.acceptor.accept(cmd({ version: 6, command: { id: 'b', actions: [{ quarantine: { remove: ['hmi-1'] } }] } }))), /^ERR_BUNDLE_ROLLBACK/);
  assert.ok(second.quarantine.has('hmi-1'));
  await first.blobs.write(COMMAND_HWM_BLOB, Buffer.from('{nope'));
  assert.match(await code(rig(first.blobs)), /^ERR_STORAGE: command\.hwm\.json in the state folder is corrupt/);
});

test('under threshold, wrong key, other device or site, expired: refused and nothing applied', async () => {
  const r = await rig();
  const c = { id: 'a', actions: [{ quarantine: { add: ['hmi-1'] } }] };
  assert.match(await code(r.acceptor.accept(cmd({ version: 1, command: c, keys: [commandKeys[0]] }))), /^ERR_BUNDLE_SIGNATURE/);
  assert.match(await code(r.acceptor.accept(cmd({ version: 1, command: c, keys: [testKey('rogue-1'), testKey('rogue-2')] }))), /^ERR_BUNDLE_SIGNATURE/);
  assert.match(await code(r.acceptor.accept(cmd({ version: 1, command: c, targets: ['gw-02'] }))), /^ERR_BUNDLE_TARGET/);
  assert.match(await code(r.acceptor.accept(cmd({ version: 1, command: c, site: 's2' }))), /^ERR_BUNDLE_TARGET/);
  assert.match(await code(r.acceptor.accept(cmd({ version: 1, command: c, expiresAt: T0 + 500 }))), /^ERR_BUNDLE_EXPIRED/);
  const policyAsCommand = signBundle({ type: 'policy', body: { site: 's1', targets: ['gw-01'], version: 1, issuedAt: T0, expiresAt: T0 + DAY, policy: {} }, keys: commandKeys });
  assert.match(await code(r.acceptor.accept(policyAsCommand)), /^ERR_BUNDLE_(SIGNATURE|TYPE)/);
  assert.is(r.quarantine.list().length, 0);
  assert.is(r.acceptor.highWater(), null);
  const ok = await r.acceptor.accept(cmd({ version: 1, command: c, targets: ['*'] }));
  assert.is(ok.outcome, 'applied');
});

test('a users action hands the list to acceptUsers; its refusal keeps the mark so the command can be re-sent', async () => {
  const r = await rig();
  const users = [{ name: 'ops', role: 'operator', passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA' }];
  const a = await r.acceptor.accept(cmd({ version: 1, command: { id: 'u', actions: [{ users }] } }));
  assert.is(a.users, 1);
  assert.equal(r.userLists, [users]);
  const failing = await openCommandAcceptor({
    blobs: new MemoryBlobStore(), trustRoot: () => root, device: 'gw-01', site: 's1', now: () => T0, quarantine: r.quarantine,
    acceptUsers: async () => { throw new ZonegateError('ERR_BUNDLE_DECODE', 'users[0]: bad'); },
  });
  assert.match(await code(failing.accept(cmd({ version: 1, command: { id: 'u', actions: [{ users }] } }))), /^ERR_BUNDLE_DECODE: users\[0\]: bad$/);
  assert.is(failing.highWater(), null);
});

test.run();
