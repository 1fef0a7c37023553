/** The `zonegate` executable: dispatches argv to the commands of commands.ts. */
import { runCli } from './framework';
import { commands } from './commands';

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
