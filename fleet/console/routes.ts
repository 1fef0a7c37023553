/**
 * The console's pages and actions. Each route reads only FleetReadStore (search, denials, chains,
 * gateways) and the console's own memory (rollouts, telemetry); query parameters are validated
 * (ids, times, lengths) before they reach the store and are only ever data, never markup or SQL.
 */
import type { IncomingMessage } from 'node:http';
import { createHash } from 'node:crypto';
import { cookieFlags, readForm, sameToken } from '../../protocol/web/http';
import type { Semaphore } from '../../protocol/web/semaphore';
import { idProblem, type InboundKind } from '../../protocol/mqtt/topics';
import { parseTimeOption } from '../../protocol/parse-time';
import type { AuditFilter, ChainState, Decision, FleetReadStore } from '../store/types';
import { readBundleLabel, topicKindFor, wireBytes } from '../publish';
import { readMultipart } from './multipart';
import type { ConsoleSession, ConsoleSessions } from './sessions';
import { Rollouts, TelemetryBook } from './rollouts';
import { addUser, CONSOLE_ROLES, readUsers, removeUser, type ConsoleAuth, type ConsoleRole } from './users';
import { page, href } from './pages/layout';
import { readTrail } from './trail';
import { trailBody } from './pages/trail';
import { fleetBody, gatewayBody, rolloutBody, rolloutsBody } from './pages/fleet';
import { denialsBody, searchBody, vendorsBody, type SearchForm } from './pages/audit';
import { usersBody } from './pages/auth';

export type Reply =
  | { kind: 'html'; html: string; status?: number; cookies?: string[] }
  | { kind: 'redirect'; to: string; cookies?: string[] }
  | { kind: 'text'; status: number; text: string; headers?: Record<string, string> };

export interface ConsoleDeps {
  store: FleetReadStore;
  sites: readonly string[];
  auth: ConsoleAuth;
  sessions: ConsoleSessions;
  rollouts: Rollouts;
  telemetry: TelemetryBook;
  /** Publishes the exact bytes retained on the kind's topic (fleet/publish.ts over the console's MQTT client). */
  publish(o: { site: string; device?: string; bytes: Uint8Array; kind: InboundKind }): Promise<void>;
  usersFile: string;
  /** The console's own audit trail (trail.ts), shown to admins. */
  trailFile: string;
  limiter: Semaphore;
  roleOk(role: ConsoleRole, need: ConsoleRole): boolean;
  log(line: string): void;
  now?: () => number;
}

interface Ctx { url: URL; session: ConsoleSession; deps: ConsoleDeps; now: number }
interface Route { get?(c: Ctx): Promise<Reply>; post?(c: Ctx & { req: IncomingMessage }): Promise<Reply>; role?: ConsoleRole }

export const MAX_UPLOAD_BYTES = 1024 * 1024;
const html = (title: string, c: Ctx, body: string | { controls: string; body: string }, live = false, status = 200): Reply => ({
  kind: 'html', status,
  html: page({ title, viewer: { user: c.session.user, role: c.session.role, csrf: c.session.csrf }, live, ...(typeof body === 'string' ? { body } : body) }),
});
const bad = (text: string): Reply => ({ kind: 'text', status: 400, text });

/** A query parameter: trimmed, at most 128 characters, undefined when empty. */
function param(url: URL, name: string): string | undefined {
  const v = url.searchParams.get(name)?.trim();
  return v ? v.slice(0, 128) : undefined;
}

async function chainLookup(store: FleetReadStore): Promise<(site: string, device: string) => ChainState | undefined> {
  const chains = await store.chains();
  const m = new Map(chains.map((c) => [`${c.site}\u0000${c.device}`, c]));
  return (site, device) => m.get(`${site}\u0000${device}`);
}

function siteDevice(url: URL, sites: readonly string[]): { site: string; device: string } | string {
  const site = param(url, 'site'), device = param(url, 'device');
  if (!site || !sites.includes(site)) return 'unknown site';
  const p = idProblem(device, 'device');
  return p ? `device: ${p}` : { site, device: device! };
}

async function checkedForm(c: Ctx & { req: IncomingMessage }): Promise<URLSearchParams | Reply> {
  const body = await readForm(c.req, 16 * 1024);
  if (!body) return { kind: 'text', status: 413, text: 'expected an application/x-www-form-urlencoded body of at most 16 KiB' };
  if (!sameToken(body.get('csrf') ?? undefined, c.session.csrf)) return { kind: 'text', status: 403, text: 'CSRF check failed: reload the page' };
  return body;
}

