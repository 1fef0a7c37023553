/** The `dnp3` service (drivers/dnp3): same limits and timeouts as Modbus. */
import { createDnp3Proxy, type Dnp3Decider } from '../../drivers/dnp3';
import { proxyCommon, proxyTimeouts } from './modbus-tcp';
import { dnp3OperationText } from '../../protocol/audit/operation-text';
import { dnp3ReportSection } from '../report/sections/dnp3';
import type { DriverRegistration } from './registry';

export const dnp3: DriverRegistration = {
  service: 'dnp3',
  protocol: 'dnp3',
  auditOperation: dnp3OperationText,
  reportSection: dnp3ReportSection,
  create(d) {
    const proxy = createDnp3Proxy({
      ...proxyCommon(d),
      decider: d.decider as Dnp3Decider,
      limits: (conduitId) => d.policy.conduit(conduitId)?.rateLimit,
      timeouts: proxyTimeouts(d),
    });
    return { driver: proxy, stats: () => ({ ...proxy.stats }) as unknown as Record<string, number> };
  },
};
