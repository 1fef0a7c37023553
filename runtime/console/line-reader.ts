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
  return new ConsoleLineReader(options);
}

/** The escape state: none, after ESC, inside a CSI (ESC [ ... final), after ESC O. */
const Esc = { None: 0, AfterEsc: 1, Csi: 2, Ss3: 3 } as const;
type EscState = (typeof Esc)[keyof typeof Esc];

class ConsoleLineReader implements LineReader {
  readonly stats: LineReaderStats = { lines: 0, rejected: 0, ignoredControls: 0, escapeSequences: 0, droppedLines: 0 };
  private readonly maxLineBytes: number;
  private readonly maxQueued: number;
  private readonly setT: (fn: () => void, ms: number) => unknown;
  private readonly clearT: (h: unknown) => void;
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });
  private buf: number[] = [];
  /** Typed bytes of the current chunk not yet echoed (echoed together). */
  private printable: number[] = [];
  private overflow = false;
  private lastCR = false;
  private esc: EscState = Esc.None;
  private secret = false;
  private ended = false;
  private readonly queue: LineEvent[] = [];
  private waiter: ((e: LineEvent | null) => void) | null = null;

  constructor(private readonly options: LineReaderOptions) {
    this.maxLineBytes = options.maxLineBytes ?? 1024;
    this.maxQueued = options.maxQueued ?? 32;
    this.setT = options.setTimeout ?? ((fn, ms) => setTimeout(fn, ms));
    this.clearT = options.clearTimeout ?? ((h) => clearTimeout(h as NodeJS.Timeout));
    options.input.on('data', this.onData);
    options.input.on('end', this.onEnd);
    options.input.on('close', this.onEnd);
    options.input.on('error', this.onEnd);
  }

  next({ secret = false, timeoutMs }: { secret?: boolean; timeoutMs?: number }): Promise<LineEvent | null> {
    this.secret = secret;
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.ended) return Promise.resolve({ kind: 'eof' });
    return new Promise((resolve) => {
      let timer: unknown;
      this.waiter = (e) => { if (timer !== undefined) this.clearT(timer); resolve(e); };
      if (timeoutMs !== undefined && timeoutMs > 0) timer = this.setT(() => { this.waiter = null; resolve(null); }, timeoutMs);
    });
  }

  discardPending(): void {
    const eof = this.queue.some((e) => e.kind === 'eof');
    this.queue.length = 0;
    if (eof) this.queue.push({ kind: 'eof' });
  }

  close(): void {
    const input = this.options.input;
    input.off('data', this.onData);
    input.off('end', this.onEnd);
    input.off('close', this.onEnd);
    input.off('error', this.onEnd);
    if (this.waiter) { const w = this.waiter; this.waiter = null; w({ kind: 'eof' }); }
  }

  private echo(bytes: Uint8Array | string): void {
    if (!this.options.echo || this.secret) return;
    try { this.options.echo.write(bytes); } catch { /* the stream is gone */ }
  }

  private flushEcho(): void {
    if (this.printable.length) { this.echo(Uint8Array.from(this.printable)); this.printable = []; }
  }

  private push(e: LineEvent): void {
    if (this.waiter) { const w = this.waiter; this.waiter = null; w(e); return; }
    if (this.queue.length >= this.maxQueued && e.kind !== 'eof') { this.stats.droppedLines += 1; return; }
    this.queue.push(e);
  }

  private endLine(): void {
    const { options, stats } = this;
    if (options.echo && !this.secret) this.echo('\r\n');
    else if (options.echo && this.secret) { try { options.echo.write('\r\n'); } catch { /* gone */ } }
    if (this.overflow) { stats.rejected += 1; this.push({ kind: 'rejected', why: 'too-long' }); }
    else {
      let text: string | undefined;
      try { text = this.decoder.decode(Uint8Array.from(this.buf)); } catch { text = undefined; }
      if (text === undefined) { stats.rejected += 1; this.push({ kind: 'rejected', why: 'not-utf8' }); }
      else { stats.lines += 1; this.push({ kind: 'line', text }); }
    }
    this.buf = [];
    this.overflow = false;
  }

  private erase(): void {
    const buf = this.buf;
    if (this.overflow || buf.length === 0) return;
    // One whole UTF-8 character: continuation bytes (10xxxxxx), then the lead byte.
    while (buf.length > 0 && (buf[buf.length - 1] & 0xc0) === 0x80) buf.pop();
    buf.pop();
    this.echo('\b \b');
  }

  private readonly onData = (chunk: Buffer | string): void => {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    this.printable = [];
    for (const b of bytes) if (!this.escape(b)) this.byte(b);
    this.flushEcho();
  };

  /** Inside an escape sequence: true when `b` belongs to it (skipped, counted when it ends). */
  private escape(b: number): boolean {
    switch (this.esc) {
      case Esc.None: return false;
      case Esc.AfterEsc: this.esc = b === 0x5b ? Esc.Csi : b === 0x4f ? Esc.Ss3 : Esc.None; if (this.esc === Esc.None) this.stats.escapeSequences += 1; return true;
      case Esc.Csi: if (b >= 0x40 && b <= 0x7e) { this.esc = Esc.None; this.stats.escapeSequences += 1; } return true;
      case Esc.Ss3: this.esc = Esc.None; this.stats.escapeSequences += 1; return true;
    }
  }

  /** One byte outside an escape sequence: a line end, an edit key, a control, or a typed character. */
  private byte(b: number): void {
    const wasCR = this.lastCR;
    this.lastCR = b === CR;
    if (b === LF && wasCR) return; // CRLF is one line end
    if (b === CR || b === LF) { this.flushEcho(); this.endLine(); return; }
    if (b === ESC) { this.esc = Esc.AfterEsc; return; }
    if (b === BS || b === DEL) { this.flushEcho(); this.erase(); return; }
    if (b === ETX) { this.flushEcho(); this.buf = []; this.overflow = false; this.echo('^C\r\n'); this.push({ kind: 'interrupt' }); return; }
    if (b === EOT) { if (this.buf.length === 0 && !this.overflow) { this.flushEcho(); this.push({ kind: 'eot' }); } return; }
    if ((b < 0x20 && b !== TAB) || b === NUL) { this.stats.ignoredControls += 1; return; }
    const c = b === TAB ? 0x20 : b;
    if (this.overflow) return;
    if (this.buf.length >= this.maxLineBytes) { this.overflow = true; return; }
    this.buf.push(c);
    this.printable.push(c);
  }

  private readonly onEnd = (): void => {
    if (!this.ended) { this.ended = true; this.push({ kind: 'eof' }); }
  };
}
