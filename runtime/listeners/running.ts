/**
 * The listeners part: one driver per resolved listener, built through the driver registry and
 * reconciled by key (listen, asset, service, upstream): unchanged ones are left alone with their
 * connections, removed ones drained, new ones started. Listener problems (a listener that does
 * not fit the policy) are alarms. Reconciliations run one at a time on a queue.
 */
import { ZonegateError } from '../../policy/errors';
import type { PolicyDocument } from '../../policy/types';
import { formatHostPort, listenLabel, type GatewayConfig } from '../config';
import { resolveListeners, resolveListenersLenient, upstreamLabel, type ResolvedListener, type ListenerProblem } from '../config/resolve-listeners';
import type { ListenerStatus } from '../gateway-status';
import { describeError, taskQueue, type Core, type TaskQueue } from '../daemon/core';
import type { Effective } from '../daemon/effective-policy';
import type { BuiltListener, DriverRegistry, ListenerDeps } from './registry';

export interface RunningListener {
  spec: ResolvedListener;
  built: BuiltListener;
  status: ListenerStatus;
  network: boolean;
  /** Alarm ids this listener raised (cleared when it stops). */
  alarms: Set<string>;
}

export interface ReconcileResult { started: number; stopped: number; kept: number; failed: number }

/** See the file comment. */
export class Listeners {
  readonly running = new Map<string, RunningListener>();
  readonly queue: TaskQueue;
  private problemList: ListenerProblem[] = [];

  constructor(private readonly core: Core, readonly registry: DriverRegistry, private readonly onChanged: () => void) {
    this.queue = taskQueue((e) => core.logError('listener reconciliation failed', e));
  }

  get problems(): readonly ListenerProblem[] { return this.problemList; }

  /** The listeners for `cfg` under `eff`: strict against a lab policy file (refused with file:line:col), lenient otherwise. */
  specsFor(cfg: GatewayConfig, eff: Effective): ResolvedListener[] {
    if (eff.kind === 'file') { this.setProblems([]); return resolveListeners(cfg, eff.doc!); }
    return this.lenientSpecs(cfg, eff.doc);
  }

  /** Lenient: every listener stands whatever the policy says; what does not fit is an alarm. */
  lenientSpecs(cfg: GatewayConfig, doc: PolicyDocument | null): ResolvedListener[] {
    const r = resolveListenersLenient(cfg, doc);
    this.setProblems(r.problems);
    return r.specs;
  }

  /** Starts every listener of a fresh daemon; the first that cannot start is a config error. */
  async start(cfg: GatewayConfig, specs: ResolvedListener[], signal: AbortSignal): Promise<void> {
    for (const spec of specs) {
      if (signal.aborted) throw new Error('startup aborted');
      try { await this.startOne(spec, cfg); } catch (e) { throw this.startupError(e, spec, cfg); }
    }
  }

  /** Same key → untouched (its connections too); others drained or started. */
  async reconcile(cfg: GatewayConfig, specs: ResolvedListener[]): Promise<ReconcileResult> {
    const { core, running } = this;
    const wanted = new Map(specs.map((s) => [s.key, s]));
    const result = { started: 0, stopped: 0, kept: 0, failed: 0 };
    if (core.state !== 'running' && core.state !== 'starting') return result;
    for (const [key, l] of [...running]) {
      if (wanted.has(key) && l.status.state === 'up') { result.kept += 1; continue; }
      await this.stopOne(l);
      if (!wanted.has(key)) { result.stopped += 1; core.log.info(`stopped listener ${l.status.listen} (${l.spec.asset})`); }
    }
    for (const [key, spec] of wanted) {
      if (running.has(key)) continue;
      try { await this.startOne(spec, cfg); result.started += 1; } catch (e) { result.failed += 1; core.logError(`listener ${formatHostPort(spec.listen)} (${spec.asset}) failed to start`, e); }
    }
    if (result.started + result.stopped + result.failed > 0) this.onChanged();
    return result;
  }

  /** Drains every listener. */
  async stop(): Promise<void> {
    await Promise.all([...this.running.values()].map((l) => this.stopOne(l)));
  }

  private setProblems(next: ListenerProblem[]): void {
    const { alarms, log } = this.core;
    for (const id of alarms.ids()) if (id.startsWith('listener-unresolved:')) alarms.clear(id);
    this.problemList = next;
    for (const p of next) {
      alarms.raise(`listener-unresolved:${p.index}`, p.started ? 'warning' : 'critical', `listener ${p.listen} (${p.asset}): ${p.message}`);
      log.warn(`listener ${p.listen} (${p.asset}) does not fit the policy${p.started ? ' (it stands on its config upstream)' : ''}: ${p.message}`);
    }
  }

