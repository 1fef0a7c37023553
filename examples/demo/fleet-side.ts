/**
 * The demo's fleet side beyond the CLI: the fleet's database (a PostgreSQL cluster of the demo's
 * own, made by fleet/store/pg/lab-cluster.ts as the tests make theirs: initdb --no-sync in a temp
 * folder, fsync off, a free loopback port, stopped and removed at the end; or, without Debian's
 * postgresql, the per-device file store) and the fleet console (`zonegate fleet serve`) run just
 * long enough for a fleet operator created here to log in over HTTPS and read the fleet page and
 * the gateway's page.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { labClusterSkipReason, startLabCluster, type LabCluster } from '../../fleet/store/pg/lab-cluster';
import { ensureCertificate } from '../../runtime/web/cert';
import { totpAt } from '../../protocol/web/totp';
import { cookieOf, httpsExchange, type Res } from './web-login';

/** What the chapters of demo.ts lend to this file. */
export interface DemoKit {
  work: string;
  say(text: string): void;
  dim(text: string): string;
  check(ok: boolean, text: string): void;
  zonegate(args: string[], opts?: { show?: boolean; quiet?: boolean; input?: string }): { code: number; out: string; err: string };
  start(name: string, cmd: string, args: string[]): ChildProcess;
  stop(child: ChildProcess): Promise<void>;
  waitFor(what: string, pred: () => boolean | Promise<boolean>, ms?: number): Promise<boolean>;
  /** What the child started as `name` wrote on stderr so far. */
  errText(name: string): string;
  cli: string;
}

export interface FleetDatabase {
  /** The cluster's `postgres` database's URL (trust authentication on loopback, no password). */
  url: string;
  cluster: LabCluster;
}

/** The database, or why there is none; started at once so that initdb runs beside the first chapters. */
export type FleetDatabaseStart = Promise<{ db: FleetDatabase } | { why: string }>;

export function startFleetDatabase(freePort: () => Promise<number>): FleetDatabaseStart {
  const why = labClusterSkipReason();
  if (why) return Promise.resolve({ why });
  // The cluster's own `postgres` database: a CREATE DATABASE cost 0.6-1.2 s more at load 12.
  return startLabCluster({ freePort }).then(
    (cluster) => ({ db: { url: cluster.url, cluster } }),
    (e: Error) => ({ why: `PostgreSQL did not start: ${e.message.split('\n')[0]}` }),
  );
}

const PASSWORD = 'fleet-demo-password-1';
const stripTags = (html: string) => html.replace(/<[^>]+>/g, ' ').replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/\s+/g, ' ').trim();

/** The cells of the table row with this id, as text. */
function rowCells(html: string, id: string): string[] {
  const row = new RegExp(`<tr id="${id}">([\\s\\S]*?)</tr>`).exec(html)?.[1];
  return row ? [...row.matchAll(/<td>([\s\S]*?)<\/td>/g)].map((m) => stripTags(m[1])) : [];
}

/** Logs in at the console's form (password and TOTP, the form's double-submit CSRF token); the session cookie or why not. */
async function logIn(base: { url: string; ca: string }, user: string, seed: string): Promise<string | Error> {
  const form = await httpsExchange(base, 'GET', '/login');
  const csrf = /name="csrf" value="([^"]+)"/.exec(form.body)?.[1];
  const token = cookieOf(form, 'zgf_csrf');
  if (!csrf || !token) return new Error(`no login form (HTTP ${form.status})`);
  const res = await httpsExchange(base, 'POST', '/login', `zgf_csrf=${token}`, { csrf, user, password: PASSWORD, totp: totpAt(seed, Date.now()) });
  const sid = cookieOf(res, 'zgf_session');
  return res.status === 303 && sid ? `zgf_session=${sid}` : new Error(`login refused (HTTP ${res.status})`);
}

/** fleet.yaml for the demo's console: a port the console picks and prints, the demo's broker, its store. */
function writeFleetYaml(dir: string, o: { brokerUrl: string; site: string; store: string }): string {
  const file = join(dir, 'fleet.yaml');
  writeFileSync(file, [
    'listen: 127.0.0.1:0', 'tls: { cert: web-cert.pem, key: web-key.pem }', 'users: console-users.json',
    `sites: [${o.site}]`, `mqtt: { url: "${o.brokerUrl}" }`, `store: ${o.store}`, '',
  ].join('\n'));
  return file;
}

/**
 * Chapter: the fleet console. Creates a viewer, starts `fleet serve`, logs in, prints what the
 * fleet page says of `device` (online, policy version) and what its page says of its audit chain.
 */
