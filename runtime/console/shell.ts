/**
 * One console on one stream (a serial line, a unix socket connection, stdin/stdout): a login
 * (user, password with echo off, TOTP code when the user has one), then commands by role until
 * logout, Ctrl-D, idle timeout or the stream ends; then the login prompt again (serial lines and
 * stdin stay attached) or the end (a socket connection closes). Output uses CRLF line ends, as
 * raw terminals need. Failed logins are throttled by the authenticator; the shell waits out the
 * delay before it prompts again and drops what was typed ahead meanwhile.
 */
import type { Readable, Writable } from 'node:stream';
import { ZonegateError } from '../../policy/errors';
import { roleAtLeast, type Role } from '../auth/types';
import { createLineReader, type LineEvent, type LineReader } from './line-reader';
import { COMMANDS, findCommand, sanitize } from './commands';
import type { ConsoleDeps } from './deps';

export interface ConsoleOptions {
  input: Readable;
  output: Writable;
  deps: ConsoleDeps;
  /** Where the console is (the serial device, the socket path, `stdin`): audit and messages. */
  where: string;
  /** Echo typed characters back (a raw serial line or socket: yes; a cooked tty: no). Default true. */
  echo?: boolean;
  /** A session with no input for this long is logged out. Default 10 minutes. */
  idleMs?: number;
  /** A login prompt with no input for this long starts over. Default idleMs. */
  loginIdleMs?: number;
  /** After logout: prompt for a login again (serial, stdin) or finish (a socket connection). Default false. The stream's end always finishes. */
  persistent?: boolean;
  /** History entries kept per session. Default 100. */
  historySize?: number;
  maxLineBytes?: number;
  /** For waiting out login delays; default global timers. */
  sleep?: (ms: number) => Promise<void>;
}

export interface ConsoleHandle {
  /** Settles when the console finished (stream ended, or close()). */
  readonly done: Promise<void>;
  close(): void;
}

/** Starts a console on the stream. */
export function runConsole(options: ConsoleOptions): ConsoleHandle {
  const session = new ConsoleSession(options);
  return { done: session.done, close: () => session.close() };
}

type User = { name: string; role: Role };
type LoginResult = Awaited<ReturnType<ConsoleDeps['auth']['login']>>;

/** The console's loop: login, shell by role until logout, again (persistent) or the end. */
class ConsoleSession {
  readonly done: Promise<void>;
  private readonly deps: ConsoleDeps;
  private readonly idleMs: number;
  private readonly loginIdleMs: number;
  private readonly historySize: number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly reader: LineReader;
  private closed = false;

