/**
 * The `tcp` service: a plain TCP conduit (drivers/tcp-conduit). Live connections are re-checked
 * lazily after each activation and after a session or grant change (see create-conduit.ts).
 */
import { createTcpConduit } from '../../drivers/tcp-conduit';
import type { DriverRegistration } from './registry';

export const tcpConduit: DriverRegistration = {
  service: 'tcp',
  protocol: 'tcp',
  create(d) {
    const { spec, config: cfg } = d;
    const conduit = createTcpConduit({
      listen: spec.listen, upstream: spec.upstream, asset: spec.asset, decider: d.decider, audit: d.audit, now: d.now,
      port: spec.servicePort,
      idleTimeoutMs: cfg.timeouts.idleMs,
      connectTimeoutMs: cfg.timeouts.connectMs,
      drainMs: cfg.timeouts.drainMs,
      maxConnections: cfg.limits.maxConnections,
      perSourceMax: cfg.limits.perSourceMax,
    });
    d.on('policy-activated', () => {
      const closed = conduit.recheck();
      if (closed > 0) d.log.info(`${spec.key}: ${closed} connection(s) closed, no longer allowed by the active policy`);
    });
    // A logout, an expired or revoked grant or a quarantine closes the connections that depended on it.
    d.on('session-changed', () => {
      const closed = conduit.recheck();
      if (closed > 0) d.log.info(`${spec.key}: ${closed} connection(s) closed after a session or grant change`);
    });
    return { driver: conduit, stats: () => ({ ...conduit.stats() }) as unknown as Record<string, number> };
  },
};
