/**
 * Starts the `zonegate` executable over a command registry: SIGINT/SIGTERM abort the command's
 * signal (a second one exits 130), EPIPE on stdout ends quietly, the exit code is the command's.
 * Shared by cli/main.ts (every command imported) and the shipped bundle's entry, whose registry
 * loads a command's code only when that command runs (build/cli-build.mjs, cli/lazy-command.ts).
 */
import { runCli, type Command } from './framework';

export function startCli(commands: readonly Command[]): void {
  const controller = new AbortController();
  let signals = 0;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      signals += 1;
      if (signals > 1) process.exit(130);
      controller.abort(new Error(sig));
    });
  }
  process.stdout.on('error', (e: NodeJS.ErrnoException) => { if (e.code === 'EPIPE') process.exit(0); });

  runCli(process.argv.slice(2), commands, {
    out: (t) => process.stdout.write(t.endsWith('\n') ? t : `${t}\n`),
    err: (t) => process.stderr.write(t.endsWith('\n') ? t : `${t}\n`),
  }, controller.signal).then(
    (code) => { process.exitCode = code; },
    (e) => { process.stderr.write(`zonegate: ${(e as Error)?.message ?? e}\n`); process.exitCode = 1; },
  );
}