async function searchPage(c: Ctx): Promise<Reply> {
  const f: SearchForm = {};
  for (const k of ['site', 'device', 'identity', 'asset', 'operation', 'decision', 'from', 'to'] as const) f[k] = param(c.url, k);
  if (Object.values(f).every((v) => v === undefined)) return html('Audit search', c, searchBody(f, null, () => undefined, null));
  const q: AuditFilter = { site: f.site, device: f.device, identity: f.identity, asset: f.asset, operation: f.operation };
  try {
    if (f.decision) {
      if (!['allow', 'deny', 'would-deny'].includes(f.decision)) throw new Error('decision: allow, deny or would-deny');
      q.decision = f.decision as Decision;
    }
    if (f.from) q.from = parseTimeOption(f.from, { flag: 'from', now: c.now, durations: 'past' });
    if (f.to) q.to = parseTimeOption(f.to, { flag: 'to', now: c.now, durations: 'past' });
  } catch (e) {
    return html('Audit search', c, searchBody(f, null, () => undefined, null, (e as Error).message), false, 400);
  }
  const b = param(c.url, 'before');
  const m = b ? /^(\d{1,15}):([A-Za-z0-9._-]{1,64}):(\d{1,15})$/.exec(b) : null;
  const rows = await c.deps.store.search({ ...q, limit: 101, ...(m ? { before: { at: Number(m[1]), device: m[2], seq: Number(m[3]) } } : {}) });
  const last = rows.length > 100 ? rows[99] : null;
  const more = last ? href('/search', { ...f, before: `${last.at}:${last.device}:${last.seq}` }) : null;
  return html('Audit search', c, searchBody(f, rows.slice(0, 100), await chainLookup(c.deps.store), more), true);
}

async function denialsPage(c: Ctx): Promise<Reply> {
  const site = param(c.url, 'site'), asset = param(c.url, 'asset'), reason = param(c.url, 'reason');
  const num = (k: string) => { const v = param(c.url, k); return v && /^\d{1,15}$/.test(v) ? Number(v) : undefined; };
  const to = num('to') ?? Math.ceil(c.now / 60_000) * 60_000 + 60_000;
  const from = num('from') ?? to - 3_600_000;
  if (!(to > from) || to - from > 366 * 86_400_000) return bad('from must be before to, at most a year apart');
  const span = to - from;
  const bucketMs = [1_000, 10_000, 60_000, 300_000, 900_000, 3_600_000, 21_600_000, 86_400_000].find((b) => span / b <= 60) ?? 86_400_000;
  const buckets = await c.deps.store.denials({ site, asset, from, to, bucketMs });
  return html('Denials', c, denialsBody({ site, asset, reason, from, to, bucketMs }, buckets), true);
}

async function vendorsPage(c: Ctx): Promise<Reply> {
  const site = param(c.url, 'site');
  const from = c.now - 7 * 86_400_000;
  const kinds = ['grant', 'auth', 'break-glass'];
  const access = (await Promise.all(kinds.map((k) => c.deps.store.search({ site, operation: k, from, limit: 200 })))).flat().sort((a, b) => b.at - a.at);
  const who = new Set<string>();
  for (const r of access) {
    for (const v of [r.identity, r.record.detail?.identity, r.record.detail?.user]) if (typeof v === 'string') who.add(v);
  }
  const actions = (await Promise.all([...who].slice(0, 20).map((identity) => c.deps.store.search({ site, identity, from, limit: 50 }))))
    .flat().filter((r) => r.decision !== null).sort((a, b) => b.at - a.at).slice(0, 200);
  return html('Vendor access (7 days)', c, vendorsBody({ access, actions, chainOf: await chainLookup(c.deps.store) }), true);
}

async function publish(c: Ctx & { req: IncomingMessage }): Promise<Reply> {
  const mp = await readMultipart(c.req, MAX_UPLOAD_BYTES);
  if ('error' in mp) return { kind: 'text', status: mp.error === 'too-large' ? 413 : mp.error === 'type' ? 415 : 400, text: `upload refused: ${mp.error}` };
  if (!sameToken(mp.fields.get('csrf'), c.session.csrf)) return { kind: 'text', status: 403, text: 'CSRF check failed: reload the page' };
  const site = mp.fields.get('site') ?? '';
  const device = (mp.fields.get('device') ?? '').trim() || undefined;
  const file = mp.files.get('bundle');
  if (!c.deps.sites.includes(site)) return bad('unknown site');
  if (device !== undefined && idProblem(device, 'device')) return bad(`device: ${idProblem(device, 'device')}`);
  if (!file || file.length === 0) return bad('no file uploaded');
  const bytes = wireBytes(file);
  const label = readBundleLabel(bytes);
  let kind: InboundKind;
  try { kind = topicKindFor(label); } catch (e) { return bad(`not a signed bundle or command: ${(e as Error).message}`); }
  await c.deps.publish({ site, device, bytes, kind });
  const hash = createHash('sha256').update(bytes).digest('hex');
  const r = c.deps.rollouts.add({ site, device: device ?? null, kind, version: label.version ?? null, targets: label.targets ?? null, hash, bytes: bytes.length, by: c.session.user, at: c.now });
  c.deps.log(`${c.session.user} published ${kind}${label.version !== undefined ? ` v${label.version}` : ''} (sha256 ${hash.slice(0, 16)}) to ${site}/${device ?? 'all'}`);
  return { kind: 'redirect', to: `/rollout?id=${r.id}` };
}

