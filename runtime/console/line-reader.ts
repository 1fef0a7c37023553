/**
 * The line discipline of the console over any byte stream (a serial device in raw mode, a unix
 * socket, stdin): the far side is a technician's terminal program, so bytes arrive one at a time
 * or pasted in bursts, with CR, LF or CRLF line ends, backspace as BS (0x08) or DEL (0x7f),
 * escape sequences for arrow keys (ECMA-48 section 5.4: ESC [ params final, ESC O x), and line
 * noise. This reader echoes what it keeps (unless in secret mode), erases on backspace one whole
 * UTF-8 character, ignores other control characters and escape sequences (counted), refuses a
 * line over `maxLineBytes` or one that is not UTF-8 (WHATWG Encoding, fatal decoder), and keeps
 * at most `maxQueued` complete lines (the rest are dropped and counted).
 */
import type { Readable, Writable } from 'node:stream';

export type LineEvent =
  | { kind: 'line'; text: string }
  | { kind: 'rejected'; why: 'too-long' | 'not-utf8' }
  | { kind: 'interrupt' }
  /** Ctrl-D on an empty line (the technician's logout key). */
  | { kind: 'eot' }
  /** The stream ended. */
  | { kind: 'eof' };

export interface LineReaderStats {
  lines: number;
  rejected: number;
  ignoredControls: number;
  escapeSequences: number;
  droppedLines: number;
}

export interface LineReader {
  /** The next event, or null when `timeoutMs` passed first (idle). */
  next(opts: { secret?: boolean; timeoutMs?: number }): Promise<LineEvent | null>;
  /** Drops what was typed ahead (after a login failure, so that pasted guesses don't count). */
  discardPending(): void;
  readonly stats: LineReaderStats;
  close(): void;
}

export interface LineReaderOptions {
  input: Readable;
  /** Where echo goes; undefined echoes nothing. */
  echo?: Writable;
  maxLineBytes?: number;
  maxQueued?: number;
  setTimeout?: (fn: () => void, ms: number) => unknown;
  clearTimeout?: (h: unknown) => void;
}

const BS = 0x08, DEL = 0x7f, ESC = 0x1b, CR = 0x0d, LF = 0x0a, ETX = 0x03, EOT = 0x04, TAB = 0x09, NUL = 0x00;

/** Builds a reader over `input`; it starts reading at once. */
export function createLineReader(options: LineReaderOptions): LineReader {
  const maxLineBytes = options.maxLineBytes ?? 1024;
  const maxQueued = options.maxQueued ?? 32;
  const setT = options.setTimeout ?? ((fn, ms) => setTimeout(fn, ms));
  const clearT = options.clearTimeout ?? ((h) => clearTimeout(h as NodeJS.Timeout));
  const stats: LineReaderStats = { lines: 0, rejected: 0, ignoredControls: 0, escapeSequences: 0, droppedLines: 0 };
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let buf: number[] = [];
  let overflow = false;
  let lastCR = false;
  let esc: 0 | 1 | 2 | 3 = 0; // 0 none, 1 after ESC, 2 in CSI, 3 after ESC O
  let secret = false;
  let ended = false;
  const queue: LineEvent[] = [];
  let waiter: ((e: LineEvent | null) => void) | null = null;

  const echo = (bytes: Uint8Array | string) => {
    if (!options.echo || secret) return;
    try { options.echo.write(bytes); } catch { /* the stream is gone */ }
  };
  const push = (e: LineEvent) => {
    if (waiter) { const w = waiter; waiter = null; w(e); return; }
    if (queue.length >= maxQueued && e.kind !== 'eof') { stats.droppedLines += 1; return; }
    queue.push(e);
  };
  const endLine = () => {
    if (options.echo && !secret) echo('\r\n');
    else if (options.echo && secret) { try { options.echo.write('\r\n'); } catch { /* gone */ } }
    if (overflow) { stats.rejected += 1; push({ kind: 'rejected', why: 'too-long' }); }
    else {
      let text: string | undefined;
      try { text = decoder.decode(Uint8Array.from(buf)); } catch { text = undefined; }
      if (text === undefined) { stats.rejected += 1; push({ kind: 'rejected', why: 'not-utf8' }); }
      else { stats.lines += 1; push({ kind: 'line', text }); }
    }
    buf = [];
    overflow = false;
  };
  const erase = () => {
    if (overflow || buf.length === 0) return;
    // One whole UTF-8 character: continuation bytes (10xxxxxx), then the lead byte.
    while (buf.length > 0 && (buf[buf.length - 1] & 0xc0) === 0x80) buf.pop();
    buf.pop();
    echo('\b \b');
  };

  const onData = (chunk: Buffer | string) => {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    let printable: number[] = [];
    const flushEcho = () => { if (printable.length) { echo(Uint8Array.from(printable)); printable = []; } };
    for (const b of bytes) {
      if (esc === 1) { esc = b === 0x5b ? 2 : b === 0x4f ? 3 : 0; if (esc === 0) stats.escapeSequences += 1; continue; }
      if (esc === 2) { if (b >= 0x40 && b <= 0x7e) { esc = 0; stats.escapeSequences += 1; } continue; }
      if (esc === 3) { esc = 0; stats.escapeSequences += 1; continue; }
      const wasCR = lastCR;
      lastCR = b === CR;
      if (b === LF && wasCR) continue; // CRLF is one line end
      if (b === CR || b === LF) { flushEcho(); endLine(); continue; }
      if (b === ESC) { esc = 1; continue; }
      if (b === BS || b === DEL) { flushEcho(); erase(); continue; }
      if (b === ETX) { flushEcho(); buf = []; overflow = false; echo('^C\r\n'); push({ kind: 'interrupt' }); continue; }
      if (b === EOT) { if (buf.length === 0 && !overflow) { flushEcho(); push({ kind: 'eot' }); } continue; }
      if ((b < 0x20 && b !== TAB) || b === NUL) { stats.ignoredControls += 1; continue; }
      const c = b === TAB ? 0x20 : b;
      if (overflow) continue;
      if (buf.length >= maxLineBytes) { overflow = true; continue; }
      buf.push(c);
      printable.push(c);
    }
    flushEcho();
  };
  const onEnd = () => { if (!ended) { ended = true; push({ kind: 'eof' }); } };
  options.input.on('data', onData);
  options.input.on('end', onEnd);
  options.input.on('close', onEnd);
  options.input.on('error', onEnd);

  return {
    next({ secret: s = false, timeoutMs }) {
      secret = s;
      const queued = queue.shift();
      if (queued) return Promise.resolve(queued);
      if (ended) return Promise.resolve({ kind: 'eof' });
      return new Promise((resolve) => {
        let timer: unknown;
        waiter = (e) => { if (timer !== undefined) clearT(timer); resolve(e); };
        if (timeoutMs !== undefined && timeoutMs > 0) timer = setT(() => { waiter = null; resolve(null); }, timeoutMs);
      });
    },
    discardPending() {
      const eof = queue.some((e) => e.kind === 'eof');
      queue.length = 0;
      if (eof) queue.push({ kind: 'eof' });
    },
    stats,
    close() {
      options.input.off('data', onData);
      options.input.off('end', onEnd);
      options.input.off('close', onEnd);
      options.input.off('error', onEnd);
      if (waiter) { const w = waiter; waiter = null; w({ kind: 'eof' }); }
    },
  };
}
