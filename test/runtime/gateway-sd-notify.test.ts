/**
 * systemd notifications from the gateway, received by a real AF_UNIX datagram socket (Debian's
 * python, since Node has none) through the real `systemd-notify` binary.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSdNotify } from '../../runtime/sd-notify';
import { createGateway } from '../../runtime/gateway';
import { labPolicy, gatewayConfig, labDir } from './gateway-fixtures';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
test.after.each(async () => { while (cleanups.length) { try { await cleanups.pop()!(); } catch { /* keep cleaning */ } } });

const missing = spawnSync('systemd-notify', ['--help']).error ? 'systemd-notify not installed'
  : spawnSync('/usr/bin/python3', ['-c', 'import socket']).status !== 0 ? '/usr/bin/python3 missing' : null;

/** A datagram socket printing each message it receives on one line (newlines as |). */
async function receiver(): Promise<{ path: string; messages: string[]; waitFor(re: RegExp): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'zg-notify-'));
  const path = join(dir, 'notify.sock');
  const py = spawn('/usr/bin/python3', ['-u', '-c', `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("READY", flush=True)
while True:
    print(s.recv(4096).decode().replace("\\n", "|"), flush=True)
`, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  cleanups.push(() => { py.kill('SIGKILL'); rmSync(dir, { recursive: true, force: true }); });
  const messages: string[] = [];
  let buf = '';
  await new Promise<void>((resolve) => py.stdout!.on('data', (d) => {
    buf += d;
    const lines = buf.split('\n'); buf = lines.pop()!;
    for (const l of lines) { if (l === 'READY') resolve(); else messages.push(l); }
  }));
  return {
    path, messages,
    async waitFor(re) {
      for (let i = 0; i < 250 && !messages.some((m) => re.test(m)); i++) await new Promise((r) => setTimeout(r, 20));
      if (!messages.some((m) => re.test(m))) throw new Error(`no ${re} among ${JSON.stringify(messages)}`);
    },
  };
}

test('without NOTIFY_SOCKET everything is a no-op', async () => {
  const calls: string[][] = [];
  const n = createSdNotify({ env: {}, run: async (a) => { calls.push(a); return true; } });
  assert.is(n.enabled, false);
  await n.ready(); await n.stopping();
  n.startWatchdog(new AbortController().signal);
  assert.equal(calls, []);
});

test('watchdog interval is half of WATCHDOG_USEC, only for our pid', () => {
  const run = async () => true;
  assert.is(createSdNotify({ env: { NOTIFY_SOCKET: '/x', WATCHDOG_USEC: '4000000' }, run }).watchdogMs, 4000);
  assert.is(createSdNotify({ env: { NOTIFY_SOCKET: '/x', WATCHDOG_USEC: '4000000', WATCHDOG_PID: '1' }, run, pid: 2 }).watchdogMs, undefined);
  assert.is(createSdNotify({ env: { WATCHDOG_USEC: '4000000' }, run }).watchdogMs, undefined);
});

test('a failing systemd-notify is reported once and never throws', async () => {
  const errors: string[] = [];
  const n = createSdNotify({ env: { NOTIFY_SOCKET: '/nonexistent/sock' }, onError: (m) => errors.push(m) });
  await n.ready(); await n.status('x');
  assert.equal(errors, ['systemd-notify READY=1 failed; continuing without systemd notifications']);
});

test('gateway: READY=1 once the policy enforces and listeners are up, WATCHDOG=1, STOPPING=1', async () => {
  if (missing) { console.log(`  skipped: ${missing}`); return; }
  const rx = await receiver();
  const lab = labDir(); cleanups.push(() => lab.remove());
  lab.write('policy.yaml', labPolicy({ writes: false, tcp: true }));
  lab.write('gateway.yaml', gatewayConfig({ modbusUpstream: 1, tcpUpstream: 2 }));
  const notify = createSdNotify({ env: { NOTIFY_SOCKET: rx.path, WATCHDOG_USEC: '200000' } });
  let statusAtReady: ReturnType<typeof gw.status> | undefined;
  const gw = createGateway({
    configFile: lab.config, log: { info() {}, warn() {}, error() {} },
    notify: { ...notify, ready: (s) => { statusAtReady = gw.status(); return notify.ready(s); } },
  });
  cleanups.push(() => gw.stop());
  await gw.start(new AbortController().signal);
  await rx.waitFor(/READY=1/);
  assert.match(rx.messages.find((m) => m.includes('READY=1'))!, `MAINPID=${process.pid}`);
  assert.match(rx.messages.find((m) => m.includes('READY=1'))!, /STATUS=enforcing file-[0-9a-f]{12} on 2 listener\(s\)/);
  assert.ok(statusAtReady!.policy.version, 'a policy was enforcing at READY');
  assert.equal(statusAtReady!.listeners.map((l) => l.state), ['up', 'up']);
  await rx.waitFor(/WATCHDOG=1/);
  await gw.stop();
  await rx.waitFor(/STOPPING=1/);
  const n = rx.messages.filter((m) => m.includes('WATCHDOG=1')).length;
  await new Promise((r) => setTimeout(r, 300));
  assert.is(rx.messages.filter((m) => m.includes('WATCHDOG=1')).length, n, 'no watchdog pings after stop');
});

test.run();
