// The CLI commands of this part through the real bundled executable (built into a private
// folder): `zonegate user add|passwd|list|unlock`, `zonegate console` on piped stdin (no daemon:
// the console of the state folder) and on a serial line (a socat pty pair), `zonegate fleet grant`.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { tempDir } from '../auth/helpers';
import { socatMissing, startPtyPair, Terminal } from './pty';

const root = process.cwd();
const outDir = join(root, '.out', `cli-access-${process.pid}`);
const cli = join(outDir, 'zonegate.js');
const tmp = tempDir('cli');
const config = join(tmp.dir, 'gateway.yaml');

test.before(async () => {
  await build({ entryPoints: [join(root, 'cli/main.ts')], outfile: cli, bundle: true, platform: 'node', format: 'cjs', target: 'node18', packages: 'external', logLevel: 'error', define: { ZONEGATE_VERSION: '"test"' } });
  writeFileSync(config, [
    'device: gw-01', 'site: s1', 'stateDir: state', 'policyFile: policy.yaml',
    'listeners:', '  - { listen: "127.0.0.1:0", asset: plc-1, service: modbus }',
    'console:', '  idleMinutes: 5', '  socket: console.sock', '  login: { lockAfter: 2, delayMs: 10 }', '',
  ].join('\n'));
});

test.after(() => {
  rmSync(outDir, { recursive: true, force: true });
  tmp.remove();
});

function zg(args: string[], input = ''): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: root, input, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('user add, duplicate, short password, list, passwd, unlock', () => {
  let r = zg(['user', 'add', 'alice', '--role', 'admin', '--config', config], 'alice-password-1\n');
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /added alice \(admin\)/);
  r = zg(['user', 'add', 'tom', '--role', 'operator', '--totp', '--config', config, '--json'], 'tom-password-1\n');
  assert.is(r.code, 0, r.err);
  const doc = JSON.parse(r.out) as { totpSecret: string; totpUri: string };
  assert.match(doc.totpSecret, /^[A-Z2-7]{32}$/);
  assert.match(doc.totpUri, /^otpauth:\/\/totp\/zonegate:tom\?secret=[A-Z2-7]{32}&issuer=zonegate/);
  r = zg(['user', 'add', 'alice', '--role', 'viewer', '--config', config], 'whatever-long-1\n');
  assert.equal([r.code, r.err.trim()], [1, 'zonegate user add: user alice exists; use user passwd']);
  r = zg(['user', 'add', 'bob', '--role', 'viewer', '--config', config], 'short\n');
  assert.equal([r.code, r.err.trim()], [1, 'zonegate user add: the password must have at least 10 characters']);
  r = zg(['user', 'add', 'Bad Name', '--role', 'viewer', '--config', config], 'whatever-long-1\n');
  assert.is(r.code, 1);
  assert.match(r.err, /invalid user name "Bad Name"/);
  r = zg(['user', 'add', 'carl', '--role', 'root', '--config', config], 'whatever-long-1\n');
  assert.match(r.err, /invalid role "root": one of viewer, operator, admin/);
  r = zg(['user', 'passwd', 'alice', '--config', config], 'alice-password-2\n');
  assert.equal([r.code, r.out.trim()], [0, 'password of alice changed']);
  r = zg(['user', 'list', '--config', config, '--json']);
  assert.equal((JSON.parse(r.out) as { users: unknown[] }).users, [
    { name: 'alice', role: 'admin', totp: false, origin: 'local', failures: 0, locked: false },
    { name: 'tom', role: 'operator', totp: true, origin: 'local', failures: 0, locked: false },
  ]);
  r = zg(['user', 'unlock', 'alice', '--config', config]);
  assert.equal([r.code, r.out.trim()], [0, 'alice had no failed logins']);
});

test('console on piped stdin without a daemon: login, commands, lockout shown by user list', () => {
  let r = zg(['console', '--config', config], 'alice\nalice-password-2\nwhoami\nstatus\nquarantine add plc-9 test\nquarantine list\nlogout\n');
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /gw-01 login: Password: Welcome alice \(admin\)/);
  assert.match(r.out, /alice \(admin\)\r\n/);
  assert.match(r.out, /device gw-01 at s1, console without the daemon/);
  assert.match(r.out, /policy none \(deny all\) \[no trust root configured\]/);
  assert.match(r.out, /127\.0\.0\.1:0 modbus → plc-1 configured \(daemon not reachable\)/);
  assert.match(r.out, /plc-9 since .* by console:alice: test/);
  assert.match(r.out, /Logged out\./);
  r = zg(['console', '--config', config], 'alice\nwrong\nalice\nalice-password-2\n');
  assert.is(r.code, 0);
  assert.match(r.out, /Login incorrect\./);
  assert.not.match(r.out, /Welcome/, 'what was typed ahead during the failure delay is dropped, not tried');
  r = zg(['console', '--config', config], 'alice\nwrong-again\n');
  assert.match(r.out, /the account is locked/);
  r = zg(['user', 'list', '--config', config]);
  assert.match(r.out, /alice +admin .* LOCKED \(2 failed\)/);
  r = zg(['user', 'unlock', 'alice', '--config', config]);
  assert.equal([r.code, r.out.trim()], [0, 'alice unlocked (2 failure(s) cleared)']);
});

test('console --serial on a socat pty: the technician logs in from the other end', async () => {
  const missing = socatMissing();
  if (missing) { console.log(`SKIP serial console CLI test: ${missing}`); return; }
  const pty = await startPtyPair(tmp.dir);
  const child = spawn(process.execPath, [cli, 'console', '--config', config, '--serial', pty.device, '--baud', '9600'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let term: Terminal | undefined;
  try {
    term = await Terminal.open(pty.terminal);
    term.send('\r');
    await term.expect(/gw-01 login: $/);
    term.send('alice\r');
    await term.expect(/Password: $/);
    term.send('alice-password-2\r');
    await term.expect(/alice@gw-01> $/);
    term.send('help grant revoke\r');
    await term.expect(/usage: grant revoke ID\r\n {2}revokes a grant now/);
    term.send('logout\r');
    await term.expect(/Logged out\.[\s\S]*gw-01 login: $/, 8_000);
  } finally {
    term?.close();
    child.kill('SIGTERM');
    await new Promise((r) => { child.once('exit', r); setTimeout(r, 3000); });
    await pty.stop();
  }
});

test.run();
