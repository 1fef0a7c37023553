/**
 * The TCP conduit in replay and learning: connection-level decisions only; a learnt conduit
 * lists the destination ports seen.
 */
import type { LearntBlock, Observation, OperationLearner, ProtocolHandler } from './observed';

class TcpLearner implements OperationLearner {
  private readonly ports = new Set<number>();
  private count = 0;

  add(obs: Observation): void {
    this.count++;
    if (typeof obs.port === 'number') this.ports.add(obs.port);
  }

  blocks(): LearntBlock[] {
    const ports = [...this.ports].sort((a, b) => a - b);
    return [{ suffix: '', fields: ports.length ? { ports } : {}, example: ports.length ? { port: ports[0] } : {}, probes: [], count: this.count }];
  }
}

export const tcpHandler: ProtocolHandler = {
  recordProtocol: 'tcp',
  policyProtocol: 'tcp',
  isOperation: () => false,
  decideOperation: () => null,
  describe: (obs) => `connect${typeof obs.port === 'number' ? ` port ${obs.port}` : ''}`,
  newLearner: () => new TcpLearner(),
};
