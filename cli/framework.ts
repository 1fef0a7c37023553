/**
 * The CLI's small framework: commands declare their path, usage, options and a run function;
 * main.ts dispatches. Exit codes: 0 ok, 1 the input is wrong (or the operation failed),
 * 2 usage. No stack traces for users (ZONEGATE_DEBUG=1 shows them).
 */
import { parseArgs } from 'node:util';
import { ZonegateError, formatIssue } from '../policy/errors';

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  description: string;
  /** Shown in help as the value's name, e.g. FILE. */
  value?: string;
}

export interface CommandContext {
  positionals: string[];
  options: Record<string, string | boolean | string[] | undefined>;
  /** True when --json was given: print machine-readable output only. */
  json: boolean;
  out(text: string): void;
  err(text: string): void;
  /** Prints a value as one JSON document on stdout. */
  printJson(value: unknown): void;
  /** Aborted on SIGINT/SIGTERM for long-running commands. */
  signal: AbortSignal;
}

export interface Command {
  /** e.g. ['policy', 'check'] */
  path: string[];
  summary: string;
  /** Usage line(s) after `zonegate `, e.g. `policy check FILE [--json]`. */
  usage: string;
  /** Longer help text shown by --help. */
  description?: string;
  options?: Record<string, OptionSpec>;
  /** Allowed number of positional arguments. */
  positionals?: { min: number; max: number };
  /** Whether --json is accepted (scripts read the output). */
  json?: boolean;
  run(ctx: CommandContext): Promise<number> | number;
}

export function usageError(message: string): ZonegateError {
  return new ZonegateError('ERR_USAGE', message);
}

export function commandHelp(cmd: Command): string {
  const lines = [`usage: zonegate ${cmd.usage}`, '', cmd.summary];
  if (cmd.description) lines.push('', cmd.description.trim());
  const opts: [string, OptionSpec][] = Object.entries(cmd.options ?? {});
  if (cmd.json) opts.push(['json', { type: 'boolean', description: 'print machine-readable JSON' }]);
  opts.push(['help', { type: 'boolean', short: 'h', description: 'show this help' }]);
  lines.push('', 'options:');
  const rows = opts.map(([name, o]) => [
    `${o.short ? `-${o.short}, ` : '    '}--${name}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`,
    o.description + (o.multiple ? ' (repeatable)' : ''),
  ]);
  const w = Math.max(...rows.map((r) => r[0].length));
  for (const [a, b] of rows) lines.push(`  ${a.padEnd(w)}  ${b}`);
  return lines.join('\n');
}

export function groupHelp(prefix: string[], commands: readonly Command[]): string {
  const subs = commands.filter((c) => prefix.every((p, i) => c.path[i] === p));
  const w = Math.max(...subs.map((c) => c.path.join(' ').length));
  const head = prefix.length === 0
    ? ['zonegate: Zero Trust segmentation for OT edge gateways', '', 'usage: zonegate COMMAND [options]   (zonegate COMMAND --help for more)']
    : [`usage: zonegate ${prefix.join(' ')} COMMAND [options]`];
  return [...head, '', 'commands:', ...subs.map((c) => `  ${c.path.join(' ').padEnd(w)}  ${c.summary}`)].join('\n');
}

export interface Io {
  out(text: string): void;
  err(text: string): void;
}

/** Runs the CLI for argv (without node and script); resolves to the exit code. */
export async function runCli(argv: string[], commands: readonly Command[], io: Io, signal: AbortSignal): Promise<number> {
  const words: string[] = [];
  for (const a of argv) { if (a.startsWith('-')) break; words.push(a); }
  let cmd: Command | undefined;
  for (const c of commands) {
    if (c.path.length <= words.length && c.path.every((p, i) => words[i] === p) && (!cmd || c.path.length > cmd.path.length)) cmd = c;
  }
  const wantsHelp = argv.includes('--help') || argv.includes('-h') || words[0] === 'help';
  if (!cmd) {
    const prefix = words[0] === 'help' ? words.slice(1) : words;
    const known = commands.some((c) => prefix.every((p, i) => c.path[i] === p));
    if (known && (wantsHelp || prefix.length > 0 || argv.length === 0)) {
      io.out(groupHelp(prefix, commands));
      return argv.length === 0 || wantsHelp ? (argv.length === 0 ? 2 : 0) : 2;
    }
    io.err(`zonegate: unknown command '${words.join(' ')}'\n\n${groupHelp([], commands)}`);
    return 2;
  }
  if (wantsHelp) { io.out(commandHelp(cmd)); return 0; }

  const rest = argv.slice(cmd.path.length);
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const [name, o] of Object.entries(cmd.options ?? {})) {
    options[name] = { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) };
  }
  if (cmd.json) options.json = { type: 'boolean' };
  let parsed: { values: Record<string, string | boolean | (string | boolean)[] | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args: rest, options, allowPositionals: true, strict: true });
  } catch (e) {
    io.err(`zonegate ${cmd.path.join(' ')}: ${(e as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, '')}\n${commandHelp(cmd)}`);
    return 2;
  }
  const { min, max } = cmd.positionals ?? { min: 0, max: 0 };
  if (parsed.positionals.length < min || parsed.positionals.length > max) {
    io.err(`zonegate ${cmd.path.join(' ')}: expected ${min === max ? min : `${min} to ${max}`} argument(s), got ${parsed.positionals.length}\nusage: zonegate ${cmd.usage}`);
    return 2;
  }
  const json = parsed.values.json === true;
  const ctx: CommandContext = {
    positionals: parsed.positionals,
    options: parsed.values as CommandContext['options'],
    json,
    out: io.out,
    err: io.err,
    printJson: (v) => io.out(JSON.stringify(v, null, 2)),
    signal,
  };
  try {
    return await cmd.run(ctx);
  } catch (e) {
    return reportError(e, cmd, io, json);
  }
}

/** Turns any error into a message (never a stack, unless ZONEGATE_DEBUG) and an exit code. */
export function reportError(e: unknown, cmd: Command | undefined, io: Io, json: boolean): number {
  const name = cmd ? `zonegate ${cmd.path.join(' ')}` : 'zonegate';
  if (e instanceof ZonegateError) {
    const code = e.code === 'ERR_USAGE' ? 2 : 1;
    if (json) io.out(JSON.stringify({ ok: false, code: e.code, message: e.message, issues: e.issues }, null, 2));
    else {
      io.err(`${name}: ${e.message}`);
      for (const issue of e.issues) io.err(`  ${formatIssue(issue)}`);
      if (code === 2 && cmd) io.err(`usage: zonegate ${cmd.usage}`);
    }
    if (process.env.ZONEGATE_DEBUG) io.err(String((e as Error).stack));
    return code;
  }
  const err = e as NodeJS.ErrnoException;
  const msg = err && typeof err === 'object' && 'message' in err ? err.message : String(e);
  if (json) io.out(JSON.stringify({ ok: false, code: err?.code ?? 'ERR_INTERNAL', message: msg }, null, 2));
  else io.err(`${name}: ${msg}`);
  if (process.env.ZONEGATE_DEBUG) io.err(String(err?.stack));
  return 1;
}
