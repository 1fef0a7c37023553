// Local users, argon2id, TOTP (RFC 6238 vectors), throttling and lockout persisted across a
// reopen, the hashing semaphore, users from a signed bundle with a sealed TOTP seed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ZonegateError } from '../../policy/errors';
import { boxKeyPair, sealToDevice } from '../../policy/bundle/seal';
import { FsBlobStore } from '../../runtime/store/fs-blob-store';
import { UserStore } from '../../runtime/auth/user-store';
import { createAuthenticator } from '../../runtime/auth/authenticator';
import { createSemaphore } from '../../protocol/web/semaphore';
import { ARGON2_PARAMS, hashPassword, isAcceptableHash } from '../../protocol/web/password';
import { base32Decode, base32Encode, hotp, totpAt, verifyTotp } from '../../protocol/web/totp';
import { acceptBundleUsers } from '../../runtime/auth/bundle-users';
import { auditSink, tempDir, usersIn } from './helpers';

const web = { kind: 'web' as const, from: '127.0.0.1' };

test('argon2id PHC strings carry at least m=19456, t=2, p=1', async () => {
  const phc = await hashPassword('correct horse battery', { limiter: createSemaphore({ limit: 1 }) });
  assert.match(phc, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  assert.ok(isAcceptableHash(phc));
  assert.not.ok(isAcceptableHash(phc.replace('m=19456', 'm=4096')), 'weaker memory cost refused');
  assert.not.ok(isAcceptableHash(phc.replace('argon2id', 'argon2i')), 'argon2i refused');
  assert.equal(ARGON2_PARAMS.memoryCost, 19456);
});

test('HOTP RFC 4226 appendix D and TOTP RFC 6238 appendix B (SHA-1, 6 digits)', () => {
  const key = new TextEncoder().encode('12345678901234567890');
  assert.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((c) => hotp(key, c)), ['755224', '287082', '359152', '969429', '338314', '254676', '287922', '162583', '399871', '520489']);
  const secret = base32Encode(key);
  assert.equal(secret, 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ');
  assert.equal(base32Decode(secret), key);
  // RFC 6238 lists 8-digit values; the last 6 digits are the 6-digit code.
  assert.equal(totpAt(secret, 59_000), '287082');
  assert.equal(totpAt(secret, 1111111109_000), '081804');
  assert.equal(totpAt(secret, 1234567890_000), '005924');
  assert.equal(totpAt(secret, 2000000000_000), '279037');
  const at = 1234567890_000;
  assert.equal(verifyTotp(secret, totpAt(secret, at - 30_000), at), Math.floor(at / 30_000) - 1, 'one step back accepted');
  assert.equal(verifyTotp(secret, totpAt(secret, at + 30_000), at), Math.floor(at / 30_000) + 1, 'one step ahead accepted');
  assert.is(verifyTotp(secret, totpAt(secret, at - 60_000), at), null, 'two steps back refused');
  assert.is(verifyTotp(secret, '12345', at), null);
  assert.is(base32Decode('not base32!'), null);
});

test('failures throttle with doubling delays, lock at lockAfter, and survive a reopen', async () => {
  const tmp = tempDir('auth');
  try {
    const users = await usersIn(tmp.dir, [{ name: 'alice', role: 'operator' }]);
    const audit = auditSink();
    const clock = { t: 1_000_000 };
    const auth = createAuthenticator({ users, limiter: createSemaphore({ limit: 2 }), audit, now: () => clock.t, throttle: { baseDelayMs: 1_000, maxDelayMs: 4_000, lockAfter: 4 } });
    assert.equal(await auth.login({ name: 'alice', password: 'wrong', channel: web }), { ok: false, reason: 'invalid', retryAfterMs: 1_000 });
    assert.equal(users.throttleOf('alice').nextAttemptAt, clock.t + 1_000);
    const early = await auth.login({ name: 'alice', password: 'alice-password-1', channel: web });
    assert.equal(early, { ok: false, reason: 'throttled', retryAfterMs: 1_000 }, 'even the right password waits out the delay');
    clock.t += 1_000;
    await auth.login({ name: 'alice', password: 'wrong', channel: web });
    assert.equal(users.throttleOf('alice').nextAttemptAt - clock.t, 2_000, 'second delay doubles');
    clock.t += 2_000;
    await auth.login({ name: 'alice', password: 'wrong', channel: web });
    assert.equal(users.throttleOf('alice').nextAttemptAt - clock.t, 4_000);
    clock.t += 4_000;
    const fourth = await auth.login({ name: 'alice', password: 'wrong', channel: web });
    assert.equal(fourth, { ok: false, reason: 'locked' });
    assert.equal(users.throttleOf('alice').nextAttemptAt - clock.t, 4_000, 'capped at maxDelayMs');

    // A restart keeps the lockout.
    const reopened = await UserStore.open({ blobs: await FsBlobStore.open({ dir: tmp.dir }) });
    assert.is(reopened.throttleOf('alice').failures, 4);
    const auth2 = createAuthenticator({ users: reopened, limiter: createSemaphore({ limit: 2 }), audit, now: () => clock.t + 60_000, throttle: { lockAfter: 4 } });
    assert.equal(await auth2.login({ name: 'alice', password: 'alice-password-1', channel: web }), { ok: false, reason: 'locked' });
    assert.ok(await reopened.unlock('alice'));
    assert.equal(await auth2.login({ name: 'alice', password: 'alice-password-1', channel: web }), { ok: true, user: { name: 'alice', role: 'operator' } });

    const kinds = audit.events.map((e) => `${e.kind}:${e.message}:${(e.detail as { reason?: string }).reason ?? ''}`);
    assert.ok(kinds.includes('auth:login refused:throttled'));
    assert.ok(kinds.includes('auth:account locked:invalid'));
    assert.ok(kinds.includes('auth:login refused:locked'));
    assert.ok(kinds.includes('auth:login:'));
    assert.ok(audit.events.every((e) => e.kind === 'auth' && e.source === 'web' && e.src === '127.0.0.1'));
  } finally { tmp.remove(); }
});

test('unknown users and malformed input fail like a wrong password; parallel guesses at one name are not hashed', async () => {
  const tmp = tempDir('auth');
  try {
    const users = await usersIn(tmp.dir, [{ name: 'bob', role: 'viewer' }]);
    const audit = auditSink();
    const limiter = createSemaphore({ limit: 2 });
    const auth = createAuthenticator({ users, limiter, audit, now: () => 5_000, throttle: { baseDelayMs: 0 } });
    assert.equal(await auth.login({ name: 'mallory', password: 'x', channel: web }), { ok: false, reason: 'invalid', retryAfterMs: 0 }, 'the same answer as a wrong password');
    assert.equal(await auth.login({ name: '__proto__', password: 'x', channel: web }), { ok: false, reason: 'invalid' });
    assert.equal(await auth.login({ name: 'bob', password: 'x'.repeat(300), channel: web }), { ok: false, reason: 'invalid' });
    assert.is(users.throttleOf('__proto__').failures, 0, 'malformed names are not tracked');
    const many = await Promise.all(Array.from({ length: 10 }, () => auth.login({ name: 'bob', password: 'guess', channel: web })));
    assert.is(many.filter((r) => !r.ok && r.reason === 'throttled').length, 9, 'nine of ten parallel guesses refused without hashing');
    assert.is(limiter.stats().active, 0);
  } finally { tmp.remove(); }
});

test('the login page slows down an address that sprays names, one attempt at a time, and locks nobody', async () => {
  const tmp = tempDir('auth');
  try {
    const users = await usersIn(tmp.dir, [{ name: 'bob', role: 'viewer' }]);
    const audit = auditSink();
    const inner = createSemaphore({ limit: 2 });
    let hashed = 0;
    const limiter = { acquire: () => { hashed += 1; return inner.acquire(); }, stats: () => inner.stats() };
    const clock = { t: 1_000_000 };
    const auth = createAuthenticator({ users, limiter, audit, now: () => clock.t, throttle: { baseDelayMs: 1_000, maxDelayMs: 8_000, addressFreeFailures: 3, addressForgetMs: 600_000 } });
    const sprayer = { kind: 'web' as const, from: '192.0.2.7' };
    // Three free failures, then the fourth (another fresh name, so no per-name delay) sets a delay.
    for (let i = 0; i < 4; i++) assert.equal(await auth.login({ name: `u${i}`, password: 'guess', channel: sprayer }), { ok: false, reason: 'invalid', retryAfterMs: 1_000 });
    const afterFour = hashed; // four verifies and the decoy hash that unknown names are checked against
    assert.is(afterFour, 5);
    assert.equal(await auth.login({ name: 'u4', password: 'guess', channel: sprayer }), { ok: false, reason: 'throttled', retryAfterMs: 1_000 });
    assert.is(hashed, afterFour, 'refused before hashing');
    assert.ok(audit.events.some((e) => e.kind === 'auth' && (e.detail as { why?: string }).why === 'too many failed logins from this address'));
    // Other addresses and the console are not slowed down by it.
    assert.equal(await auth.login({ name: 'bob', password: 'bob-password-1', channel: { kind: 'web', from: '192.0.2.8' } }), { ok: true, user: { name: 'bob', role: 'viewer' } });
    assert.equal(await auth.login({ name: 'bob', password: 'bob-password-1', channel: { kind: 'console', from: '/dev/ttyS0' } }), { ok: true, user: { name: 'bob', role: 'viewer' } });
    // The delay doubles with each further failure from that address.
    clock.t += 1_000;
    assert.equal(await auth.login({ name: 'u5', password: 'guess', channel: sprayer }), { ok: false, reason: 'invalid', retryAfterMs: 1_000 });
    assert.equal(await auth.login({ name: 'u6', password: 'guess', channel: sprayer }), { ok: false, reason: 'throttled', retryAfterMs: 2_000 });
    // Never a lockout: the right password from that address works once its delay is over.
    clock.t += 2_000;
    assert.equal(await auth.login({ name: 'bob', password: 'bob-password-1', channel: sprayer }), { ok: true, user: { name: 'bob', role: 'viewer' } });
    // Parallel attempts from one address: one is hashed, the others are refused at once.
    clock.t += 600_001; // quiet for longer than addressForgetMs: the address starts over
    const before = hashed;
    const burst = await Promise.all(Array.from({ length: 5 }, (_, i) => auth.login({ name: `p${i}`, password: 'guess', channel: sprayer })));
    assert.equal(burst.map((r) => (r.ok ? 'ok' : r.reason)), ['invalid', 'throttled', 'throttled', 'throttled', 'throttled']);
    assert.is(hashed - before, 1);
    assert.is(users.throttleOf('bob').lockedAt, null);
  } finally { tmp.remove(); }
});

test('TOTP users need the code; a code is not accepted twice', async () => {
  const tmp = tempDir('auth');
  try {
    const secret = base32Encode(new TextEncoder().encode('12345678901234567890'));
    const users = await usersIn(tmp.dir, [{ name: 'carol', role: 'admin', totpSecret: secret }]);
    const clock = { t: 1234567890_000 };
    const auth = createAuthenticator({ users, limiter: createSemaphore({ limit: 2 }), audit: auditSink(), now: () => clock.t, throttle: { baseDelayMs: 0 } });
    assert.equal(await auth.login({ name: 'carol', password: 'carol-password-1', channel: web }), { ok: false, reason: 'totp-required' });
    assert.equal(await auth.login({ name: 'carol', password: 'carol-password-1', totp: '000000', channel: web }), { ok: false, reason: 'invalid', retryAfterMs: 0 });
    const ok = await auth.login({ name: 'carol', password: 'carol-password-1', totp: totpAt(secret, clock.t), channel: web });
    assert.equal(ok, { ok: true, user: { name: 'carol', role: 'admin' } });
    const replay = await auth.login({ name: 'carol', password: 'carol-password-1', totp: totpAt(secret, clock.t), channel: web });
    assert.equal(replay, { ok: false, reason: 'invalid', retryAfterMs: 0 }, 'replayed code refused');
  } finally { tmp.remove(); }
});

test('the semaphore caps concurrent hashing and refuses beyond its queue', async () => {
  const sem = createSemaphore({ limit: 2, maxQueued: 1 });
  const r1 = await sem.acquire();
  const r2 = await sem.acquire();
  let third = false;
  const p3 = sem.acquire().then((r) => { third = true; return r; });
  assert.equal(sem.stats(), { active: 2, queued: 1, rejected: 0 });
  try { await sem.acquire(); assert.unreachable('should refuse'); } catch (e) {
    assert.instance(e, ZonegateError);
    assert.is((e as ZonegateError).code, 'ERR_AUTH');
    assert.match((e as Error).message, /too many logins in progress/);
  }
  r1();
  (await p3)();
  assert.ok(third);
  r2();
  r1(); // releasing twice is harmless
  assert.equal(sem.stats(), { active: 0, queued: 0, rejected: 1 });
});

test('users from a signed bundle: PHC checked, TOTP seed sealed to this device, all-or-nothing', async () => {
  const box = boxKeyPair();
  const phc = await hashPassword('vendor password 1', { limiter: createSemaphore({ limit: 1 }) });
  const seed = new TextEncoder().encode('12345678901234567890');
  const recs = acceptBundleUsers({ list: [{ name: 'acme-support', role: 'operator', passwordHash: phc, totpSealed: sealToDevice(seed, box.publicKey) }], boxSecretKey: box.secretKey, now: 7 });
  assert.equal(recs.map((r) => [r.name, r.role, r.origin, r.totpSecret]), [['acme-support', 'operator', 'bundle', base32Encode(seed)]]);
  const other = boxKeyPair();
  try {
    acceptBundleUsers({ list: [
      { name: 'ok-user', role: 'viewer', passwordHash: phc },
      { name: 'x', role: 'root', passwordHash: '$2b$10$bcrypt', totpSealed: sealToDevice(seed, other.publicKey) },
    ], boxSecretKey: box.secretKey, now: 7 });
    assert.unreachable('should refuse');
  } catch (e) {
    assert.is((e as ZonegateError).code, 'ERR_BUNDLE_DECODE');
    const msgs = (e as ZonegateError).issues.map((i) => `${i.path}: ${i.message}`);
    assert.ok(msgs.includes('users[1]: role is not one of viewer, operator, admin'), msgs.join('\n'));
    assert.ok(msgs.includes('users[1]: passwordHash is not an argon2id PHC string with at least m=19456,t=2'));
    assert.ok(msgs.includes('users[1]: sealed box does not open with this device key'));
  }
  const tmp = tempDir('auth');
  try {
    const users = await usersIn(tmp.dir, [{ name: 'alice', role: 'viewer' }]);
    await users.replaceBundleUsers(recs);
    const again = await UserStore.open({ blobs: await FsBlobStore.open({ dir: tmp.dir }) });
    assert.equal(again.list().map((u) => `${u.name}:${u.origin}`), ['acme-support:bundle', 'alice:local']);
  } finally { tmp.remove(); }
});

test.run();
