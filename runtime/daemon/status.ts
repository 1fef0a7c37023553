/**
 * The status part: status() (what `zonegate status`, the console and the MQTT status read) and
 * <stateDir>/status.json, rewritten every statusIntervalMs, on every activation, and (at most once
 * per turn of the event loop) whenever an alarm changes, so that `zonegate status` never shows an
 * alarm's older message while the fleet sees the new one. A full disk is an alarm, and the file is
 * then written in place.
 */
import { join } from 'node:path';
import { writeStatusFile, STATUS_FILE } from '../telemetry/status-file';
import { summariseTelemetry } from '../telemetry/summary';
import type { GatewayStatus } from '../gateway-status';
import type { Listeners } from '../listeners/running';
import { taskQueue, type Core, type TaskQueue, type Part } from './core';
import type { EffectivePolicy } from './effective-policy';
import type { FleetLink } from './sync';
import type { NftPart } from './nftables';

/** The parts the status reads. */
export interface StatusSources { effective: EffectivePolicy; listeners: Listeners; nft: NftPart; fleet: FleetLink }

/** See the file comment. */
export class StatusPart implements Part {
  private readonly queue: TaskQueue;
  private soon = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly core: Core, private readonly p: StatusSources) {
    this.queue = taskQueue((e) => core.log.warn(`cannot write ${STATUS_FILE}: ${(e as Error)?.message ?? String(e)}`));
  }

  /** What the daemon says about itself now. */
  snapshot(): GatewayStatus {
    const { core, p } = this;
    const cfg = core.config, eff = p.effective.current, now = core.now();
    const storeStatus = core.store?.status() ?? null;
    const auditLog = core.audit.log, auditDir = core.audit.dir, updateState = p.fleet.updateState;
    return {
      device: cfg?.device ?? null,
      site: cfg?.site ?? null,
      state: core.state,
      startedAt: core.startedAt,
      uptimeMs: core.startedAt === null ? 0 : now - core.startedAt,
      at: now,
      runtimeVersion: core.options.runtimeVersion ?? '0.0.0-dev',
      config: { file: core.options.configFile, loadedAt: core.configLoadedAt, reloads: core.reloads, failedReloads: core.failedReloads },
      policy: {
        version: eff.version,
        source: eff.kind,
        file: eff.kind === 'file' ? p.effective.file?.file ?? null : null,
        warning: eff.kind === 'file' ? p.effective.source?.warning ?? null : null,
        enforcement: eff.enforcement,
        activatedAt: p.effective.activatedAt,
        conduits: eff.doc?.conduits.length ?? 0,
        expiresAt: eff.kind === 'signed' ? storeStatus?.active?.expiresAt ?? null : null,
        lastError: core.lastError,
        store: storeStatus,
      },
      listeners: [...p.listeners.running.values()].map((l) => ({ ...l.status, stats: l.status.state === 'up' ? l.built.stats() : undefined })),
      listenerProblems: p.listeners.problems.map((x) => ({ ...x })),
      alarms: core.alarms.list(),
      audit: core.audit.ring.stats(),
      auditLog: auditLog && auditDir ? { ...auditLog.status(), dir: auditDir } : null,
      sync: core.sync?.status() ?? null,
      nftables: p.nft.status(),
      update: updateState ? { ...updateState, receiver: p.fleet.updates?.status() ?? null } : null,
      statusFile: cfg ? join(cfg.stateDir, STATUS_FILE) : null,
      access: core.access?.status() ?? null,
      monitor: core.audit.tally.snapshot(),
    };
  }

  /** Writes status.json (queued, one write at a time). */
  write(): Promise<void> {
    const cfg = this.core.config;
    if (!cfg) return Promise.resolve();
    return this.queue.run(() => this.writeFile(cfg.stateDir)).then(() => undefined);
  }

  /** One write on the next turn of the event loop, however often asked (only while running). */
  writeSoon(): void {
    if (this.soon || this.core.state !== 'running') return;
    this.soon = true;
    setImmediate(() => { this.soon = false; if (this.core.state === 'running') void this.write(); });
  }

  /** The last write, after the daemon stopped. */
  async writeFinal(): Promise<void> {
    const cfg = this.core.config;
    if (cfg) await writeStatusFile(cfg.stateDir, this.fileStatus(), { now: this.core.now }).catch(() => undefined);
  }

  idle(): Promise<void> {
    return this.queue.idle();
  }

  /** Rewrites status.json every statusIntervalMs (0: only on changes). */
  start(_signal: AbortSignal): void {
    const ms = this.core.options.statusIntervalMs ?? 5_000;
    if (ms > 0) { this.timer = setInterval(() => { void this.write(); }, ms); this.timer.unref(); }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** status() plus what other parts add (telemetry, audit upload), as status.json carries it. */
  private fileStatus(): GatewayStatus & Record<string, unknown> {
    const { core, p } = this;
    let extra: Record<string, unknown> = {};
    try { extra = core.options.statusExtra?.() ?? {}; } catch (e) { core.log.warn(`statusExtra failed: ${(e as Error)?.message ?? String(e)}`); }
    const sample = p.fleet.telemetry?.latest();
    return { ...extra, telemetry: sample ? summariseTelemetry(sample) : null, upload: p.fleet.uploader?.status() ?? null, ...this.snapshot() };
  }

  private async writeFile(stateDir: string): Promise<void> {
    const { core } = this;
    let r: Awaited<ReturnType<typeof writeStatusFile>>;
    try {
      r = await writeStatusFile(stateDir, this.fileStatus(), { now: core.now });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOSPC' || code === 'EDQUOT') core.alarms.diskFull('status', `${code}, nothing reserved to write in place`);
      throw e;
    }
    const was = core.alarms.diskFullOf('status');
    const next = r.mode === 'in-place' ? `written in place (${r.error})` : null;
    core.alarms.diskFull('status', next);
    // The alarm just raised belongs in the file now, not 5 s later.
    if (was === null && next !== null) await writeStatusFile(stateDir, this.fileStatus(), { now: core.now }).catch(() => undefined);
  }
}
