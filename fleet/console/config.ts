/**
 * fleet.yaml, the console's config. Every problem is reported at once, with file:line:col and
 * the path in the document, like the gateway's config (runtime/config.ts):
 *
 *   listen: 127.0.0.1:8443                     HOST:PORT of the HTTPS server (port 0: a free one, printed)
 *   tls: { cert: console.pem, key: console.key }
 *   users: users.json                          the console's user file (`fleet user add`)
 *   sites: [substation-12, ...]                the sites the console shows
 *   mqtt: { url, username?, passwordFile?, ca?, cert?, key? }   the fleet's broker connection
 *   store: { kind: files, dir: audit }         `<dir>/<site>/<device>/`, as `fleet audit collect
 *                                              --site S --out <dir>/S` writes it
 *   session: { idleMinutes?: 30, maxHours?: 12 }
 *
 *   store: { kind: postgres, url: postgres://fleet@127.0.0.1:5432/fleet }   the database that
 *                                             `fleet audit collect --db` writes (password from
 *                                             PGPASSWORD or ~/.pgpass, never in this file)
 * Paths are resolved against the config file's folder.
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import { ZonegateError } from '../../policy/errors';
import { parseSource } from '../../policy/source';
import { IssueList, checkId, checkInt, get, has, readObject, readString, readStringList, type Path } from '../../policy/check';
import { parseHostPort } from '../../protocol/host-port';
import type { BrokerOptions } from '../broker';

export interface FleetConsoleConfig {
  file: string;
  listen: { host: string; port: number };
  tls: { cert: string; key: string };
  users: string;
  sites: string[];
  mqtt: BrokerOptions;
  store: StoreConfig;
  session: { idleMs: number; maxMs: number };
}

const TOP = ['listen', 'tls', 'users', 'sites', 'mqtt', 'store', 'session'];
export const STORE_KINDS = ['files', 'postgres'] as const;

export type StoreConfig = { kind: 'files'; dir: string } | { kind: 'postgres'; url: string };

/** Validates fleet.yaml's text; throws ERR_CONFIG_INVALID listing every issue. */
export function parseFleetConfig(text: string, opts: { file: string }): FleetConsoleConfig {
  let src: ReturnType<typeof parseSource>;
  try {
    src = parseSource(text, { file: opts.file, format: 'yaml' });
  } catch (e) {
    const issues = (e as ZonegateError).issues ?? [{ path: '', file: opts.file, message: (e as Error).message }];
    throw new ZonegateError('ERR_CONFIG_INVALID', `invalid fleet console config ${opts.file}`, { cause: e, issues });
  }
  const out = new IssueList({ file: opts.file, locate: src.locate });
  const dir = dirname(resolve(opts.file));
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(dir, p));
  const root = readObject(src.value ?? undefined, [], TOP, out, 'a mapping of console settings');
  const fail = () => new ZonegateError('ERR_CONFIG_INVALID', `invalid fleet console config ${opts.file}: ${out.count} problem${out.count === 1 ? '' : 's'}`, { issues: out.issues });
  if (!root) throw fail();

  const listenText = readString(root, 'listen', [], out, { required: true });
  let listen: { host: string; port: number } | undefined;
  if (listenText !== undefined) {
    const hp = parseHostPort(listenText.trim(), { allowName: true, allowZero: true });
    if ('error' in hp) out.add(['listen'], hp.error);
    else listen = { host: hp.host, port: hp.port };
  }
  const tls = readFiles(root, 'tls', ['cert', 'key'], ['cert', 'key'], out);
  const users = readString(root, 'users', [], out, { required: true });
  const sites = readStringList(root, 'sites', [], out, { required: true, single: true }) ?? [];
  sites.forEach((s, i) => checkId(s, ['sites', i], out));
  if (has(root, 'sites') && sites.length === 0) out.add(['sites'], 'must name at least one site');
  const mqtt = readMqtt(root, out);
  const store = readStore(root, out);
  const session = readSession(root, out);
  if (out.count > 0 || !listen || !tls || !users || !mqtt || !store) throw fail();
  const rel = (b: BrokerOptions) => ({ ...b, ...(b.passwordFile ? { passwordFile: abs(b.passwordFile) } : {}), ...(b.ca ? { ca: abs(b.ca) } : {}), ...(b.cert ? { cert: abs(b.cert) } : {}), ...(b.key ? { key: abs(b.key) } : {}) });
  return {
    file: opts.file, listen, tls: { cert: abs(tls.cert!), key: abs(tls.key!) }, users: abs(users), sites,
    mqtt: rel(mqtt), store: store.kind === 'files' ? { kind: 'files', dir: abs(store.dir) } : store, session,
  };
}

