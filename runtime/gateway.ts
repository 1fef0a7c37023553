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
import { errorLogger, type Core, type GatewayEvents, type GatewayOptions, type Part } from './daemon/core';
import type { DriverRegistry } from './listeners/registry';
import { createAlarms } from './daemon/alarms';
import { createAuditTee } from './daemon/audit-tee';
import { EffectivePolicy } from './daemon/effective-policy';
import { NftPart } from './daemon/nftables';
import { StatusPart } from './daemon/status';
import { FleetLink } from './daemon/sync';
import { openStore } from './daemon/store';
import { openAccess } from './daemon/access';
import { reloadGateway, type ReloadResult } from './daemon/reload';
import { Listeners } from './listeners/running';
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
  return new Daemon(options);
}

/** The wiring: builds the parts once, opens them at start in order, closes them at stop in reverse. */
class Daemon implements Gateway {
  readonly bus: EventBus<GatewayEvents>;
  readonly decider = new IndexDecider(null);
  private readonly core: Core;
  private readonly drivers: DriverRegistry;
  private readonly effective: EffectivePolicy;
  private readonly listeners: Listeners;
  private readonly nft: NftPart;
  private readonly fleet: FleetLink;
  private readonly statusPart: StatusPart;
  private pidWritten = false;
  private partsClosed: Promise<void> | undefined;
  private serial: Promise<unknown> = Promise.resolve();
  private stopping: Promise<void> | undefined;

  constructor(private readonly options: GatewayOptions) {
    const now = options.now ?? Date.now, log = options.log;
    this.bus = new EventBus<GatewayEvents>({
      onError: ({ owner, event, error }) => log.error(`${owner}: handler for '${event}' failed: ${(error as Error)?.message ?? String(error)}`),
    });
    const audit = createAuditTee({ now, writeLine: options.writeLine });
    const alarms = createAlarms({ now, onSetChanged: () => this.core.sync?.refreshStatus(), onChanged: () => this.statusPart.writeSoon() });
    this.core = {
      options, now, log, bus: this.bus, alarms, audit, decider: this.decider, lifetime: new AbortController(),
      state: 'new', config: undefined, startedAt: null, configLoadedAt: null, store: undefined, sync: undefined, access: undefined,
      lastError: null, reloads: 0, failedReloads: 0,
      record: (ev) => audit.sink.record({ at: now(), source: 'gateway', ...ev } as AuditEvent),
      logError: errorLogger(log),
    };
    this.effective = new EffectivePolicy(this.core, (reconcile) => this.policyChanged(reconcile));
    this.drivers = options.drivers ?? builtinDrivers();
    this.listeners = new Listeners(this.core, this.drivers, () => this.nft.schedule());
    this.nft = new NftPart(this.core, this.listeners, this.effective);
    this.fleet = new FleetLink(this.core, this.effective, this.listeners);
    this.statusPart = new StatusPart(this.core, { effective: this.effective, listeners: this.listeners, nft: this.nft, fleet: this.fleet });
  }

  get audit(): MemoryAudit { return this.core.audit.ring; }
  get store(): PolicyStore | undefined { return this.core.store; }
  get access(): Access | undefined { return this.core.access; }
  status(): GatewayStatus { return this.statusPart.snapshot(); }
  writeStatus(): Promise<void> { return this.statusPart.write(); }
  checkExpiry(): void { this.effective.checkExpiry(); }
  async idle(): Promise<void> { await this.listeners.queue.idle(); await this.nft.idle(); await this.statusPart.idle(); }

  /** A new effective policy while running: listeners (after a store activation), nftables, status.json. */
  private policyChanged(reconcile: boolean): void {
    const cfg = this.core.config, l = this.listeners;
    if (this.core.state !== 'running' || !cfg) return;
    if (reconcile) void l.queue.run(() => l.reconcile(cfg, l.lenientSpecs(cfg, this.effective.current.doc)));
    this.nft.schedule();
    void this.statusPart.write();
  }

  private readonly queueStatusWrite = (): void => { void this.statusPart.write(); };

  /** The parts opened once per process, in order: state folder, audit log, update outcomes, store, sync. */
  private async openParts(cfg: GatewayConfig): Promise<void> {
    const { core } = this;
    await fsp.mkdir(cfg.stateDir, { recursive: true, mode: 0o700 });
    await core.audit.open(cfg, core.alarms, core.log);
    if (core.audit.log) this.effective.checkClock(); // the log's last record is a floor for the clock
    // Outcomes of runtime updates (kept, rolled back and why) recorded once each, then the slots read.
    await auditUpdateOutcomes({ stateDir: cfg.stateDir, audit: core.audit.sink }).catch((e: Error) => core.log.warn(`update outcomes: ${e.message}`));
    await this.fleet.refreshUpdateState();
    await openStore(core, cfg, this.effective, this.queueStatusWrite);
    this.fleet.open(cfg);
  }

