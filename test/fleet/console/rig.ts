/**
 * A console rig without a broker: a self-signed certificate (openssl), a user file with one user
 * per role, a file store filled by the real collector core from a real device audit log (so
 * chains verify), statuses fed to the StatusBook as the retained topic would, and the HTTPS
 * server on a loopback port. Requests go through node:https.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { httpsRequestText, type HttpsResponse } from '../../helpers/https-request';
import type { IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { AuditLog } from '../../../runtime/audit/log';
import { encodeAuditBatch } from '../../../protocol/audit/upload-batch';
import { deviceTopic } from '../../../protocol/mqtt/topics';
import type { StatusDocument } from '../../../protocol/mqtt/status';
import { createAuditCollector } from '../../../fleet/audit-collect';
import { FileReadStore } from '../../../fleet/store/file-read';
import { StatusBook } from '../../../fleet/store/status-book';
import { createConsoleServer, type ConsoleServer } from '../../../fleet/console/server';
import { ConsoleSessions } from '../../../fleet/console/sessions';
import { Rollouts, TelemetryBook } from '../../../fleet/console/rollouts';
import { addUser, ConsoleAuth, roleAtLeast } from '../../../fleet/console/users';
import { createSemaphore } from '../../../protocol/web/semaphore';
import { totpAt } from '../../../protocol/web/totp';
import { decisionEvent, makeKey, tempDir } from '../../audit/helpers';
import { ConsoleTrail, loggingToTrail } from '../../../fleet/console/trail';

export const opensslMissing = spawnSync('openssl', ['version']).error ? 'openssl not installed' : null;
export const PASSWORD = 'correct horse battery';

export function selfSigned(dir: string): { cert: string; key: string } {
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')]);
  if (r.status !== 0) throw new Error(`openssl: ${r.stderr}`);
  return { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };
}

export function status(device: string, o: Partial<StatusDocument> = {}): StatusDocument {
  return {
    schema: 1, device, site: 'lab', online: true, policyVersion: 3, policyHash: 'ab'.repeat(32), policyExpiresAt: Date.now() + 30 * 86_400_000,
    applied: {}, lastError: null, uptimeSeconds: 600, alarms: [], runtimeVersion: '0.9.0', lastSeen: Date.now(), ...o,
  };
}

export type Res = HttpsResponse;

export interface Rig {
  port: number; ca: string; dir: string; statuses: StatusBook; server: ConsoleServer; totps: Record<string, string>; log: string[];
  clock: { t: number };
  req(method: string, path: string, o?: { cookie?: string; form?: Record<string, string>; origin?: string; body?: Buffer; contentType?: string }): Promise<Res>;
  login(user: string): Promise<{ cookie: string; csrf: string }>;
  close(): Promise<void>;
}

/** Builds the rig; `events` deny records from gw-a (asset plc-1) go into the file store. */
export async function makeRig(): Promise<Rig> {
  const t = tempDir('zg-console-');
  const tls = selfSigned(t.dir);
  const limiter = createSemaphore({ limit: 2 });
  const usersFile = join(t.dir, 'users.json');
  const totps: Record<string, string> = {};
  for (const role of ['viewer', 'operator', 'admin'] as const) totps[role] = (await addUser({ file: usersFile, name: role, role, password: PASSWORD, limiter })).totp;

  const key = makeKey();
  const log = await AuditLog.open({ dir: join(t.dir, 'device'), device: 'gw-a', key, checkpointEvery: 10, flushDelayMs: 1, batchMax: 10, flood: false });
  const now = Date.now();
  for (let i = 0; i < 30; i++) log.record(decisionEvent(i, { at: now - 60_000 + i * 1000, decision: i % 3 === 0 ? 'deny' : 'allow', asset: 'plc-1' }));
  log.record({ kind: 'grant', at: now - 5000, source: 'grants', message: 'grant g-7 for acme-support activated', detail: { identity: 'acme-support' } });
  const vendorWrite = decisionEvent(99, { at: now - 4000, asset: 'plc-1' });
  log.record({ ...vendorWrite, decision: { ...vendorWrite.decision!, identity: 'acme-support', conduit: 'vendor-maintenance' } });
  await log.flush();
  const records = (await log.readFrom(0, 1000)).records;
  await log.close();
  const collector = createAuditCollector({ out: join(t.dir, 'store', 'lab'), site: 'lab', ack: () => undefined });
  await collector.handle(deviceTopic({ site: 'lab', device: 'gw-a', kind: 'audit' }), encodeAuditBatch({ device: 'gw-a', site: 'lab', fromSeq: 0, records: records.map((r) => r.payload) }));
  await collector.idle();
  await collector.close();

  const statuses = new StatusBook();
  statuses.set(status('gw-a'));
  statuses.set(status('gw-b', { online: false, alarms: ['policy-expired'] }));
  const store = new FileReadStore({ dir: join(t.dir, 'store'), sites: ['lab'], statuses, refreshMs: 0 });
  const clock = { t: Date.now() };
  const logLines: string[] = [];
  const trail = ConsoleTrail.open({ file: join(t.dir, 'console-audit.jsonl') });
  const server = createConsoleServer({
    listen: { host: '127.0.0.1', port: 0 }, tls: { cert: readFileSync(tls.cert, 'utf8'), key: readFileSync(tls.key, 'utf8') },
    deps: {
      store, sites: ['lab'], auth: new ConsoleAuth({ file: usersFile, limiter, now: () => clock.t }), sessions: new ConsoleSessions({ idleMs: 600_000, maxMs: 3_600_000 }),
      rollouts: new Rollouts(), telemetry: new TelemetryBook(), usersFile, limiter, roleOk: roleAtLeast, log: loggingToTrail((l) => logLines.push(l), trail), trailFile: trail.file,
      async publish() { throw new Error('this rig has no broker: publishing is tested with mosquitto in console-browser.test.ts'); },
    },
  });
  await server.start();
  const port = server.address().port;
  const ca = readFileSync(tls.cert, 'utf8');

  const req: Rig['req'] = (method, path, o = {}) => {
    const body = o.form ? Buffer.from(new URLSearchParams(o.form).toString()) : o.body;
    return httpsRequestText({
      port, ca, method, path,
      headers: {
        ...(o.cookie ? { cookie: o.cookie } : {}), ...(o.origin ? { origin: o.origin } : {}),
        ...(body !== undefined ? { 'content-type': o.contentType ?? 'application/x-www-form-urlencoded', 'content-length': body.length } : {}),
      },
      body,
    });
  };
  const cookieOf = (h: IncomingHttpHeaders, name: string) => (h['set-cookie'] ?? []).map((c) => c.split(';')[0]).find((c) => c.startsWith(`${name}=`));
  const rig: Rig = {
    port, ca, dir: t.dir, statuses, server, totps, log: logLines, clock, req,
    async login(user) {
      const form = await req('GET', '/login');
      const csrfCookie = cookieOf(form.headers, 'zgf_csrf')!;
      clock.t += 30_000; // a fresh TOTP step per login (a step is accepted once)
      const r = await req('POST', '/login', { cookie: csrfCookie, form: { csrf: csrfCookie.split('=')[1], user, password: PASSWORD, totp: totpAt(totps[user], clock.t) } });
      if (r.status !== 303) throw new Error(`login ${user}: ${r.status} ${r.body}`);
      const cookie = cookieOf(r.headers, 'zgf_session')!;
      const home = await req('GET', '/', { cookie });
      const csrf = /name="csrf" value="([^"]+)"/.exec(home.body)![1];
      return { cookie, csrf };
    },
    async close() { await server.stop(); await store.close(); trail.close(); t.cleanup(); },
  };
  return rig;
}
