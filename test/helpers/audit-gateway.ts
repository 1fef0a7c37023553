/**
 * A gateway's audit side, for fleet tests and benches: a real AuditLog on disk and the real
 * uploader (runtime/audit/upload.ts) publishing batches QoS 1 on its own MQTT connection and
 * taking acks from `audit/ack` and collectors' announcements from the site's `audit-resync`,
 * exactly as the daemon wires them (MqttSync does the same three things), without the rest of the
 * daemon.
 */
import { join } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { mqttConnect } from '../../protocol/mqtt/mqtt-lib';
import { AuditLog } from '../../runtime/audit/log';
import { createAuditUploader, type AuditUploader } from '../../runtime/audit/upload';
import { decodeAuditAck, decodeAuditResync, type AuditResync } from '../../protocol/audit/upload-batch';
import { auditResyncTopic, deviceTopic } from '../../protocol/mqtt/topics';
import { decisionEvent } from '../audit/helpers';

export interface AuditGateway {
  device: string;
  log: AuditLog;
  uploader: AuditUploader;
  /** Every ack received (through), in order. */
  acks: number[];
  /** Batches the broker acknowledged (PUBACK): equal to the uploader's batchesSent when none is on its way. */
  pubacked(): number;
  /** Records `n` decision events (a third denials), flushed. */
  write(n: number): Promise<void>;
  /** Last seq in the log. */
  lastSeq(): number;
  close(): Promise<void>;
}

export async function startAuditGateway(o: {
  broker: string; site: string; device: string; dir: string; key: { privateKey: KeyObject; publicRaw: Uint8Array };
  ackTimeoutMs?: number; maxRecords?: number; window?: number; onAck?: (through: number) => void; checkpointEvery?: number;
  /** Take `audit-resync` announcements (default true; false = an uploader that ignores them). */
  resync?: boolean;
}): Promise<AuditGateway> {
  const log = await AuditLog.open({ dir: join(o.dir, o.device), device: o.device, key: o.key, checkpointEvery: o.checkpointEvery ?? 100, flushDelayMs: 1, batchMax: 64, flood: false });
  const client = mqttConnect(o.broker, { protocolVersion: 5, clientId: `gw-${o.site}-${o.device}-${process.pid}`, clean: true, reconnectPeriod: 200 });
  await new Promise<void>((resolve, reject) => { client.once('connect', () => resolve()); client.once('error', reject); });
  const ackTopic = deviceTopic({ site: o.site, device: o.device, kind: 'audit/ack' });
  const auditTopic = deviceTopic({ site: o.site, device: o.device, kind: 'audit' });
  const resyncTopic = auditResyncTopic(o.site);
  const listeners = new Set<(b: Uint8Array) => void>();
  const resyncListeners = new Set<(r: AuditResync) => void>();
  const acks: number[] = [];
  const puback = { batches: 0 };
  client.on('message', (topic, payload) => {
    if (topic === resyncTopic) {
      const { resync } = decodeAuditResync(payload);
      if (resync) for (const l of resyncListeners) l(resync);
      return;
    }
    if (topic !== ackTopic) return;
    const a = decodeAuditAck(payload);
    if (a) { acks.push(a.through); o.onAck?.(a.through); }
    for (const l of listeners) l(payload);
  });
  await client.subscribeAsync([ackTopic, ...(o.resync === false ? [] : [resyncTopic])], { qos: 1 });
  const uploader = createAuditUploader({
    log, device: o.device, site: o.site,
    publish: async (bytes) => {
      await client.publishAsync(auditTopic, Buffer.from(bytes), { qos: 1 });
      puback.batches++;
    },
    onAck: (cb) => { listeners.add(cb); return () => listeners.delete(cb); },
    onResync: (cb) => { resyncListeners.add(cb); return () => resyncListeners.delete(cb); },
    ackTimeoutMs: o.ackTimeoutMs ?? 2000, maxRecords: o.maxRecords ?? 50, window: o.window ?? 4, pollMs: 100,
    backoff: { initialMs: 100, maxMs: 1000 },
  });
  uploader.start();
  let i = 0;
  return {
    device: o.device, log, uploader, acks, pubacked: () => puback.batches,
    async write(n) {
      for (let k = 0; k < n; k++, i++) log.record(decisionEvent(i, { decision: i % 3 === 0 ? 'deny' : 'allow', at: Date.now() }));
      await log.flush();
      uploader.kick();
    },
    lastSeq: () => log.status().nextSeq - 1,
    async close() {
      uploader.stop();
      await log.close();
      await client.endAsync();
    },
  };
}
