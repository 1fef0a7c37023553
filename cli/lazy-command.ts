/**
 * A registry entry whose code is loaded when the command runs: its help, options and positionals
 * are plain data (copied from the real command at build time by build/cli-build.mjs), so that
 * `zonegate --help` or a usage error loads nothing but the CLI framework.
 */
import type { Command } from './framework';

/** What build/cli-build.mjs copies from a command: everything but `run`. */
export type CommandSpec = Omit<Command, 'run'>;

/** A Command with `spec`'s help and options whose run() loads the real command first. */
export function lazyCommand(spec: CommandSpec, load: () => Promise<Command>): Command {
  return { ...spec, run: async (ctx) => (await load()).run(ctx) };
}
