/**
 * Reading an audit folder for people: every record in seq order, filtered (asset, identity,
 * decision, time range, kind), and one readable row per record. Reads what frames it can and
 * stops a segment at the first bad frame (verify.ts says why; `show` is not a verifier).
 */
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { readFrame } from './frame';
import { decodeRecord, type AuditRecord } from './record';
import { sortSegments } from './segment';
import { BUILTIN_OPERATION_TEXT, operationText, type OperationText } from './operation-text';

export interface RecordFilter {
  asset?: string;
  /** Matches the decision's identity. */
  identity?: string;
  decision?: 'allow' | 'deny';
  kind?: string;
  /** Epoch ms, inclusive. */
  since?: number;
  until?: number;
}

/** The audit folder for DIR: DIR/audit when DIR is a state folder holding one, DIR otherwise. */
export async function resolveAuditDir(dir: string): Promise<string> {
  try {
    if ((await fsp.stat(join(dir, 'audit'))).isDirectory()) return join(dir, 'audit');
  } catch { /* not a state folder */ }
  return dir;
}

/** True when the record passes every given filter. */
export function matchesFilter(r: AuditRecord, f: RecordFilter): boolean {
  if (f.asset !== undefined && r.asset !== f.asset) return false;
  if (f.identity !== undefined && r.decision?.identity !== f.identity) return false;
  if (f.decision !== undefined && r.decision?.decision !== f.decision) return false;
  if (f.kind !== undefined && r.kind !== f.kind) return false;
  if (f.since !== undefined && r.at < f.since) return false;
  if (f.until !== undefined && r.at > f.until) return false;
  return true;
}

/** The records of `dir` that match, oldest first; `problems` lists segments cut short by a bad frame. */
export async function readAuditRecords(dir: string, filter: RecordFilter = {}): Promise<{ records: AuditRecord[]; problems: string[] }> {
  const segs = sortSegments(dir, await fsp.readdir(dir));
  const records: AuditRecord[] = [];
  const problems: string[] = [];
  for (const seg of segs) {
    const bytes = await fsp.readFile(seg.path);
    let offset = 0;
    while (offset < bytes.length) {
      const fr = readFrame(bytes, offset);
      if (!fr.ok) { problems.push(`${seg.name} offset ${offset}: ${fr.message}`); break; }
      let r: AuditRecord;
      try { r = decodeRecord(fr.payload); } catch (e) { problems.push(`${seg.name} offset ${offset}: ${(e as Error).message}`); break; }
      if (matchesFilter(r, filter)) records.push(r);
      offset = fr.next;
    }
  }
  return { records, problems };
}

/** The columns of `audit show`. */
export interface RecordRow {
  seq: string;
  time: string;
  kind: string;
  src: string;
  identity: string;
  asset: string;
  operation: string;
  decision: string;
  detail: string;
}

/** One readable row for a record; `formatters` give the OPERATION text of protocol records (a driver registry's, or the built-in ones). */
export function recordRow(r: AuditRecord, formatters: readonly OperationText[] = BUILTIN_OPERATION_TEXT): RecordRow {
  const operation = operationText(r, formatters);
  let detail = '';
  if (r.kind === 'summary' && r.summary) detail = `${r.summary.count} more denials (${r.decision?.reason ?? '*'}) ${new Date(r.summary.from).toISOString()}..${new Date(r.summary.to).toISOString()}`;
  else if (r.kind === 'checkpoint' && r.checkpoint) detail = `signed head of seq ${r.checkpoint.seq} (${r.checkpoint.device})`;
  else if (r.decision) detail = r.decision.decision === 'allow' ? (r.decision.conduit ?? '') : (r.decision.reason ?? '');
  if (r.message && r.kind !== 'summary') detail = detail ? `${detail}: ${r.message}` : r.message;
  return {
    seq: String(r.seq),
    time: new Date(r.at).toISOString(),
    kind: r.kind,
    src: r.src !== undefined ? (r.srcPort !== undefined ? `${r.src}:${r.srcPort}` : r.src) : '',
    identity: r.decision?.identity ?? '',
    asset: r.asset ?? '',
    operation,
    decision: r.decision ? `${r.decision.decision}${r.decision.monitor ? ' (monitor)' : ''}` : '',
    detail,
  };
}

