// The console through a REAL pseudo-terminal pair made by socat: the console opens one end as a
// serial device (stty raw -echo), the test talks on the other end like a technician's terminal
// program. Login (password not echoed, wrong password, lockout), roles, help on every command,
// history and !N, garbage bytes (non-UTF-8, control characters, escape sequences, overlong lines,
// backspace, CR/LF/CRLF), status, denials, audit tail/export, bundle import through a real
// PolicyStore, grant import/list/revoke, quarantine, break-glass, Ctrl-D and idle timeout.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { IndexDecider } from '../../policy/decider';
import type { TrustRoot } from '../../policy/bundle/types';
import { createTrustRoot } from '../../fleet/trust';
import { signGrant } from '../../fleet/grant';
import { signPolicy } from '../../fleet/sign';
import { createMemoryAudit } from '../../runtime/memory-audit';
import { FsBlobStore } from '../../runtime/store/fs-blob-store';
import { TrustStore } from '../../runtime/store/trust-store';
import { PolicyStore } from '../../runtime/store/policy-store';
import { createAuthenticator } from '../../runtime/auth/authenticator';
import { createSemaphore } from '../../protocol/web/semaphore';
import { createSessionTable } from '../../runtime/auth/sessions';
import { GrantStore } from '../../runtime/grants/grant-store';
import { openLocalQuarantine } from '../../runtime/console/local-quarantine';
import { createBreakGlass } from '../../runtime/console/break-glass';
import { runConsole, type ConsoleHandle } from '../../runtime/console/shell';
import { openSerial, type SerialPort } from '../../runtime/console/serial';
import type { ConsoleDeps } from '../../runtime/console/deps';
import { testKey } from '../bundle/fixtures';
import { accessPolicy, tempDir, usersIn } from '../auth/helpers';
import { socatMissing, startPtyPair, Terminal, type PtyPair } from './pty';

const missing = socatMissing();
const HOUR = 3_600_000;

interface Rig {
  term: Terminal; pty: PtyPair; serial: SerialPort; console: ConsoleHandle; dir: string; remove(): void;
  audit: ReturnType<typeof createMemoryAudit>; sessions: ReturnType<typeof createSessionTable>; decider: IndexDecider;
  grantBytes: Uint8Array; policyBytes: Uint8Array; root: TrustRoot;
}
let rig: Rig | undefined;

