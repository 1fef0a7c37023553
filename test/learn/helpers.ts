/** Runs the CLI in this process (no bundle, no child): the exit code and what it printed. */
import { runCli } from '../../runtime/cli/framework';
import { commands } from '../../runtime/cli/commands';

export async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, commands, { out: (t) => out.push(t), err: (t) => err.push(t) }, new AbortController().signal);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

export const FIX = 'test/fixtures/learn';
