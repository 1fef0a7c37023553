/** Keys, trust roots, policies and bundles for the bundle, store and fleet tests and the bench. */
import { createHash } from 'node:crypto';
import { publicKeyOfSeed } from '../../policy/bundle/ed25519';
import { signBundle } from '../../policy/bundle/sign';
import type { BundleBody, SigningKey, TrustRoot } from '../../policy/bundle/types';
import { createTrustRoot } from '../../fleet/trust';

/** A deterministic key from a label (tests only). */
export function testKey(label: string): SigningKey {
  const seed = new Uint8Array(createHash('sha256').update(`zonegate-test-key:${label}`).digest());
  return { seed, publicKey: publicKeyOfSeed(seed) };
}

export const T0 = Date.UTC(2026, 0, 1);
export const DAY = 86_400_000;

export interface World {
  root: TrustRoot;
  rootKeys: SigningKey[];
  policyKeys: SigningKey[];
  grantKeys: SigningKey[];
}

/** Root: 3 root keys, threshold 2; policy: 3 keys, threshold 2; grant: 1 key, threshold 1. */
export function world(tag = 'w'): World {
  const rootKeys = [1, 2, 3].map((i) => testKey(`${tag}-root-${i}`));
  const policyKeys = [1, 2, 3].map((i) => testKey(`${tag}-policy-${i}`));
  const grantKeys = [testKey(`${tag}-grant-1`)];
  const root = createTrustRoot({
    spec: {
      version: 1, issuedAt: T0 - DAY, expiresAt: T0 + 365 * DAY,
      roles: {
        root: { publicKeys: rootKeys.map((k) => k.publicKey), threshold: 2 },
        policy: { publicKeys: policyKeys.map((k) => k.publicKey), threshold: 2 },
        grant: { publicKeys: grantKeys.map((k) => k.publicKey), threshold: 1 },
      },
    },
    signers: rootKeys.slice(0, 2),
  });
  return { root, rootKeys, policyKeys, grantKeys };
}

/** A raw site policy (as an author writes it) with `conduits` conduits; embedded tests included. */
export function sitePolicy(opts: { site?: string; conduits?: number; onExpiry?: 'keep-enforcing' | 'deny-all'; tests?: unknown[]; tag?: string } = {}): Record<string, unknown> {
  const n = opts.conduits ?? 1;
  const nAssets = Math.max(1, Math.min(n, 1000));
  const nIds = Math.max(1, Math.min(n, 200));
  const assets = [];
  for (let i = 0; i < nAssets; i++) {
    assets.push({ id: `plc-${i}`, zone: 'control', address: `10.10.${(i + 1) >> 8}.${(i + 1) & 255}`, kind: 'plc', services: [{ protocol: 'modbus', port: 502 }] });
  }
  const identities = [];
  for (let i = 0; i < nIds; i++) identities.push({ id: `hmi-${i}`, kind: 'device', zone: 'enterprise', addresses: [`10.20.${(i + 1) >> 8}.${(i + 1) & 255}`] });
  const conduits = [];
  for (let i = 0; i < n; i++) {
    conduits.push({
      id: `c-${i}${opts.tag ? `-${opts.tag}` : ''}`,
      from: { identities: [`hmi-${i % nIds}`] },
      to: { assets: [`plc-${i % nAssets}`] },
      protocol: 'modbus',
      allow: { functions: ['read-holding-registers', 'read-coils'], units: [1], addresses: [`${(i % 50) * 10}-${(i % 50) * 10 + 99}`] },
    });
  }
  return {
    site: opts.site ?? 'substation-12',
    zones: [
      { id: 'enterprise', networks: ['10.20.0.0/16'], securityLevel: 1 },
      { id: 'control', networks: ['10.10.0.0/16'], securityLevel: 3 },
    ],
    assets, identities, conduits,
    settings: { onExpiry: opts.onExpiry ?? 'keep-enforcing' },
    tests: opts.tests ?? [
      { request: { from: 'hmi-0', to: 'plc-0', modbus: { function: 3, unit: 1, address: 10 } }, expect: 'allow', conduit: `c-0${opts.tag ? `-${opts.tag}` : ''}` },
      { request: { from: 'hmi-0', to: 'plc-0', modbus: { function: 6, unit: 1, address: 10 } }, expect: 'deny', reason: 'function-not-allowed' },
    ],
  };
}

export interface BundleOpts {
  version: number;
  keys: SigningKey[];
  site?: string;
  targets?: string[];
  issuedAt?: number;
  expiresAt?: number;
  notBefore?: number;
  policy?: Record<string, unknown>;
}

/** A signed policy bundle (no checks beyond the body's shape). */
export function policyBundle(o: BundleOpts): Uint8Array {
  const body: BundleBody = {
    site: o.site ?? 'substation-12', targets: o.targets ?? ['gw-01'], version: o.version,
    issuedAt: o.issuedAt ?? T0, expiresAt: o.expiresAt ?? T0 + 30 * DAY,
    ...(o.notBefore !== undefined ? { notBefore: o.notBefore } : {}),
    policy: o.policy ?? sitePolicy(),
  };
  return signBundle({ type: 'policy', body, keys: o.keys });
}
