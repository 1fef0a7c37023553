/**
 * Reads a policy file from disk: size-checked before reading (64 MiB at most), strict UTF-8,
 * then parsed and validated with file, line and column on every issue.
 */
import { promises as fs } from 'node:fs';
import { ZonegateError } from '../policy/errors';
import { parsePolicy } from '../policy/parse';
import type { PolicyDocument } from '../policy/types';

/**
 * Larger policy files are refused before they are read. A policy learnt from a 10,000-conduit
 * site's traffic, with its embedded tests, is 22-33 MB (its tests most of it), and has to pass
 * `policy check` and `policy test`.
 */
export const MAX_POLICY_BYTES = 64 * 1024 * 1024;

function unreadable(path: string, message: string, cause?: unknown): ZonegateError {
  return new ZonegateError('ERR_POLICY_PARSE', `cannot read policy file ${path}: ${message}`, {
    cause,
    issues: [{ path: '', file: path, message }],
  });
}

/**
 * The file's text (a leading BOM removed). Throws ZonegateError('ERR_POLICY_PARSE') when the file
 * is missing, unreadable, not a regular file, larger than `maxBytes` or not UTF-8.
 */
export async function readPolicyText(path: string, opts: { maxBytes?: number } = {}): Promise<string> {
  const max = opts.maxBytes ?? MAX_POLICY_BYTES;
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (e as Error).message;
    throw unreadable(path, why, e);
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw unreadable(path, 'not a regular file');
    if (st.size > max) throw unreadable(path, `${st.size} bytes is more than the ${max}-byte limit for a policy`);
    // Read at most max + 1 bytes: the file may have grown since stat.
    const buf = Buffer.alloc(Math.min(st.size, max) + 1);
    let len = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buf, len, buf.length - len, len);
      if (bytesRead === 0) break;
      len += bytesRead;
      if (len === buf.length) break;
    }
    if (len > max) throw unreadable(path, `more than the ${max}-byte limit for a policy`);
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(0, len));
    } catch (e) {
      throw unreadable(path, 'not valid UTF-8 text', e);
    }
    return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  } catch (e) {
    if (e instanceof ZonegateError) throw e;
    throw unreadable(path, (e as Error).message, e);
  } finally {
    await handle.close();
  }
}

/**
 * Reads, parses (format from the extension: .json is JSON, else YAML) and validates a policy.
 * Throws ERR_POLICY_PARSE (unreadable or syntax) or ERR_POLICY_INVALID (every problem listed).
 */
export async function loadPolicyFile(path: string): Promise<{ doc: PolicyDocument; text: string }> {
  const text = await readPolicyText(path);
  return { doc: parsePolicy(text, { file: path }), text };
}
