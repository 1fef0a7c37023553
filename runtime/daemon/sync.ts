/**
 * The parts that talk to the fleet over MQTT, opened once per process: the sync (bundles, grants,
 * commands in; status out), signed runtime updates (announcement + chunks, installed A/B), the
 * store-and-forward audit uploader and the telemetry sampler. The sync starts only after the
 * listeners are up: enforcement never waits for the broker.
 */
import { ZonegateError } from '../../policy/errors';
import type { GatewayConfig } from '../config';
import { createMqttSync } from '../sync/mqtt-sync';
import { syncConnection } from '../../protocol/mqtt/connect-options';
import { storeHandlers, storeState } from '../sync/store-binding';
import { createCommandHandler } from '../commands/command-handler';
import { createAuditUploader, type AuditUploader } from '../audit/upload';
import { createTelemetrySampler, type TelemetrySampler } from '../telemetry/sampler';
import { sampleTelemetry } from '../telemetry/sample';
import { createUpdateReceiver, type UpdateReceiver } from '../update/update-receiver';
import { chunkTopic, runtimeTopic, CHUNK_MESSAGE_MAX_BYTES, RUNTIME_BUNDLE_MAX_BYTES } from '../../protocol/update/topics';
import { packageArchOf } from '../../protocol/update/device-arch';
import { installRoot } from '../update/install-root';
import type { Listeners } from '../listeners/running';
import type { GatewayState } from '../../protocol/mqtt/status';
import { readUpdateStatus, type UpdateStatus } from '../update/update-status';
import type { PolicyStore } from '../store/policy-store';
import type { Core, Part } from './core';
import type { EffectivePolicy } from './effective-policy';

/** See the file comment. */
export class FleetLink implements Part {
  private uploaderValue: AuditUploader | undefined;
  private telemetryValue: TelemetrySampler | undefined;
  private updatesValue: UpdateReceiver | undefined;
  private updateStateValue: UpdateStatus | null = null;

  constructor(private readonly core: Core, private readonly effective: EffectivePolicy, private readonly listeners?: Listeners) {}

  get uploader(): AuditUploader | undefined { return this.uploaderValue; }
  get telemetry(): TelemetrySampler | undefined { return this.telemetryValue; }
  get updates(): UpdateReceiver | undefined { return this.updatesValue; }
  get updateState(): UpdateStatus | null { return this.updateStateValue; }

  /** Opens the sync (sets core.sync), the uploader and the telemetry sampler as the config asks. */
  open(cfg: GatewayConfig): void {
    const { core } = this;
    if (cfg.parts.mqtt) {
      if (!core.store) core.log.warn('mqtt is configured but trustRoot is not: MQTT sync is off (bundles could not be verified)'); // start() refuses this config
      else this.openSync(cfg, core.store);
    }
    if (cfg.parts.telemetry.enabled) {
      const link = core.sync;
      this.telemetryValue = createTelemetrySampler({
        sample: () => sampleTelemetry({ stateDir: cfg.stateDir }),
        publish: link ? (d) => link.publishTelemetry(d) : undefined,
        intervalMs: cfg.parts.telemetry.intervalMs, labels: { device: cfg.device, site: cfg.site },
      });
    }
  }

  /** Re-reads the A/B layout and the update journal; a rollback raises an alarm. */
  async refreshUpdateState(): Promise<void> {
    const { core } = this;
    const cfg = core.config;
    if (!cfg) return;
    try {
      this.updateStateValue = await readUpdateStatus({ root: this.root(), stateDir: cfg.stateDir });
    } catch (e) {
      this.updateStateValue = null;
      core.log.warn(`update status: ${(e as Error).message}`);
      return;
    }
    const last = this.updateStateValue.last;
    if (last?.outcome === 'rolled-back') core.alarms.raise('update-rolled-back', 'warning', `runtime update ${last.version ?? ''} was rolled back: ${last.reason ?? 'unknown reason'}`);
    else core.alarms.clear('update-rolled-back');
  }

  /** Never awaited before the listeners are up: enforcement does not wait for the broker. */
  start(signal: AbortSignal): void {
    if (this.core.sync) void this.core.sync.start(signal);
    this.uploaderValue?.start();
    this.telemetryValue?.start();
  }

  async stop(): Promise<void> {
    // First: the uploader reads the audit log and publishes through the sync, both closed after.
    this.uploaderValue?.stop();
    this.telemetryValue?.stop();
    const sync = this.core.sync;
    if (sync) { try { await sync.stop(); } catch (e) { this.core.logError('mqtt sync did not stop cleanly', e); } }
  }

