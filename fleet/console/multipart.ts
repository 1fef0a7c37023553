/**
 * A multipart/form-data body (RFC 7578) read into memory with a byte cap: the publish form's
 * fields and its one file. The declared length is checked before anything is read; an over-long
 * body is drained, never buffered.
 */
import type { IncomingMessage } from 'node:http';

export interface MultipartResult { fields: Map<string, string>; files: Map<string, Buffer> }
export type MultipartError = 'type' | 'too-large' | 'malformed';

/** Reads the body; the error says why not (415, 413 or 400 for the caller). */
export function readMultipart(req: IncomingMessage, maxBytes: number): Promise<MultipartResult | { error: MultipartError }> {
  const ct = String(req.headers['content-type'] ?? '');
  const m = /^multipart\/form-data;\s*boundary=(?:"([^"]{1,70})"|([^\s;]{1,70}))/i.exec(ct);
  if (!m) { req.resume(); return Promise.resolve({ error: 'type' }); }
  if (Number(req.headers['content-length'] ?? 0) > maxBytes) { req.resume(); return Promise.resolve({ error: 'too-large' }); }
  const boundary = Buffer.from(`--${m[1] ?? m[2]}`);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0, over = false;
    req.on('data', (c: Buffer) => { size += c.length; if (size > maxBytes) over = true; else chunks.push(c); });
    req.on('error', () => resolve({ error: 'malformed' }));
    req.on('end', () => resolve(over ? { error: 'too-large' } : parseParts(Buffer.concat(chunks), boundary)));
  });
}

function parseParts(body: Buffer, boundary: Buffer): MultipartResult | { error: MultipartError } {
  const fields = new Map<string, string>(), files = new Map<string, Buffer>();
  let at = body.indexOf(boundary);
  if (at < 0) return { error: 'malformed' };
  for (let parts = 0; parts < 16; parts++) {
    at += boundary.length;
    if (body.subarray(at, at + 2).toString() === '--') return { fields, files };
    if (body.subarray(at, at + 2).toString() !== '\r\n') return { error: 'malformed' };
    const headEnd = body.indexOf('\r\n\r\n', at + 2);
    if (headEnd < 0 || headEnd - at > 1024) return { error: 'malformed' };
    const head = body.subarray(at + 2, headEnd).toString('utf8');
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), boundary]), headEnd + 4);
    if (next < 0) return { error: 'malformed' };
    const data = body.subarray(headEnd + 4, next);
    const disp = /content-disposition:\s*form-data;\s*name="([^"]{1,64})"(?:;\s*filename="([^"]*)")?/i.exec(head);
    if (!disp) return { error: 'malformed' };
    if (disp[2] !== undefined) files.set(disp[1], Buffer.from(data));
    else fields.set(disp[1], data.toString('utf8').slice(0, 4096));
    at = next + 2;
  }
  return { error: 'malformed' };
}