async function usersPost(c: Ctx & { req: IncomingMessage }, remove: boolean): Promise<Reply> {
  const body = await checkedForm(c);
  if (!(body instanceof URLSearchParams)) return body;
  const name = (body.get('name') ?? '').trim();
  const users = async (extra: Parameters<typeof usersBody>[0]['made'], message?: string) =>
    html('Users', c, usersBody({ users: await readUsers(c.deps.usersFile), csrf: c.session.csrf, made: extra, message }));
  if (remove) {
    if (name === c.session.user) return users(undefined, 'You cannot remove yourself.');
    try { await removeUser({ file: c.deps.usersFile, name }); } catch (e) { return users(undefined, (e as Error).message); }
    c.deps.sessions.endUser(name);
    c.deps.log(`${c.session.user} removed user ${name}`);
    return users(undefined, `Removed ${name}.`);
  }
  const role = body.get('role') as ConsoleRole;
  const password = body.get('password') ?? '';
  if (!(CONSOLE_ROLES as readonly string[]).includes(role)) return bad('role: viewer, operator or admin');
  if ([...password].length < 10) return users(undefined, 'The password must have at least 10 characters.');
  try {
    const made = await addUser({ file: c.deps.usersFile, name, role, password, limiter: c.deps.limiter });
    c.deps.log(`${c.session.user} added user ${name} (${role})`);
    return users({ name, ...made });
  } catch (e) { return users(undefined, (e as Error).message); }
}

export const routes: Record<string, Route> = Object.assign(Object.create(null) as Record<string, Route>, {
  '/': { async get(c) {
    const gws = await c.deps.store.gateways();
    return html('Fleet', c, fleetBody({ gateways: gws, cpu: (s, d) => c.deps.telemetry.of(s, d), now: c.now, sites: c.deps.sites }), true);
  } },
  '/gateway': { async get(c) {
    const sd = siteDevice(c.url, c.deps.sites);
    if (typeof sd === 'string') return bad(sd);
    const [gws, recent, chains] = await Promise.all([c.deps.store.gateways(sd.site), c.deps.store.search({ ...sd, limit: 50 }), c.deps.store.chains(sd.site)]);
    const body = gatewayBody({ g: gws.find((g) => g.device === sd.device), ...sd, recent, chain: chains.find((x) => x.device === sd.device), now: c.now });
    return html(`Gateway ${sd.site}/${sd.device}`, c, body, true);
  } },
  '/rollouts': { async get(c) {
    return html('Rollouts', c, rolloutsBody({ rollouts: c.deps.rollouts.all(), gateways: await c.deps.store.gateways(), sites: c.deps.sites, canPublish: c.deps.roleOk(c.session.role, 'operator'), csrf: c.session.csrf }), true);
  } },
  '/rollout': { async get(c) {
    const id = Number(param(c.url, 'id'));
    const r = Number.isSafeInteger(id) ? c.deps.rollouts.get(id) : undefined;
    if (!r) return { kind: 'text', status: 404, text: 'no such rollout' };
    return html(`Rollout #${r.id}`, c, rolloutBody({ r, gateways: await c.deps.store.gateways(r.site) }), true);
  } },
  '/publish': { role: 'operator', post: publish },
  '/denials': { get: denialsPage },
  '/vendors': { get: vendorsPage },
  '/search': { get: searchPage },
  '/events': { async get() { return { kind: 'text', status: 405, text: 'events' }; } },
  '/trail': {
    role: 'admin',
    async get(c) {
      if (!c.deps.roleOk(c.session.role, 'admin')) {
        c.deps.log(`refused ${c.session.user} (${c.session.role}): GET /trail needs admin`);
        return { kind: 'text', status: 403, text: 'this needs the admin role' };
      }
      return html('Console audit trail', c, trailBody(readTrail(c.deps.trailFile), c.deps.trailFile));
    },
  },
  '/users': {
    role: 'admin',
    async get(c) {
      if (!c.deps.roleOk(c.session.role, 'admin')) return { kind: 'text', status: 403, text: 'this needs the admin role' };
      return html('Users', c, usersBody({ users: await readUsers(c.deps.usersFile), csrf: c.session.csrf }));
    },
    post: (c) => usersPost(c, false),
  },
  '/users/remove': { role: 'admin', post: (c) => usersPost(c, true) },
  '/logout': { async post(c) {
    const body = await checkedForm(c);
    if (!(body instanceof URLSearchParams)) return body;
    c.deps.sessions.end(c.session.id);
    return { kind: 'redirect', to: '/login', cookies: [`zgf_session=; ${cookieFlags(true)}; Max-Age=0`] };
  } },
} satisfies Record<string, Route>);
