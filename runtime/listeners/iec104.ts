/** The `iec104` service (drivers/iec104): the link's own t1/t2/t3 keep it alive; frame, connect and drain as Modbus. */
import { createIec104Proxy, type Iec104Decider } from '../../drivers/iec104';
import { proxyCommon } from './modbus-tcp';
import { iec104LinkOf } from '../config/iec104';
import { iec104OperationText } from '../../protocol/audit/operation-text';
import { iec104ReportSection } from '../report/sections/iec104';
import type { DriverRegistration } from './registry';

export const iec104: DriverRegistration = {
  service: 'iec104',
  protocol: 'iec104',
  auditOperation: iec104OperationText,
  reportSection: iec104ReportSection,
  statusOf(spec) {
    const link = iec104LinkOf(spec);
    return link ? { iec104: link } : {};
  },
  create(d) {
    const t = d.config.timeouts, link = d.spec.iec104;
    const proxy = createIec104Proxy({
      ...proxyCommon(d),
      decider: d.decider as Iec104Decider,
      limits: (conduitId) => d.policy.conduit(conduitId)?.rateLimit,
      timeouts: {
        connectMs: t.connectMs, drainMs: t.drainMs, frameMs: t.frameMs,
        ...(link ? { t1Ms: link.t1Ms, t2Ms: link.t2Ms, t3Ms: link.t3Ms } : {}),
      },
      ...(link ? { k: link.k, w: link.w } : {}),
    });
    return { driver: proxy, stats: () => ({ ...proxy.stats }) as unknown as Record<string, number> };
  },
};