test.before(async () => {
  if (missing) return;
  const tmp = tempDir('console');
  const now = Date.now();
  const rootKey = testKey('c-root'), policyKey = testKey('c-policy'), grantKey = testKey('c-grant');
  const root = createTrustRoot({ spec: { version: 1, issuedAt: now - HOUR, expiresAt: now + 30 * 24 * HOUR, roles: {
    root: { publicKeys: [rootKey.publicKey], threshold: 1 }, policy: { publicKeys: [policyKey.publicKey], threshold: 1 }, grant: { publicKeys: [grantKey.publicKey], threshold: 1 } } }, signers: [rootKey] });
  const audit = createMemoryAudit({ capacity: 1000 });
  audit.record({ kind: 'decision', at: now - 5_000, source: 'modbus-tcp', src: '10.9.9.9', srcPort: 4000, asset: 'plc-1', port: 502,
    decision: { decision: 'deny', conduit: null, reason: 'function-not-allowed', identity: 'hmi-1' }, modbus: { function: 6, unit: 1, address: 10, count: 1 }, message: 'evil\x1b[2Jterminal' });
  const users = await usersIn(join(tmp.dir, 'state'), [{ name: 'root', role: 'admin' }, { name: 'vic', role: 'viewer' }, { name: 'otto', role: 'operator' }]);
  const auth = createAuthenticator({ users, limiter: createSemaphore({ limit: 2 }), audit, now: Date.now, throttle: { baseDelayMs: 20, maxDelayMs: 100, lockAfter: 3 } });
  const blobs = await FsBlobStore.open({ dir: join(tmp.dir, 'state') });
  const sessions = createSessionTable({ now: Date.now, audit });
  const grants = await GrantStore.open({ blobs, trustRoot: () => root, device: 'gw-01', site: 's1', now: Date.now, audit, onChange: () => sessions.grantsChanged() });
  const quarantine = await openLocalQuarantine({ blobs, audit, now: Date.now });
  const decider = new IndexDecider(null);
  decider.setExpired(true);
  const breakGlass = createBreakGlass({ now: Date.now, audit, sessions, expiry: { isExpired: () => decider.isExpired, setExpired: (b) => decider.setExpired(b) }, policyDenyAll: () => true });
  const trust = await TrustStore.open({ blobs, provisioned: root.bytes });
  const store = new PolicyStore({ blobs, trust, device: 'gw-01', site: 's1', now: Date.now, audit, activate: (i) => decider.setIndex(i) });
  await store.boot();
  const deps: ConsoleDeps = {
    device: 'gw-01', now: Date.now, audit, auth, users, grants, quarantine, breakGlass,
    recentAudit: (n) => audit.recent(n),
    status: () => ({ device: 'gw-01', site: 's1', state: 'running', policy: { version: store.status().active?.policyVersion ?? null, expiresAt: store.status().active?.expiresAt ?? null, state: store.status().state },
      listeners: [{ listen: '127.0.0.1:1502', asset: 'plc-1', service: 'modbus', state: 'up' }], alarms: [{ severity: 'warning', message: 'test alarm' }], fleet: { state: 'offline', detail: 'no broker in this test' } }),
    importBundle: async (bytes) => { const r = await store.accept(bytes, { source: 'import' }); return `policy ${r.active.policyVersion} ${r.outcome}`; },
  };
  const pty = await startPtyPair(tmp.dir);
  const serial = await openSerial({ path: pty.device });
  const con = runConsole({ input: serial.input, output: serial.output, deps, where: pty.device, idleMs: 3_000, loginIdleMs: 60_000, persistent: true });
  const term = await Terminal.open(pty.terminal);
  const grantBytes = signGrant({ site: 's1', targets: ['gw-01'], version: 1, issuedAt: now, keys: [grantKey], grant: { id: 'g1', identity: 'acme-support', conduits: ['vendor-maintenance'], from: now, until: now + HOUR } });
  const policyBytes = signPolicy({ policy: accessPolicy(), version: 7, targets: ['gw-01'], issuedAt: now, expiresAt: now + 24 * HOUR, keys: [policyKey] }).bytes;
  rig = { term, pty, serial, console: con, dir: tmp.dir, remove: tmp.remove, audit, sessions, decider, grantBytes, policyBytes, root };
});

test.after(async () => {
  if (!rig) return;
  rig.console.close();
  rig.serial.close();
  rig.term.close();
  await rig.pty.stop();
  rig.remove();
});

const t = () => rig!.term;

test('login prompt; a wrong password is refused and never echoed', async () => {
  if (missing) { console.log(`SKIP console tests: ${missing}`); return; }
  await t().expect(/gw-01 login: $/);
  t().send('vic\r');
  await t().expect(/vic\r\nPassword: $/);
  t().send('hunter2-wrong\r');
  const out = await t().expect(/Login incorrect\.\r\n/);
  assert.not.match(out, /hunter2/, 'the password is not echoed');
  await t().expect(/gw-01 login: $/);
});

test('a viewer logs in (CRLF line ends), sees help for its role and is refused admin commands', async () => {
  if (missing) return;
  t().send('vic\r\n');
  await t().expect(/Password: $/);
  t().send('vic-password-1\r\n');
  await t().expect(/Welcome vic \(viewer\)[\s\S]*vic@gw-01> $/);
  t().send('help\r');
  const help = await t().expect(/runs history entry N\r\n[\s\S]*> $/);
  assert.match(help, /status/);
  assert.match(help, /audit tail \[N\]/);
  assert.not.match(help, /quarantine add/, 'admin commands are not listed to a viewer');
  t().send('help break-glass\r');
  const h2 = await t().expect(/role: admin \(not yours\)\r\n/);
  assert.match(h2, /usage: break-glass REASON\.\.\. --minutes N \[--source IP\]/);
  t().send('quarantine add plc-1\r');
  await t().expect(/quarantine add: needs the admin role \(you are viewer\)/);
});

