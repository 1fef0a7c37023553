/**
 * The vendor's browser, for the demo: logs in and out at the gateway's login page over HTTPS
 * (node:https, trusting the device's own self-signed certificate file), from a chosen loopback
 * source address, doing what the form does: GET / for the CSRF token and its cookie
 * (double-submit), POST /login, and POST /logout with the session page's token.
 */
import { request } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';

export interface WebClientOptions {
  /** The login page's URL (https://127.0.0.1:PORT/). */
  url: string;
  /** PEM of the device's certificate (<stateDir>/web-cert.pem). */
  ca: string;
  /** The vendor laptop's address; the session is bound to it. */
  localAddress: string;
}

export interface Res { status: number; headers: IncomingHttpHeaders; body: string }

/** One HTTPS request to `url`'s host and port, trusting `ca` only, from `localAddress` when given; a form body when given. */
export function httpsExchange(o: { url: string; ca: string; localAddress?: string }, method: string, path: string, cookie?: string, form?: Record<string, string>): Promise<Res> {
  const u = new URL(o.url);
  const body = form ? new URLSearchParams(form).toString() : undefined;
  return new Promise((resolve, reject) => {
    const r = request({
      host: u.hostname, port: Number(u.port), method, path, ca: o.ca, ...(o.localAddress ? { localAddress: o.localAddress } : {}),
      headers: {
        ...(cookie ? { cookie } : {}),
        ...(body !== undefined ? { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) } : {}),
      },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    r.setTimeout(10_000, () => r.destroy(new Error(`${u.host} did not answer`)));
    r.on('error', reject);
    r.end(body);
  });
}

/** The value of the cookie `name` a response sets, or undefined. */
export function cookieOf(res: Res, name: string): string | undefined {
  for (const c of res.headers['set-cookie'] ?? []) {
    const pair = c.split(';')[0];
    const i = pair.indexOf('=');
    if (pair.slice(0, i).trim() === name) return pair.slice(i + 1);
  }
  return undefined;
}

/** A logged-out browser; login() keeps the session cookie for logout(). */
export class DemoWebClient {
  private session: string | undefined;

  constructor(private readonly o: WebClientOptions) {}

  private send(method: string, path: string, cookie?: string, form?: Record<string, string>): Promise<Res> {
    return httpsExchange(this.o, method, path, cookie, form);
  }

  /** Resolves whether the login succeeded (303 with a session cookie). */
  async login(user: string, password: string): Promise<boolean> {
    const page = await this.send('GET', '/');
    const csrf = /name="csrf" value="([^"]+)"/.exec(page.body)?.[1];
    const token = cookieOf(page, 'zg_csrf');
    if (!csrf || !token) return false;
    const res = await this.send('POST', '/login', `zg_csrf=${token}`, { user, password, csrf });
    const sid = cookieOf(res, 'zg_session');
    if (res.status !== 303 || !sid) return false;
    this.session = `zg_session=${sid}`;
    return true;
  }

  /** What the logged-in page says (who, from where, which grants), for the narration. */
  async page(): Promise<{ who: string; source: string; grants: string }> {
    const res = await this.send('GET', '/', this.session);
    const field = (id: string) => (new RegExp(`id="${id}">([\\s\\S]*?)</(?:p|dd)>`).exec(res.body)?.[1] ?? '').replace(/<[^>]+>/g, '').trim();
    return { who: field('who'), source: field('source'), grants: field('grants') };
  }

  /** Resolves whether the logout succeeded. */
  async logout(): Promise<boolean> {
    if (!this.session) return false;
    const page = await this.send('GET', '/', this.session);
    const csrf = /action="\/logout">\s*<input type="hidden" name="csrf" value="([^"]+)"/.exec(page.body)?.[1];
    if (!csrf) return false;
    const res = await this.send('POST', '/logout', this.session, { csrf });
    if (res.status !== 303) return false;
    this.session = undefined;
    return true;
  }
}
