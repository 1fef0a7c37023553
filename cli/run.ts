/**
 * `zonegate run --config FILE`: the daemon in the foreground (systemd runs it as Type=notify).
 * Decisions go to stdout as JSON lines; warnings and operational messages go to stderr as text.
 * SIGHUP reloads config and policy (a bad one is refused and the old one stays); SIGTERM and
 * SIGINT stop accepting, drain and exit 0. Exit 1 when the config or policy is invalid at start.
 */
import type { Command } from './framework';
import { usageError } from './framework';
import { UPDATE_RESTART_EXIT_CODE } from '../runtime/update/install-update';
import { createGateway, type GatewayLog } from '../runtime/gateway';
import { createSdNotify } from '../runtime/sd-notify';
import type { LogLevel } from '../runtime/config';
import { runtimeVersion } from './version';
import { openTrialGuard } from '../runtime/update/daemon-trial';

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Text lines on stderr, `LEVEL message`, filtered by level. */
function stderrLog(err: (t: string) => void, level: () => LogLevel): GatewayLog {
  const at = (l: LogLevel) => (message: string) => { if (LEVELS[l] >= LEVELS[level()]) err(`zonegate ${l}: ${message}`); };
  return { info: at('info'), warn: at('warn'), error: at('error') };
}

export const runCommand: Command = {
  path: ['run'],
  summary: 'run the gateway daemon in the foreground',
  usage: 'run --config FILE',
  description: `
Loads the gateway config and its policy, starts one proxy per listener and enforces the policy on
every connection and Modbus request. With \`trustRoot\` the policy is the signed bundle in stateDir
(received over MQTT or imported with \`zonegate bundle import\`); it wins over a lab \`policyFile\`
once one is active. With no policy at all the gateway starts and denies everything (no-policy).
Decisions are recorded in the durable audit log (<stateDir>/audit) and printed to stdout as JSON
lines; warnings and errors go to stderr; <stateDir>/status.json is rewritten every 5 s. SIGHUP
reloads the config, the policy file and the policy store without dropping connections (what does
not load is refused and the running policy stays); SIGTERM or SIGINT stops accepting, drains open
connections, publishes offline, closes the audit log and exits 0. People-facing access is always
on: local users (\`zonegate user\`), edge sessions and vendor grants (received over MQTT); the
config's \`console:\` block adds the login page (console.web.listen, HTTPS with a self-signed
certificate made on first start), a serial console and the console socket. SIGHUP also re-reads
the users. Under systemd (Type=notify,
NotifyAccess=all) READY=1 is sent once the policy is enforcing and every listener is up. A runtime
version on trial is kept once it has stayed healthy (watchdog pinged, a policy active) for the
config's update.healthPeriodMs (default 5 minutes) after READY; otherwise it exits and the
previous version comes back (build/boot-check.sh).`,
  options: {
    config: { type: 'string', short: 'c', value: 'FILE', description: 'the gateway config (YAML)' },
  },
  positionals: { min: 0, max: 0 },
  async run(ctx) {
    const file = ctx.options.config;
    if (typeof file !== 'string' || file === '') throw usageError('--config FILE is required');
    let level: LogLevel = 'info';
    const log = stderrLog(ctx.err, () => level);
    const notify = createSdNotify({ env: process.env, onError: (m) => log.warn(m) });
    // A runtime update installed into the other slot: stop like SIGTERM, then exit with the code
    // systemd's Restart=always answers by starting the new slot (boot-check.sh guards the trial).
    const restart = new AbortController();
    let exitCode = 0;
    const gateway = createGateway({
      restartForUpdate: () => { exitCode = UPDATE_RESTART_EXIT_CODE; restart.abort(); },
      configFile: file,
      log,
      writeLine: (chunk) => { process.stdout.write(chunk); },
      notify,
      setLogLevel: (l) => { level = l; },
      pidFile: true,
      runtimeVersion: runtimeVersion(),
    });
    // A version on trial is kept only after its health period (runtime/update/trial-guard.ts).
    let started = false;
    const guard = await openTrialGuard({
      configFile: file, notify, log, status: () => gateway.status(),
      exit: (code) => { if (!started) process.exit(code); exitCode = code; restart.abort(); },
    });
    const onHup = () => { void gateway.reload(); };
    process.on('SIGHUP', onHup);
    try {
      try {
        await gateway.start(ctx.signal);
        started = true;
        guard?.ready();
      } catch (e) {
        // SIGTERM while starting is a stop, not a failure.
        if (ctx.signal.aborted) { await gateway.stop(); return 0; }
        throw e;
      }
      if (ctx.signal.aborted) { await gateway.stop(); return 0; }
      const s = gateway.status();
      log.info(`gateway ${s.device} (site ${s.site}) running: policy ${s.policy.version ?? 'none (denying everything)'}, ${s.listeners.length} listener(s)${s.access?.web ? `, login page ${s.access.web}` : ''}`);
      await new Promise<void>((resolve) => {
        if (ctx.signal.aborted || restart.signal.aborted) resolve();
        else {
          ctx.signal.addEventListener('abort', () => resolve(), { once: true });
          restart.signal.addEventListener('abort', () => resolve(), { once: true });
        }
      });
      guard?.dispose();
      await gateway.stop();
      log.info(exitCode ? `stopped for a runtime update (exit ${exitCode}: the service manager starts the new slot)` : 'stopped');
      return exitCode;
    } finally {
      guard?.dispose();
      process.off('SIGHUP', onHup);
    }
  },
};
