/** The `modbus` service: Modbus/TCP clients onto a Modbus/TCP upstream (drivers/modbus-tcp). */
import { createModbusProxy } from '../../drivers/modbus-tcp';
import { modbusOperationText } from '../../protocol/audit/operation-text';
import { modbusReportSection } from '../report/sections/modbus';
import type { DriverRegistration, ListenerDeps } from './registry';

/** The timeouts of a TCP protocol proxy from the config's `timeouts` block. */
export function proxyTimeouts(d: ListenerDeps) {
  const t = d.config.timeouts;
  return { idleMs: t.idleMs, connectMs: t.connectMs, upstreamMs: t.responseMs, drainMs: t.drainMs, frameMs: t.frameMs };
}

/** What every proxy gets: its listener, the decider (session facts first), the audit sink, the clock and the connection caps. */
export function proxyCommon(d: ListenerDeps) {
  return {
    listen: d.spec.listen, upstream: d.spec.upstream, asset: d.spec.asset, servicePort: d.spec.servicePort,
    audit: d.audit, now: d.now, ...(d.session ? { session: d.session } : {}),
    maxConnections: d.config.limits.maxConnections, maxConnectionsPerSource: d.config.limits.perSourceMax,
  };
}

export const modbusTcp: DriverRegistration = {
  service: 'modbus',
  protocol: 'modbus',
  auditOperation: modbusOperationText,
  reportSection: modbusReportSection,
  create(d) {
    const proxy = createModbusProxy({
      ...proxyCommon(d),
      decider: d.decider,
      limits: (conduitId) => d.policy.conduit(conduitId)?.rateLimit,
      writeLimits: (conduitId) => d.policy.conduit(conduitId)?.writeRateLimit,
      timeouts: proxyTimeouts(d),
      log: (line) => d.log.warn(line), // upstream timeouts, dropped replies, closes (rate-limited)
    });
    return { driver: proxy, stats: () => ({ ...proxy.stats }) as unknown as Record<string, number> };
  },
};