  constructor(private readonly options: ConsoleOptions) {
    this.deps = options.deps;
    this.idleMs = options.idleMs ?? 600_000;
    this.loginIdleMs = options.loginIdleMs ?? this.idleMs;
    this.historySize = options.historySize ?? 100;
    this.sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => { const t = setTimeout(r, ms); t.unref?.(); }));
    this.reader = createLineReader({ input: options.input, echo: options.echo === false ? undefined : options.output, maxLineBytes: options.maxLineBytes });
    this.done = this.run().finally(() => { this.reader.close(); });
  }

  close(): void {
    this.closed = true;
    this.reader.close();
  }

  private write(text: string): void {
    if (this.closed) return;
    try { this.options.output.write(text); } catch { /* gone */ }
  }

  private readonly print = (line: string): void => this.write(`${line}\r\n`);

  private async run(): Promise<void> {
    this.print(`zonegate console on ${this.deps.device} (${this.options.where})`);
    for (;;) {
      if (this.closed) return;
      const who = await this.login();
      if (this.closed) return;
      if (who === 'eof') return;
      if (who === 'retry') continue;
      const how = await this.shell(who);
      if (this.closed) return;
      if (how === 'eof') { this.recordLogout(who, 'end of input'); return; }
      if (!this.options.persistent) return;
    }
  }

  /** A line at `prompt`; lines the reader rejected are reported and asked for again. null: timed out. */
  private async read(prompt: string, opts: { secret?: boolean; timeoutMs: number }): Promise<LineEvent | null> {
    this.write(prompt);
    for (;;) {
      const e = await this.reader.next(opts);
      if (e && e.kind === 'rejected') {
        this.print(e.why === 'too-long' ? 'line too long (over 1 KiB): discarded' : 'line is not valid UTF-8: discarded');
        this.write(prompt);
        continue;
      }
      return e;
    }
  }

  private async login(): Promise<User | 'eof' | 'retry'> {
    const timeoutMs = this.loginIdleMs;
    const u = await this.read(`\r\n${this.deps.device} login: `, { timeoutMs });
    if (u === null) return 'retry';
    if (u.kind === 'eof') return 'eof';
    if (u.kind !== 'line' || u.text.trim() === '') return 'retry';
    const name = u.text.trim();
    const p = await this.read('Password: ', { secret: true, timeoutMs });
    if (p === null) return 'retry';
    if (p.kind === 'eof') return 'eof';
    if (p.kind !== 'line') return 'retry';
    const channel = { kind: 'console' as const, from: this.options.where };
    let r = await this.deps.auth.login({ name, password: p.text, channel });
    if (!r.ok && r.reason === 'totp-required') {
      const t = await this.read('TOTP code: ', { timeoutMs });
      if (t === null) return 'retry';
      if (t.kind === 'eof') return 'eof';
      r = await this.deps.auth.login({ name, password: p.text, totp: t.kind === 'line' ? t.text.trim() : '', channel });
    }
    if (r.ok) return r.user;
    await this.refused(r);
    return 'retry';
  }

  /** A failed login: why, then the throttle delay waited out; keys typed meanwhile are dropped (a paste of guesses must not count). */
  private async refused(r: Extract<LoginResult, { ok: false }>): Promise<void> {
    const policy = this.deps.auth.throttlePolicy;
    const delay = r.retryAfterMs ?? policy.baseDelayMs;
    if (r.reason === 'locked') this.print('Login refused: the account is locked; an admin must unlock it.');
    else if (r.reason === 'throttled') this.print(`Login refused: too many failures; wait ${Math.ceil((r.retryAfterMs ?? 0) / 1000)} s.`);
    else if (r.reason === 'busy') this.print('Login refused: the gateway is busy; try again.');
    else this.print('Login incorrect.');
    await this.sleep(Math.min(delay, policy.maxDelayMs));
    this.reader.discardPending();
  }

  private recordLogout(user: User, reason?: string): void {
    this.deps.audit.record({ kind: 'auth', at: this.deps.now(), source: 'console', message: 'console logout', detail: { user: user.name, via: 'console', from: this.options.where, ...(reason ? { reason } : {}) } });
  }

  /** Commands until logout (the command, Ctrl-D, idle timeout, the account removed) or the stream's end. */
  private async shell(user: User): Promise<'logout' | 'eof'> {
    const { deps } = this;
    const history: string[] = [];
    const state = { loggedOut: false };
    this.print(`Welcome ${user.name} (${user.role}). Type 'help' for commands.`);
    const bg0 = deps.breakGlass?.active();
    if (bg0) this.print(`!!! BREAK-GLASS ACTIVE by ${bg0.user} until ${new Date(bg0.endsAt).toISOString()}`);
    for (;;) {
      const role = deps.auth.roleOf(user.name);
      if (role === undefined) { this.print('Your account was removed; logging out.'); return 'logout'; }
      user = { name: user.name, role };
      const bg = deps.breakGlass?.active();
      const e = await this.read(`${user.name}@${deps.device}${bg ? ' [BREAK-GLASS]' : ''}> `, { timeoutMs: this.idleMs });
      if (e === null) {
        this.print('\r\nIdle timeout: logged out.');
        this.recordLogout(user, 'idle');
        return 'logout';
      }
      if (e.kind === 'eof') return 'eof';
      if (e.kind === 'eot') state.loggedOut = true;
      if (e.kind === 'interrupt') continue;
      if (!state.loggedOut && e.kind === 'line') await this.execute(user, e.text.trim(), history, state);
      if (state.loggedOut) {
        this.recordLogout(user);
        this.print('Logged out.');
        return 'logout';
      }
    }
  }

  /** One command line: `!N` from the history, help, the role check, then the command; its errors are printed. */
  private async execute(user: User, text: string, history: string[], state: { loggedOut: boolean }): Promise<void> {
    let line = text;
    if (line === '') return;
    const bang = /^!(\d+)$/.exec(line);
    if (bang) {
      const h = history[Number(bang[1]) - 1];
      if (h === undefined) { this.print(`no history entry ${bang[1]}`); return; }
      line = h;
      this.print(sanitize(line));
    }
    if (history.length >= this.historySize) history.shift();
    history.push(line);
    const found = findCommand(line);
    if (!found) { this.print(`unknown command '${sanitize(line.split(/\s+/)[0].slice(0, 40))}'; type 'help'`); return; }
    const { cmd, args, rest } = found;
    if (cmd.words[0] === 'help') { this.help(user.role, args); return; }
    if (!roleAtLeast(user.role, cmd.role)) {
      this.print(`${cmd.words.join(' ')}: needs the ${cmd.role} role (you are ${user.role})`);
      this.deps.audit.record({ kind: 'auth', at: this.deps.now(), source: 'console', message: 'console command refused', detail: { user: user.name, command: cmd.words.join(' '), need: cmd.role } });
      return;
    }
    const print = this.print;
    try {
      await cmd.run({ args, rest, user, deps: this.deps, print, history, logout: () => { state.loggedOut = true; } });
    } catch (err) {
      if (err instanceof ZonegateError) {
        print(sanitize(`error ${err.code}: ${err.message}`));
        for (const i of err.issues.slice(0, 20)) print(sanitize(`  ${i.path}: ${i.message}`));
      } else print(sanitize(`error: ${(err as Error)?.message ?? String(err)}`));
    }
  }

  private help(role: Role, args: string[]): void {
    const print = this.print;
    if (args.length) {
      const f = findCommand(args.join(' '));
      if (!f || f.cmd.words.join(' ') !== args.slice(0, f.cmd.words.length).join(' ')) {
        const group = COMMANDS.filter((c) => c.words[0] === args[0]);
        if (group.length === 0) { print(`no command '${sanitize(args.join(' ').slice(0, 40))}'`); return; }
        for (const c of group) print(`  ${c.usage}`);
        return;
      }
      print(`usage: ${f.cmd.usage}`);
      print(`  ${f.cmd.help}`);
      print(`  role: ${f.cmd.role}${roleAtLeast(role, f.cmd.role) ? '' : ' (not yours)'}`);
      return;
    }
    print('commands (help COMMAND for more):');
    for (const c of COMMANDS) if (roleAtLeast(role, c.role)) print(`  ${c.usage.length > 60 ? `${c.words.join(' ')} ...` : c.usage}`);
    print('  !N  runs history entry N');
  }
}
