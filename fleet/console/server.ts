/**
 * The fleet console's HTTPS server (node:https, TLS 1.2+). Before a request reaches a page:
 *
 *   - request line and headers at most 16 KiB (Node's parser; an over-long request line is
 *     answered 414, other header overflows 431), the URL at most 4 KiB (414), bodies capped per
 *     route (forms 16 KiB, the publish upload 1 MiB; 413), methods per route (405);
 *   - a session cookie counts only when it names a live session opened from the same address;
 *     every POST carries the session's CSRF token (the login form a double-submit cookie) and a
 *     present Origin must be this server's (403 otherwise);
 *   - every HTML response carries CSP (scripts only from 'self'), HSTS, X-Frame-Options DENY,
 *     nosniff, Referrer-Policy same-origin, Cache-Control no-store; cookies are HttpOnly,
 *     Secure, SameSite=Strict.
 *
 * Routes live in routes.ts; this file is the plumbing, the login and the server-sent events.
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { contentSecurityPolicy, cookieFlags, originOk, parseCookies, plainIp, readForm, sameToken, securityHeaders } from '../../protocol/web/http';
import type { ConsoleSession } from './sessions';
import { loginBody } from './pages/auth';
import { LIVE_SCRIPT, page } from './pages/layout';
import { routes, type ConsoleDeps, type Reply } from './routes';

export const SESSION_COOKIE = 'zgf_session';
export const LOGIN_CSRF_COOKIE = 'zgf_csrf';
export const MAX_URL = 4096;
export const MAX_HEADER_BYTES = 16 * 1024;
export const MAX_FORM_BYTES = 16 * 1024;
const MAX_SSE = 200;

export interface ConsoleServer {
  start(): Promise<void>;
  stop(): Promise<void>;
  address(): AddressInfo;
  /** Tells every open page that something changed (they fetch themselves again). */
  notify(what: string): void;
}

const FLAGS = cookieFlags(true);
const HEADERS = securityHeaders({ secure: true, csp: contentSecurityPolicy({ scriptSelf: true }) });

function send(res: ServerResponse, r: Reply): void {
  if (r.kind === 'redirect') { res.writeHead(303, { location: r.to, 'cache-control': 'no-store', ...(r.cookies ? { 'set-cookie': r.cookies } : {}) }); res.end(); return; }
  if (r.kind === 'text') { res.writeHead(r.status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...(r.headers ?? {}) }); res.end(`${r.text}\n`); return; }
  res.writeHead(r.status ?? 200, { 'content-type': 'text/html; charset=utf-8', ...HEADERS, ...(r.cookies ? { 'set-cookie': r.cookies } : {}) });
  res.end(r.html);
}

const text = (res: ServerResponse, status: number, t: string, extra?: Record<string, string>) => send(res, { kind: 'text', status, text: t, headers: extra });

/** The login form with a fresh double-submit CSRF cookie. */
function loginForm(res: ServerResponse, status: number, message?: string, user?: string, extra: Record<string, string> = {}): void {
  const csrf = randomBytes(24).toString('base64url');
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', ...HEADERS, 'set-cookie': `${LOGIN_CSRF_COOKIE}=${csrf}; ${FLAGS}; Max-Age=3600`, ...extra });
  res.end(page({ title: 'Log in', body: loginBody({ csrf, message, user }) }));
}

/** POST /login: CSRF and Origin first, then the password and TOTP (throttled), then a session. */
async function login(d: ConsoleDeps, req: IncomingMessage, res: ServerResponse, ip: string, cookies: Map<string, string>): Promise<void> {
  const body = await readForm(req, MAX_FORM_BYTES);
  if (!body) return text(res, 413, 'expected an application/x-www-form-urlencoded body of at most 16 KiB');
  if (!originOk(req, true) || !sameToken(body.get('csrf') ?? undefined, cookies.get(LOGIN_CSRF_COOKIE))) {
    d.log(`refused login post without a valid CSRF token from ${ip}`);
    return text(res, 403, 'CSRF check failed: reload the login page');
  }
  const user = (body.get('user') ?? '').trim().slice(0, 64);
  const r = await d.auth.login({ name: user, password: body.get('password') ?? '', totp: (body.get('totp') ?? '').trim(), from: ip });
  if (!r.ok) {
    d.log(`login ${r.reason === 'throttled' ? 'throttled' : 'failed'} for ${JSON.stringify(user)} from ${ip}`);
    if (r.reason === 'throttled') {
      const s = String(Math.ceil((r.retryAfterMs ?? 1000) / 1000));
      return loginForm(res, 429, `Too many failed logins: wait ${s} s.`, user, { 'retry-after': s });
    }
    return loginForm(res, 401, 'Login incorrect.', user);
  }
  const s = d.sessions.open({ user: r.user.name, role: r.user.role, ip });
  d.log(`login ${r.user.name} (${r.user.role}) from ${ip}`);
  send(res, { kind: 'redirect', to: '/', cookies: [`${SESSION_COOKIE}=${s.id}; ${FLAGS}`, `${LOGIN_CSRF_COOKIE}=; ${FLAGS}; Max-Age=0`] });
}

