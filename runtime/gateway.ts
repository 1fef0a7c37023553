/**
 * The composition root of the daemon (`zonegate run`): the one place that builds the parts and
 * wires them together. Nothing else constructs drivers or the decider.
 *
 *   config (runtime/config.ts) ─┐
 *   policy source (policy-source.ts) ── compiled index ── IndexDecider (swapped on activation)
 *                                                             │
 *   one driver per listener: modbus → createModbusProxy, tcp → createTcpConduit
 *                                                             │
 *   audit sink (memory-audit.ts, behind AuditSink) ◄──────────┘      event bus (bus.ts)
 *
 * Activation (start, and reload on SIGHUP): build the new index beside the old one (read,
 * validate, compile, embedded tests, listeners checked against it); on any failure the old policy
 * and listeners stay exactly as they were and the error is logged with file:line:col. On success
 * setIndex() swaps the policy for every live connection at once: Modbus connections re-resolve
 * their scope on their next request, TCP conduits re-check their connections on the
 * `policy-activated` event (and periodically). Then listeners are reconciled by key (listen,
 * asset, service, upstream): unchanged ones are left alone, removed ones drained, new ones started.
 */
import { IndexDecider } from '../policy/decider';
import { ZonegateError, formatIssue, type Issue } from '../policy/errors';
import type { AuditEvent, Driver } from '../drivers/types';
import { createModbusProxy } from '../drivers/modbus-tcp';
import { createTcpConduit } from '../drivers/tcp-conduit';
import { loadConfig, formatHostPort, type GatewayConfig, type LogLevel } from './config';
import { resolveListeners, type ResolvedListener } from './config/resolve-listeners';
import { EventBus } from './bus';
import { createMemoryAudit, type MemoryAudit, type MemoryAuditStats } from './memory-audit';
import { createFilePolicySource, type LoadedPolicy, type PolicySource } from './policy-source';
import type { SdNotify } from './sd-notify';

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
}

export interface Alarm {
  id: string;
  severity: 'warning' | 'critical';
  message: string;
  /** Epoch milliseconds when it was raised. */
  since: number;
}

export interface ListenerStatus {
  key: string;
  listen: string;
  /** The bound address (differs from `listen` for port 0). */
  address?: string;
  asset: string;
  service: 'modbus' | 'tcp';
  servicePort: number;
  upstream: string;
  state: 'starting' | 'up' | 'failed' | 'stopping' | 'stopped';
  error?: string;
  stats?: Record<string, number>;
}

/** A plain object (JSON-safe) describing the running gateway; later issues add fields. */
export interface GatewayStatus {
  device: string | null;
  site: string | null;
  state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' | 'failed';
  startedAt: number | null;
  uptimeMs: number;
  config: { file: string; loadedAt: number | null; reloads: number; failedReloads: number };
  policy: {
    version: string | null;
    source: string | null;
    file: string | null;
    /** Set while an unsigned policy file is enforcing. */
    warning: string | null;
    activatedAt: number | null;
    conduits: number;
    /** The last refused policy or config, kept until the next successful activation. */
    lastError: { at: number; code: string; message: string; issues: string[] } | null;
  };
  listeners: ListenerStatus[];
  alarms: Alarm[];
  audit: MemoryAuditStats;
}

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
  /** SIGHUP: reload config and policy; never throws, never drops established connections. */
  reload(): Promise<ReloadResult>;
  /** Stops accepting, drains every listener, flushes the audit lines. */
  stop(): Promise<void>;
  status(): GatewayStatus;
  readonly bus: EventBus<GatewayEvents>;
  readonly audit: MemoryAudit;
  readonly decider: IndexDecider;
}

interface RunningListener {
  spec: ResolvedListener;
  driver: Driver & { address(): { address?: string; host?: string; port: number } };
  status: ListenerStatus;
  stats: () => Record<string, number>;
  abort: AbortController;
}

