/**
 * Shared fixtures of the gateway tests: a lab policy whose HMI is 127.0.0.1 (so loopback clients
 * are an identity the policy knows) and a gateway config on free ports.
 */
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** `writes`: whether the HMI may also write single registers. `tcp`: whether the tcp conduit exists. */
export function labPolicy(o: { writes: boolean; tcp: boolean }): string {
  return `site: lab
zones:
  - { id: station, networks: [127.0.0.0/8], securityLevel: 3 }
  - { id: control, networks: [10.10.1.0/24], securityLevel: 3 }
assets:
  - { id: plc-1, zone: control, address: 10.10.1.20, kind: plc, services: [{ protocol: modbus, port: 502 }] }
  - { id: historian, zone: control, address: 10.10.1.40, kind: historian, services: [{ protocol: tcp, port: 443 }] }
identities:
  - { id: hmi-1, kind: device, zone: station, addresses: [127.0.0.1] }
conduits:
  - id: hmi-reads-plc
    from: { identities: [hmi-1] }
    to: { assets: [plc-1] }
    protocol: modbus
    allow: { functions: [read-holding-registers${o.writes ? ', write-single-register' : ''}], units: [1], addresses: ["0-99"] }
${o.tcp ? `  - id: hmi-to-historian
    from: { identities: [hmi-1] }
    to: { assets: [historian] }
    protocol: tcp
` : ''}tests:
  - { request: { from: hmi-1, to: plc-1, modbus: { function: 3, unit: 1, address: 0 } }, expect: allow }
`;
}

/** A policy with a mistake at line 3 (an unknown field): refused with file:line:col. */
export const BROKEN_POLICY = `site: lab
zones:
  - { id: station, networks: [127.0.0.0/8], securityLevel: 3, colour: red }
assets: []
identities: []
conduits: []
`;

export function gatewayConfig(o: { modbusUpstream: number; tcpUpstream: number; extra?: string }): string {
  return `device: gw-test
site: lab
stateDir: ./state
policyFile: policy.yaml
listeners:
  - { listen: 127.0.0.1:0, asset: plc-1, service: modbus, upstream: 127.0.0.1:${o.modbusUpstream} }
  - { listen: 127.0.0.1:0, asset: historian, service: tcp, upstream: 127.0.0.1:${o.tcpUpstream} }
${o.extra ?? ''}timeouts: { drainMs: 200 }
`;
}

export interface LabDir { dir: string; config: string; policy: string; write(name: string, text: string): void; remove(): void }

export function labDir(): LabDir {
  const dir = mkdtempSync(join(tmpdir(), 'zg-gateway-'));
  return {
    dir, config: join(dir, 'gateway.yaml'), policy: join(dir, 'policy.yaml'),
    write: (name, text) => writeFileSync(join(dir, name), text),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