  /** What a driver's factory is handed. */
  private deps(spec: ResolvedListener, cfg: GatewayConfig, raised: Set<string>): ListenerDeps {
    const { core } = this;
    const access = core.access;
    return {
      spec, config: cfg, decider: access?.decider ?? core.decider, policy: core.decider,
      ...(access ? { session: access.sessionFacts } : {}),
      audit: core.audit.sink, now: core.now, log: core.log,
      on: (event, fn) => { core.bus.on(event, spec.key, fn); },
      alarm: (kind, a) => {
        const id = `${kind}:${spec.key}`;
        if (a) { raised.add(id); core.alarms.raise(id, a.severity, a.message); } else core.alarms.clear(id);
      },
      ...(core.options.serialReopenMs !== undefined ? { serialReopenMs: core.options.serialReopenMs } : {}),
    };
  }

  private async startOne(spec: ResolvedListener, cfg: GatewayConfig): Promise<RunningListener> {
    const { core } = this;
    const status: ListenerStatus = {
      key: spec.key, listen: listenLabel(spec), asset: spec.asset, service: spec.service,
      servicePort: spec.servicePort, upstream: upstreamLabel(spec), state: 'starting',
    };
    const reg = this.registry.get(spec.service);
    Object.assign(status, reg.statusOf?.(spec));
    const alarms = new Set<string>();
    const built = reg.create(this.deps(spec, cfg, alarms));
    const l: RunningListener = { spec, built, status, network: reg.network !== false, alarms };
    this.running.set(spec.key, l);
    try {
      // A signal of its own (never aborted): stop() drains the listener, the daemon's lifetime does not cut it.
      await built.driver.start(new AbortController().signal);
      const a = built.driver.address();
      status.address = built.label ?? formatHostPort({ host: a.address ?? a.host ?? spec.listen.host, port: a.port });
      status.state = 'up';
      delete status.error;
      core.alarms.clear(`listener-failed:${spec.key}`);
      core.log.info(`listening on ${status.address}: ${spec.service} for ${spec.asset} (service port ${spec.servicePort}) → ${status.upstream}`);
      void core.bus.emit('listener-up', { key: spec.key });
    } catch (e) {
      status.state = 'failed';
      status.error = describeError(e).message;
      core.bus.removeOwner(spec.key);
      core.alarms.raise(`listener-failed:${spec.key}`, 'critical', `listener ${status.listen} (${spec.asset}) failed to start: ${status.error}`);
      core.record({ kind: 'driver', asset: spec.asset, port: spec.servicePort, message: `listener ${status.listen} failed to start: ${status.error}` });
      void core.bus.emit('listener-down', { key: spec.key, error: status.error });
      throw e;
    }
    return l;
  }

  private async stopOne(l: RunningListener): Promise<void> {
    const { core } = this;
    const wasUp = l.status.state !== 'failed';
    l.status.state = 'stopping';
    core.bus.removeOwner(l.spec.key);
    try {
      if (wasUp) await l.built.driver.stop();
    } catch (e) {
      core.logError(`listener ${l.status.listen} did not stop cleanly`, e);
    }
    l.status.state = 'stopped';
    this.running.delete(l.spec.key);
    core.alarms.clear(`listener-failed:${l.spec.key}`);
    for (const id of l.alarms) core.alarms.clear(id);
    void core.bus.emit('listener-down', { key: l.spec.key });
  }

  /** A listener that cannot start at boot, as the config error that names its field. */
  private startupError(e: unknown, spec: ResolvedListener, cfg: GatewayConfig): ZonegateError {
    const d = describeError(e);
    const field = this.registry.get(spec.service).failedField?.(e) ?? ['listen'];
    const pos = cfg.locate(['listeners', spec.index, ...field]);
    return new ZonegateError('ERR_CONFIG_INVALID', `cannot listen on ${listenLabel(spec)} for ${spec.asset}: ${d.message}`, {
      cause: e, issues: [{ file: cfg.file, path: `listeners[${spec.index}].${field.join('.')}`, message: `cannot ${field[0] === 'listen' ? 'listen' : 'open the serial device'}: ${d.code === 'EADDRINUSE' ? 'address already in use' : d.message}`, ...(pos ?? {}) }],
    });
  }
}