function describeError(e: unknown): { code: string; message: string; issues: Issue[] } {
  if (e instanceof ZonegateError) return { code: e.code, message: e.message, issues: [...e.issues] };
  const err = e as NodeJS.ErrnoException;
  return { code: err?.code ?? 'ERR_INTERNAL', message: err?.message ?? String(e), issues: [] };
}

/** Builds the gateway; nothing is read or bound until start(). */
export function createGateway(options: GatewayOptions): Gateway {
  const now = options.now ?? Date.now;
  const log = options.log;
  const decider = new IndexDecider(null);
  const bus = new EventBus<GatewayEvents>({
    onError: ({ owner, event, error }) => log.error(`${owner}: handler for '${event}' failed: ${(error as Error)?.message ?? String(error)}`),
  });
  let audit: MemoryAudit = createMemoryAudit({ capacity: 10_000, write: options.writeLine });
  let config: GatewayConfig | undefined;
  let policy: LoadedPolicy | undefined;
  let policySource: PolicySource | undefined;
  const listeners = new Map<string, RunningListener>();
  const alarms = new Map<string, Alarm>();
  let state: GatewayStatus['state'] = 'new';
  let startedAt: number | null = null;
  let configLoadedAt: number | null = null;
  let activatedAt: number | null = null;
  let lastError: GatewayStatus['policy']['lastError'] = null;
  let reloads = 0, failedReloads = 0;
  let serial: Promise<unknown> = Promise.resolve();
  const lifetime = new AbortController();

  const raise = (id: string, severity: Alarm['severity'], message: string) => {
    if (!alarms.has(id)) alarms.set(id, { id, severity, message, since: now() });
    else alarms.get(id)!.message = message;
  };
  const clear = (id: string) => { alarms.delete(id); };
  const record = (ev: Omit<AuditEvent, 'at' | 'source'> & { source?: string }) => audit.record({ at: now(), source: 'gateway', ...ev });

  const logError = (what: string, e: unknown) => {
    const d = describeError(e);
    log.error(`${what}: ${d.message}`);
    for (const issue of d.issues) log.error(`  ${formatIssue(issue)}`);
  };

  /** Everything that can fail, done before anything is swapped. */
  async function prepare(file: string): Promise<{ config: GatewayConfig; source: PolicySource | undefined; policy: LoadedPolicy | undefined; specs: ResolvedListener[] }> {
    const cfg = await loadConfig(file);
    if (!cfg.policyFile) {
      throw new ZonegateError('ERR_CONFIG_INVALID', `gateway config ${file}: no policy source`, {
        issues: [{ file, path: 'policyFile', message: "required field 'policyFile' is missing (signed bundles come with the policy store; until then name a policy file)", ...(cfg.locate([]) ?? {}) }],
      });
    }
    const source = createFilePolicySource({ file: cfg.policyFile, now });
    const loaded = await source.load();
    const specs = resolveListeners(cfg, loaded.doc);
    return { config: cfg, source, policy: loaded, specs };
  }

  function activate(next: LoadedPolicy, source: PolicySource): boolean {
    const previous = policy?.version ?? null;
    const changed = !policy || policy.sha256 !== next.sha256;
    policy = next;
    policySource = source;
    if (!changed) return false;
    decider.setIndex(next.index);
    activatedAt = now();
    lastError = null;
    clear('policy-refused');
    if (source.warning) {
      raise('unsigned-policy', 'warning', `${source.warning}: ${source.describe}`);
      log.warn(`WARNING: ${source.warning}: ${source.describe} (version ${next.version})`);
    } else clear('unsigned-policy');
    record({ kind: 'policy', policyVersion: next.version, message: 'activated', detail: { previous, source: source.describe, conduits: next.index.counts.conduits, sha256: next.sha256 } });
    log.info(`policy ${next.version} from ${source.describe} enforcing (${next.index.counts.conduits} conduits)`);
    void bus.emit('policy-activated', { version: next.version, previous, source: source.describe });
    return true;
  }

  function buildDriver(spec: ResolvedListener, cfg: GatewayConfig): { driver: RunningListener['driver']; stats: () => Record<string, number> } {
    const common = { listen: spec.listen, upstream: spec.upstream, asset: spec.asset, decider, audit: { record: (e: AuditEvent) => audit.record(e) }, now };
    if (spec.service === 'modbus') {
      const proxy = createModbusProxy({
        ...common,
        servicePort: spec.servicePort,
        limits: (conduitId) => decider.conduit(conduitId)?.rateLimit,
        timeouts: { idleMs: cfg.timeouts.idleMs, connectMs: cfg.timeouts.connectMs, upstreamMs: cfg.timeouts.responseMs, drainMs: cfg.timeouts.drainMs },
        maxConnections: cfg.limits.maxConnections,
        maxConnectionsPerSource: cfg.limits.perSourceMax,
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
    return { driver: conduit, stats: () => ({ ...conduit.stats() }) as unknown as Record<string, number> };
  }

  async function startListener(spec: ResolvedListener, cfg: GatewayConfig): Promise<RunningListener> {
    const status: ListenerStatus = {
      key: spec.key, listen: formatHostPort(spec.listen), asset: spec.asset, service: spec.service,
      servicePort: spec.servicePort, upstream: formatHostPort(spec.upstream), state: 'starting',
    };
    const { driver, stats } = buildDriver(spec, cfg);
    const abort = new AbortController();
    const running: RunningListener = { spec, driver, status, stats, abort };
    listeners.set(spec.key, running);
    try {
      await driver.start(abort.signal);
      const a = driver.address();
      status.address = formatHostPort({ host: a.address ?? a.host ?? spec.listen.host, port: a.port });
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
    void bus.emit('listener-down', { key: l.spec.key });
  }

  async function start(signal: AbortSignal): Promise<void> {
    if (state !== 'new') throw new TypeError(`gateway: start() called in state ${state}`);
    state = 'starting';
    startedAt = now();
    const onAbort = () => { void stop(); };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const prepared = await prepare(options.configFile);
      config = prepared.config;
      configLoadedAt = now();
      options.setLogLevel?.(config.log.level);
      audit = createMemoryAudit({ capacity: config.limits.auditRing, write: config.log.decisions === 'stdout' ? options.writeLine : undefined });
      if (signal.aborted) throw new Error('startup aborted');
      activate(prepared.policy!, prepared.source!);
      for (const spec of prepared.specs) {
        if (signal.aborted) throw new Error('startup aborted');
        try {
          await startListener(spec, config);
        } catch (e) {
          const d = describeError(e);
          const pos = config.locate(['listeners', spec.index, 'listen']);
          throw new ZonegateError('ERR_CONFIG_INVALID', `cannot listen on ${formatHostPort(spec.listen)} for ${spec.asset}: ${d.message}`, {
            cause: e, issues: [{ file: config.file, path: `listeners[${spec.index}].listen`, message: `cannot listen: ${d.code === 'EADDRINUSE' ? 'address already in use' : d.message}`, ...(pos ?? {}) }],
          });
        }
      }
    } catch (e) {
      state = 'failed';
      signal.removeEventListener('abort', onAbort);
      await Promise.all([...listeners.values()].map(stopListener));
      audit.flush();
      throw e;
    }
    if (signal.aborted) return;
    state = 'running';
    record({ kind: 'config', message: 'gateway started', detail: { device: config.device, site: config.site, listeners: listeners.size } });
    // READY only now: a verified policy is enforcing and every listener is up.
    await options.notify?.ready(`enforcing ${policy!.version} on ${listeners.size} listener(s)`);
    options.notify?.startWatchdog(lifetime.signal);
  }

  async function doReload(): Promise<ReloadResult> {
    if (state !== 'running') {
      log.warn(`reload ignored: the gateway is ${state}`);
      return { ok: false, error: new Error(`gateway is ${state}`) };
    }
    reloads += 1;
    log.info(`reloading ${options.configFile}`);
    let prepared: Awaited<ReturnType<typeof prepare>>;
    try {
      prepared = await prepare(options.configFile);
    } catch (e) {
      failedReloads += 1;
      const d = describeError(e);
      lastError = { at: now(), code: d.code, message: d.message, issues: d.issues.map(formatIssue) };
      raise('policy-refused', 'warning', `reload refused, the previous policy stays: ${d.message}`);
      logError(`reload refused (still enforcing ${policy?.version ?? 'no policy'})`, e);
      record({ kind: 'policy', policyVersion: policy?.version, message: 'reload refused', detail: { code: d.code, error: d.message, issues: lastError.issues } });
      void bus.emit('policy-refused', { source: options.configFile, error: d });
      void bus.emit('reloaded', { ok: false });
      return { ok: false, error: e as Error };
    }
    const cfg = prepared.config;
    const prevConfig = config;
    config = cfg;
    configLoadedAt = now();
    options.setLogLevel?.(cfg.log.level);
    if (cfg.limits.auditRing !== prevConfig?.limits.auditRing || cfg.log.decisions !== prevConfig?.log.decisions) {
      // Drivers write through a closure over `audit`, so the new sink takes over at once.
      audit.flush();
      audit = createMemoryAudit({ capacity: cfg.limits.auditRing, write: cfg.log.decisions === 'stdout' ? options.writeLine : undefined, seed: audit.recent() });
    }
    const policyChanged = activate(prepared.policy!, prepared.source!);
    if (!policyChanged) log.info(`policy unchanged (${policy!.version})`);
    clear('policy-refused');
    lastError = null;
    // Reconcile listeners: same key → untouched (its connections too).
    const wanted = new Map(prepared.specs.map((s) => [s.key, s]));
    const result = { started: 0, stopped: 0, kept: 0, failed: 0 };
    for (const [key, l] of [...listeners]) {
      if (wanted.has(key) && l.status.state === 'up') { result.kept += 1; continue; }
      await stopListener(l);
      if (!wanted.has(key)) { result.stopped += 1; log.info(`stopped listener ${l.status.listen} (${l.spec.asset})`); }
    }
    for (const [key, spec] of wanted) {
      if (listeners.has(key)) continue;
      try { await startListener(spec, cfg); result.started += 1; } catch (e) { result.failed += 1; logError(`listener ${formatHostPort(spec.listen)} (${spec.asset}) failed to start`, e); }
    }
    record({ kind: 'config', policyVersion: policy!.version, message: 'reloaded', detail: { ...result, policyChanged } });
    log.info(`reload done: policy ${policy!.version}${policyChanged ? ' activated' : ' unchanged'}; listeners ${result.kept} kept, ${result.started} started, ${result.stopped} stopped, ${result.failed} failed`);
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
      if (wasRunning) await options.notify?.stopping();
      log.info(`stopping: draining ${listeners.size} listener(s)`);
      await Promise.all([...listeners.values()].map(stopListener));
      record({ kind: 'config', message: 'gateway stopped' });
      audit.flush();
      state = 'stopped';
    })();
    return stopping;
  }

  return {
    bus,
    decider,
    get audit() { return audit; },
    start,
    stop,
    reload(): Promise<ReloadResult> {
      const next = serial.then(doReload, doReload).catch((e: unknown) => {
        logError('reload failed unexpectedly', e);
        return { ok: false, error: e as Error };
      });
      serial = next;
      return next;
    },
    status(): GatewayStatus {
      return {
        device: config?.device ?? null,
        site: config?.site ?? null,
        state,
        startedAt,
        uptimeMs: startedAt === null ? 0 : now() - startedAt,
        config: { file: options.configFile, loadedAt: configLoadedAt, reloads, failedReloads },
        policy: {
          version: policy?.version ?? null,
          source: policy ? policySource?.kind ?? null : null,
          file: policy?.file ?? null,
          warning: policy ? policySource?.warning ?? null : null,
          activatedAt,
          conduits: policy?.index.counts.conduits ?? 0,
          lastError,
        },
        listeners: [...listeners.values()].map((l) => ({ ...l.status, stats: l.status.state === 'up' ? l.stats() : undefined })),
        alarms: [...alarms.values()].map((a) => ({ ...a })),
        audit: audit.stats(),
      };
    },
  };
}