/** A POST to a page route: role, Origin, then the route (which checks the CSRF token in its body). */
async function post(d: ConsoleDeps, req: IncomingMessage, res: ServerResponse, route: (typeof routes)[string], session: ConsoleSession, url: URL): Promise<void> {
  if (!route.post) { req.resume(); return text(res, 405, 'method not allowed'); }
  if (route.role && !d.roleOk(session.role, route.role)) {
    req.resume();
    d.log(`refused ${session.user} (${session.role}): ${url.pathname} needs ${route.role}`);
    return text(res, 403, `this needs the ${route.role} role`);
  }
  if (!originOk(req, true)) { req.resume(); return text(res, 403, 'cross-origin request refused'); }
  const r = await route.post({ req, url, session, deps: d, now: (d.now ?? Date.now)() });
  if (r.kind === 'text' && r.status === 403) d.log(`refused a POST ${url.pathname} by ${session.user}: ${r.text}`);
  send(res, r);
}

/** An event stream for the live script; at most MAX_SSE open. */
function events(res: ServerResponse, streams: Set<ServerResponse>): void {
  if (streams.size >= MAX_SSE) return text(res, 503, 'too many live pages open', { 'retry-after': '5' });
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', connection: 'keep-alive' });
  res.write('retry: 3000\n\n');
  streams.add(res);
  res.on('close', () => streams.delete(res));
}

async function handle(d: ConsoleDeps, streams: Set<ServerResponse>, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const raw = req.url ?? '/';
  if (raw.length > MAX_URL) { req.resume(); return text(res, 414, `URL longer than ${MAX_URL} bytes`); }
  let url: URL;
  try { url = new URL(raw, 'https://console.invalid'); } catch { return text(res, 400, 'bad URL'); }
  const ip = plainIp(req.socket.remoteAddress);
  const cookies = parseCookies(req.headers.cookie);
  const path = url.pathname;
  if (path === '/static/live.js' && req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' });
    res.end(LIVE_SCRIPT);
    return;
  }
  if (path === '/login') {
    if (req.method === 'GET') return loginForm(res, 200);
    if (req.method === 'POST') return login(d, req, res, ip, cookies);
    return text(res, 405, 'method not allowed', { allow: 'GET, POST' });
  }
  const session = d.sessions.get(cookies.get(SESSION_COOKIE), ip);
  const route = routes[path];
  if (!route) { req.resume(); return text(res, 404, 'not found'); }
  if (!session) {
    req.resume();
    if (cookies.has(SESSION_COOKIE)) d.log(`refused a request with an unknown or expired session cookie from ${ip}: ${req.method} ${path}`);
    return req.method === 'GET' && path !== '/events' ? send(res, { kind: 'redirect', to: '/login' }) : text(res, 401, 'log in first');
  }
  if (path === '/events' && req.method === 'GET') return events(res, streams);
  if (req.method === 'POST') return post(d, req, res, route, session, url);
  if (req.method !== 'GET' || !route.get) { req.resume(); return text(res, 405, 'method not allowed'); }
  send(res, await route.get({ url, session, deps: d, now: (d.now ?? Date.now)() }));
}

/** Node's parser refused the request (before any handler): 414 for an over-long request line, 431 for headers. */
function onClientError(err: Error & { code?: string; rawPacket?: Buffer }, socket: Socket): void {
  if (!socket.writable) { socket.destroy(); return; }
  const firstLine = err.rawPacket ? !err.rawPacket.includes('\r\n') : true;
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? (firstLine ? '414 URI Too Long' : '431 Request Header Fields Too Large') : '400 Bad Request';
  socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
}

/** Builds the server; nothing listens until start(). */
export function createConsoleServer(o: { listen: { host: string; port: number }; tls: { cert: string; key: string }; deps: ConsoleDeps }): ConsoleServer {
  const d = o.deps;
  const streams = new Set<ServerResponse>();
  const server: Server = createServer({ cert: o.tls.cert, key: o.tls.key, minVersion: 'TLSv1.2', maxHeaderSize: MAX_HEADER_BYTES }, (req, res) => {
    handle(d, streams, req, res).catch((e) => {
      d.log(`internal error on ${req.method} ${String(req.url).slice(0, 200)}: ${(e as Error).message}`);
      if (!res.headersSent) text(res, 500, 'internal error'); else res.destroy();
    });
  });
  server.on('clientError', onClientError);
  server.maxConnections = 256;
  server.headersTimeout = 10_000;
  server.requestTimeout = 0; // server-sent event streams stay open; headersTimeout still bounds slow requests
  server.keepAliveTimeout = 5_000;
  const ping = setInterval(() => { for (const s of streams) s.write(': ping\n\n'); }, 15_000);
  ping.unref();

  return {
    start: () => new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(o.listen.port, o.listen.host, () => { server.off('error', reject); resolve(); });
    }),
    stop: () => new Promise((resolve) => {
      clearInterval(ping);
      for (const s of streams) s.end();
      server.close(() => resolve());
      server.closeAllConnections();
    }),
    address() {
      const a = server.address();
      if (!a || typeof a === 'string') throw new TypeError('the console is not listening');
      return a;
    },
    notify(what) { for (const s of streams) s.write(`event: change\ndata: ${JSON.stringify(what)}\n\n`); },
  };
}