/** Plain JSON for a record: byte strings as hex. */
export function recordJson(r: AuditRecord): unknown {
  return JSON.parse(JSON.stringify(r, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex')
    : v && typeof v === 'object' && (v as { type?: string }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data) ? Buffer.from((v as { data: number[] }).data).toString('hex') : v)));
}

/**
 * The audit folders under DIR: DIR itself when it holds segments, DIR/audit (a gateway's state
 * folder), or each DIR/<device> that holds segments (the fleet's collected copies).
 */
export async function findAuditFolders(dir: string): Promise<string[]> {
  const holds = async (d: string): Promise<boolean> => {
    try { return sortSegments(d, await fsp.readdir(d)).length > 0; } catch { return false; }
  };
  const top = await resolveAuditDir(dir);
  if (await holds(top)) return [top];
  const out: string[] = [];
  for (const e of await fsp.readdir(dir, { withFileTypes: true })) {
    if (!e.isDirectory()) continue;
    const sub = await resolveAuditDir(join(dir, e.name));
    if (await holds(sub)) out.push(sub);
  }
  return out.sort();
}

/**
 * The records of `dir` in seq order, one segment's worth per batch (segments are a few MiB), so
 * memory stays bounded however long the log is. Records before `since` are left out. Stops a
 * segment at the first bad frame and adds a line to `problems`.
 */
export async function* streamAuditRecords(dir: string, opts: { since?: number; problems?: string[] } = {}): AsyncGenerator<AuditRecord[]> {
  for (const seg of sortSegments(dir, await fsp.readdir(dir))) {
    const batch: AuditRecord[] = [];
    await eachSegmentRecord(seg.path, opts, (r) => { batch.push(r); });
    if (batch.length > 0) yield batch;
  }
}

/**
 * One read buffer for the segments a reader goes through one after another, grown to the largest.
 * A fresh 4 MiB buffer per segment is external memory that the records' views into it keep until
 * an old-generation GC: reading a million records held ~70 MiB of segments that way.
 */
export class SegmentBuffer {
  private buf = Buffer.alloc(0);

  /** The file's bytes (as long as it was when opened), valid until the next read. */
  async read(path: string): Promise<Buffer> {
    const fh = await fsp.open(path, 'r');
    try {
      const { size } = await fh.stat();
      if (this.buf.length < size) this.buf = Buffer.allocUnsafe(size + (size >> 3));
      let len = 0;
      while (len < size) {
        const { bytesRead } = await fh.read(this.buf, len, size - len, len);
        if (bytesRead === 0) break;
        len += bytesRead;
      }
      return this.buf.subarray(0, len);
    } finally {
      await fh.close();
    }
  }
}

/**
 * Calls `each` with every record of one segment file (from `since` on), in order. Stops at the
 * first bad frame or record and adds a line to `problems`. With `buffer`, the file is read into it
 * and records hold no views of it (their byte strings are copies).
 */
export async function eachSegmentRecord(path: string, opts: { since?: number; problems?: string[]; buffer?: SegmentBuffer }, each: (r: AuditRecord) => void): Promise<void> {
  const bytes = opts.buffer ? await opts.buffer.read(path) : await fsp.readFile(path);
  const copyBytes = opts.buffer !== undefined;
  let offset = 0;
  while (offset < bytes.length) {
    const fr = readFrame(bytes, offset);
    if (!fr.ok) { opts.problems?.push(`${path} offset ${offset}: ${fr.message}`); return; }
    let r: AuditRecord;
    try { r = decodeRecord(fr.payload, { copyBytes }); } catch (e) { opts.problems?.push(`${path} offset ${offset}: ${(e as Error).message}`); return; }
    offset = fr.next;
    if (opts.since === undefined || r.at >= opts.since) each(r);
  }
}
