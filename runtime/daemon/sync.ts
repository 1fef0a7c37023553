/**
 * The parts that talk to the fleet over MQTT, opened once per process: the sync (bundles, grants,
 * commands in; status out), signed runtime updates (announcement + chunks, installed A/B), the
 * store-and-forward audit uploader and the telemetry sampler. The sync starts only after the
 * listeners are up: enforcement never waits for the broker.
 */
import { ZonegateError } from '../../policy/errors';
import type { GatewayConfig } from '../config';
import { createMqttSync } from '../sync/mqtt-sync';
import { syncConnection } from '../sync/connect-options';
import { storeHandlers, storeState } from '../sync/store-binding';
import { createCommandHandler } from '../commands/command-handler';
import { createAuditUploader, type AuditUploader } from '../audit/upload';
import { createTelemetrySampler, type TelemetrySampler } from '../telemetry/sampler';
import { sampleTelemetry } from '../telemetry/sample';
import { createUpdateReceiver, type UpdateReceiver } from '../update/update-receiver';
import { chunkTopic, runtimeTopic, CHUNK_MESSAGE_MAX_BYTES, RUNTIME_BUNDLE_MAX_BYTES } from '../update/topics';
import { packageArchOf } from '../update/device-arch';
import { installRoot } from '../update/install-root';
import { readUpdateStatus, type UpdateStatus } from '../update/update-status';
import type { PolicyStore } from '../store/policy-store';
import type { Core } from './core';
import type { EffectivePolicy } from './effective-policy';

export interface FleetLink {
  readonly uploader: AuditUploader | undefined;
  readonly telemetry: TelemetrySampler | undefined;
  readonly updates: UpdateReceiver | undefined;
  readonly updateState: UpdateStatus | null;
  /** Opens the sync (sets core.sync), the uploader and the telemetry sampler as the config asks. */
  open(cfg: GatewayConfig): void;
  /** Re-reads the A/B layout and the update journal; a rollback raises an alarm. */
  refreshUpdateState(): Promise<void>;
  start(signal: AbortSignal): void;
  stop(): Promise<void>;
}

