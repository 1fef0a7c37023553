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
  const { deps, output } = options;
  const idleMs = options.idleMs ?? 600_000;
  const loginIdleMs = options.loginIdleMs ?? idleMs;
  const historySize = options.historySize ?? 100;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => { const t = setTimeout(r, ms); t.unref?.(); }));
  const reader: LineReader = createLineReader({ input: options.input, echo: options.echo === false ? undefined : output, maxLineBytes: options.maxLineBytes });
  let closed = false;

  const write = (text: string) => {
    if (closed) return;
    try { output.write(text); } catch { /* gone */ }
  };
  const print = (line: string) => write(`${line}\r\n`);

  async function read(prompt: string, opts: { secret?: boolean; timeoutMs: number }): Promise<LineEvent | null> {
    write(prompt);
    for (;;) {
      const e = await reader.next(opts);
      if (e && e.kind === 'rejected') {
        print(e.why === 'too-long' ? 'line too long (over 1 KiB): discarded' : 'line is not valid UTF-8: discarded');
        write(prompt);
        continue;
      }
      return e;
    }
  }

  async function login(): Promise<{ name: string; role: Role } | 'eof' | 'retry'> {
    const u = await read(`\r\n${deps.device} login: `, { timeoutMs: loginIdleMs });
    if (u === null) return 'retry';
    if (u.kind === 'eof') return 'eof';
    if (u.kind !== 'line' || u.text.trim() === '') return 'retry';
    const name = u.text.trim();
    const p = await read('Password: ', { secret: true, timeoutMs: loginIdleMs });
    if (p === null) return 'retry';
    if (p.kind === 'eof') return 'eof';
    if (p.kind !== 'line') return 'retry';
    const channel = { kind: 'console' as const, from: options.where };
    let r = await deps.auth.login({ name, password: p.text, channel });
    if (!r.ok && r.reason === 'totp-required') {
      const t = await read('TOTP code: ', { timeoutMs: loginIdleMs });
      if (t === null) return 'retry';
      if (t.kind === 'eof') return 'eof';
      r = await deps.auth.login({ name, password: p.text, totp: t.kind === 'line' ? t.text.trim() : '', channel });
    }
    if (r.ok) return r.user;
    const delay = r.retryAfterMs ?? deps.auth.throttlePolicy.baseDelayMs;
    if (r.reason === 'locked') print('Login refused: the account is locked; an admin must unlock it.');
    else if (r.reason === 'throttled') print(`Login refused: too many failures; wait ${Math.ceil((r.retryAfterMs ?? 0) / 1000)} s.`);
    else if (r.reason === 'busy') print('Login refused: the gateway is busy; try again.');
    else print('Login incorrect.');
    // Wait out the throttle delay; keys typed meanwhile are dropped (a paste of guesses must not count).
    await sleep(Math.min(delay, deps.auth.throttlePolicy.maxDelayMs));
    reader.discardPending();
    return 'retry';
  }

  async function shell(user: { name: string; role: Role }): Promise<'logout' | 'eof'> {
    const history: string[] = [];
    print(`Welcome ${user.name} (${user.role}). Type 'help' for commands.`);
    const bg0 = deps.breakGlass?.active();
    if (bg0) print(`!!! BREAK-GLASS ACTIVE by ${bg0.user} until ${new Date(bg0.endsAt).toISOString()}`);
    let loggedOut = false;
    for (;;) {
      const role = deps.auth.roleOf(user.name);
      if (role === undefined) { print('Your account was removed; logging out.'); return 'logout'; }
      user = { name: user.name, role };
      const bg = deps.breakGlass?.active();
      const e = await read(`${user.name}@${deps.device}${bg ? ' [BREAK-GLASS]' : ''}> `, { timeoutMs: idleMs });
      if (e === null) {
        print('\r\nIdle timeout: logged out.');
        deps.audit.record({ kind: 'auth', at: deps.now(), source: 'console', message: 'console logout', detail: { user: user.name, via: 'console', from: options.where, reason: 'idle' } });
        return 'logout';
      }
      if (e.kind === 'eof') return 'eof';
      if (e.kind === 'eot') loggedOut = true;
      if (e.kind === 'interrupt') continue;
      if (loggedOut) {
        deps.audit.record({ kind: 'auth', at: deps.now(), source: 'console', message: 'console logout', detail: { user: user.name, via: 'console', from: options.where } });
        print('Logged out.');
        return 'logout';
      }
      if (e.kind !== 'line') continue;
      let line = e.text.trim();
      if (line === '') continue;
      const bang = /^!(\d+)$/.exec(line);
      if (bang) {
        const h = history[Number(bang[1]) - 1];
        if (h === undefined) { print(`no history entry ${bang[1]}`); continue; }
        line = h;
        print(sanitize(line));
      }
      if (history.length >= historySize) history.shift();
      history.push(line);
      const found = findCommand(line);
      if (!found) { print(`unknown command '${sanitize(line.split(/\s+/)[0].slice(0, 40))}'; type 'help'`); continue; }
      const { cmd, args, rest } = found;
      if (cmd.words[0] === 'help') { help(user.role, args); continue; }
      if (!roleAtLeast(user.role, cmd.role)) {
        print(`${cmd.words.join(' ')}: needs the ${cmd.role} role (you are ${user.role})`);
        deps.audit.record({ kind: 'auth', at: deps.now(), source: 'console', message: 'console command refused', detail: { user: user.name, command: cmd.words.join(' '), need: cmd.role } });
        continue;
      }
      try {
        await cmd.run({ args, rest, user, deps, print, history, logout: () => { loggedOut = true; } });
      } catch (err) {
        if (err instanceof ZonegateError) {
          print(sanitize(`error ${err.code}: ${err.message}`));
          for (const i of err.issues.slice(0, 20)) print(sanitize(`  ${i.path}: ${i.message}`));
        } else print(sanitize(`error: ${(err as Error)?.message ?? String(err)}`));
      }
      if (loggedOut) {
        deps.audit.record({ kind: 'auth', at: deps.now(), source: 'console', message: 'console logout', detail: { user: user.name, via: 'console', from: options.where } });
        print('Logged out.');
        return 'logout';
      }
    }
  }

  function help(role: Role, args: string[]): void {
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

  const done = (async () => {
    print(`zonegate console on ${deps.device} (${options.where})`);
    for (;;) {
      if (closed) return;
      const who = await login();
      if (closed) return;
      if (who === 'eof') return;
      if (who === 'retry') continue;
      const how = await shell(who);
      if (closed) return;
      if (how === 'eof') {
        deps.audit.record({ kind: 'auth', at: deps.now(), source: 'console', message: 'console logout', detail: { user: who.name, via: 'console', from: options.where, reason: 'end of input' } });
        return;
      }
      if (!options.persistent) return;
    }
  })().finally(() => { reader.close(); });

  return {
    done,
    close() { closed = true; reader.close(); },
  };
}
