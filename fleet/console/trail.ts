/**
 * The console's own audit trail: every line the console logs about what people did (logins and
 * failed logins, refused requests, publishes, user changes) is also appended, fsynced, to a
 * hash-chained JSON-lines file next to the users file (`console-audit.jsonl`). Each entry is
 * [seq, at, text, prev, hash] with hash = SHA-256 (protocol/audit/record.ts hashPayload) of the
 * JSON of [seq, at, text, prev] and prev the previous entry's hash (64 zeros for the first): an
 * edited, removed or reordered entry breaks the chain at that line. The file is opened for
 * appending only; readTrail() re-verifies it from the start for the admins' page.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { hashPayload } from '../../protocol/audit/record';

export interface TrailEntry { seq: number; at: number; text: string; prev: string; hash: string }

export interface TrailCheck {
  entries: TrailEntry[];
  /** The first line that does not verify, and why; null when the whole file verifies. */
  problem: { line: number; message: string } | null;
}

const GENESIS = '0'.repeat(64);
const MAX_TEXT = 2000;

function hashOf(seq: number, at: number, text: string, prev: string): string {
  return hashPayload(Buffer.from(JSON.stringify([seq, at, text, prev]))).toString('hex');
}

/** Reads and verifies the whole trail; entries up to the first problem. */
export function readTrail(file: string): TrailCheck {
  const entries: TrailEntry[] = [];
  if (!existsSync(file)) return { entries, problem: null };
  const lines = readFileSync(file, 'utf8').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  for (let i = 0; i < lines.length; i++) {
    const fail = (message: string): TrailCheck => ({ entries, problem: { line: i + 1, message } });
    let v: unknown;
    try { v = JSON.parse(lines[i]); } catch { return fail('not JSON (a torn or edited line)'); }
    if (!Array.isArray(v) || v.length !== 5) return fail('not a trail entry');
    const [seq, at, text, prev, hash] = v as unknown[];
    if (typeof seq !== 'number' || typeof at !== 'number' || typeof text !== 'string' || typeof prev !== 'string' || typeof hash !== 'string') return fail('not a trail entry');
    const expectPrev = entries.length ? entries[entries.length - 1].hash : GENESIS;
    if (seq !== entries.length) return fail(`seq ${seq} where ${entries.length} belongs (an entry removed or reordered)`);
    if (prev !== expectPrev) return fail(`prev is not the hash of entry ${seq - 1} (an entry removed or edited)`);
    if (hash !== hashOf(seq, at, text, prev)) return fail(`entry ${seq} does not match its hash (edited)`);
    entries.push({ seq, at, text, prev, hash });
  }
  return { entries, problem: null };
}

/** The writer: continues the chain at the end of the file (after the last entry that verifies). */
export class ConsoleTrail {
  private next: number;
  private prev: string;
  private readonly fd: number;

  private constructor(readonly file: string, private readonly now: () => number, last: TrailEntry | undefined) {
    this.next = last ? last.seq + 1 : 0;
    this.prev = last ? last.hash : GENESIS;
    this.fd = openSync(file, 'a', 0o600);
  }

  /** Opens (creating) the trail; a trail that does not verify is still appended to, and readTrail says where it broke. */
  static open(o: { file: string; now?: () => number }): ConsoleTrail {
    const { entries } = readTrail(o.file);
    return new ConsoleTrail(o.file, o.now ?? Date.now, entries[entries.length - 1]);
  }

  /** Appends one entry and fsyncs it before returning. */
  append(text: string): void {
    const at = this.now();
    const t = text.slice(0, MAX_TEXT);
    const hash = hashOf(this.next, at, t, this.prev);
    writeSync(this.fd, `${JSON.stringify([this.next, at, t, this.prev, hash])}\n`);
    fsyncSync(this.fd);
    this.next++;
    this.prev = hash;
  }

  close(): void { closeSync(this.fd); }
}

/** A console log function that also appends each line to the trail (a failed append is logged, never thrown). */
export function loggingToTrail(log: (line: string) => void, trail: ConsoleTrail): (line: string) => void {
  return (line) => {
    log(line);
    try { trail.append(line); } catch (e) { log(`console audit trail ${trail.file} not written: ${(e as Error).message}`); }
  };
}
