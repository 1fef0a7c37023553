/**
 * The small pure pieces every zonegate web page shares, on the gateway (runtime/web) and in the
 * fleet console (fleet/console): cookie parsing, constant-time token comparison, the security
 * headers (CSP, HSTS, frame and sniffing protection), HTML escaping, the Origin check and a capped
 * urlencoded body reader.
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

/** The socket address without the IPv4-mapped prefix. */
export function plainIp(addr: string | undefined): string {
  if (!addr) return '';
  return addr.startsWith('::ffff:') && addr.includes('.') ? addr.slice(7) : addr;
}

/** Cookie header → name/value map; an over-long header (more than 8 KiB) yields none. */
export function parseCookies(header: string | undefined): Map<string, string> {
  const m = new Map<string, string>();
  if (!header || header.length > 8_192) return m;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i < 1) continue;
    m.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
  }
  return m;
}

/** Constant-time equality of two tokens of at most 128 characters; false when either is missing. */
export function sameToken(a: string | undefined, b: string | undefined): boolean {
  if (!a || !b || a.length !== b.length || a.length > 128) return false;
  return timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

/** Cookie attributes for a session or CSRF cookie: HttpOnly, SameSite=Strict, Path=/, Secure over TLS. */
export function cookieFlags(secure: boolean): string {
  return `HttpOnly; SameSite=Strict; Path=/${secure ? '; Secure' : ''}`;
}

/** The CSP of a page: no script, or with `scriptSelf` scripts from this origin only (and fetches/events to it). */
export function contentSecurityPolicy(o: { scriptSelf?: boolean } = {}): string {
  return [
    "default-src 'none'", "style-src 'unsafe-inline'",
    ...(o.scriptSelf ? ["script-src 'self'", "connect-src 'self'"] : []),
    "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'",
  ].join('; ');
}

/** Headers every HTML response carries (HSTS only over TLS). */
export function securityHeaders(o: { secure: boolean; csp: string }): Record<string, string> {
  return {
    'cache-control': 'no-store',
    'content-security-policy': o.csp,
    'x-frame-options': 'DENY',
    'x-content-type-options': 'nosniff',
    // same-origin, not no-referrer: with no-referrer browsers send `Origin: null` on form posts,
    // which the Origin check rightly refuses (found by the gateway's Chromium test).
    'referrer-policy': 'same-origin',
    ...(o.secure ? { 'strict-transport-security': 'max-age=31536000' } : {}),
  };
}

/** True when the request has no Origin header or names this server (scheme and Host). */
export function originOk(req: IncomingMessage, secure: boolean): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  return origin === `${secure ? 'https' : 'http'}://${req.headers.host}`;
}

/**
 * Reads an application/x-www-form-urlencoded body of at most `maxBytes`; null for another type,
 * an over-long body (the rest is drained, never buffered) or a read error.
 */
export function readForm(req: IncomingMessage, maxBytes: number): Promise<URLSearchParams | null> {
  return new Promise((resolve) => {
    const ct = String(req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    const declared = Number(req.headers['content-length'] ?? 0);
    if (ct !== 'application/x-www-form-urlencoded' || declared > maxBytes) { req.resume(); resolve(null); return; }
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > maxBytes) { over = true; return; }
      chunks.push(c);
    });
    req.on('end', () => resolve(over ? null : new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
    req.on('error', () => resolve(null));
  });
}
