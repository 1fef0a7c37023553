/**
 * A rate-limited line writer for the daemon's log: a driver's upstream trouble (timeouts, dropped
 * replies, closes) can repeat thousands of times a minute, and the audit log already keeps every
 * one. At most `perWindow` lines are written per window; the rest are counted and summed up in
 * one line when the next window opens (or at flush()).
 */
export interface LimitedLogOptions {
  /** Where a line goes (the runtime passes its logger's warn). */
  write: (line: string) => void;
  now: () => number;
  /** Lines written per window at most (default 10) and the window (default 60,000 ms). */
  perWindow?: number;
  windowMs?: number;
}

export class LimitedLog {
  private readonly perWindow: number;
  private readonly windowMs: number;
  private windowStart = -Infinity;
  private written = 0;
  /** Lines not written in the current window. */
  suppressed = 0;
  /** Lines not written since the start (for stats). */
  suppressedTotal = 0;

  constructor(private readonly o: LimitedLogOptions) {
    this.perWindow = o.perWindow ?? 10;
    this.windowMs = o.windowMs ?? 60_000;
  }

  /** Writes `line` unless this window's budget is spent (then counts it). Never throws. */
  say(line: string): void {
    const now = this.o.now();
    if (now - this.windowStart >= this.windowMs) {
      this.flush();
      this.windowStart = now;
      this.written = 0;
    }
    if (this.written >= this.perWindow) {
      this.suppressed++;
      this.suppressedTotal++;
      return;
    }
    this.written++;
    this.emit(line);
  }

  /** Writes the count of suppressed lines, if any, and resets it. */
  flush(): void {
    if (this.suppressed === 0) return;
    const n = this.suppressed;
    this.suppressed = 0;
    this.emit(`... ${n} similar message(s) suppressed (at most ${this.perWindow} per ${Math.round(this.windowMs / 1000)} s; the audit log has every one)`);
  }

  /** Flushes when the current window is over (a sweep calls this so a quiet period still reports). */
  tick(): void {
    if (this.suppressed > 0 && this.o.now() - this.windowStart >= this.windowMs) {
      this.flush();
      this.windowStart = -Infinity;
    }
  }

  private emit(line: string): void {
    try {
      this.o.write(line);
    } catch {
      /* a log that throws must not cost a request */
    }
  }
}
