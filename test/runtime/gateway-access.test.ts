// The access layer as the gateway wires it (runtime/gateway.ts openAccess): always attached,
// drivers decide through access.decider, a TCP conduit's live connection closes when the edge
// session it depended on ends (`session-changed` → recheck), break-glass raises and clears a
// critical alarm, status carries `access`, reload re-reads users, and a bad `console:` block is
// refused with file:line:col at start and on reload (the old settings stay). Real sockets on
// loopback: a TCP echo upstream and the Node Modbus server; no login page (no `console.web`).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { join } from 'node:path';
import { createGateway, type Gateway } from '../../runtime/gateway';
import { ZonegateError, formatIssue } from '../../policy/errors';
import { startNodeModbusServer } from '../helpers/modbus';
import { gatewayConfig, labDir } from './gateway-fixtures';
import { usersIn } from '../auth/helpers';

type Cleanup = () => unknown;
const cleanups: Cleanup[] = [];
test.after.each(async () => { while (cleanups.length) { try { await cleanups.pop()!(); } catch { /* keep cleaning */ } } });

const POLICY = `site: lab
zones:
  - { id: station, networks: [127.0.0.0/8], securityLevel: 3 }
  - { id: control, networks: [10.10.1.0/24], securityLevel: 3 }
assets:
  - { id: plc-1, zone: control, address: 10.10.1.20, kind: plc, services: [{ protocol: modbus, port: 502 }] }
  - { id: historian, zone: control, address: 10.10.1.40, kind: historian, services: [{ protocol: tcp, port: 443 }] }
identities:
  - { id: alice, kind: user, roles: [engineer] }
conduits:
  - id: alice-reads-plc
    from: { identities: [alice] }
    to: { assets: [plc-1] }
    protocol: modbus
    requires: { edgeAuth: true }
    allow: { functions: [read-holding-registers], units: [1], addresses: ["0-99"] }
  - id: alice-to-historian
    from: { identities: [alice] }
    to: { assets: [historian] }
    protocol: tcp
    requires: { edgeAuth: true }
`;

async function echoServer(): Promise<{ server: Server; port: number }> {
  const server = createServer((s) => { s.on('error', () => undefined); s.pipe(s); });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as { port: number }).port };
}

function collectLog() {
  const lines: string[] = [];
  return { lines, log: { info: (m: string) => lines.push(`info ${m}`), warn: (m: string) => lines.push(`warn ${m}`), error: (m: string) => lines.push(`error ${m}`) } };
}

async function setup(extra = ''): Promise<{ gw: Gateway; lines: string[]; tcpPort: number; lab: ReturnType<typeof labDir>; write(extra: string): void }> {
  const lab = labDir();
  cleanups.push(() => lab.remove());
  const mb = await startNodeModbusServer();
  cleanups.push(() => mb.stop());
  const echo = await echoServer();
  cleanups.push(() => new Promise((r) => echo.server.close(r)));
  lab.write('policy.yaml', POLICY);
  const write = (x: string) => lab.write('gateway.yaml', gatewayConfig({ modbusUpstream: mb.port, tcpUpstream: echo.port, extra: x }));
  write(extra);
  const { lines, log } = collectLog();
  const gw = createGateway({ configFile: lab.config, log });
  await gw.start(new AbortController().signal);
  cleanups.push(() => gw.stop());
  const tcpPort = Number(gw.status().listeners.find((l) => l.service === 'tcp')!.address!.split(':').pop());
  return { gw, lines, tcpPort, lab, write };
}

/** Connects from `localAddress`; resolves the socket and whether the echo works. */
async function tcpClient(port: number, localAddress: string): Promise<{ sock: Socket; closed: Promise<void>; echo(text: string): Promise<string | null> }> {
  const sock = connect({ host: '127.0.0.1', port, localAddress });
  sock.on('error', () => undefined);
  const closed = once(sock, 'close').then(() => undefined);
  await Promise.race([once(sock, 'connect'), closed]);
  return {
    sock, closed,
    echo: (text) => new Promise((resolve) => {
      const t = setTimeout(() => resolve(null), 3000);
      sock.once('data', (d) => { clearTimeout(t); resolve(d.toString()); });
      sock.once('close', () => { clearTimeout(t); resolve(null); });
      sock.write(text);
    }),
  };
}

