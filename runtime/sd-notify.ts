/**
 * systemd service notifications (sd_notify(3)): READY=1 once a verified policy is enforcing and
 * every listener is up, WATCHDOG=1 at half of WATCHDOG_USEC, STOPPING=1 on shutdown, STATUS=
 * free text. Node has no unix datagram sockets, so each message is sent by running the
 * `systemd-notify` binary (the unit needs NotifyAccess=all, since the sender is a child process).
 * Without NOTIFY_SOCKET, or when the binary is missing, everything is a quiet no-op.
 */
import { execFile } from 'node:child_process';

export interface SdNotifyOptions {
  env: NodeJS.ProcessEnv;
  /** Runs `systemd-notify ARGS`; default execFile. Resolves false when it could not run. */
  run?: (args: string[]) => Promise<boolean>;
  /** The main pid to report (--pid); default process.pid. */
  pid?: number;
  /** Told once when notifications fail (the daemon goes on). */
  onError?: (message: string) => void;
}

export interface SdNotify {
  /** True when NOTIFY_SOCKET is set. */
  readonly enabled: boolean;
  /** The watchdog interval systemd asked for (ms), or undefined. */
  readonly watchdogMs: number | undefined;
  ready(status?: string): Promise<void>;
  stopping(): Promise<void>;
  status(text: string): Promise<void>;
  /** When the last WATCHDOG=1 went out (epoch ms), or undefined. */
  readonly lastWatchdogAt: number | undefined;
  /** Pings WATCHDOG=1 every watchdogMs / 2 until the signal aborts. */
  startWatchdog(signal: AbortSignal): void;
}

/** Runs the binary with the given environment (its NOTIFY_SOCKET is where the message goes). */
function runWith(env: NodeJS.ProcessEnv): (args: string[]) => Promise<boolean> {
  return (args) => new Promise((resolve) => {
    execFile('systemd-notify', args, { timeout: 5_000, env }, (err) => resolve(!err));
  });
}

/** Builds the notifier from the environment systemd gave us. */
export function createSdNotify(options: SdNotifyOptions): SdNotify {
  const enabled = typeof options.env.NOTIFY_SOCKET === 'string' && options.env.NOTIFY_SOCKET !== '';
  const usec = Number(options.env.WATCHDOG_USEC);
  const pid = options.pid ?? process.pid;
  const watchdogPid = options.env.WATCHDOG_PID === undefined ? undefined : Number(options.env.WATCHDOG_PID);
  // sd_watchdog_enabled(3): WATCHDOG_PID, when set, must be ours.
  const watchdogMs = enabled && Number.isFinite(usec) && usec > 0 && (watchdogPid === undefined || watchdogPid === pid) ? Math.floor(usec / 1000) : undefined;
  const run = options.run ?? runWith(options.env);
  let warned = false;
  const sent = async (...assignments: string[]): Promise<boolean> => {
    if (!enabled) return false;
    const ok = await run([`--pid=${pid}`, ...assignments]).catch(() => false);
    if (!ok && !warned) { warned = true; options.onError?.(`systemd-notify ${assignments.join(' ')} failed; continuing without systemd notifications`); }
    return ok;
  };
  const send = async (...assignments: string[]): Promise<void> => { await sent(...assignments); };
  let lastWatchdogAt: number | undefined;
  return {
    enabled,
    watchdogMs,
    get lastWatchdogAt() { return lastWatchdogAt; },
    ready: (status) => send('READY=1', ...(status ? [`STATUS=${status}`] : [])),
    stopping: () => send('STOPPING=1'),
    status: (text) => send(`STATUS=${text}`),
    startWatchdog(signal: AbortSignal): void {
      if (!watchdogMs || signal.aborted) return;
      const ping = async () => { if (await sent('WATCHDOG=1')) lastWatchdogAt = Date.now(); };
      const timer = setInterval(() => { void ping(); }, Math.max(1, Math.floor(watchdogMs / 2)));
      timer.unref();
      signal.addEventListener('abort', () => clearInterval(timer), { once: true });
    },
  };
}
