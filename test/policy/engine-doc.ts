/** Builders of normalised PolicyDocuments for the policy engine's tests (no parser needed). */
import type { Asset, Conduit, Identity, PolicyDocument, Zone } from '../../policy/types';

export function zone(id: string, networks: string[], extra: Partial<Zone> = {}): Zone {
  return { id, networks, interfaces: [], securityLevel: 2, ...extra };
}

export function asset(id: string, z: string, addresses: string[], extra: Partial<Asset> = {}): Asset {
  return { id, zone: z, addresses, kind: 'plc', services: [{ protocol: 'modbus', port: 502 }], ...extra };
}

export function identity(id: string, extra: Partial<Identity> = {}): Identity {
  return { id, kind: 'device', addresses: [], roles: [], ...extra };
}

type ConduitInput = Omit<Partial<Conduit>, 'from' | 'to' | 'requires'> & {
  id: string;
  from?: Partial<Conduit['from']>;
  to?: Partial<Conduit['to']>;
  requires?: Partial<Conduit['requires']>;
};

export function conduit(c: ConduitInput): Conduit {
  return {
    protocol: 'modbus',
    mode: 'enforce',
    ...c,
    from: { identities: [], roles: [], zones: [], ...c.from },
    to: { assets: [], zones: [], ...c.to },
    requires: { edgeAuth: false, grant: false, ...c.requires },
  } as Conduit;
}

export function doc(parts: Partial<PolicyDocument>): PolicyDocument {
  return { site: 'test-site', zones: [], assets: [], identities: [], conduits: [], quarantine: [], settings: { onExpiry: 'keep-enforcing' }, tests: [], ...parts };
}

/** A small substation: enterprise and control zones (v4 + v6), a PLC, an HMI, people. */
export function substation(conduits: Conduit[], extra: Partial<PolicyDocument> = {}): PolicyDocument {
  return doc({
    zones: [
      zone('enterprise', ['10.20.0.0/16', 'fd00:20::/32']),
      zone('control', ['10.10.1.0/24', 'fd00:10:1::/48']),
      zone('dmz', ['10.30.0.0/24']),
    ],
    assets: [
      asset('plc-1', 'control', ['10.10.1.20', 'fd00:10:1::20']),
      asset('plc-2', 'control', ['10.10.1.21'], { services: [{ protocol: 'modbus', port: 502 }, { protocol: 'modbus', port: 1502 }, { protocol: 'tcp', port: 22 }] }),
      asset('historian', 'enterprise', ['10.20.0.5'], { kind: 'server', services: [{ protocol: 'tcp', port: 5432 }] }),
    ],
    identities: [
      identity('hmi-1', { zone: 'control', addresses: ['10.10.1.5', 'fd00:10:1::5'] }),
      identity('eng-ws', { zone: 'enterprise', addresses: ['10.20.0.9'], roles: ['engineer'] }),
      identity('alice', { kind: 'user', roles: ['operator'] }),
      identity('acme', { kind: 'vendor', roles: ['vendor'] }),
    ],
    conduits,
    ...extra,
  });
}