  /** The A/B slot (once the layout was read) and the listeners, for the status document. */
  private runtimeState(): Pick<GatewayState, 'slot' | 'listeners'> {
    const slot = this.updateStateValue ? { slot: this.updateStateValue.activeSlot } : {};
    if (!this.listeners) return slot;
    const listeners = [...this.listeners.running.values()].map(({ status: l }) => ({
      listen: l.address ?? l.listen, asset: l.asset, service: l.service, servicePort: l.servicePort, state: l.state, ...(l.error ? { error: l.error } : {}),
    }));
    return { ...slot, listeners };
  }

  private root(): string {
    return this.core.options.updateRoot ?? installRoot({ env: process.env, script: process.argv[1] });
  }

  private openUpdates(cfg: GatewayConfig, s: PolicyStore): void {
    const { core } = this, { log } = core;
    const arch = packageArchOf(process.arch);
    if (!arch) return;
    this.updatesValue = createUpdateReceiver({
      root: this.root(), stateDir: cfg.stateDir, trustRoot: () => s.trustRoot(), site: cfg.site, device: cfg.device, arch, now: core.now,
      restart: (r) => {
        log.warn(`runtime update ${r.version} installed into slot ${r.to} (from ${r.previousVersion} in ${r.from}): restarting into it`);
        if (core.options.restartForUpdate) core.options.restartForUpdate();
        else log.warn('no restart hook: the new version runs after the next restart');
      },
      log: (level, m) => log[level](`update: ${m}`),
    });
  }

  /** The update topics the sync also subscribes to (announcements and chunks), when updates are received. */
  private updateTopics(cfg: GatewayConfig) {
    const receiver = this.updatesValue;
    if (!receiver) return undefined;
    const announce = [runtimeTopic({ site: cfg.site }), runtimeTopic({ site: cfg.site, device: cfg.device })];
    const chunks = chunkTopic({ site: cfg.site });
    return {
      topics: [...announce, chunks],
      maxBytes: (t: string) => (t === chunks ? CHUNK_MESSAGE_MAX_BYTES : RUNTIME_BUNDLE_MAX_BYTES),
      onMessage: (t: string, bytes: Uint8Array) => {
        const done = t === chunks ? receiver.onChunk(bytes) : receiver.onBundle(bytes);
        void done.then(() => this.refreshUpdateState(), (e: Error) => this.core.log.warn(`update: ${e.message}`));
      },
    };
  }

  private handlers(cfg: GatewayConfig, s: PolicyStore) {
    const { core } = this, { log } = core;
    return storeHandlers({
      store: s,
      // access is attached right after the parts open, before the sync starts.
      grant: async (bytes) => {
        const access = core.access;
        if (!access) throw new ZonegateError('ERR_BUNDLE_TYPE', 'the gateway is not ready for grants yet');
        const r = await access.acceptGrant(bytes);
        log.info(`grant bundle ${r.outcome}${r.grant ? `: ${r.grant.id} for ${r.grant.identity}` : ''}${r.revoked.length ? `; revoked ${r.revoked.join(', ')}` : ''}`);
      },
      command: createCommandHandler({
        stateDir: cfg.stateDir, device: cfg.device, site: cfg.site, now: core.now, trustRoot: () => s.trustRoot(), access: () => core.access, log,
      }),
    });
  }

  private openSync(cfg: GatewayConfig, s: PolicyStore): void {
    const { core } = this, { log, now } = core;
    this.openUpdates(cfg, s);
    const sync = createMqttSync({
      extra: this.updateTopics(cfg),
      ...syncConnection(cfg.parts.mqtt!), site: cfg.site, device: cfg.device, runtimeVersion: core.options.runtimeVersion ?? '0.0.0-dev', startedAt: core.startedAt ?? now(), now,
      handlers: this.handlers(cfg, s),
      // The store's fields, but the alarms active now from the one alarm model, not the store's history.
      state: () => ({ ...storeState(s, { fileEnforcing: () => this.effective.current.kind === 'file' })(), alarms: core.alarms.published(), ...this.runtimeState() }), audit: core.audit.sink,
      log: (level, m) => log[level](`mqtt: ${m}`),
    });
    core.sync = sync;
    const auditLog = core.audit.log;
    if (auditLog) {
      this.uploaderValue = createAuditUploader({
        log: auditLog, device: cfg.device, site: cfg.site, now,
        publish: (b) => sync.publishAuditBatch(b), onAck: (cb) => sync.onAuditAck(cb), onResync: (cb) => sync.onAuditResync(cb),
        onLog: (level, m) => log[level](`audit upload: ${m}`),
      });
      const uploader = this.uploaderValue;
      sync.onConnected(() => uploader.linkUp());
    }
  }
}