  /** Once per process: stop the sync (offline status), wait for queued work, close the audit log (final checkpoint), remove the pid file. */
  private closeParts(): Promise<void> {
    this.partsClosed ??= (async () => {
      const { core } = this;
      this.stopTimers();
      await this.fleet.stop();
      await this.listeners.queue.idle();
      await this.nft.idle();
      try { await core.audit.close(); } catch (e) { core.logError('audit log did not close cleanly', e); }
      if (this.pidWritten && core.config) { await removePidFile(core.config.stateDir).catch(() => undefined); this.pidWritten = false; }
    })();
    return this.partsClosed;
  }

  /** The parts with a lifetime, in start order: the sync first (it never holds up enforcement), then the timers. */
  private parts(): Part[] {
    return [this.fleet, this.nft, this.statusPart, this.effective];
  }

  /** Stops the timers of the parts (the sync stops in closeParts, after the listeners drained). */
  private stopTimers(): void {
    for (const part of [this.nft, this.statusPart, this.effective]) void part.stop();
  }

  private async stopAccess(): Promise<void> {
    const access = this.core.access;
    if (access) { try { await access.stop(); } catch (e) { this.core.logError('access did not stop cleanly', e); } }
  }

  /** Loads the config and policy, opens the parts and starts every listener (state 'starting'). */
  private async boot(signal: AbortSignal): Promise<void> {
    const { core, options, effective } = this;
    const cfg = await loadConfig(options.configFile, { services: this.drivers.protocols() });
    checkStartConfig(cfg);
    core.config = cfg;
    core.configLoadedAt = core.now();
    options.setLogLevel?.(cfg.log.level);
    core.audit.resetRing(cfg);
    if (cfg.policyFile) {
      const source = createFilePolicySource({ file: cfg.policyFile, now: core.now });
      effective.setFile(await source.load(), source);
    }
    await this.openParts(cfg);
    await openAccess(core, cfg, { effective, status: () => this.status(), writeStatus: this.queueStatusWrite });
    if (cfg.policyFile && core.store) core.log.warn(`both trustRoot and policyFile are configured: the signed policy store wins once it has an active bundle; ${cfg.policyFile} enforces only until then`);
    if (signal.aborted) throw new Error('startup aborted');
    const specs = this.listeners.specsFor(cfg, effective.choose(effective.file));
    effective.apply({ reconcile: false });
    await this.listeners.start(cfg, specs, signal);
  }

  async start(signal: AbortSignal): Promise<void> {
    const { core, options } = this;
    if (core.state !== 'new') throw new TypeError(`gateway: start() called in state ${core.state}`);
    core.state = 'starting';
    core.startedAt = core.now();
    const onAbort = () => { void this.stop(); };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await this.boot(signal);
    } catch (e) {
      core.state = 'failed';
      signal.removeEventListener('abort', onAbort);
      await this.listeners.stop();
      await this.stopAccess();
      await this.closeParts();
      throw e;
    }
    if (signal.aborted) return;
    core.state = 'running';
    const cfg = core.config!, eff = this.effective.current, n = this.listeners.running.size;
    core.record({ kind: 'config', message: 'gateway started', policyVersion: eff.version ?? undefined, detail: { device: cfg.device, site: cfg.site, listeners: n, policy: eff.kind ?? 'none', enforcement: eff.enforcement, config: cfg.file } });
    for (const part of this.parts()) part.start(core.lifetime.signal);
    this.nft.schedule();
    if (options.pidFile) {
      try { await writePidFile(cfg.stateDir); this.pidWritten = true; } catch (e) { core.logError('cannot write the pid file (bundle import cannot signal us)', e); }
    }
    await this.statusPart.write();
    // READY only now: the policy (or deny-all) is enforcing and every listener is up.
    await options.notify?.ready(eff.version ? `enforcing ${eff.version} on ${n} listener(s)` : `denying everything (no policy) on ${n} listener(s)`);
    options.notify?.startWatchdog(core.lifetime.signal);
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const { core } = this;
      await this.serial.catch(() => undefined);
      const wasRunning = core.state === 'running';
      core.state = 'stopping';
      core.lifetime.abort();
      this.stopTimers();
      if (wasRunning) await this.options.notify?.stopping();
      core.log.info(`stopping: draining ${this.listeners.running.size} listener(s)`);
      await this.listeners.queue.idle();
      await this.listeners.stop();
      await this.stopAccess();
      if (wasRunning) core.record({ kind: 'config', message: 'gateway stopped', policyVersion: this.effective.current.version ?? undefined });
      await this.closeParts();
      core.state = 'stopped';
      if (wasRunning) await this.statusPart.writeFinal();
    })();
    return this.stopping;
  }

  reload(): Promise<ReloadResult> {
    const run = () => this.nft.hold(() => reloadGateway(this.core, { effective: this.effective, listeners: this.listeners, writeStatus: this.queueStatusWrite }));
    const next = this.serial.then(run, run).catch((e: unknown) => {
      this.core.logError('reload failed unexpectedly', e);
      return { ok: false, error: e as Error };
    });
    this.serial = next;
    return next;
  }
}
