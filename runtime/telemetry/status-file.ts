/**
 * The daemon's status file, `<stateDir>/status.json`: what `zonegate status` reads. The daemon
 * writes it every few seconds (writeStatusFile, power-loss safe: temp file, fsync, rename, fsync
 * of the folder; on a full disk in place, in the space the file keeps reserved) as
 *
 *   { schema: 1, pid, writtenAt, status: <gateway.status()> + { telemetry, upload } }
 *
 * A file older than staleAfterMs, or whose pid is gone, means the daemon is not running.
 */
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import type { GatewayStatus } from '../gateway-status';
import type { UploadStatus } from '../audit/upload';
import type { TelemetrySummary } from './summary';
import { writeFileAtomic } from '../../protocol/write-atomic';

export const STATUS_FILE = 'status.json';
export const STATUS_FILE_SCHEMA = 1;

/** What the daemon reports: the gateway's status() plus telemetry and the audit upload. */
export type DaemonStatus = GatewayStatus & {
  telemetry?: TelemetrySummary | null;
  upload?: UploadStatus | null;
  [extra: string]: unknown;
};

export interface StatusFileDocument {
  schema: number;
  pid: number;
  /** Epoch ms. */
  writtenAt: number;
  status: DaemonStatus;
}

/** Bytes status.json keeps allocated (whitespace after the JSON), so an in-place rewrite needs no new blocks. */
export const STATUS_RESERVE_BYTES = 64 * 1024;

/** How a status write went: `in-place` when the disk had no room for a new file (it is full). */
export interface StatusWriteResult {
  mode: 'atomic' | 'in-place';
  /** The error that sent it in place (ENOSPC, EDQUOT), null for an atomic write. */
  error: string | null;
}

const NO_SPACE = new Set(['ENOSPC', 'EDQUOT']);

/**
 * Writes `<stateDir>/status.json`. Normally atomic (temp file, fsync, rename, fsync of the folder).
 * The file is padded with whitespace to at least STATUS_RESERVE_BYTES (JSON allows trailing
 * whitespace), so that when the disk is full (ENOSPC/EDQUOT on the temp file) the same bytes can
 * be overwritten in place: `zonegate status` then still sees a fresh status saying why, instead of
 * a stale file and "not running". Rejects when neither works.
 */
export async function writeStatusFile(stateDir: string, status: DaemonStatus, o: { now?: () => number; pid?: number } = {}): Promise<StatusWriteResult> {
  const doc: StatusFileDocument = { schema: STATUS_FILE_SCHEMA, pid: o.pid ?? process.pid, writtenAt: (o.now ?? Date.now)(), status };
  const json = Buffer.from(`${JSON.stringify(doc, null, 1)}\n`, 'utf8');
  const final = join(stateDir, STATUS_FILE);
  const size = Math.max(STATUS_RESERVE_BYTES, Math.ceil((json.length * 2) / 4096) * 4096);
  const data = Buffer.alloc(size, 0x20);
  json.copy(data);
  try {
    await writeFileAtomic(stateDir, STATUS_FILE, data, 0o644);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    if (!NO_SPACE.has(code)) throw e;
    await overwriteInPlace(final, json);
    return { mode: 'in-place', error: `${code}: ${(e as Error).message}` };
  }
  return { mode: 'atomic', error: null };
}

/** Rewrites the reserved file's bytes in place (no new blocks): the JSON, then spaces to the old end. */
async function overwriteInPlace(file: string, json: Buffer): Promise<void> {
  const fh = await fsp.open(file, 'r+');
  try {
    const { size } = await fh.stat();
    if (json.length > size) throw Object.assign(new Error(`the disk is full and the status (${json.length} bytes) does not fit the ${size} bytes reserved`), { code: 'ENOSPC' });
    const data = Buffer.alloc(size, 0x20);
    json.copy(data);
    await fh.write(data, 0, data.length, 0);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export type StatusFileState =
  | { state: 'running'; doc: StatusFileDocument; ageMs: number }
  | { state: 'stale'; doc: StatusFileDocument; ageMs: number; why: string }
  | { state: 'missing'; path: string }
  | { state: 'unreadable'; path: string; why: string };

/** Is a process with this pid alive? (EPERM: it exists but belongs to someone else.) */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
}

/** Reads the status file and judges whether the daemon behind it runs. Never rejects. */
export async function readStatusFile(stateDir: string, o: { now?: () => number; staleAfterMs?: number; alive?: (pid: number) => boolean } = {}): Promise<StatusFileState> {
  const path = join(stateDir, STATUS_FILE);
  let text: string;
  try { text = await fsp.readFile(path, 'utf8'); } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'missing', path };
    return { state: 'unreadable', path, why: (e as Error).message };
  }
  let doc: StatusFileDocument;
  try {
    doc = JSON.parse(text) as StatusFileDocument;
    if (!doc || typeof doc !== 'object' || typeof doc.writtenAt !== 'number' || !doc.status || typeof doc.status !== 'object') throw new Error('not a status document');
  } catch (e) {
    return { state: 'unreadable', path, why: (e as Error).message };
  }
  const ageMs = Math.max(0, (o.now ?? Date.now)() - doc.writtenAt);
  const staleAfterMs = o.staleAfterMs ?? 30_000;
  if (doc.status.state === 'stopped' || doc.status.state === 'failed') return { state: 'stale', doc, ageMs, why: `the daemon ${doc.status.state === 'failed' ? 'failed' : 'stopped'} (status written ${new Date(doc.writtenAt).toISOString()})` };
  if (!(o.alive ?? pidAlive)(doc.pid)) return { state: 'stale', doc, ageMs, why: `process ${doc.pid} is not running` };
  if (ageMs > staleAfterMs) return { state: 'stale', doc, ageMs, why: `last written ${Math.round(ageMs / 1000)} s ago (more than ${Math.round(staleAfterMs / 1000)} s)` };
  return { state: 'running', doc, ageMs };
}