test('always attached: status.access, a session lets a TCP connection through, its end closes the live connection', async () => {
  const { gw, lines, tcpPort } = await setup();
  const st = gw.status();
  assert.ok(st.access, 'status carries access');
  assert.equal(st.access!.sessions, []);
  assert.is(st.access!.web, null, 'no console.web: no login page');
  assert.equal(st.access!.grants, [], 'no trust root: no grants');

  const nobody = await tcpClient(tcpPort, '127.0.0.3');
  await nobody.closed;
  assert.ok(nobody.sock.destroyed, 'before a session the address is nobody: refused at connect');

  const changes: string[] = [];
  gw.bus.on('session-changed', 'test', (c) => { changes.push(c.kind); });
  const s = gw.access!.sessions.open({ sourceIp: '127.0.0.3', user: 'alice', role: 'operator', via: 'web' });
  assert.equal(changes, ['opened']);
  const c = await tcpClient(tcpPort, '127.0.0.3');
  assert.is(await c.echo('ping'), 'ping', 'with an edge session alice reaches the historian');
  assert.equal(gw.status().access!.sessions.map((x) => [x.user, x.sourceIp]), [['alice', '127.0.0.3']]);

  gw.access!.sessions.end(s.id, 'logout');
  assert.equal(changes, ['opened', 'ended']);
  await c.closed;
  assert.ok(c.sock.destroyed, 'the live connection closed when the session ended');
  assert.ok(lines.some((l) => /connection\(s\) closed after a session or grant change/.test(l)), lines.join('\n'));
});

test('break-glass raises a critical alarm and clears it; reload re-reads users', async () => {
  const { gw } = await setup();
  const seen: (string | null)[] = [];
  gw.bus.on('session-changed', 'test', (c) => { if (c.kind === 'break-glass') seen.push(c.state?.user ?? null); });
  gw.access!.breakGlass.start({ user: 'root', role: 'admin', reason: 'relay stuck closed', minutes: 5 });
  const a = gw.status().alarms.find((x) => x.id === 'break-glass');
  assert.is(a?.severity, 'critical');
  assert.match(a!.message, /break-glass by root until .*relay stuck closed/);
  assert.is(gw.status().access!.breakGlass?.user, 'root');
  gw.access!.breakGlass.end({ by: 'root', why: 'ended' });
  assert.not.ok(gw.status().alarms.some((x) => x.id === 'break-glass'));
  assert.equal(seen, ['root', null]);

  // The console's views of the active policy.
  const show = gw.access!.consoleDeps.policyShow!();
  assert.match(show[0], /^policy file-[0-9a-f]{12} \(file, enforcing\)$/);
  assert.equal(show.slice(1), ['  alice-reads-plc: modbus, edge login', '  alice-to-historian: tcp, edge login']);
  const ex = gw.access!.consoleDeps.explain!({ from: 'alice', to: 'plc-1', modbus: { function: 3, unit: 1, address: 0 } });
  assert.match(ex[ex.length - 1], /deny.*edge-auth-required/, ex.join('\n'));
  assert.throws(() => gw.access!.consoleDeps.explain!({ from: 'alice' }), (e: unknown) => e instanceof ZonegateError && e.code === 'ERR_REQUEST_INVALID');

  assert.is(gw.access!.auth.roleOf('alice'), undefined);
  await usersIn(join(gw.status().statusFile!, '..'), [{ name: 'alice', role: 'operator' }]);
  assert.ok((await gw.reload()).ok);
  assert.is(gw.access!.auth.roleOf('alice'), 'operator', 'SIGHUP re-reads the users');
});

test('a bad console block is refused with file:line:col at start and on reload (the running settings stay)', async () => {
  const { gw, lines, write, lab } = await setup('console: { idleMinutes: 5 }\n');
  write('console: { idleMinutes: 5, web: { listen: nowhere } }\n');
  const r = await gw.reload();
  assert.not.ok(r.ok);
  assert.instance(r.error, ZonegateError);
  const issues = (r.error as ZonegateError).issues.map(formatIssue);
  assert.ok(issues.some((i) => /gateway\.yaml:\d+:\d+: console\.web\.listen: must be HOST:PORT/.test(i)), issues.join('\n'));
  assert.ok(lines.some((l) => /console\.web\.listen/.test(l)), 'logged with its position');
  assert.is(gw.status().state, 'running');

  // The same file at start: refused before anything listens.
  const gw2 = createGateway({ configFile: lab.config, log: collectLog().log });
  let err: unknown;
  try { await gw2.start(new AbortController().signal); } catch (e) { err = e; }
  assert.instance(err, ZonegateError);
  assert.is((err as ZonegateError).code, 'ERR_CONFIG_INVALID');
  assert.ok((err as ZonegateError).issues.map(formatIssue).some((i) => /:\d+:\d+: console\.web\.listen/.test(i)));
});

test.run();
