/**
 * The login page on the management interface (edge authentication, design.md: CIP-003-11 style
 * authentication at the edge for low-impact assets). node:https with the device's certificate;
 * plain HTTP only on a loopback address, and only when no certificate could be had (a loud
 * warning on every page and in the log).
 *
 *   GET  /        the login form, or who is logged in from this address, until when, and logout
 *   POST /login   user, password, totp, csrf → a session bound to the source address (303 to /)
 *   POST /logout  csrf → the session ends (303 to /)
 *
 * Cookies: `zg_session` (the session id; HttpOnly, SameSite=Strict, Secure over TLS, Path=/) and
 * before login `zg_csrf` (double-submit token for the login form, same flags). The logout form
 * carries the session's own token (synchronizer pattern). A session cookie presented from another
 * address than the one that logged in is ignored. Request bodies are capped (4 KiB), urlencoded
 * only; a present Origin header must be this server's. Throttling is the authenticator's.
 */
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Authenticator } from '../auth/authenticator';
import type { SessionTable } from '../auth/sessions';
import { loginPage, sessionPage } from './pages';
import { contentSecurityPolicy, cookieFlags, originOk as sameOrigin, parseCookies, plainIp, readForm, sameToken, securityHeaders } from '../../protocol/web/http';

export const SESSION_COOKIE = 'zg_session';
export const CSRF_COOKIE = 'zg_csrf';
export const MAX_BODY_BYTES = 4_096;

export interface LoginServerOptions {
  listen: { host: string; port: number };
  /** PEM certificate and key; null serves plain HTTP (refused unless `listen.host` is loopback). */
  tls: { cert: string; key: string } | null;
  device: string;
  auth: Authenticator;
  sessions: SessionTable;
  /** The active grant conduits of an identity from an address (shown on the page). */
  grantsOf?: (identity: string, sourceIp: string) => readonly string[] | undefined;
  log?: { warn(message: string): void };
  /** Open connections at most. Default 64. */
  maxConnections?: number;
}

export interface LoginServer {
  start(): Promise<void>;
  stop(): Promise<void>;
  address(): AddressInfo;
  /** 'https', or 'http' in the loopback-only fallback. */
  readonly scheme: 'https' | 'http';
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

/** Builds the server; nothing listens until start(). Throws TypeError for plain HTTP off loopback. */
export function createLoginServer(o: LoginServerOptions): LoginServer {
  const secure = o.tls !== null;
  if (!secure && !LOOPBACK.test(o.listen.host)) throw new TypeError(`the login page without a certificate may only listen on loopback, not ${o.listen.host}`);
  const pages = new LoginPages(o, secure);
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    pages.handle(req, res).catch(() => { if (!res.headersSent) pages.plain(res, 500, 'internal error'); else res.destroy(); });
  };
  const server: Server = secure
    ? createHttpsServer({ cert: o.tls!.cert, key: o.tls!.key, minVersion: 'TLSv1.2' }, onRequest)
    : createHttpServer(onRequest);
  server.maxConnections = o.maxConnections ?? 64;
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  server.keepAliveTimeout = 5_000;

  return {
    scheme: secure ? 'https' : 'http',
    start() {
      if (pages.warning) o.log?.warn(pages.warning);
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(o.listen.port, o.listen.host, () => { server.off('error', reject); resolve(); });
      });
    },
    stop() {
      return new Promise((resolve) => {
        server.close(() => resolve());
        (server as Server & { closeAllConnections?: () => void }).closeAllConnections?.();
      });
    },
    address() {
      const a = server.address();
      if (!a || typeof a === 'string') throw new TypeError('login server is not listening');
      return a;
    },
  };
}

type WebSession = NonNullable<ReturnType<SessionTable['get']>>;

/** The three routes and their answers (pages, plain-text errors, cookies). */
class LoginPages {
  /** Shown on every page and logged at start when the page is plain HTTP. */
  readonly warning: string | undefined;
  private readonly flags: string;
  private readonly headers: Record<string, string>;

  constructor(private readonly o: LoginServerOptions, private readonly secure: boolean) {
    this.warning = secure ? undefined : 'WARNING: no TLS certificate (openssl missing): this page is plain HTTP on loopback only.';
    this.flags = cookieFlags(secure);
    this.headers = securityHeaders({ secure, csp: contentSecurityPolicy() });
  }

  private send(res: ServerResponse, status: number, html: string, extra: Record<string, string | string[]> = {}): void {
    res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', ...this.headers, ...extra });
    res.end(html);
  }

