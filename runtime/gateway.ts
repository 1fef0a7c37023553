/**
 * The composition root of the daemon (`zonegate run`): the one place that builds the parts and
 * wires them together. Nothing else constructs drivers or the decider. Each part is a file under
 * runtime/daemon/ or runtime/listeners/ with start/stop; they share runtime/daemon/core.ts (the
 * clock, log, decider, alarm model, audit tee and one typed event bus, bus.ts) and talk on the bus.
 *
 *   config (runtime/config.ts) ─┐
 *   policy store (signed bundles, daemon/store.ts; its events on the bus as `store:*`) ─┐
 *   policy file (labs, policy-source.ts) ───────────────────────────── effective policy ── IndexDecider
 *                                                             │         (daemon/effective-policy.ts)
 *   one driver per listener, built by the driver registry (listeners/registry.ts, builtin.ts),
 *     reconciled by key (listeners/running.ts)
 *                                                             │
 *   audit tee: durable AuditLog (<stateDir>/audit) + memory ring + stdout lines (daemon/audit-tee.ts)
 *   MQTT sync, runtime updates, audit upload, telemetry (daemon/sync.ts); nftables on every
 *   activation (daemon/nftables.ts); access: users, edge sessions, grants, consoles, login page
 *   (daemon/access.ts), `session-changed` on the bus; status.json and status() (daemon/status.ts);
 *   SIGHUP (daemon/reload.ts); one alarm model (daemon/alarms.ts).
 *
 * Which policy enforces, and how an activation swaps it without dropping a connection, is told
 * in daemon/effective-policy.ts; listeners of a signed policy are resolved leniently
 * (config/resolve-listeners.ts resolveListenersLenient): they stand whatever the policy says.
 */
import { promises as fsp } from 'node:fs';
import { IndexDecider } from '../policy/decider';
import { ZonegateError } from '../policy/errors';
import type { AuditEvent } from '../drivers/types';
import { loadConfig, type GatewayConfig } from './config';
import { EventBus } from './bus';
import type { MemoryAudit } from './memory-audit';
import { createFilePolicySource } from './policy-source';
import type { PolicyStore } from './store/policy-store';
import { writePidFile, removePidFile } from './store/daemon-signal';
import type { Access } from './access/attach-access';
import { auditUpdateOutcomes } from './update/audit-outcomes';
import { errorLogger, type Core, type GatewayEvents, type GatewayOptions } from './daemon/core';
import { createAlarms } from './daemon/alarms';
import { createAuditTee } from './daemon/audit-tee';
import { createEffectivePolicy } from './daemon/effective-policy';
import { createNftPart } from './daemon/nftables';
import { createStatusPart } from './daemon/status';
import { createFleetLink } from './daemon/sync';
import { openStore } from './daemon/store';
import { openAccess } from './daemon/access';
import { reloadGateway, type ReloadResult } from './daemon/reload';
import { createListeners } from './listeners/running';
import { builtinDrivers } from './listeners/builtin';
import type { GatewayStatus } from './gateway-status';

export type { GatewayLog, GatewayEvents, GatewayOptions } from './daemon/core';
export type { ReloadResult } from './daemon/reload';
export type { DriverRegistration, ListenerDeps, BuiltListener } from './listeners/registry';
export { DriverRegistry } from './listeners/registry';
export { builtinDrivers } from './listeners/builtin';
// The status types live in gateway-status.ts (status-file.ts and the update trial read them
// without importing the daemon); re-exported here for the daemon's callers.
export type { Alarm, ListenerStatus, PolicyKind, EnforcementState, NftablesStatus, GatewayStatus } from './gateway-status';

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

/** A config the daemon cannot run: no policy source, or MQTT without a trust root to verify against. */
function checkStartConfig(cfg: GatewayConfig): void {
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
}