test('line noise: non-UTF-8, overlong lines, control characters, escape sequences, backspace', async () => {
  if (missing) return;
  t().send([0xff, 0xfe, 0x41, 0x0d]);
  await t().expect(/line is not valid UTF-8: discarded\r\nvic@gw-01> $/);
  t().send(`${'a'.repeat(1100)}\r`);
  await t().expect(/line too long \(over 1 KiB\): discarded\r\nvic@gw-01> $/);
  t().send('who\x01am\x07i\r');
  await t().expect(/vic \(viewer\)\r\n/);
  t().send('\x1b[A\x1b[Bwhoami\r');
  await t().expect(/vic \(viewer\)\r\n/);
  t().send('whoamx\x7fi\r');
  await t().expect(/whoamx\x08 \x08i\r\nvic \(viewer\)\r\n/);
  t().send('whoaé\x08\x08ami\r');
  await t().expect(/vic \(viewer\)\r\n/);
  t().send('nonsense-cmd\r');
  await t().expect(/unknown command 'nonsense-cmd'; type 'help'/);
});

test('status, denials (control characters from the wire are neutralised), history and !N', async () => {
  if (missing) return;
  t().send('status\r');
  const st = await t().expect(/fleet link: offline \(no broker in this test\)\r\n/);
  assert.match(st, /policy none \(deny all\) \[no-policy\]/);
  assert.match(st, /127\.0\.0\.1:1502 modbus → plc-1 up/);
  assert.match(st, /warning: test alarm/);
  t().send('denials\r');
  const d = await t().expect(/evil\?\[2Jterminal\r\n/);
  assert.match(d, /decision modbus-tcp src=10\.9\.9\.9:4000 asset=plc-1:502 deny reason=function-not-allowed identity=hmi-1 fc=6 unit=1 addr=10 count=1/);
  assert.not.match(d, /\x1b\[2J/);
  t().send('history\r');
  const h = await t().expect(/denials\r\n/);
  assert.match(h, /\s+1 {2}help\r\n/);
  t().send('!1\r');
  await t().expect(/help\r\ncommands \(help COMMAND for more\):/);
  t().send('!99\r');
  await t().expect(/no history entry 99/);
  t().send('\x04');
  await t().expect(/Logged out\.\r\n[\s\S]*gw-01 login: $/);
});

test('repeated failures lock the account; the lockout is audited', async () => {
  if (missing) return;
  for (let i = 0; i < 3; i++) {
    t().send('otto\r');
    await t().expect(/Password: $/);
    t().send('bad-guess\r');
    await t().expect(i < 2 ? /Login incorrect\./ : /the account is locked/);
    await t().expect(/login: $/);
  }
  t().send('otto\r');
  await t().expect(/Password: $/);
  t().send('otto-password-1\r');
  await t().expect(/Login refused: the account is locked; an admin must unlock it\./);
  assert.ok(rig!.audit.recent(100).some((e) => e.kind === 'auth' && e.message === 'account locked' && (e.detail as { user?: string }).user === 'otto'));
});

test('an admin imports a policy bundle and a grant, revokes it, quarantines, unlocks, exports the audit log', async () => {
  if (missing) return;
  const dir = rig!.dir;
  writeFileSync(join(dir, 'policy.bundle'), rig!.policyBytes);
  writeFileSync(join(dir, 'grant.bundle'), rig!.grantBytes);
  await t().expect(/login: $/);
  t().send('root\r');
  await t().expect(/Password: $/);
  t().send('root-password-1\r');
  await t().expect(/root@gw-01> $/);
  t().send(`bundle import ${join(dir, 'policy.bundle')}\r`);
  await t().expect(/policy v7-[0-9a-f]{8} activated\r\n/);
  t().send(`bundle import ${join(dir, 'missing.bundle')}\r`);
  await t().expect(/error ERR_USAGE: cannot read .*missing\.bundle: ENOENT/);
  t().send(`grant import ${join(dir, 'grant.bundle')}\r`);
  await t().expect(/grant g1 accepted: acme-support → vendor-maintenance until /);
  t().send('grant list\r');
  await t().expect(/g1 active acme-support → vendor-maintenance /);
  t().send('grant revoke g1\r');
  await t().expect(/grant g1 revoked/);
  t().send(`grant import ${join(dir, 'grant.bundle')}\r`);
  await t().expect(/error ERR_BUNDLE_CONFLICT: grant g1 was revoked; issue a new id/);
  t().send('quarantine add plc-1 suspicious writes\r');
  await t().expect(/plc-1 quarantined/);
  t().send('quarantine list\r');
  await t().expect(/plc-1 since .* by console:root: suspicious writes/);
  t().send('user unlock otto\r');
  await t().expect(/otto unlocked/);
  const out = join(dir, 'audit-export.jsonl');
  t().send(`audit export ${out}\r`);
  const m = /wrote (\d+) audit record\(s\)/.exec(await t().expect(/wrote \d+ audit record\(s\) to /));
  const lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { kind: string; message?: string });
  assert.is(lines.length, Number(m![1]));
  assert.ok(lines.some((l) => l.kind === 'quarantine' && l.message === 'quarantined plc-1 locally'));
  assert.ok(lines.some((l) => l.kind === 'grant' && l.message === 'grant g1 revoked'));
  assert.ok(lines.some((l) => l.kind === 'policy'));
  t().send(`audit export ${out}\r`);
  await t().expect(/cannot write .*audit-export\.jsonl: EEXIST/);
});

test('break-glass: admin only, reason and --minutes required, loud, lifts deny-all and binds the laptop', async () => {
  if (missing) return;
  t().send('break-glass --minutes 5\r');
  await t().expect(/error ERR_USAGE: break-glass needs a reason/);
  t().send('break-glass feeder down --minutes 999\r');
  await t().expect(/--minutes must be a whole number from 1 to 240/);
  assert.ok(rig!.decider.isExpired);
  t().send('break-glass feeder 3 down, vendor on site --minutes 5 --source 127.0.0.5\r');
  await t().expect(/!!! BREAK-GLASS ACTIVE until .* for 127\.0\.0\.5/);
  await t().expect(/root@gw-01 \[BREAK-GLASS\]> $/);
  assert.not.ok(rig!.decider.isExpired, 'deny-all lifted for the window');
  assert.equal(rig!.sessions.facts('127.0.0.5'), { edgeAuth: true, identity: 'root', grant: true });
  t().send('status\r');
  await t().expect(/!!! BREAK-GLASS ACTIVE by root until .*: feeder 3 down, vendor on site \(source 127\.0\.0\.5\)/);
  t().send('break-glass end\r');
  await t().expect(/break-glass ended\r\nroot@gw-01> $/);
  assert.ok(rig!.decider.isExpired, 'deny-all back');
  assert.is(rig!.sessions.facts('127.0.0.5'), undefined);
  const bg = rig!.audit.recent(200).filter((e) => e.kind === 'break-glass').map((e) => e.message);
  assert.equal(bg, ['BREAK-GLASS started', 'BREAK-GLASS ended']);
});

test('idle timeout logs the session out', async () => {
  if (missing) return;
  const out = await t().expect(/Idle timeout: logged out\.\r\n/, 10_000);
  assert.ok(out.length >= 0);
  await t().expect(/gw-01 login: $/);
  assert.ok(rig!.audit.recent(50).some((e) => e.message === 'console logout' && (e.detail as { reason?: string }).reason === 'idle'));
});

test.run();
