/** The command payload (policy/bundle/command-payload.ts): strict shape checks, and signers and devices refusing bad ones. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ZonegateError } from '../../policy/errors';
import { parseCommandPayload } from '../../policy/bundle/command-payload';
import { signBundle } from '../../policy/bundle/sign';
import { signCommand } from '../../fleet/command';
import { testKey, T0, DAY } from './fixtures';

const HASH = '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g';

function refused(v: unknown): ZonegateError {
  try { parseCommandPayload(v); } catch (e) { assert.instance(e, ZonegateError); return e as ZonegateError; }
  throw new Error(`accepted ${JSON.stringify(v)}`);
}

test('a quarantine and a users action parse; missing add/remove become empty lists', () => {
  const c = parseCommandPayload({ id: 'isolate-1', actions: [{ quarantine: { add: ['hmi-1', 'plc-2'] } }, { users: [{ name: 'ops', role: 'operator', passwordHash: HASH }] }] });
  assert.equal(c, { id: 'isolate-1', actions: [{ quarantine: { add: ['hmi-1', 'plc-2'], remove: [] } }, { users: [{ name: 'ops', role: 'operator', passwordHash: HASH }] }] });
  const r = parseCommandPayload({ id: 'x', actions: [{ quarantine: { remove: ['hmi-1'] } }] });
  assert.equal(r.actions, [{ quarantine: { add: [], remove: ['hmi-1'] } }]);
});

test('every problem is reported with its path', () => {
  const e = refused({ id: 'bad id!', actions: [{ quarantine: { add: ['ok', 'has space', 'ok'], extra: 1 } }, { reboot: true }, { quarantine: {}, users: [] }], more: 1 });
  assert.is(e.code, 'ERR_BUNDLE_DECODE');
  const issues = (e.issues ?? []).map((i) => `${i.path}: ${i.message}`);
  assert.ok(issues.includes("command: unknown field 'more'"), issues.join('\n'));
  assert.ok(issues.includes('command.id: not a command id (letters, digits, . _ : -, at most 64)'), issues.join('\n'));
  assert.ok(issues.includes("command.actions[0].quarantine: unknown field 'extra'"), issues.join('\n'));
  assert.ok(issues.includes('command.actions[0].quarantine.add[1]: not an asset or identity id'), issues.join('\n'));
  assert.ok(issues.includes("command.actions[0].quarantine.add[2]: 'ok' listed twice"), issues.join('\n'));
  assert.ok(issues.includes("command.actions[1]: unknown action 'reboot'"), issues.join('\n'));
  assert.ok(issues.includes("command.actions[2]: not a map with exactly one of 'quarantine', 'users'"), issues.join('\n'));
  assert.match(e.message, /^command: unknown field 'more' \(and 6 more\)$/);
});

test('empty, contradictory and malformed actions are refused', () => {
  assert.match(refused({ id: 'a', actions: [] }).message, /not a list of 1-16 actions/);
  assert.match(refused({ id: 'a', actions: [{ quarantine: {} }] }).message, /neither add nor remove names an id/);
  assert.match(refused({ id: 'a', actions: [{ quarantine: { add: ['x'], remove: ['x'] } }] }).message, /'x' is both added and removed/);
  assert.match(refused({ id: 'a', actions: [{ users: [{ name: 'u', role: 'admin', passwordHash: '$argon2i$v=19$m=19456,t=2,p=1$x$y' }] }] }).message, /passwordHash: not an argon2id PHC string/);
  assert.match(refused({ id: 'a', actions: [{ users: [{ name: 'u', role: 'admin', passwordHash: HASH, totpSealed: 5 }] }] }).message, /totpSealed: neither bytes nor base64 text/);
  assert.match(refused({ id: 'a', actions: [{ users: [{ name: 'u', role: 'admin', passwordHash: HASH, password: 'x' }] }] }).message, /unknown field 'password'/);
  assert.match(refused({ id: 'a', actions: [{ users: {} }] }).message, /users: not a list of at most 256 users/);
  assert.match(refused([]).message, /^command: not a map$/);
  assert.match(refused({ id: 'a', actions: [{ quarantine: { add: Array.from({ length: 257 }, (_, i) => `id-${i}`) } }] }).message, /not a list of at most 256 ids/);
});

test('a bundle body with a bad command is refused when signing (the parser devices run)', () => {
  const body = { site: 's1', targets: ['gw-01'], version: 1, issuedAt: T0, expiresAt: T0 + DAY, command: { id: 'c', actions: [{ shutdown: {} }] } };
  try {
    signBundle({ type: 'command', body, keys: [testKey('c')] });
    assert.unreachable('signed');
  } catch (e) {
    assert.is((e as ZonegateError).code, 'ERR_BUNDLE_DECODE');
    assert.match((e as Error).message, /unknown action 'shutdown'/);
  }
});

test('signCommand builds the payload from options and refuses a command without actions', () => {
  const bytes = signCommand({ site: 's1', targets: ['*'], version: 3, issuedAt: T0, keys: [testKey('c')], quarantineAdd: ['hmi-1'] });
  assert.ok(bytes.length > 64);
  try {
    signCommand({ site: 's1', targets: ['*'], version: 3, issuedAt: T0, keys: [testKey('c')] });
    assert.unreachable('signed');
  } catch (e) {
    assert.is((e as ZonegateError).code, 'ERR_USAGE');
  }
  try {
    signCommand({ site: 's1', targets: ['*'], version: 3, issuedAt: T0, keys: [testKey('c')], users: [{ name: 'x' }] });
    assert.unreachable('signed');
  } catch (e) {
    assert.is((e as ZonegateError).code, 'ERR_BUNDLE_DECODE');
    assert.match((e as Error).message, /users\[0\]\.role: not a non-empty string/);
  }
});

test.run();
