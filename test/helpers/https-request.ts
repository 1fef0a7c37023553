/** One HTTPS request to a loopback test server (trusting `ca`), the whole body read as text. */
import { request as httpsRequest } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';

export interface HttpsResponse { status: number; headers: IncomingHttpHeaders; body: string }

export function httpsRequestText(o: { port: number; ca: string; method: string; path: string; headers?: Record<string, string | number>; body?: Buffer; localAddress?: string }): Promise<HttpsResponse> {
  return new Promise((resolve, reject) => {
    const r = httpsRequest({ host: '127.0.0.1', port: o.port, method: o.method, path: o.path, ca: o.ca, localAddress: o.localAddress, headers: o.headers ?? {} }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    r.on('error', reject);
    r.end(o.body);
  });
}