export function createFleetLink(core: Core, effective: EffectivePolicy): FleetLink {
  let uploader: AuditUploader | undefined;
  let telemetry: TelemetrySampler | undefined;
  let updates: UpdateReceiver | undefined;
  let updateState: UpdateStatus | null = null;
  const { log, now } = core;
  const root = () => core.options.updateRoot ?? installRoot({ env: process.env, script: process.argv[1] });

  async function refreshUpdateState(): Promise<void> {
    const cfg = core.config;
    if (!cfg) return;
    try {
      updateState = await readUpdateStatus({ root: root(), stateDir: cfg.stateDir });
    } catch (e) {
      updateState = null;
      log.warn(`update status: ${(e as Error).message}`);
      return;
    }
    const last = updateState.last;
    if (last?.outcome === 'rolled-back') core.alarms.raise('update-rolled-back', 'warning', `runtime update ${last.version ?? ''} was rolled back: ${last.reason ?? 'unknown reason'}`);
    else core.alarms.clear('update-rolled-back');
  }

  function openUpdates(cfg: GatewayConfig, s: PolicyStore): void {
    const arch = packageArchOf(process.arch);
    if (!arch) return;
    updates = createUpdateReceiver({
      root: root(), stateDir: cfg.stateDir, trustRoot: () => s.trustRoot(), site: cfg.site, device: cfg.device, arch, now,
      restart: (r) => {
        log.warn(`runtime update ${r.version} installed into slot ${r.to} (from ${r.previousVersion} in ${r.from}): restarting into it`);
        if (core.options.restartForUpdate) core.options.restartForUpdate();
        else log.warn('no restart hook: the new version runs after the next restart');
      },
      log: (level, m) => log[level](`update: ${m}`),
    });
  }

  function updateTopics(cfg: GatewayConfig) {
    const receiver = updates;
    if (!receiver) return undefined;
    const announce = [runtimeTopic({ site: cfg.site }), runtimeTopic({ site: cfg.site, device: cfg.device })];
    const chunks = chunkTopic({ site: cfg.site });
    return {
      topics: [...announce, chunks],
      maxBytes: (t: string) => (t === chunks ? CHUNK_MESSAGE_MAX_BYTES : RUNTIME_BUNDLE_MAX_BYTES),
      onMessage: (t: string, bytes: Uint8Array) => {
        const done = t === chunks ? receiver.onChunk(bytes) : receiver.onBundle(bytes);
        void done.then(() => refreshUpdateState(), (e: Error) => log.warn(`update: ${e.message}`));
      },
    };
  }

  function openSync(cfg: GatewayConfig, s: PolicyStore): void {
    openUpdates(cfg, s);
    const sync = createMqttSync({
      extra: updateTopics(cfg),
      ...syncConnection(cfg.parts.mqtt!), site: cfg.site, device: cfg.device, runtimeVersion: core.options.runtimeVersion ?? '0.0.0-dev', startedAt: core.startedAt ?? now(), now,
      handlers: storeHandlers({
        store: s,
        // access is attached right after the parts open, before the sync starts.
        grant: async (bytes) => {
          const access = core.access;
          if (!access) throw new ZonegateError('ERR_BUNDLE_TYPE', 'the gateway is not ready for grants yet');
          const r = await access.acceptGrant(bytes);
          log.info(`grant bundle ${r.outcome}${r.grant ? `: ${r.grant.id} for ${r.grant.identity}` : ''}${r.revoked.length ? `; revoked ${r.revoked.join(', ')}` : ''}`);
        },
        command: createCommandHandler({
          stateDir: cfg.stateDir, device: cfg.device, site: cfg.site, now, trustRoot: () => s.trustRoot(), access: () => core.access, log,
        }),
      }),
      // The store's fields, but the alarms active now from the one alarm model, not the store's history.
      state: () => ({ ...storeState(s, { fileEnforcing: () => effective.current.kind === 'file' })(), alarms: core.alarms.published() }), audit: core.audit.sink,
      log: (level, m) => log[level](`mqtt: ${m}`),
    });
    core.sync = sync;
    const auditLog = core.audit.log;
    if (auditLog) {
      uploader = createAuditUploader({
        log: auditLog, device: cfg.device, site: cfg.site, now,
        publish: (b) => sync.publishAuditBatch(b), onAck: (cb) => sync.onAuditAck(cb),
        onLog: (level, m) => log[level](`audit upload: ${m}`),
      });
    }
  }

  return {
    get uploader() { return uploader; },
    get telemetry() { return telemetry; },
    get updates() { return updates; },
    get updateState() { return updateState; },
    refreshUpdateState,
    open(cfg) {
      if (cfg.parts.mqtt) {
        if (!core.store) log.warn('mqtt is configured but trustRoot is not: MQTT sync is off (bundles could not be verified)'); // start() refuses this config
        else openSync(cfg, core.store);
      }
      if (cfg.parts.telemetry.enabled) {
        const link = core.sync;
        telemetry = createTelemetrySampler({
          sample: () => sampleTelemetry({ stateDir: cfg.stateDir }),
          publish: link ? (d) => link.publishTelemetry(d) : undefined,
          intervalMs: cfg.parts.telemetry.intervalMs, labels: { device: cfg.device, site: cfg.site },
        });
      }
    },
    start(signal) {
      // Never awaited before the listeners are up: enforcement does not wait for the broker.
      if (core.sync) void core.sync.start(signal);
      uploader?.start();
      telemetry?.start();
    },
    async stop() {
      // First: the uploader reads the audit log and publishes through the sync, both closed after.
      uploader?.stop();
      telemetry?.stop();
      if (core.sync) { try { await core.sync.stop(); } catch (e) { core.logError('mqtt sync did not stop cleanly', e); } }
    },
  };
}