export async function fleetConsoleChapter(k: DemoKit, o: { brokerUrl: string; site: string; device: string; store: { kind: 'postgres'; url: string } | { kind: 'files'; dir: string }; policyVersion: number }): Promise<void> {
  const dir = join(k.work, 'fleet-console');
  mkdirSync(dir, { recursive: true });
  const cert = await ensureCertificate({ stateDir: dir, device: 'fleet-console', host: '127.0.0.1' });
  if (!cert) { k.check(false, 'the console needs a certificate and openssl is not installed'); return; }
  const store = o.store.kind === 'postgres' ? `{ kind: postgres, url: "${o.store.url}" }` : `{ kind: files, dir: ${o.store.dir} }`;
  const config = writeFleetYaml(dir, { brokerUrl: o.brokerUrl, site: o.site, store });
  k.say(k.dim(`   fleet.yaml: store ${store}, the broker ${o.brokerUrl}, HTTPS with the console's own self-signed certificate`));
  // The console starts first (it reads its user file again at each login), so that its start
  // overlaps the password hashing of `fleet user add`.
  k.say(k.dim(`   $ zonegate fleet serve --config ${config}`));
  const child = k.start('fleet-console', process.execPath, [k.cli, 'fleet', 'serve', '--config', config]);
  try {
    const user = 'ops-demo';
    const added = k.zonegate(['fleet', 'user', 'add', user, '--role', 'viewer', '--config', config], { input: `${PASSWORD}\n` });
    const seed = /TOTP seed \(shown once\): (\S+)/.exec(added.out)?.[1];
    k.say(k.dim(`     added ${user} (viewer): an argon2id password, and a TOTP seed for an authenticator app (the demo keeps it to compute the code)`));
    k.check(added.code === 0 && seed !== undefined, 'a console user for the fleet operator');
    if (!seed) return;
    const listening = () => /fleet console on (https:\/\/127\.0\.0\.1:\d+\/)/.exec(k.errText('fleet-console'))?.[1];
    await k.waitFor('the fleet console to listen', () => listening() !== undefined || child.exitCode !== null, 20_000);
    const url = listening();
    if (!url) { k.check(false, `the fleet console did not start: ${k.errText('fleet-console').trim().split('\n').pop() ?? ''}`); return; }
    const base = { url, ca: cert.cert };
    const cookie = await logIn(base, user, seed);
    k.check(typeof cookie === 'string', `${user} logs in at ${url} with password and TOTP code${typeof cookie === 'string' ? '' : `: ${cookie.message}`}`);
    if (typeof cookie !== 'string') return;
    await showPages(k, { base, cookie, ...o });
  } finally {
    await k.stop(child);
  }
}

/** The fleet page once it lists the gateway (its status comes over MQTT), then the gateway's page. */
async function showPages(k: DemoKit, o: { base: { url: string; ca: string }; cookie: string; site: string; device: string; policyVersion: number; store: { kind: string } }): Promise<void> {
  const rowId = `gw-${o.site}-${o.device}`;
  let home: Res | undefined;
  await k.waitFor(`the fleet page to list ${o.device}`, async () => {
    home = await httpsExchange(o.base, 'GET', '/', o.cookie);
    return rowCells(home.body, rowId).length > 0;
  }, 10_000);
  const body = home?.body ?? '';
  const summary = stripTags(/<p id="summary">([\s\S]*?)<\/p>/.exec(body)?.[1] ?? '');
  const site = stripTags(/<h2>(Site [\s\S]*?)<\/h2>/.exec(body)?.[1] ?? '');
  const [name, state, seen, policy, expires, runtime, alarms] = rowCells(body, rowId);
  k.say(`${k.dim('   console ▸ ')}${summary}`);
  k.say(`${k.dim('   console ▸ ')}${site}`);
  k.say(`${k.dim('   console ▸ ')}${name ?? '?'}  ${state ?? '?'}  last seen ${seen ?? '?'}  policy ${policy ?? '?'} (expires ${expires ?? '?'})  runtime ${runtime ?? '?'}  alarms: ${alarms ?? '?'}`);
  k.check(state === 'online' && policy === `v${o.policyVersion}`, `the fleet page shows ${o.device} online on policy v${o.policyVersion}, from its retained status over MQTT`);
  const gw = await httpsExchange(o.base, 'GET', `/gateway?site=${o.site}&device=${o.device}`, o.cookie);
  const chain = stripTags(/<dl id="chain">([\s\S]*?)<\/dl>/.exec(gw.body)?.[1] ?? '');
  k.say(`${k.dim('   console ▸ ')}${o.device}'s audit upload: ${chain || 'nothing collected'}`);
  const from = o.store.kind === 'postgres' ? 'the database' : 'the per-device files';
  k.check(/Chain verifies/.test(chain), `its page reads the collected audit log from ${from}: the chain verifies`);
}