/** Builds the gateway; nothing is read or bound until start(). */
export function createGateway(options: GatewayOptions): Gateway {
  const now = options.now ?? Date.now;
  const log = options.log;
  const bus = new EventBus<GatewayEvents>({
    onError: ({ owner, event, error }) => log.error(`${owner}: handler for '${event}' failed: ${(error as Error)?.message ?? String(error)}`),
  });
  const audit = createAuditTee({ now, writeLine: options.writeLine });
  const alarms = createAlarms({ now, onSetChanged: () => core.sync?.refreshStatus(), onChanged: () => status.writeSoon() });
  const core: Core = {
    options, now, log, bus, alarms, audit, decider: new IndexDecider(null), lifetime: new AbortController(),
    state: 'new', config: undefined, startedAt: null, configLoadedAt: null, store: undefined, sync: undefined, access: undefined,
    lastError: null, reloads: 0, failedReloads: 0,
    record: (ev) => audit.sink.record({ at: now(), source: 'gateway', ...ev } as AuditEvent),
    logError: errorLogger(log),
  };
  const effective = createEffectivePolicy(core, (reconcile) => {
    const cfg = core.config;
    if (core.state !== 'running' || !cfg) return;
    if (reconcile) void listeners.queue.run(() => listeners.reconcile(cfg, listeners.lenientSpecs(cfg, effective.current.doc)));
    nft.schedule();
    void status.write();
  });
  const drivers = options.drivers ?? builtinDrivers();
  const listeners = createListeners(core, drivers, () => nft.schedule());
  const nft = createNftPart(core, listeners, effective);
  const fleet = createFleetLink(core, effective);
  const status = createStatusPart(core, { effective, listeners, nft, fleet });
  const writeStatus = () => { void status.write(); };
  let pidWritten = false;

  /** The parts opened once per process, in order: state folder, audit log, update outcomes, store, sync. */
  async function openParts(cfg: GatewayConfig): Promise<void> {
    await fsp.mkdir(cfg.stateDir, { recursive: true, mode: 0o700 });
    await audit.open(cfg, alarms, log);
    if (audit.log) effective.checkClock(); // the log's last record is a floor for the clock
    // Outcomes of runtime updates (kept, rolled back and why) recorded once each, then the slots read.
    await auditUpdateOutcomes({ stateDir: cfg.stateDir, audit: audit.sink }).catch((e: Error) => log.warn(`update outcomes: ${e.message}`));
    await fleet.refreshUpdateState();
    await openStore(core, cfg, effective, writeStatus);
    fleet.open(cfg);
  }

  let partsClosed: Promise<void> | undefined;
  /** Once per process: stop the sync (offline status), wait for queued work, close the audit log (final checkpoint), remove the pid file. */
  function closeParts(): Promise<void> {
    partsClosed ??= (async () => {
      stopTimers();
      await fleet.stop();
      await listeners.queue.idle();
      await nft.idle();
      try { await audit.close(); } catch (e) { core.logError('audit log did not close cleanly', e); }
      if (pidWritten && core.config) { await removePidFile(core.config.stateDir).catch(() => undefined); pidWritten = false; }
    })();
    return partsClosed;
  }

  function stopTimers(): void { nft.stop(); status.stop(); effective.stop(); }

  async function stopAccess(): Promise<void> {
    if (core.access) { try { await core.access.stop(); } catch (e) { core.logError('access did not stop cleanly', e); } }
  }

  /** Loads the config and policy, opens the parts and starts every listener (state 'starting'). */
  async function boot(signal: AbortSignal): Promise<void> {
    const cfg = await loadConfig(options.configFile, { services: drivers.protocols() });
    checkStartConfig(cfg);
    core.config = cfg;
    core.configLoadedAt = now();
    options.setLogLevel?.(cfg.log.level);
    audit.resetRing(cfg);
    if (cfg.policyFile) {
      const source = createFilePolicySource({ file: cfg.policyFile, now });
      effective.setFile(await source.load(), source);
    }
    await openParts(cfg);
    await openAccess(core, cfg, { effective, status: status.snapshot, writeStatus });
    if (cfg.policyFile && core.store) log.warn(`both trustRoot and policyFile are configured: the signed policy store wins once it has an active bundle; ${cfg.policyFile} enforces only until then`);
    if (signal.aborted) throw new Error('startup aborted');
    const specs = listeners.specsFor(cfg, effective.choose(effective.file));
    effective.apply({ reconcile: false });
    await listeners.start(cfg, specs, signal);
  }

  async function start(signal: AbortSignal): Promise<void> {
    if (core.state !== 'new') throw new TypeError(`gateway: start() called in state ${core.state}`);
    core.state = 'starting';
    core.startedAt = now();
    const onAbort = () => { void stop(); };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await boot(signal);
    } catch (e) {
      core.state = 'failed';
      signal.removeEventListener('abort', onAbort);
      await listeners.stop();
      await stopAccess();
      await closeParts();
      throw e;
    }
    if (signal.aborted) return;
    core.state = 'running';
    const cfg = core.config!, eff = effective.current, n = listeners.running.size;
    core.record({ kind: 'config', message: 'gateway started', policyVersion: eff.version ?? undefined, detail: { device: cfg.device, site: cfg.site, listeners: n, policy: eff.kind ?? 'none', enforcement: eff.enforcement, config: cfg.file } });
    fleet.start(core.lifetime.signal);
    nft.schedule();
    for (const part of [nft, status, effective]) part.start(core.lifetime.signal);
    if (options.pidFile) {
      try { await writePidFile(cfg.stateDir); pidWritten = true; } catch (e) { core.logError('cannot write the pid file (bundle import cannot signal us)', e); }
    }
    await status.write();
    // READY only now: the policy (or deny-all) is enforcing and every listener is up.
    await options.notify?.ready(eff.version ? `enforcing ${eff.version} on ${n} listener(s)` : `denying everything (no policy) on ${n} listener(s)`);
    options.notify?.startWatchdog(core.lifetime.signal);
  }

  let serial: Promise<unknown> = Promise.resolve();
  let stopping: Promise<void> | undefined;
  function stop(): Promise<void> {
    stopping ??= (async () => {
      await serial.catch(() => undefined);
      const wasRunning = core.state === 'running';
      core.state = 'stopping';
      core.lifetime.abort();
      stopTimers();
      if (wasRunning) await options.notify?.stopping();
      log.info(`stopping: draining ${listeners.running.size} listener(s)`);
      await listeners.queue.idle();
      await listeners.stop();
      await stopAccess();
      if (wasRunning) core.record({ kind: 'config', message: 'gateway stopped', policyVersion: effective.current.version ?? undefined });
      await closeParts();
      core.state = 'stopped';
      if (wasRunning) await status.writeFinal();
    })();
    return stopping;
  }

  function reload(): Promise<ReloadResult> {
    const run = () => nft.hold(() => reloadGateway(core, { effective, listeners, writeStatus }));
    const next = serial.then(run, run).catch((e: unknown) => {
      core.logError('reload failed unexpectedly', e);
      return { ok: false, error: e as Error };
    });
    serial = next;
    return next;
  }

  return {
    bus,
    decider: core.decider,
    get audit() { return audit.ring; },
    get store() { return core.store; },
    get access() { return core.access; },
    start,
    stop,
    reload,
    checkExpiry: () => effective.checkExpiry(),
    writeStatus: () => status.write(),
    async idle() { await listeners.queue.idle(); await nft.idle(); await status.idle(); },
    status: () => status.snapshot(),
  };
}
