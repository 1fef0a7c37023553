/** `zonegate fleet serve` and `zonegate fleet user add`: the fleet console and its users. */
import { readFile } from 'node:fs/promises';
import type { Command } from '../framework';
import { usageError } from '../framework';
import { newPassword } from '../user';
import { ZonegateError } from '../../policy/errors';
import { createSemaphore } from '../../protocol/web/semaphore';
import { parseFleetConfig, type FleetConsoleConfig } from '../../fleet/console/config';
import { startConsole } from '../../fleet/console/start';
import { addUser, CONSOLE_ROLES, type ConsoleRole } from '../../fleet/console/users';

async function loadFleetConfig(file: unknown): Promise<FleetConsoleConfig> {
  if (typeof file !== 'string') throw usageError('--config fleet.yaml is required');
  let text: string;
  try { text = await readFile(file, 'utf8'); } catch (e) { throw new ZonegateError('ERR_FILE', `cannot read ${file}: ${(e as Error).message}`); }
  return parseFleetConfig(text, { file });
}

export const fleetServeCommand: Command = {
  path: ['fleet', 'serve'],
  summary: 'run the fleet console: HTTPS pages of the fleet, rollouts, denials, vendor access and audit search',
  usage: 'fleet serve --config fleet.yaml [--check]',
  description: `
Serves the console over HTTPS (the certificate and key fleet.yaml names) to the users of its user
file (\`fleet user add\`: argon2id password and TOTP; roles viewer, operator, admin). Reads gateway
statuses and telemetry from the broker and audit records from the store (store.kind: files reads
<dir>/<site>/<device>/ as \`fleet audit collect --out <dir>/<site>\` writes it). Operators may
publish already-signed bundles and commands; the console holds no signing key.
--check validates the config and exits. Runs until Ctrl-C.`,
  options: {
    config: { type: 'string', value: 'FILE', description: 'the console config (fleet.yaml)' },
    check: { type: 'boolean', description: 'only validate the config' },
  },
  async run(ctx) {
    const config = await loadFleetConfig(ctx.options.config);
    if (ctx.options.check === true) { ctx.out(`${config.file}: ok (${config.sites.length} site(s), store ${config.store.kind})`); return 0; }
    const running = await startConsole({ config, log: (l) => ctx.err(`${new Date().toISOString()} ${l}`) });
    const a = running.server.address();
    ctx.err(`fleet console on https://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}/ (sites ${config.sites.join(', ')})`);
    await new Promise<void>((resolve) => {
      if (ctx.signal.aborted) resolve();
      ctx.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    await running.stop();
    return 0;
  },
};

export const fleetUserAddCommand: Command = {
  path: ['fleet', 'user', 'add'],
  summary: "add a user to the fleet console's user file (prints the TOTP seed once)",
  usage: 'fleet user add NAME --role viewer|operator|admin (--config fleet.yaml | --users FILE) [--json]',
  description: `
Reads the password from the terminal (twice, echo off) or the first line of stdin, hashes it with
argon2id, makes a TOTP seed and prints it as base32 and as an otpauth:// URI for an authenticator
app. Viewers see everything; operators also publish signed bundles and commands; admins also
manage users. A running console picks up the change at the next login.`,
  options: {
    role: { type: 'string', value: 'ROLE', description: `one of ${CONSOLE_ROLES.join(', ')}` },
    config: { type: 'string', value: 'FILE', description: 'the console config naming the user file' },
    users: { type: 'string', value: 'FILE', description: 'the user file itself' },
  },
  positionals: { min: 1, max: 1 },
  json: true,
  async run(ctx) {
    const role = ctx.options.role;
    if (typeof role !== 'string' || !(CONSOLE_ROLES as readonly string[]).includes(role)) throw usageError(`--role must be one of ${CONSOLE_ROLES.join(', ')}`);
    if ((typeof ctx.options.users === 'string') === (typeof ctx.options.config === 'string')) throw usageError('give exactly one of --config fleet.yaml or --users FILE');
    const file = typeof ctx.options.users === 'string' ? ctx.options.users : (await loadFleetConfig(ctx.options.config)).users;
    const name = ctx.positionals[0];
    const made = await addUser({ file, name, role: role as ConsoleRole, password: await newPassword(), limiter: createSemaphore({ limit: 1 }) });
    if (ctx.json) ctx.printJson({ ok: true, user: name, role, totpSecret: made.totp, totpUri: made.uri });
    else ctx.out(`added ${name} (${role}) to ${file}\nTOTP seed (shown once): ${made.totp}\n${made.uri}`);
    return 0;
  },
};
