/**
 * What every part of the daemon shares (runtime/gateway.ts builds it once): the options, the
 * clock and log, the event bus, the decider, the alarm model and the audit tee, plus the few
 * facts that change over the daemon's life (state, config, and the parts opened once per
 * process). Parts read and write these fields; nothing else is shared between them.
 */
import { ZonegateError, formatIssue, type Issue } from '../../policy/errors';
import type { IndexDecider } from '../../policy/decider';
import type { AuditEvent } from '../../drivers/types';
import type { NftCommandOptions } from '../../drivers/nftables/run-nft';
import type { EventBus } from '../bus';
import type { GatewayConfig, LogLevel } from '../config';
import type { SdNotify } from '../sd-notify';
import type { PolicyStore } from '../store/policy-store';
import type { MqttSync } from '../sync/mqtt-sync';
import type { Access } from '../access/attach-access';
import type { GatewayEvents, GatewayLog } from './events';
import type { GatewayStatus } from '../gateway-status';
import type { Alarms } from './alarms';
import type { AuditTee } from './audit-tee';
import type { DriverRegistry } from '../listeners/registry';

export type { GatewayLog, GatewayEvents } from './events';

export interface GatewayOptions {
  configFile: string;
  log: GatewayLog;
  /** Epoch milliseconds; default Date.now. */
  now?: () => number;
  /** Where decision JSON lines go (stdout in the daemon); undefined writes none. */
  writeLine?: (chunk: string) => void;
  /** systemd notifications; undefined sends none. */
  notify?: SdNotify;
  /** Told the config's `log.level` each time a config is loaded. */
  setLogLevel?: (level: LogLevel) => void;
  /** Write `<stateDir>/zonegate.pid` (the daemon does; in-process tests must not, `bundle import` would SIGHUP them). Default false. */
  pidFile?: boolean;
  /** Reported in the MQTT status document. Default '0.0.0-dev'. */
  runtimeVersion?: string;
  /** How often status.json is rewritten; 0 only on activations. Default 5,000 ms. */
  statusIntervalMs?: number;
  /** How often the store's expiry is checked; 0 never (tests call checkExpiry()). Default 30,000 ms. */
  expiryCheckMs?: number;
  /** How often a serial device that went away (an RTU listener's adapter unplugged) is tried again. Default 2,000 ms. */
  serialReopenMs?: number;
  /**
   * A signed runtime update was installed into the other slot: the daemon stops and exits so that
   * systemd starts the new slot (cli/run.ts exits with UPDATE_RESTART_EXIT_CODE). Without
   * it the gateway only logs that a restart is due.
   */
  restartForUpdate?: () => void;
  /** The A/B install root of runtime updates; default installRoot() (ZONEGATE_ROOT, the running slot, /opt/zonegate). */
  updateRoot?: string;
  /** More fields for status.json (telemetry, audit upload); gateway fields win on a clash. Must be JSON data. */
  statusExtra?: () => Record<string, unknown>;
  /** How often the nftables counters are read back; default 30,000 ms. */
  nftCountersMs?: number;
  /** How `nft` is run (binary, `netns`); tests point it into their own network namespace. */
  nftCommand?: NftCommandOptions;
  /** The protocol drivers a listener's `service` names; default every built-in one (runtime/listeners/builtin.ts). */
  drivers?: DriverRegistry;
}

/** The shared state of one daemon; see the file comment. */
export interface Core {
  readonly options: GatewayOptions;
  readonly now: () => number;
  readonly log: GatewayLog;
  readonly bus: EventBus<GatewayEvents>;
  readonly decider: IndexDecider;
  readonly alarms: Alarms;
  readonly audit: AuditTee;
  /** Aborted when the daemon stops. */
  readonly lifetime: AbortController;
  state: GatewayStatus['state'];
  config: GatewayConfig | undefined;
  startedAt: number | null;
  configLoadedAt: number | null;
  store: PolicyStore | undefined;
  sync: MqttSync | undefined;
  access: Access | undefined;
  lastError: GatewayStatus['policy']['lastError'];
  reloads: number;
  failedReloads: number;
  /** A gateway-sourced audit record stamped now. */
  record(ev: Omit<AuditEvent, 'at' | 'source'> & { source?: string }): void;
  /** Logs an error with its issues, one per line. */
  logError(what: string, e: unknown): void;
}

/** A part of the daemon with a lifetime of its own (timers, connections): started once the listeners are up, stopped first. */
export interface Part {
  start(signal: AbortSignal): void;
  stop(): void | Promise<void>;
}

/** The code, message and issues of anything thrown. */
export function describeError(e: unknown): { code: string; message: string; issues: Issue[] } {
  if (e instanceof ZonegateError) return { code: e.code, message: e.message, issues: [...e.issues] };
  const err = e as NodeJS.ErrnoException;
  return { code: err?.code ?? 'ERR_INTERNAL', message: err?.message ?? String(e), issues: [] };
}

/** logError for a Core: the message, then each issue formatted. */
export function errorLogger(log: GatewayLog): (what: string, e: unknown) => void {
  return (what, e) => {
    const d = describeError(e);
    log.error(`${what}: ${d.message}`);
    for (const issue of d.issues) log.error(`  ${formatIssue(issue)}`);
  };
}

/** A promise chain that runs one task at a time and never rejects. */
export interface TaskQueue {
  run<T>(fn: () => Promise<T>): Promise<T | undefined>;
  idle(): Promise<void>;
}

export function taskQueue(onError: (e: unknown) => void): TaskQueue {
  let tail: Promise<unknown> = Promise.resolve();
  return {
    run<T>(fn: () => Promise<T>): Promise<T | undefined> {
      const next = tail.then(fn).catch((e) => { onError(e); return undefined; });
      tail = next;
      return next;
    },
    idle: () => tail.then(() => undefined),
  };
}
