/**
 * The composition root of the daemon (`zonegate run`): the one place that builds the parts and
 * wires them together. Nothing else constructs drivers or the decider.
 *
 *   config (runtime/config.ts) ─┐
 *   policy store (signed bundles, runtime/store) ─┐
 *   policy file (labs, policy-source.ts) ─────────┴─ effective policy ── IndexDecider
 *                                                             │
 *   one driver per listener: modbus → createModbusProxy, tcp → createTcpConduit, modbus-rtu(-gateway) → rtu-drivers.ts
 *                                                             │
 *   audit tee: durable AuditLog (<stateDir>/audit) + memory ring + stdout lines ◄──┘
 *   MQTT sync (runtime/sync) → store.accept, grants → access.acceptGrant;  nftables on every activation;
 *   access (runtime/access/attach-access.ts): users, edge sessions, grants, consoles, login page;
 *     drivers decide through access.decider (session facts), TCP conduits re-check on `session-changed`;
 *   <stateDir>/status.json every 5 s and on every activation;  event bus (bus.ts)
 *
 * Which policy enforces (design.md "Signed bundles and the trust root"): with `trustRoot`
 * configured the PolicyStore in stateDir is the source; once it holds an active bundle (or one
 * that expired) it wins over a `policyFile`. A `policyFile` is for labs: it enforces only while
 * the store has nothing (or when no trustRoot is configured) and is announced with a loud
 * warning. With neither an active bundle nor a policy file the gateway still starts, listeners
 * up, and denies everything as `no-policy` (critical alarm `no-policy`). When the active bundle
 * expires and its settings say `onExpiry: deny-all`, decisions say `policy-expired`.
 *
 * Activation: a file policy is built beside the old one (read, validate, compile, embedded
 * tests, listeners checked against it); on any failure the old policy and listeners stay and the
 * error is logged with file:line:col. Signed bundles are checked by the store, which then swaps
 * the index (IndexDecider.setIndex) synchronously: live Modbus connections re-resolve their scope
 * on their next request, TCP conduits re-check theirs on `policy-activated`. Then listeners are
 * reconciled by key (listen, asset, service, upstream): unchanged ones are left alone, removed
 * ones drained, new ones started. Listeners of a signed policy are resolved leniently
 * (config/resolve-listeners.ts resolveListenersLenient): they stand whatever the policy says.
 */
import { createMonitorTally } from './monitor-tally';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { IndexDecider } from '../policy/decider';
import { ZonegateError, formatIssue, type Issue } from '../policy/errors';
import type { PolicyIndex } from '../policy/compile';
import type { PolicyDocument } from '../policy/types';
import type { AuditEvent, AuditSink, Driver } from '../drivers/types';
import { createModbusProxy } from '../drivers/modbus-tcp';
import { createDnp3Proxy, type Dnp3Decider } from '../drivers/dnp3';
import { createIec104Proxy, type Iec104Decider } from '../drivers/iec104';
import { createTcpConduit } from '../drivers/tcp-conduit';
import { buildRtuDriver, isSerialOpenError } from './rtu-drivers';
import { renderRuleset } from '../drivers/nftables/render';
import { applyRuleset } from '../drivers/nftables/apply';
import { readCounters } from '../drivers/nftables/counters';
import { missingInterfaces } from '../drivers/nftables/interfaces';
import { withLoginPage } from './nft-facts';
import type { ProxyListener } from '../drivers/nftables/options';
import type { NftCommandOptions } from '../drivers/nftables/run-nft';
import { loadConfig, formatHostPort, listenLabel, policyProtocol, type GatewayConfig, type LogLevel } from './config';
import { resolveListeners, resolveListenersLenient, upstreamLabel, type ResolvedListener, type ListenerProblem } from './config/resolve-listeners';
import { iec104LinkOf } from './config/iec104';
import { EventBus } from './bus';
import { createMemoryAudit, type MemoryAudit } from './memory-audit';
import { createFilePolicySource, type LoadedPolicy, type PolicySource } from './policy-source';
import type { SdNotify } from './sd-notify';
import { openGatewayStore } from './store/open-gateway-store';
import type { PolicyStore } from './store/policy-store';
import { writePidFile, removePidFile } from './store/daemon-signal';
import { AuditLog } from './audit/log';
import { loadOrCreateDeviceKey } from './device-key';
import { createMqttSync, type MqttSync } from './sync/mqtt-sync';
import { syncConnection } from './sync/connect-options';
import { storeHandlers, storeState } from './sync/store-binding';
import { createCommandHandler } from './commands/command-handler';
import { attachAccess, type Access, type AccessChange } from './access/attach-access';
import { describeDecision, explain as explainRequest } from '../policy/explain';
import { parseRequest } from '../policy/request';
// The status file format is the one `zonegate status` reads (runtime/cli/status.ts re-exports it).
import { writeStatusFile, STATUS_FILE } from './telemetry/status-file';
import { clockAlarmMessage, clockBehind, type ClockFloor } from './clock-check';
import { createAuditUploader, type AuditUploader } from './audit/upload';
import { createTelemetrySampler, type TelemetrySampler } from './telemetry/sampler';
import { sampleTelemetry } from './telemetry/sample';
import { summariseTelemetry } from './telemetry/summary';
import { createUpdateReceiver, type UpdateReceiver } from './update/update-receiver';
import { chunkTopic, runtimeTopic, CHUNK_MESSAGE_MAX_BYTES, RUNTIME_BUNDLE_MAX_BYTES } from './update/topics';
import { packageArchOf } from './update/device-arch';
import { installRoot } from './update/install-root';
import { auditUpdateOutcomes } from './update/audit-outcomes';
import { readUpdateStatus, type UpdateStatus } from './update/update-status';

/** Human-readable operational messages (the CLI writes them to stderr). */
export interface GatewayLog {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** What the parts tell each other. */
export interface GatewayEvents {
  'policy-activated': { version: string; previous: string | null; source: string };
  'policy-refused': { source: string; error: { code: string; message: string; issues: readonly Issue[] } };
  'listener-up': { key: string };
  'listener-down': { key: string; error?: string };
  'reloaded': { ok: boolean };
  /** An edge session, grant, local quarantine or break-glass change (attachAccess onSessionChange). */
  'session-changed': AccessChange;
}

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
   * systemd starts the new slot (runtime/cli/run.ts exits with UPDATE_RESTART_EXIT_CODE). Without
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
}

// The status types live in gateway-status.ts (status-file.ts and the update trial read them
// without importing the daemon); re-exported here for the daemon's callers.
export type { Alarm, ListenerStatus, PolicyKind, EnforcementState, NftablesStatus, GatewayStatus } from './gateway-status';
import type { Alarm, ListenerStatus, EnforcementState, NftablesStatus, GatewayStatus, PolicyKind } from './gateway-status';

export interface ReloadResult {
  ok: boolean;
  /** The error that kept the old policy and listeners, if any. */
  error?: ZonegateError | Error;
  policyChanged?: boolean;
  listeners?: { started: number; stopped: number; kept: number; failed: number };
}

export interface Gateway {
  /** Loads config and policy, starts every listener; resolves when all are up (READY sent). Throws ZonegateError for bad config or policy. */
  start(signal: AbortSignal): Promise<void>;
  /** SIGHUP: reload config, the policy file and the policy store; never throws, never drops established connections. */
  reload(): Promise<ReloadResult>;
  /** Stops accepting, drains every listener, publishes offline, closes the audit log (final checkpoint). */
  stop(): Promise<void>;
  status(): GatewayStatus;
  /** Applies the store's onExpiry now (the timer does it every expiryCheckMs). */
  checkExpiry(): void;
  /** Writes status.json now. */
  writeStatus(): Promise<void>;
  /** Resolves when queued listener reconciliations, nftables applies and status writes are done (tests). */
  idle(): Promise<void>;
  readonly bus: EventBus<GatewayEvents>;
  /** The in-memory ring (recent events for status and console). */
  readonly audit: MemoryAudit;
  readonly decider: IndexDecider;
  /** The policy store, once started with `trustRoot`. */
  readonly store: PolicyStore | undefined;
  /** Users, sessions, grants, consoles and the login page, once started. */
  readonly access: Access | undefined;
}