function readFiles(root: Record<string, unknown>, key: string, known: string[], required: string[], out: IssueList): Record<string, string | undefined> | undefined {
  if (!has(root, key)) { out.add([key], `required field '${key}' is missing (${known.join(', ')})`); return undefined; }
  const rec = readObject(get(root, key), [key], known, out);
  if (!rec) return undefined;
  const r: Record<string, string | undefined> = {};
  for (const k of known) r[k] = readString(rec, k, [key], out, { required: required.includes(k) });
  return r;
}

function readMqtt(root: Record<string, unknown>, out: IssueList): BrokerOptions | undefined {
  const r = readFiles(root, 'mqtt', ['url', 'username', 'passwordFile', 'ca', 'cert', 'key'], ['url'], out);
  if (!r || !r.url) return undefined;
  if (!/^(mqtts?|wss?):\/\/./.test(r.url)) { out.add(['mqtt', 'url'], `must be an mqtt://, mqtts://, ws:// or wss:// URL, got '${r.url}'`); return undefined; }
  const b: BrokerOptions = { url: r.url };
  for (const k of ['username', 'passwordFile', 'ca', 'cert', 'key'] as const) if (r[k] !== undefined) b[k] = r[k];
  return b;
}

function readStore(root: Record<string, unknown>, out: IssueList): StoreConfig | undefined {
  const path: Path = ['store'];
  if (!has(root, 'store')) { out.add(path, "required field 'store' is missing ({ kind: files, dir } or { kind: postgres, url })"); return undefined; }
  const rec = readObject(get(root, 'store'), path, ['kind', 'dir', 'url'], out);
  if (!rec) return undefined;
  const kind = readString(rec, 'kind', path, out, { required: true });
  if (kind === undefined) return undefined;
  if (kind === 'files') {
    const dir = readString(rec, 'dir', path, out, { required: true });
    return dir ? { kind, dir } : undefined;
  }
  if (kind === 'postgres') {
    const url = readString(rec, 'url', path, out, { required: true });
    if (url === undefined) return undefined;
    let u: URL | undefined;
    try { u = new URL(url); } catch { /* below */ }
    if (!u || (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:')) { out.add([...path, 'url'], `must be a postgres:// URL, got '${url}'`); return undefined; }
    if (u.password) { out.add([...path, 'url'], 'must not carry a password: use PGPASSWORD or ~/.pgpass'); return undefined; }
    return { kind, url };
  }
  out.add([...path, 'kind'], `must be one of ${STORE_KINDS.join(', ')}, got '${kind}'`);
  return undefined;
}

function readSession(root: Record<string, unknown>, out: IssueList): { idleMs: number; maxMs: number } {
  const s = { idleMs: 30 * 60_000, maxMs: 12 * 3_600_000 };
  if (!has(root, 'session')) return s;
  const rec = readObject(get(root, 'session'), ['session'], ['idleMinutes', 'maxHours'], out);
  if (!rec) return s;
  if (has(rec, 'idleMinutes')) { const v = checkInt(get(rec, 'idleMinutes'), ['session', 'idleMinutes'], out, { min: 1, max: 1440, name: 'minutes' }); if (v !== undefined) s.idleMs = v * 60_000; }
  if (has(rec, 'maxHours')) { const v = checkInt(get(rec, 'maxHours'), ['session', 'maxHours'], out, { min: 1, max: 168, name: 'hours' }); if (v !== undefined) s.maxMs = v * 3_600_000; }
  return s;
}
