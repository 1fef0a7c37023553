/**
 * Wires the trial guard (trial-guard.ts) into the daemon: the install root and state folder of
 * this device, the health period from the config's `update:` block, and the daemon's health:
 * running, an active policy (not no-policy, not expired into deny-all), and, under a systemd
 * watchdog, a ping within the watchdog interval.
 */
import { loadConfig } from '../config';
import type { GatewayStatus } from '../gateway-status';
import type { SdNotify } from '../sd-notify';
import { installRoot } from './install-root';
import { startTrialGuard, type HealthCheck, type TrialGuard } from './trial-guard';

export interface DaemonTrialOptions {
  configFile: string;
  notify: Pick<SdNotify, 'watchdogMs' | 'lastWatchdogAt'>;
  log: { info(m: string): void; warn(m: string): void; error(m: string): void };
  status: () => GatewayStatus;
  exit: (code: number) => void;
  now?: () => number;
  /** Default installRoot() (ZONEGATE_ROOT, the slot this bundle runs from, /opt/zonegate). */
  root?: string;
}

/** The daemon's health during a trial. */
export function daemonHealth(s: GatewayStatus, watchdog: { ms?: number; lastAt?: number; since: number; now: number }): HealthCheck {
  if (s.state !== 'running') return { ok: false, code: 'ERR_UPDATE_UNHEALTHY', reason: `the gateway is ${s.state}` };
  const e = s.policy.enforcement;
  if (!s.policy.version || e === 'no-policy' || e === 'expired-deny-all') {
    return { ok: false, code: 'ERR_UPDATE_NO_POLICY', reason: `no active policy (${e ?? 'none'}) during the health period` };
  }
  if (watchdog.ms && watchdog.now - (watchdog.lastAt ?? watchdog.since) > watchdog.ms) {
    return { ok: false, code: 'ERR_UPDATE_WATCHDOG', reason: `no watchdog ping for over ${watchdog.ms} ms` };
  }
  return { ok: true };
}

/** Starts the guard, or returns undefined (logged) when the config or the state cannot be read. */
export async function openTrialGuard(o: DaemonTrialOptions): Promise<TrialGuard | undefined> {
  const now = o.now ?? Date.now;
  try {
    const cfg = await loadConfig(o.configFile);
    const root = o.root ?? installRoot({ env: process.env, script: process.argv[1] });
    const since = now();
    const guard = await startTrialGuard({
      root, stateDir: cfg.stateDir, now,
      healthPeriodMs: cfg.parts.update?.healthPeriodMs ?? 300_000,
      health: () => daemonHealth(o.status(), { ms: o.notify.watchdogMs, lastAt: o.notify.lastWatchdogAt, since, now: now() }),
      exit: o.exit,
      log: (level, m) => o.log[level](`update: ${m}`),
    });
    return guard.onTrial ? guard : undefined;
  } catch (e) {
    // An unreadable config fails the start anyway (gateway.start says why); the marker stays.
    o.log.warn(`update: trial guard not started: ${(e as Error).message}`);
    return undefined;
  }
}