  plain(res: ServerResponse, status: number, text: string, extra: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...extra });
    res.end(`${text}\n`);
  }

  private loginForm(res: ServerResponse, status: number, message?: string, user?: string, extra: Record<string, string> = {}): void {
    const csrf = randomBytes(24).toString('base64url');
    this.send(res, status, loginPage({ device: this.o.device, csrf, message, warning: this.warning, user }), { 'set-cookie': `${CSRF_COOKIE}=${csrf}; ${this.flags}; Max-Age=3600`, ...extra });
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { o } = this;
    const ip = plainIp(req.socket.remoteAddress);
    const url = (req.url ?? '/').split('?')[0];
    const cookies = parseCookies(req.headers.cookie);
    const sid = cookies.get(SESSION_COOKIE);
    const session = sid ? o.sessions.get(sid) : undefined;
    const mine = session && session.sourceIp === ip && session.via === 'web' ? session : undefined;

    if (req.method === 'GET' && url === '/') {
      if (mine) {
        this.send(res, 200, sessionPage({ device: o.device, user: mine.user, role: mine.role, sourceIp: ip, expiresAt: mine.expiresAt, grants: [...(o.grantsOf?.(mine.identity, ip) ?? [])], csrf: mine.csrf, warning: this.warning }));
      } else this.loginForm(res, 200);
      return;
    }
    if (req.method === 'POST' && url === '/login') return this.login(req, res, ip, cookies);
    if (req.method === 'POST' && url === '/logout') return this.logout(req, res, mine);
    if (url === '/' || url === '/login' || url === '/logout') return this.plain(res, 405, 'method not allowed', { allow: url === '/' ? 'GET' : 'POST' });
    this.plain(res, 404, 'not found');
  }

  // POST /login: body, origin and the form's CSRF token, then the authenticator; a session cookie, or the form again saying why.
  private async login(req: IncomingMessage, res: ServerResponse, ip: string, cookies: Map<string, string>): Promise<void> {
    const { o, flags } = this;
    const body = await readForm(req, MAX_BODY_BYTES);
    if (!body) return this.plain(res, 400, 'expected an application/x-www-form-urlencoded body of at most 4 KiB');
    if (!sameOrigin(req, this.secure) || !sameToken(body.get('csrf') ?? undefined, cookies.get(CSRF_COOKIE))) return this.plain(res, 403, 'CSRF check failed: reload the login page');
    const user = (body.get('user') ?? '').trim();
    const r = await o.auth.login({ name: user, password: body.get('password') ?? '', totp: (body.get('totp') ?? '').trim() || undefined, channel: { kind: 'web', from: ip } });
    if (r.ok) {
      const s = o.sessions.open({ sourceIp: ip, user: r.user.name, role: r.user.role, via: 'web' });
      const maxAge = Math.max(1, Math.floor((s.expiresAt - s.createdAt) / 1000));
      res.writeHead(303, {
        location: '/', 'cache-control': 'no-store',
        'set-cookie': [`${SESSION_COOKIE}=${s.id}; ${flags}; Max-Age=${maxAge}`, `${CSRF_COOKIE}=; ${flags}; Max-Age=0`],
      });
      res.end();
      return;
    }
    switch (r.reason) {
      case 'throttled': return this.loginForm(res, 429, `Too many failed logins: wait ${Math.ceil((r.retryAfterMs ?? 1000) / 1000)} s.`, user, { 'retry-after': String(Math.ceil((r.retryAfterMs ?? 1000) / 1000)) });
      case 'locked': return this.loginForm(res, 423, 'This account is locked: ask an administrator (console: user unlock).', user);
      case 'busy': return this.loginForm(res, 503, 'The gateway is busy: try again shortly.', user, { 'retry-after': '1' });
      case 'totp-required': return this.loginForm(res, 401, 'Enter your TOTP code too.', user);
      default: return this.loginForm(res, 401, 'Login incorrect.', user);
    }
  }

  // POST /logout: only this address's own session, with the session's own CSRF token.
  private async logout(req: IncomingMessage, res: ServerResponse, mine: WebSession | undefined): Promise<void> {
    const body = await readForm(req, MAX_BODY_BYTES);
    if (!body) return this.plain(res, 400, 'expected an application/x-www-form-urlencoded body of at most 4 KiB');
    if (!mine) return this.plain(res, 401, 'not logged in from this address');
    if (!sameOrigin(req, this.secure) || !sameToken(body.get('csrf') ?? undefined, mine.csrf)) return this.plain(res, 403, 'CSRF check failed');
    this.o.sessions.end(mine.id, 'logout');
    res.writeHead(303, { location: '/', 'cache-control': 'no-store', 'set-cookie': `${SESSION_COOKIE}=; ${this.flags}; Max-Age=0` });
    res.end();
  }
}