interface RunningListener {
  spec: ResolvedListener;
  driver: Driver & { address(): { address?: string; host?: string; port: number } };
  status: ListenerStatus;
  stats: () => Record<string, number>;
  abort: AbortController;
}

/** What enforces now. */
interface Effective {
  kind: PolicyKind | null;
  index: PolicyIndex | null;
  expired: boolean;
  enforcement: EnforcementState;
  /** The document listeners are resolved against (kept through a deny-all expiry). */
  doc: PolicyDocument | null;
  version: string | null;
}

function describeError(e: unknown): { code: string; message: string; issues: Issue[] } {
  if (e instanceof ZonegateError) return { code: e.code, message: e.message, issues: [...e.issues] };
  const err = e as NodeJS.ErrnoException;
  return { code: err?.code ?? 'ERR_INTERNAL', message: err?.message ?? String(e), issues: [] };
}

/** A promise chain that runs one task at a time and never rejects. */
function queue(onError: (e: unknown) => void) {
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

/** Builds the gateway; nothing is read or bound until start(). */
export function createGateway(options: GatewayOptions): Gateway {
  const now = options.now ?? Date.now;
  const log = options.log;
  const runtimeVersion = options.runtimeVersion ?? '0.0.0-dev';
  const decider = new IndexDecider(null);
  const bus = new EventBus<GatewayEvents>({
    onError: ({ owner, event, error }) => log.error(`${owner}: handler for '${event}' failed: ${(error as Error)?.message ?? String(error)}`),
  });
  let ring: MemoryAudit = createMemoryAudit({ capacity: 10_000, write: options.writeLine });
  let auditLog: AuditLog | undefined;
  let auditDir: string | null = null;
  /** The tee every part records into: ring (+ stdout lines) and the durable log. Never throws. */
  const monitorTally = createMonitorTally();
  const sink: AuditSink = {
    record(e: AuditEvent): void {
      ring.record(e);
      monitorTally.record(e);
      if (auditLog) { try { auditLog.record(e); } catch { /* AuditLog counts its own drops */ } }
    },
  };
  let config: GatewayConfig | undefined;
  let filePolicy: LoadedPolicy | undefined;
  let fileSource: PolicySource | undefined;
  let store: PolicyStore | undefined;
  let sync: MqttSync | undefined;
  /** Store-and-forward of the audit log over MQTT (needs the durable log and the sync). */
  let uploader: AuditUploader | undefined;
  let telemetry: TelemetrySampler | undefined;
  /** Signed runtime updates over MQTT (announcement + chunks), installed A/B. */
  let updates: UpdateReceiver | undefined;
  let updateState: UpdateStatus | null = null;
  let access: Access | undefined;
  /** The last index the store activated: kept through a deny-all expiry so decisions say `policy-expired` with its version. */
  let storeIndex: PolicyIndex | null = null;
  let effectiveKey = '';
  let effective: Effective = { kind: null, index: null, expired: false, enforcement: 'no-policy', doc: null, version: null };
  const listeners = new Map<string, RunningListener>();
  let listenerProblems: ListenerProblem[] = [];
  const alarms = new Map<string, Alarm>();
  let state: GatewayStatus['state'] = 'new';
  let startedAt: number | null = null;
  let configLoadedAt: number | null = null;
  let activatedAt: number | null = null;
  let lastError: GatewayStatus['policy']['lastError'] = null;
  let reloads = 0, failedReloads = 0;
  let serial: Promise<unknown> = Promise.resolve();
  const lifetime = new AbortController();
  const timers: NodeJS.Timeout[] = [];
  let nft: NftablesStatus | null = null;
  let nftHold = 0, nftWanted = false;
  let pidWritten = false;

  // One alarm model: every part's alarms live here (ids `audit:*`, `store:*`, `nftables`, `disk-full`,
  // ...), status.json shows them, and the MQTT status publishes exactly the ones active now
  // (publishedAlarms), refreshed whenever one is raised or cleared.
  // status.json follows every change at once (one write per turn of the event loop), so
  // `zonegate status` never shows an alarm's older message while the fleet sees the new one.
  let statusSoon = false;
  const writeStatusSoon = () => {
    if (statusSoon || state !== 'running') return;
    statusSoon = true;
    setImmediate(() => { statusSoon = false; if (state === 'running') void writeStatus(); });
  };
  const raise = (id: string, severity: Alarm['severity'], message: string) => {
    const a = alarms.get(id);
    if (!a) { alarms.set(id, { id, severity, message, since: now() }); sync?.refreshStatus(); writeStatusSoon(); }
    else if (a.message !== message || a.severity !== severity) { a.message = message; a.severity = severity; writeStatusSoon(); }
  };
  const clear = (id: string) => { if (alarms.delete(id)) { sync?.refreshStatus(); writeStatusSoon(); } };
  /** Disk full as the audit log (a failed write) and the status file (written in place) see it. */
  const diskFull = { audit: null as string | null, status: null as string | null };
  const updateDiskFull = () => {
    const why = [diskFull.audit && `audit log: ${diskFull.audit}`, diskFull.status && `status file: ${diskFull.status}`].filter(Boolean).join('; ');
    if (why) raise('disk-full', 'critical', `disk full in the state folder (${why}); still enforcing, audit records wait in memory`);
    else clear('disk-full');
  };
  const record = (ev: Omit<AuditEvent, 'at' | 'source'> & { source?: string }) => sink.record({ at: now(), source: 'gateway', ...ev });

  const logError = (what: string, e: unknown) => {
    const d = describeError(e);
    log.error(`${what}: ${d.message}`);
    for (const issue of d.issues) log.error(`  ${formatIssue(issue)}`);
  };
  const listenerQueue = queue((e) => logError('listener reconciliation failed', e));
  const nftQueue = queue((e) => logError('nftables', e));
  const statusQueue = queue((e) => log.warn(`cannot write ${STATUS_FILE}: ${(e as Error)?.message ?? String(e)}`));

  // ---- which policy enforces -------------------------------------------------------------

  function chooseEffective(file: LoadedPolicy | undefined): Effective {
    const s = store?.status();
    if (store && s && s.state !== 'no-policy') {
      if (store.index) storeIndex = store.index;
      const enforcement: EnforcementState = s.state === 'active' ? 'enforcing' : s.state;
      // expired-deny-all: the store hands out null, but IndexDecider answers `policy-expired` only
      // with an index set (and no-policy without one), so the expired index stays with setExpired(true).
      return { kind: 'signed', index: storeIndex, expired: s.state === 'expired-deny-all', enforcement, doc: storeIndex?.doc ?? null, version: s.active?.policyVersion ?? null };
    }
    if (file) return { kind: 'file', index: file.index, expired: false, enforcement: 'enforcing', doc: file.doc, version: file.version };
    return { kind: null, index: null, expired: false, enforcement: 'no-policy', doc: null, version: null };
  }

  /**
   * The `clock` alarm: raised while the clock is behind a time it cannot be before: the active
   * bundle's signing time, or the last audit record written before this start.
   */
  function checkClock(): void {
    const active = store?.status().active;
    const floors: ClockFloor[] = active ? [{ what: `the signing time of policy bundle v${active.version}`, at: active.issuedAt }] : [];
    const lastAudit = auditLog?.lastRecordAtOpen ?? null;
    if (lastAudit !== null) floors.push({ what: 'the last audit record written before this start', at: lastAudit });
    const behind = clockBehind(now(), floors);
    if (behind) raise('clock', 'warning', clockAlarmMessage(now(), behind));
    else clear('clock');
  }

  /**
   * Makes the effective policy the decider's (synchronously: the store calls this from inside its
   * activation) and, when it changed, announces it and schedules the listeners, nftables and the
   * status file. Returns whether it changed.
   */
  function applyEffective(opts: { reconcile: boolean }): boolean {
    checkClock();
    const eff = chooseEffective(filePolicy);
    decider.setIndex(eff.index);
    decider.setExpired(eff.expired);
    const key = `${eff.kind}|${eff.version}|${eff.enforcement}|${eff.kind === 'file' ? filePolicy?.sha256 : ''}`;
    const previous = effective.version;
    effective = eff;
    if (key === effectiveKey) return false;
    effectiveKey = key;
    activatedAt = now();
    if (eff.kind === 'file') {
      raise('unsigned-policy', 'warning', `${fileSource!.warning}: ${fileSource!.describe}`);
      log.warn(`WARNING: ${fileSource!.warning}: ${fileSource!.describe} (version ${eff.version})`);
      record({ kind: 'policy', policyVersion: eff.version!, message: 'activated', detail: { previous, source: fileSource!.describe, conduits: filePolicy!.index.counts.conduits, sha256: filePolicy!.sha256 } });
      log.info(`policy ${eff.version} from ${fileSource!.describe} enforcing (${filePolicy!.index.counts.conduits} conduits)`);
    } else clear('unsigned-policy');
    if (eff.kind === 'signed') {
      if (eff.enforcement === 'expired-deny-all') log.error(`policy ${eff.version} expired (onExpiry deny-all): denying everything as policy-expired`);
      else if (eff.enforcement === 'expired-enforcing') log.warn(`policy ${eff.version} expired (onExpiry keep-enforcing): still enforcing it`);
      else log.info(`signed policy ${eff.version} enforcing (${eff.index?.counts.conduits ?? 0} conduits)`);
    }
    if (eff.enforcement === 'no-policy') {
      raise('no-policy', 'critical', 'no verified policy: every connection and request is denied (no-policy)');
      log.error('no verified policy: denying everything (no-policy)');
    } else clear('no-policy');
    if (eff.enforcement === 'expired-deny-all') raise('policy-expired', 'critical', `policy ${eff.version} expired; onExpiry deny-all: denying everything`);
    else if (eff.enforcement === 'expired-enforcing') raise('policy-expired', 'warning', `policy ${eff.version} expired; onExpiry keep-enforcing: still enforcing it`);
    else clear('policy-expired');
    void bus.emit('policy-activated', { version: eff.version ?? 'none', previous, source: eff.kind === 'file' ? fileSource!.describe : eff.kind === 'signed' ? 'policy store' : 'none' });
    if (opts.reconcile && state === 'running' && config) {
      const cfg = config;
      void listenerQueue.run(async () => { await reconcile(cfg, lenientSpecs(cfg, effective.doc)); });
    }
    if (state === 'running') { scheduleNft(); void writeStatus(); }
    return true;
  }

  function lenientSpecs(cfg: GatewayConfig, doc: PolicyDocument | null): ResolvedListener[] {
    const r = resolveListenersLenient(cfg, doc);
    setProblems(r.problems);
    return r.specs;
  }

  function setProblems(problems: ListenerProblem[]): void {
    for (const id of [...alarms.keys()]) if (id.startsWith('listener-unresolved:')) clear(id);
    listenerProblems = problems;
    for (const p of problems) {
      raise(`listener-unresolved:${p.index}`, p.started ? 'warning' : 'critical', `listener ${p.listen} (${p.asset}): ${p.message}`);
      log.warn(`listener ${p.listen} (${p.asset}) does not fit the policy${p.started ? ' (it stands on its config upstream)' : ''}: ${p.message}`);
    }
  }

  /** The listeners for `cfg` under `eff`: strict against a lab policy file (refused with file:line:col), lenient otherwise. */
  function specsFor(cfg: GatewayConfig, eff: Effective): ResolvedListener[] {
    if (eff.kind === 'file') { setProblems([]); return resolveListeners(cfg, eff.doc!); }
    return lenientSpecs(cfg, eff.doc);
  }

  // ---- listeners --------------------------------------------------------------------------

  function buildDriver(spec: ResolvedListener, cfg: GatewayConfig): { driver: RunningListener['driver']; stats: () => Record<string, number> } {
    // The session decider passes edge-login, identity and grant facts to the policy (attach-access.ts).
    const common = { listen: spec.listen, upstream: spec.upstream, asset: spec.asset, decider: access?.decider ?? decider, audit: sink, now };
    if (spec.service === 'modbus') {
      const proxy = createModbusProxy({
        ...common,
        ...(access ? { session: access.sessionFacts } : {}),
        servicePort: spec.servicePort,
        limits: (conduitId) => decider.conduit(conduitId)?.rateLimit,
        writeLimits: (conduitId) => decider.conduit(conduitId)?.writeRateLimit,
        timeouts: { idleMs: cfg.timeouts.idleMs, connectMs: cfg.timeouts.connectMs, upstreamMs: cfg.timeouts.responseMs, drainMs: cfg.timeouts.drainMs, frameMs: cfg.timeouts.frameMs },
        maxConnections: cfg.limits.maxConnections,
        maxConnectionsPerSource: cfg.limits.perSourceMax,
        log: (line) => log.warn(line), // upstream timeouts, dropped replies, closes (rate-limited)
      });
      return { driver: proxy, stats: () => ({ ...proxy.stats }) as unknown as Record<string, number> };
    }
    const rtu = buildRtuDriver(spec, { // serial lines (drivers/modbus-rtu)
      decider: common.decider, audit: sink, now, log: (line) => log.warn(line),
      ...(options.serialReopenMs !== undefined ? { reopenMs: options.serialReopenMs } : {}),
      onLine: (up, why) => {
        if (up) clear(`serial-lost:${spec.key}`);
        else raise(`serial-lost:${spec.key}`, 'critical', `serial device ${spec.serial?.device} (listener ${listenLabel(spec)}, ${spec.asset}) is gone (${why}); requests on it are refused until it is back, tried every ${options.serialReopenMs ?? 2000} ms`);
      },
    });
    if (rtu) return rtu;
    if (spec.service === 'dnp3') { // drivers/dnp3: same limits and timeouts as Modbus
      const proxy = createDnp3Proxy({
        ...common, decider: (access?.decider ?? decider) as Dnp3Decider, ...(access ? { session: access.sessionFacts } : {}),
        servicePort: spec.servicePort, limits: (conduitId) => decider.conduit(conduitId)?.rateLimit,
        timeouts: { idleMs: cfg.timeouts.idleMs, connectMs: cfg.timeouts.connectMs, upstreamMs: cfg.timeouts.responseMs, drainMs: cfg.timeouts.drainMs, frameMs: cfg.timeouts.frameMs },
        maxConnections: cfg.limits.maxConnections, maxConnectionsPerSource: cfg.limits.perSourceMax,
      });
      return { driver: proxy, stats: () => ({ ...proxy.stats }) as unknown as Record<string, number> };
    }
    if (spec.service === 'iec104') { // drivers/iec104: the link's own t1/t2/t3 keep it alive; frame, connect and drain as Modbus
      const proxy = createIec104Proxy({
        ...common, decider: (access?.decider ?? decider) as Iec104Decider, ...(access ? { session: access.sessionFacts } : {}),
        servicePort: spec.servicePort, limits: (conduitId) => decider.conduit(conduitId)?.rateLimit,
        timeouts: {
          connectMs: cfg.timeouts.connectMs, drainMs: cfg.timeouts.drainMs, frameMs: cfg.timeouts.frameMs,
          ...(spec.iec104 ? { t1Ms: spec.iec104.t1Ms, t2Ms: spec.iec104.t2Ms, t3Ms: spec.iec104.t3Ms } : {}),
        },
        ...(spec.iec104 ? { k: spec.iec104.k, w: spec.iec104.w } : {}),
        maxConnections: cfg.limits.maxConnections, maxConnectionsPerSource: cfg.limits.perSourceMax,
      });
      return { driver: proxy, stats: () => ({ ...proxy.stats }) as unknown as Record<string, number> };
    }
    const conduit = createTcpConduit({
      ...common,
      port: spec.servicePort,
      idleTimeoutMs: cfg.timeouts.idleMs,
      connectTimeoutMs: cfg.timeouts.connectMs,
      drainMs: cfg.timeouts.drainMs,
      maxConnections: cfg.limits.maxConnections,
      perSourceMax: cfg.limits.perSourceMax,
    });
    // Lazy re-check of live TCP connections after each activation (see create-conduit.ts).
    bus.on('policy-activated', spec.key, () => {
      const closed = conduit.recheck();
      if (closed > 0) log.info(`${spec.key}: ${closed} connection(s) closed, no longer allowed by the active policy`);
    });
    // A logout, an expired or revoked grant or a quarantine closes the connections that depended on it.
    bus.on('session-changed', spec.key, () => {
      const closed = conduit.recheck();
      if (closed > 0) log.info(`${spec.key}: ${closed} connection(s) closed after a session or grant change`);
    });
    return { driver: conduit, stats: () => ({ ...conduit.stats() }) as unknown as Record<string, number> };
  }

  async function startListener(spec: ResolvedListener, cfg: GatewayConfig): Promise<RunningListener> {
    const status: ListenerStatus = {
      key: spec.key, listen: listenLabel(spec), asset: spec.asset, service: spec.service,
      servicePort: spec.servicePort, upstream: upstreamLabel(spec), state: 'starting',
    };
    const link = iec104LinkOf(spec);
    if (link !== undefined) status.iec104 = link;
    const { driver, stats } = buildDriver(spec, cfg);
    const abort = new AbortController();
    const running: RunningListener = { spec, driver, status, stats, abort };
    listeners.set(spec.key, running);
    try {
      await driver.start(abort.signal);
      const a = driver.address();
      status.address = spec.service === 'modbus-rtu' ? status.listen : formatHostPort({ host: a.address ?? a.host ?? spec.listen.host, port: a.port });
      status.state = 'up';
      delete status.error;
      clear(`listener-failed:${spec.key}`);
      log.info(`listening on ${status.address}: ${spec.service} for ${spec.asset} (service port ${spec.servicePort}) → ${status.upstream}`);
      void bus.emit('listener-up', { key: spec.key });
    } catch (e) {
      status.state = 'failed';
      status.error = describeError(e).message;
      bus.removeOwner(spec.key);
      raise(`listener-failed:${spec.key}`, 'critical', `listener ${status.listen} (${spec.asset}) failed to start: ${status.error}`);
      record({ kind: 'driver', asset: spec.asset, port: spec.servicePort, message: `listener ${status.listen} failed to start: ${status.error}` });
      void bus.emit('listener-down', { key: spec.key, error: status.error });
      throw e;
    }
    return running;
  }

  async function stopListener(l: RunningListener): Promise<void> {
    const wasUp = l.status.state !== 'failed';
    l.status.state = 'stopping';
    bus.removeOwner(l.spec.key);
    try {
      if (wasUp) await l.driver.stop();
    } catch (e) {
      logError(`listener ${l.status.listen} did not stop cleanly`, e);
    }
    l.status.state = 'stopped';
    listeners.delete(l.spec.key);
    clear(`listener-failed:${l.spec.key}`);
    clear(`serial-lost:${l.spec.key}`);
    void bus.emit('listener-down', { key: l.spec.key });
  }

  /** Same key → untouched (its connections too); others drained or started. */
  async function reconcile(cfg: GatewayConfig, specs: ResolvedListener[]): Promise<{ started: number; stopped: number; kept: number; failed: number }> {
    const wanted = new Map(specs.map((s) => [s.key, s]));
    const result = { started: 0, stopped: 0, kept: 0, failed: 0 };
    if (state !== 'running' && state !== 'starting') return result;
    for (const [key, l] of [...listeners]) {
      if (wanted.has(key) && l.status.state === 'up') { result.kept += 1; continue; }
      await stopListener(l);
      if (!wanted.has(key)) { result.stopped += 1; log.info(`stopped listener ${l.status.listen} (${l.spec.asset})`); }
    }
    for (const [key, spec] of wanted) {
      if (listeners.has(key)) continue;
      try { await startListener(spec, cfg); result.started += 1; } catch (e) { result.failed += 1; logError(`listener ${formatHostPort(spec.listen)} (${spec.asset}) failed to start`, e); }
    }
    if (result.started + result.stopped + result.failed > 0) scheduleNft();
    return result;
  }

  // ---- nftables, status file, timers --------------------------------------------------------

  /** Renders the active policy with the proxies and applies it; ERR_NFT is an alarm, the proxies keep enforcing. */
  function scheduleNft(): void {
    const cfg = config;
    const nf = cfg?.parts.nftables;
    if (!cfg || !nf?.enabled) return;
    // Inside a reload every step that would apply only asks for it; the reload applies once.
    if (nftHold > 0) { nftWanted = true; return; }
    void nftQueue.run(async () => {
      const doc = effective.doc;
      if (!doc) return;
      nft ??= { enabled: true, appliedSha256: null, appliedAt: null, keptAt: null, skipped: [], lastError: null };
      const proxies: ProxyListener[] = nf.render.proxies ? [...nf.render.proxies] : [...listeners.values()].filter((l) => l.spec.service !== 'modbus-rtu').map((l) => ({
        asset: l.spec.asset, port: l.spec.servicePort, protocol: policyProtocol(l.spec.service), listen: { host: l.spec.listen.host, port: Number(l.status.address?.split(':').pop() ?? l.spec.listen.port) },
      }));
      try {
        const rendered = renderRuleset({ ...withLoginPage(nf.render, cfg), doc, proxies });
        await checkNftInterfaces(rendered);
        if (rendered.skipped.length > 0) log.warn(`nftables: ${rendered.skipped.length} conduit part(s) left denied: ${rendered.skipped.map((s) => `${s.conduit} (${s.reason})`).join('; ')}`);
        const applied = await applyRuleset(rendered.text, { ...options.nftCommand, table: rendered.table, keepDir: nf.keepDir ?? join(cfg.stateDir, 'nftables') });
        nft = { ...nft, enabled: true, appliedSha256: applied.sha256, appliedAt: now(), keptAt: applied.keptAt ?? null, skipped: rendered.skipped.map((s) => ({ ...s })), lastError: null };
        clear('nftables');
        record({ kind: 'config', source: 'nftables', policyVersion: effective.version ?? undefined, message: 'nftables ruleset applied', detail: { sha256: applied.sha256, table: applied.table, skipped: rendered.skipped.length } });
        log.info(`nftables: table ${applied.table} applied (${applied.sha256.slice(0, 12)})`);
        readNftCounters();
      } catch (e) {
        const d = describeError(e);
        nft.lastError = { at: now(), code: d.code, message: d.message };
        raise('nftables', 'critical', `nftables ruleset not applied (${d.code}): ${d.message}; the proxies keep enforcing`);
        record({ kind: 'config', source: 'nftables', message: 'nftables ruleset refused', detail: { code: d.code, error: d.message } });
        log.error(`nftables: ${d.code}: ${d.message} (the proxies keep enforcing)`);
      }
    });
  }

  /** Warns (once per change) about zones without interfaces; alarms when a named interface is missing. */
  async function checkNftInterfaces(rendered: { warnings: string[]; interfaces: string[] }): Promise<void> {
    const before = JSON.stringify(nft?.warnings ?? []);
    if (nft) nft.warnings = rendered.warnings;
    if (JSON.stringify(rendered.warnings) !== before) for (const w of rendered.warnings) log.warn(`nftables: ${w}`);
    const missing = await missingInterfaces(rendered.interfaces, options.nftCommand ?? {});
    if (nft) nft.missingInterfaces = missing;
    if (missing.length) {
      raise('nftables-interfaces', 'warning', `nftables: interface(s) ${missing.join(', ')} named by the policy or config do not exist on this device; traffic there stays denied`);
      log.warn(`nftables: interface(s) ${missing.join(', ')} do not exist on this device`);
    } else clear('nftables-interfaces');
  }

  function writeStatus(): Promise<void> {
    const cfg = config;
    if (!cfg) return Promise.resolve();
    return statusQueue.run(async () => {
      let r: Awaited<ReturnType<typeof writeStatusFile>>;
      try {
        r = await writeStatusFile(cfg.stateDir, fileStatus(), { now });
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOSPC' || code === 'EDQUOT') { diskFull.status = `${code}, nothing reserved to write in place`; updateDiskFull(); }
        throw e;
      }
      const was = diskFull.status;
      diskFull.status = r.mode === 'in-place' ? `written in place (${r.error})` : null;
      updateDiskFull();
      // The alarm just raised belongs in the file now, not 5 s later.
      if (was === null && diskFull.status !== null) await writeStatusFile(cfg.stateDir, fileStatus(), { now }).catch(() => undefined);
    }).then(() => undefined);
  }

  /** Reads the applied ruleset's counters back (zonegate status shows hits per conduit). */
  function readNftCounters(): void {
    const cfg = config;
    const nf = cfg?.parts.nftables;
    if (!cfg || !nf?.enabled || !nft?.appliedSha256) return;
    void nftQueue.run(async () => {
      try {
        const c = await readCounters({ ...options.nftCommand, table: nf.render.table ?? 'zonegate' });
        if (nft) nft.counters = { at: now(), byConduit: c.byConduit, shared: c.shared, drops: c.drops };
      } catch (e) {
        log.warn(`nftables counters: ${describeError(e).message}`);
      }
    });
  }

  function startTimers(): void {
    const statusMs = options.statusIntervalMs ?? 5_000;
    if (config?.parts.nftables?.enabled) timers.push(setInterval(readNftCounters, options.nftCountersMs ?? 30_000));
    if (statusMs > 0) timers.push(setInterval(() => { void writeStatus(); }, statusMs));
    const expiryMs = options.expiryCheckMs ?? 30_000;
    if (store && expiryMs > 0) timers.push(setInterval(() => { checkExpiry(); }, expiryMs));
    for (const t of timers) t.unref();
  }

  function checkExpiry(): void {
    if (!store) return;
    try { store.checkExpiry(now()); } catch (e) { logError('expiry check failed', e); }
    // checkExpiry swaps the index through `activate` when it denies; keep-enforcing only changes the state.
    applyEffective({ reconcile: false });
  }

  // ---- the parts opened once per process ------------------------------------------------------

  async function openParts(cfg: GatewayConfig): Promise<void> {
    await fsp.mkdir(cfg.stateDir, { recursive: true, mode: 0o700 });
    if (cfg.parts.audit.enabled) {
      const key = await loadOrCreateDeviceKey({ stateDir: cfg.stateDir });
      auditDir = join(cfg.stateDir, 'audit');
      auditLog = await AuditLog.open({
        dir: auditDir, device: cfg.device, key: { privateKey: key.privateKey, publicRaw: key.publicRaw }, now,
        ...(cfg.parts.audit.maxBytes !== undefined ? { maxBytes: cfg.parts.audit.maxBytes } : {}),
        ...(cfg.parts.audit.segmentBytes !== undefined ? { segmentBytes: cfg.parts.audit.segmentBytes } : {}),
        ...(cfg.parts.audit.flushDelayMs !== undefined ? { flushDelayMs: cfg.parts.audit.flushDelayMs } : {}),
        ...(cfg.parts.audit.checkpointIntervalMs !== undefined ? { checkpointIntervalMs: cfg.parts.audit.checkpointIntervalMs } : {}),
        // Every raise (count and message updated) and every clear reaches here.
        onAlarm: (a) => {
          const id = `audit:${a.code}`;
          if (a.active) {
            if (!alarms.has(id)) log.warn(`audit: ${a.message}`);
            raise(id, a.code === 'audit-recovered' ? 'warning' : 'critical', a.message);
          } else if (alarms.has(id)) {
            log.info(`audit: ${a.code} cleared`);
            clear(id);
          }
          if (a.code === 'audit-write-failed') {
            diskFull.audit = a.active && /\b(ENOSPC|EDQUOT)\b/.test(a.message) ? 'writes fail with ENOSPC' : null;
            updateDiskFull();
          }
        },
      });
      checkClock(); // the log's last record is a floor for the clock
    } else {
      log.warn('audit.enabled is false: decisions are kept in memory only (no durable audit log)');
    }
    // Outcomes of runtime updates (kept, rolled back and why) recorded once each, then the slots read.
    await auditUpdateOutcomes({ stateDir: cfg.stateDir, audit: sink }).catch((e: Error) => log.warn(`update outcomes: ${e.message}`));
    await refreshUpdateState();
    if (cfg.parts.trustRootFile) {
      store = await openGatewayStore({
        config: cfg, now, audit: sink,
        // Swapped synchronously inside the store's activation; the store is assigned only after boot.
        activate: (index) => { if (index) storeIndex = index; if (store) applyEffective({ reconcile: true }); },
        // Attached before boot: a corrupt or rolled-back file found at boot is logged and alarmed.
        listen: (st) => listenToStore(st),
      });
    }
    function listenToStore(st: PolicyStore): void {
      st.on('refused', (err) => {
        lastError = { at: err.at, code: String(err.code), message: err.message, issues: err.issues.map(formatIssue) };
        raise('policy-refused', 'warning', `bundle refused (${err.source}), the active policy stays: ${err.code}: ${err.message}`);
        log.error(`bundle refused (${err.source}): ${err.code}: ${err.message} (still enforcing ${effective.version ?? 'no policy'})`);
        sync?.refreshStatus();
        void writeStatus();
      });
      st.on('activated', (a) => {
        lastError = null;
        clear('policy-refused');
        // A verified bundle replaced whatever was broken on disk or unverifiable under the root.
        if (a.source !== 'boot') { clear('store:bundle-corrupt'); clear('store:policy-unverifiable'); clear('store:policy-rollback'); clear('store:policy-conflict'); }
        log.info(`bundle v${a.version} (${a.policyVersion}) activated from ${a.source}, expires ${new Date(a.expiresAt).toISOString()}`);
        sync?.refreshStatus();
      });
      st.on('alarm', (a) => {
        if (a.kind !== 'policy-expired') raise(`store:${a.kind}`, a.kind === 'policy-conflict' ? 'warning' : 'critical', a.message);
        log.warn(`policy store alarm ${a.kind}: ${a.message}`);
        sync?.refreshStatus();
      });
    }
    if (cfg.parts.mqtt) {
      if (!store) {
        log.warn('mqtt is configured but trustRoot is not: MQTT sync is off (bundles could not be verified)'); // start() refuses this config
      } else {
        const s = store;
        const arch = packageArchOf(process.arch);
        const root = options.updateRoot ?? installRoot({ env: process.env, script: process.argv[1] });
        if (arch) {
          updates = createUpdateReceiver({
            root, stateDir: cfg.stateDir, trustRoot: () => s.trustRoot(), site: cfg.site, device: cfg.device, arch, now,
            restart: (r) => {
              log.warn(`runtime update ${r.version} installed into slot ${r.to} (from ${r.previousVersion} in ${r.from}): restarting into it`);
              if (options.restartForUpdate) options.restartForUpdate();
              else log.warn('no restart hook: the new version runs after the next restart');
            },
            log: (level, m) => log[level](`update: ${m}`),
          });
        }
        const announce = [runtimeTopic({ site: cfg.site }), runtimeTopic({ site: cfg.site, device: cfg.device })];
        const chunks = chunkTopic({ site: cfg.site });
        const receiver = updates;
        sync = createMqttSync({
          extra: receiver ? {
            topics: [...announce, chunks],
            maxBytes: (t) => (t === chunks ? CHUNK_MESSAGE_MAX_BYTES : RUNTIME_BUNDLE_MAX_BYTES),
            onMessage: (t, bytes) => {
              const done = t === chunks ? receiver.onChunk(bytes) : receiver.onBundle(bytes);
              void done.then(() => refreshUpdateState(), (e: Error) => log.warn(`update: ${e.message}`));
            },
          } : undefined,
          ...syncConnection(cfg.parts.mqtt), site: cfg.site, device: cfg.device, runtimeVersion, startedAt: startedAt ?? now(), now,
          handlers: storeHandlers({
            store: s,
            // access is attached right after openParts, before the sync starts.
            grant: async (bytes) => {
              if (!access) throw new ZonegateError('ERR_BUNDLE_TYPE', 'the gateway is not ready for grants yet');
              const r = await access.acceptGrant(bytes);
              log.info(`grant bundle ${r.outcome}${r.grant ? `: ${r.grant.id} for ${r.grant.identity}` : ''}${r.revoked.length ? `; revoked ${r.revoked.join(', ')}` : ''}`);
            },
            command: createCommandHandler({
              stateDir: cfg.stateDir, device: cfg.device, site: cfg.site, now, trustRoot: () => s.trustRoot(), access: () => access, log,
            }),
          }),
          // The store's fields, but the alarms active now from the one alarm model, not the store's history.
          state: () => ({ ...storeState(s, { fileEnforcing: () => effective.kind === 'file' })(), alarms: publishedAlarms() }), audit: sink,
          log: (level, m) => log[level](`mqtt: ${m}`),
        });
        if (auditLog) {
          const link = sync;
          uploader = createAuditUploader({
            log: auditLog, device: cfg.device, site: cfg.site, now,
            publish: (b) => link.publishAuditBatch(b), onAck: (cb) => link.onAuditAck(cb),
            onLog: (level, m) => log[level](`audit upload: ${m}`),
          });
        }
      }
    }
    if (cfg.parts.telemetry.enabled) {
      const link = sync;
      telemetry = createTelemetrySampler({
        sample: () => sampleTelemetry({ stateDir: cfg.stateDir }),
        publish: link ? (d) => link.publishTelemetry(d) : undefined,
        intervalMs: cfg.parts.telemetry.intervalMs, labels: { device: cfg.device, site: cfg.site },
      });
    }
  }

  /**
   * Users, edge sessions, grants, consoles and the login page (runtime/access/attach-access.ts).
   * Always attached (grants and edge sessions work whenever the policy needs them); the login page,
   * serial line and socket start only when the config's `console:` block names them.
   */
  async function openAccess(cfg: GatewayConfig): Promise<void> {
    const s = store;
    access = await attachAccess({
      config: { file: cfg.file, dir: cfg.dir, device: cfg.device, site: cfg.site, stateDir: cfg.stateDir, reserved: cfg.reserved },
      now, log, decider,
      audit: sink,
      recentAudit: (n) => ring.recent(n),
      status: () => snapshot(),
      trustRoot: s ? () => s.trustRoot() : undefined,
      importBundle: s ? async (b) => { const r = await s.accept(b, { source: 'import' }); return `policy ${r.active.policyVersion} ${r.outcome}`; } : undefined,
      policyDenyAll: () => s?.status().state === 'expired-deny-all',
      policyShow: () => {
        const doc = effective.doc;
        const head = `policy ${effective.version ?? 'none'} (${effective.kind ?? 'no source'}, ${effective.enforcement})`;
        if (!doc) return [head];
        return [head, ...doc.conduits.map((c) => `  ${c.id}: ${c.protocol}${c.requires?.edgeAuth ? ', edge login' : ''}${c.requires?.grant ? ', grant' : ''}${c.schedule ? ', scheduled' : ''}${c.mode === 'monitor' ? ' [monitor]' : ''}`)];
      },
      explain: (raw) => {
        const { request, issues } = parseRequest(raw, 'request');
        if (!request) throw new ZonegateError('ERR_REQUEST_INVALID', `the request has ${issues.length} problem${issues.length === 1 ? '' : 's'}`, { issues });
        if (!effective.index) return ['no policy is enforcing: every request is denied (no-policy)'];
        const ex = explainRequest(effective.index, request, now());
        return [
          `source ${ex.source.ip ?? '-'}${ex.source.identity ? ` = ${ex.source.identity}` : ''}, zone ${ex.source.zone ?? '(none)'}; destination ${ex.destination.asset ?? '(no asset)'} ${ex.destination.protocol} port ${ex.destination.port ?? '?'}`,
          ...ex.conduits.map((c) => `  ${c.conduit}: ${c.result === 'allow' ? 'passes' : c.result === 'fail' ? `fails: ${c.reason}` : `not a candidate (${c.why})`}`),
          `=> ${describeDecision(ex.decision)} (policy ${effective.version ?? 'none'})`,
        ];
      },
      onSessionChange: (c) => {
        if (c.kind === 'break-glass') {
          if (c.state) raise('break-glass', 'critical', `break-glass by ${c.state.user} until ${new Date(c.state.endsAt).toISOString()}: ${c.state.reason}`);
          else clear('break-glass');
          void writeStatus();
        }
        void bus.emit('session-changed', c);
      },
    });
    await access.start(lifetime.signal);
  }

  let partsClosed: Promise<void> | undefined;
  /** Once per process: stop the sync (offline status), wait for queued work, close the audit log (final checkpoint), remove the pid file. */
  function closeParts(): Promise<void> {
    partsClosed ??= doCloseParts();
    return partsClosed;
  }

  async function doCloseParts(): Promise<void> {
    for (const t of timers.splice(0)) clearInterval(t);
    // First: the uploader reads the audit log and publishes through the sync, both closed below.
    uploader?.stop();
    telemetry?.stop();
    if (sync) { try { await sync.stop(); } catch (e) { logError('mqtt sync did not stop cleanly', e); } }
    ring.flush();
    await listenerQueue.idle();
    await nftQueue.idle();
    if (auditLog) { try { await auditLog.close(); } catch (e) { logError('audit log did not close cleanly', e); } }
    if (pidWritten && config) { await removePidFile(config.stateDir).catch(() => undefined); pidWritten = false; }
  }

  // ---- start, reload, stop --------------------------------------------------------------------

  async function start(signal: AbortSignal): Promise<void> {
    if (state !== 'new') throw new TypeError(`gateway: start() called in state ${state}`);
    state = 'starting';
    startedAt = now();
    const onAbort = () => { void stop(); };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const cfg = await loadConfig(options.configFile);
      if (!cfg.policyFile && !cfg.parts.trustRootFile) {
        throw new ZonegateError('ERR_CONFIG_INVALID', `gateway config ${cfg.file}: no policy source`, {
          issues: [{ file: cfg.file, path: 'trustRoot', message: "neither 'trustRoot' (signed bundles) nor 'policyFile' (labs) is configured", ...(cfg.locate([]) ?? {}) }],
        });
      }
      if (cfg.parts.mqtt && !cfg.parts.trustRootFile) {
        // Every payload from the broker is verified against the trust root: without one, MQTT could do nothing.
        throw new ZonegateError('ERR_CONFIG_INVALID', `gateway config ${cfg.file}: mqtt without trustRoot`, {
          issues: [{ file: cfg.file, path: 'mqtt', message: "needs 'trustRoot': bundles from the broker are verified against it (a lab policyFile is never updated over MQTT)", ...(cfg.locate(['mqtt']) ?? {}) }],
        });
      }
      config = cfg;
      configLoadedAt = now();
      options.setLogLevel?.(cfg.log.level);
      ring = createMemoryAudit({ capacity: cfg.limits.auditRing, write: cfg.log.decisions === 'stdout' ? options.writeLine : undefined });
      if (cfg.policyFile) {
        fileSource = createFilePolicySource({ file: cfg.policyFile, now });
        filePolicy = await fileSource.load();
      }
      await openParts(cfg);
      await openAccess(cfg);
      if (cfg.policyFile && store) log.warn(`both trustRoot and policyFile are configured: the signed policy store wins once it has an active bundle; ${cfg.policyFile} enforces only until then`);
      if (signal.aborted) throw new Error('startup aborted');
      const eff = chooseEffective(filePolicy);
      const specs = specsFor(cfg, eff);
      applyEffective({ reconcile: false });
      for (const spec of specs) {
        if (signal.aborted) throw new Error('startup aborted');
        try {
          await startListener(spec, cfg);
        } catch (e) {
          const d = describeError(e);
          const field = isSerialOpenError(e) ? ['serial', 'device'] : ['listen']; // rtu-drivers.ts
          const pos = cfg.locate(['listeners', spec.index, ...field]);
          throw new ZonegateError('ERR_CONFIG_INVALID', `cannot listen on ${listenLabel(spec)} for ${spec.asset}: ${d.message}`, {
            cause: e, issues: [{ file: cfg.file, path: `listeners[${spec.index}].${field.join('.')}`, message: `cannot ${field[0] === 'listen' ? 'listen' : 'open the serial device'}: ${d.code === 'EADDRINUSE' ? 'address already in use' : d.message}`, ...(pos ?? {}) }],
          });
        }
      }
    } catch (e) {
      state = 'failed';
      signal.removeEventListener('abort', onAbort);
      await Promise.all([...listeners.values()].map(stopListener));
      if (access) { try { await access.stop(); } catch (e2) { logError('access did not stop cleanly', e2); } }
      await closeParts();
      throw e;
    }
    if (signal.aborted) return;
    state = 'running';
    const cfg = config!;
    record({ kind: 'config', message: 'gateway started', policyVersion: effective.version ?? undefined, detail: { device: cfg.device, site: cfg.site, listeners: listeners.size, policy: effective.kind ?? 'none', enforcement: effective.enforcement, config: cfg.file } });
    // Never awaited before the listeners are up: enforcement does not wait for the broker.
    if (sync) void sync.start(lifetime.signal);
    uploader?.start();
    telemetry?.start();
    scheduleNft();
    startTimers();
    if (options.pidFile) {
      try { await writePidFile(cfg.stateDir); pidWritten = true; } catch (e) { logError('cannot write the pid file (bundle import cannot signal us)', e); }
    }
    await writeStatus();
    // READY only now: the policy (or deny-all) is enforcing and every listener is up.
    await options.notify?.ready(effective.version ? `enforcing ${effective.version} on ${listeners.size} listener(s)` : `denying everything (no policy) on ${listeners.size} listener(s)`);
    options.notify?.startWatchdog(lifetime.signal);
  }

  /** Settings read once at start; a reload that changes them is told to restart. */
  function restartOnly(a: GatewayConfig, b: GatewayConfig): string[] {
    const out: string[] = [];
    if (a.device !== b.device) out.push('device');
    if (a.site !== b.site) out.push('site');
    if (a.stateDir !== b.stateDir) out.push('stateDir');
    for (const k of ['trustRootFile', 'audit', 'mqtt'] as const) if (JSON.stringify(a.parts[k]) !== JSON.stringify(b.parts[k])) out.push(k === 'trustRootFile' ? 'trustRoot' : k);
    // The login page, consoles and login limits are bound once (attachAccess); users reload on SIGHUP.
    if (JSON.stringify(a.reserved.console ?? null) !== JSON.stringify(b.reserved.console ?? null)) out.push('console');
    return out;
  }

  /** One reload applies the ruleset once, whatever inside it (activation, listeners) asked for it. */
  async function doReload(): Promise<ReloadResult> {
    nftHold += 1;
    nftWanted = false;
    try {
      const r = await doReloadSteps();
      if (r.ok) nftWanted = true;
      return r;
    } finally {
      nftHold -= 1;
      if (nftHold === 0 && nftWanted) { nftWanted = false; scheduleNft(); }
    }
  }

  async function doReloadSteps(): Promise<ReloadResult> {
    if (state !== 'running') {
      log.warn(`reload ignored: the gateway is ${state}`);
      return { ok: false, error: new Error(`gateway is ${state}`) };
    }
    reloads += 1;
    log.info(`reloading ${options.configFile}`);
    let cfg: GatewayConfig;
    let nextFile: LoadedPolicy | undefined;
    let nextSource: PolicySource | undefined;
    let specs: ResolvedListener[];
    const keyBefore = effectiveKey;
    try {
      cfg = await loadConfig(options.configFile);
      if (!cfg.policyFile && !store) {
        throw new ZonegateError('ERR_CONFIG_INVALID', `gateway config ${cfg.file}: no policy source`, {
          issues: [{ file: cfg.file, path: 'policyFile', message: "'policyFile' was removed and no trustRoot was configured at start", ...(cfg.locate([]) ?? {}) }],
        });
      }
      if (cfg.policyFile) {
        nextSource = createFilePolicySource({ file: cfg.policyFile, now });
        nextFile = await nextSource.load();
      }
      // The store re-reads and re-verifies what is on disk (`bundle import` wrote it, then sent SIGHUP).
      if (store) await store.reload();
      specs = specsFor(cfg, chooseEffective(nextFile));
    } catch (e) {
      failedReloads += 1;
      const d = describeError(e);
      lastError = { at: now(), code: d.code, message: d.message, issues: d.issues.map(formatIssue) };
      raise('policy-refused', 'warning', `reload refused, the previous policy stays: ${d.message}`);
      logError(`reload refused (still enforcing ${effective.version ?? 'no policy'})`, e);
      record({ kind: 'policy', policyVersion: effective.version ?? undefined, message: 'reload refused', detail: { code: d.code, error: d.message, issues: lastError.issues } });
      record({ kind: 'config', policyVersion: effective.version ?? undefined, message: 'config reload refused', detail: { file: options.configFile, code: d.code } });
      void bus.emit('policy-refused', { source: options.configFile, error: d });
      void bus.emit('reloaded', { ok: false });
      return { ok: false, error: e as Error };
    }
    const prevConfig = config!;
    const needRestart = restartOnly(prevConfig, cfg);
    if (needRestart.length > 0) {
      raise('restart-required', 'warning', `changed ${needRestart.join(', ')}: takes effect after a restart`);
      log.warn(`reload: ${needRestart.join(', ')} changed; these take effect only after a restart (the running values stay)`);
      cfg = { ...cfg, device: prevConfig.device, site: prevConfig.site, stateDir: prevConfig.stateDir, reserved: { ...cfg.reserved, ...(prevConfig.reserved.console ? { console: prevConfig.reserved.console } : {}) }, parts: { ...cfg.parts, trustRootFile: prevConfig.parts.trustRootFile, audit: prevConfig.parts.audit, mqtt: prevConfig.parts.mqtt } };
      if (!prevConfig.reserved.console) delete cfg.reserved.console;
    } else clear('restart-required');
    config = cfg;
    configLoadedAt = now();
    options.setLogLevel?.(cfg.log.level);
    if (cfg.limits.auditRing !== prevConfig.limits.auditRing || cfg.log.decisions !== prevConfig.log.decisions) {
      // Drivers write through the tee, which reads `ring` on every record: the new sink takes over at once.
      ring.flush();
      ring = createMemoryAudit({ capacity: cfg.limits.auditRing, write: cfg.log.decisions === 'stdout' ? options.writeLine : undefined, seed: ring.recent() });
    }
    filePolicy = nextFile;
    fileSource = nextSource;
    // `zonegate user add/remove/passwd` wrote the user store, then sent SIGHUP.
    if (access) { try { await access.reload(); } catch (e) { logError('users not reloaded', e); } }
    applyEffective({ reconcile: false });
    // The store may have activated already inside store.reload(): compare with before the reload.
    const policyChanged = effectiveKey !== keyBefore;
    if (!policyChanged) log.info(`policy unchanged (${effective.version ?? 'none'})`);
    clear('policy-refused');
    lastError = null;
    const result = (await listenerQueue.run(() => reconcile(cfg, specs))) ?? { started: 0, stopped: 0, kept: 0, failed: 0 };
    record({ kind: 'config', policyVersion: effective.version ?? undefined, message: 'reloaded', detail: { ...result, policyChanged, file: cfg.file, restartRequired: needRestart } });
    log.info(`reload done: policy ${effective.version ?? 'none'}${policyChanged ? ' activated' : ' unchanged'}; listeners ${result.kept} kept, ${result.started} started, ${result.stopped} stopped, ${result.failed} failed`);
    void writeStatus();
    void bus.emit('reloaded', { ok: true });
    return { ok: true, policyChanged, listeners: result };
  }

  let stopping: Promise<void> | undefined;
  function stop(): Promise<void> {
    if (stopping) return stopping;
    stopping = (async () => {
      await serial.catch(() => undefined);
      const wasRunning = state === 'running';
      state = 'stopping';
      lifetime.abort();
      for (const t of timers.splice(0)) clearInterval(t);
      if (wasRunning) await options.notify?.stopping();
      log.info(`stopping: draining ${listeners.size} listener(s)`);
      await listenerQueue.idle();
      await Promise.all([...listeners.values()].map(stopListener));
      if (access) { try { await access.stop(); } catch (e) { logError('access did not stop cleanly', e); } }
      if (wasRunning) record({ kind: 'config', message: 'gateway stopped', policyVersion: effective.version ?? undefined });
      await closeParts();
      state = 'stopped';
      if (wasRunning && config) await writeStatusFile(config.stateDir, fileStatus(), { now }).catch(() => undefined);
    })();
    return stopping;
  }

  /** Re-reads the A/B layout and the update journal; a rollback raises an alarm. */
  async function refreshUpdateState(): Promise<void> {
    const cfg = config;
    if (!cfg) return;
    try {
      updateState = await readUpdateStatus({ root: options.updateRoot ?? installRoot({ env: process.env, script: process.argv[1] }), stateDir: cfg.stateDir });
    } catch (e) {
      updateState = null;
      log.warn(`update status: ${(e as Error).message}`);
      return;
    }
    const last = updateState.last;
    if (last?.outcome === 'rolled-back') raise('update-rolled-back', 'warning', `runtime update ${last.version ?? ''} was rolled back: ${last.reason ?? 'unknown reason'}`);
    else clear('update-rolled-back');
  }

  /** status() plus what other parts add (telemetry, audit upload), as status.json carries it. */
  function fileStatus(): GatewayStatus & Record<string, unknown> {
    let extra: Record<string, unknown> = {};
    try { extra = options.statusExtra?.() ?? {}; } catch (e) { log.warn(`statusExtra failed: ${(e as Error)?.message ?? String(e)}`); }
    const sample = telemetry?.latest();
    return { ...extra, telemetry: sample ? summariseTelemetry(sample) : null, upload: uploader?.status() ?? null, ...snapshot() };
  }

  /** The short names the MQTT status carries: every alarm active now, `store:`/`audit:` prefixes dropped. */
  function publishedAlarms(): string[] {
    return [...new Set([...alarms.keys()].map((id) => id.replace(/^(store|audit):/, '')))];
  }

  function snapshot(): GatewayStatus {
    const storeStatus = store?.status() ?? null;
    return {
      device: config?.device ?? null,
      site: config?.site ?? null,
      state,
      startedAt,
      uptimeMs: startedAt === null ? 0 : now() - startedAt,
      at: now(),
      runtimeVersion,
      config: { file: options.configFile, loadedAt: configLoadedAt, reloads, failedReloads },
      policy: {
        version: effective.version,
        source: effective.kind,
        file: effective.kind === 'file' ? filePolicy?.file ?? null : null,
        warning: effective.kind === 'file' ? fileSource?.warning ?? null : null,
        enforcement: effective.enforcement,
        activatedAt,
        conduits: effective.doc?.conduits.length ?? 0,
        expiresAt: effective.kind === 'signed' ? storeStatus?.active?.expiresAt ?? null : null,
        lastError,
        store: storeStatus,
      },
      listeners: [...listeners.values()].map((l) => ({ ...l.status, stats: l.status.state === 'up' ? l.stats() : undefined })),
      listenerProblems: listenerProblems.map((p) => ({ ...p })),
      alarms: [...alarms.values()].map((a) => ({ ...a })),
      audit: ring.stats(),
      auditLog: auditLog && auditDir ? { ...auditLog.status(), dir: auditDir } : null,
      sync: sync?.status() ?? null,
      nftables: config?.parts.nftables?.enabled ? (nft ? { ...nft, skipped: nft.skipped.map((s) => ({ ...s })) } : { enabled: true, appliedSha256: null, appliedAt: null, keptAt: null, skipped: [], lastError: null }) : null,
      update: updateState ? { ...updateState, receiver: updates?.status() ?? null } : null,
      statusFile: config ? join(config.stateDir, STATUS_FILE) : null,
      access: access?.status() ?? null,
      monitor: monitorTally.snapshot(),
    };
  }

  return {
    bus,
    decider,
    get audit() { return ring; },
    get store() { return store; },
    get access() { return access; },
    start,
    stop,
    checkExpiry,
    writeStatus,
    async idle() { await listenerQueue.idle(); await nftQueue.idle(); await statusQueue.idle(); },
    reload(): Promise<ReloadResult> {
      const next = serial.then(doReload, doReload).catch((e: unknown) => {
        logError('reload failed unexpectedly', e);
        return { ok: false, error: e as Error };
      });
      serial = next;
      return next;
    },
    status: snapshot,
  };
}
